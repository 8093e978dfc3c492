/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* FASTA and FASTQ parsing, incremental: bytes arrive in chunks of any size
 * and the parser keeps its place (state, line, record) between them.
 *
 * The rules follow Jellyfish 2.3 where it is lenient and add clear errors
 * where it would count garbage:
 *   - the format comes from the first byte of the file: '>' FASTA, '@' FASTQ;
 *   - a record's sequence may span lines; line breaks are not bases; every
 *     other byte is part of the sequence (N, IUPAC codes, even '\r' break
 *     k-mers; see km_base_class); no k-mer spans two records;
 *   - FASTQ: header '@', sequence lines, a '+' line, then quality of exactly
 *     the sequence's length (on one line when the sequence is on one line);
 *     blank lines between records are skipped;
 *   - errors (with file and line): a file that starts with neither '>' nor
 *     '@', binary bytes in a sequence or quality, a FASTQ record that is cut
 *     short or lacks its '+' line, quality and sequence of different lengths,
 *     and a `stop` that is not a record start (the parser meets a record
 *     start past it first: the next rank resynchronised into a multi-line
 *     quality, see kmer_split.h).
 */
#ifndef KMER_PARSE_H
#define KMER_PARSE_H

#include <stddef.h>
#include <stdint.h>

#include "kmer_error.h"
#include "kmer_extract.h"

typedef enum km_format { KM_FORMAT_UNKNOWN = 0, KM_FORMAT_FASTA, KM_FORMAT_FASTQ } km_format;

typedef struct km_parser {
    const char *path;
    km_format format;
    uint64_t start;       /* stream offset the parser starts at (for line numbers) */
    uint64_t stop;        /* the record start where the next rank starts (UINT64_MAX: none) */
    int state;
    int done;             /* reached `stop` */
    uint64_t line;        /* current line, counted from `start` (0-based) */
    uint64_t record_line; /* line of the current record's header */
    uint64_t seq_len, qual_len;
    uint64_t seq_lines;
    uint64_t records;     /* records parsed */
    uint64_t kept;        /* of those, the records of this parser's stripe (all without stripes) */
    unsigned stripe, stripes;
    int keep;             /* the current record is in the stripe */
    km_extract *x;
} km_parser;

/* format: the file's format when known (a parser starting mid-file), or
 * KM_FORMAT_UNKNOWN to take it from the first byte. The stream must start
 * at a record start (offset `start`). */
void km_parser_init(km_parser *p, const char *path, km_format format, uint64_t start, uint64_t stop,
                    km_extract *x);

/* Several readers of one gzip stream (kmer_split.h): each parses and
 * checks every record, but takes the k-mers only of records i with
 * i % stripes == stripe (0-based). Call after km_parser_init, which sets
 * stripe 0 of 1 (every record). */
void km_parser_stripe(km_parser *p, unsigned stripe, unsigned stripes);

/* Parses buf[0..len), the bytes at stream offset `offset`, appending k-mers
 * to keys from entry *n (keys must have room for len more). Returns the
 * bytes used: len, or fewer once p->done; -1 with err set on malformed input. */
ptrdiff_t km_parser_feed(km_parser *p, const uint8_t *buf, size_t len, uint64_t offset, void *keys,
                         size_t *n, km_err *err);

/* At the end of the stream: 0, or -1 with err set when a record is cut short. */
int km_parser_finish(km_parser *p, km_err *err);

/* The format a file's first byte announces (KM_FORMAT_UNKNOWN for others). */
km_format km_format_of(int first_byte);

#endif
