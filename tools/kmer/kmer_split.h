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
 * A gzip file cannot be entered mid-stream. With as many gzip files as
 * ranks or more, each goes whole to one reader (the largest first, each
 * to the reader with the fewest gzip bytes). With fewer, each file is read
 * by one reader on each of several ranks, up to KM_GZIP_STRIPES: every one
 * of them decompresses and checks the whole stream, and takes the k-mers
 * of every n-th record only (its stripe, kmer_parse.h). Decompressing
 * costs a fraction of extracting and ordering the k-mers, so one .gz file
 * no longer leaves all ranks but one without input (ART 10x reads as one
 * .gz on 2 ranks: 1.63 -> 1.34 s). Not across the reading threads of one
 * rank: they share its cores with its map threads, and decompressing
 * twice there cost more than it freed (1 rank, 2 threads: 1.12 -> 1.23 s).
 * Each stripe reads the whole compressed file, which caps the stripes. */
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
    unsigned stripe;  /* gzip read by several readers: this reader's stripe of `stripes` (else 0 of 1) */
    unsigned stripes;
} km_work;

/* Readers of one gzip file at most. */
#define KM_GZIP_STRIPES 4

typedef struct km_plan {
    km_work *items;
    size_t n;
    uint64_t total_bytes; /* all input files, every rank's share */
    uint64_t gzip_bytes;  /* the part of total_bytes in gzip files */
} km_plan;

/* Builds the plan of reader `reader` of `readers`: `per_rank` reading
 * threads on each of readers / per_rank ranks (reader
 * q * per_rank + t is thread t of rank q). Every reader probes every file
 * and gets the same answer, so a missing or unreadable file, or a plain
 * file that is neither FASTA nor FASTQ, fails on every rank with the same
 * message. */
int km_plan_build(char *const *paths, int nfiles, int reader, int readers, int per_rank, km_plan *plan,
                  km_err *err);

void km_plan_free(km_plan *plan);

/* The first record start at or after `from` in a plain file of the given
 * format and size: the offset, or `size` when no record starts there.
 * -1 with err set when the file cannot be read. */
int km_resync(const char *path, km_format format, uint64_t size, uint64_t from, uint64_t *at, km_err *err);

#endif
