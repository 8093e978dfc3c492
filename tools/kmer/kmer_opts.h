/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Command-line helpers shared by the verbs. */
#ifndef KMER_OPTS_H
#define KMER_OPTS_H

#include <stdint.h>

/* Parses a non-negative integer with an optional decimal suffix
 * (k = 10^3, M = 10^6, G = 10^9, T = 10^12, as Jellyfish's -s takes).
 * -1 when the text is not such a number or overflows. */
int km_parse_u64(const char *text, uint64_t *out);

/* Parses a number in [lo, hi]; prints "flashmap-kmer <verb>: <what> ..."
 * and returns -1 when it is not. */
int km_parse_option(const char *verb, const char *what, const char *text, uint64_t lo, uint64_t hi,
                    uint64_t *out);

/* -L and -U together: 0 when lower <= upper, else -1 after rank 0 says so. */
int km_check_counts(const char *verb, uint64_t lower, uint64_t upper, int rank);

#endif
