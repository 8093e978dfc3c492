/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Which part of the input each rank reads.
 *
 * A plain file is cut into as many equal byte ranges as there are ranks;
 * rank r reads the records that START in its range [a, b): it moves its
 * start forward to the first record start at or after a ("resynchronises")
 * and its parser stops where rank r + 1 starts (the first record start at
 * or after b), so every record is read by exactly one rank even though the
 * cuts fall anywhere. A multi-line FASTQ quality can hold lines that look
 * like a whole record (an '@' line, a '+' line, ...); should resync take
 * one for a record start, rank r's parser, which reads from a true start,
 * reaches a true record start past its stop and reports the file instead
 * of counting records twice.
 * A gzip file cannot be entered mid-stream, so it goes whole to one rank
 * (the largest files first, each to the rank with the fewest gzip bytes). */
#ifndef KMER_SPLIT_H
#define KMER_SPLIT_H

#include <stddef.h>
#include <stdint.h>

#include "kmer_error.h"
#include "kmer_parse.h"

typedef struct km_work {
    const char *path;
    int gzip;
    km_format format; /* plain files: from the first byte; gzip: found by the parser */
    uint64_t start;   /* first byte to parse (a record start) */
    uint64_t stop;    /* where the next rank starts (a record start), or UINT64_MAX */
    uint64_t bytes;   /* this rank's share of the file, for progress */
} km_work;

typedef struct km_plan {
    km_work *items;
    size_t n;
    uint64_t total_bytes; /* all input files, every rank's share */
    uint64_t gzip_bytes;  /* the part of total_bytes in gzip files */
} km_plan;

/* Builds this rank's plan. Every rank probes every file and gets the same
 * answer, so a missing or unreadable file, or a plain file that is neither
 * FASTA nor FASTQ, fails on every rank with the same message. */
int km_plan_build(char *const *paths, int nfiles, int rank, int size, km_plan *plan, km_err *err);

void km_plan_free(km_plan *plan);

/* The first record start at or after `from` in a plain file of the given
 * format and size: the offset, or `size` when no record starts there.
 * -1 with err set when the file cannot be read. */
int km_resync(const char *path, km_format format, uint64_t size, uint64_t from, uint64_t *at, km_err *err);

#endif
