/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Command-line helpers (see kmer_opts.h). */
#include "kmer_opts.h"

#include <ctype.h>
#include <stdio.h>

int km_parse_u64(const char *text, uint64_t *out)
{
    const char *p = text;
    uint64_t v = 0;
    if (!isdigit((unsigned char)*p)) return -1;
    while (isdigit((unsigned char)*p)) {
        const uint64_t d = (uint64_t)(*p++ - '0');
        if (v > (UINT64_MAX - d) / 10) return -1;
        v = v * 10 + d;
    }
    uint64_t scale = 1;
    switch (*p) {
    case '\0': break;
    case 'k': case 'K': scale = 1000ull; p++; break;
    case 'M': scale = 1000000ull; p++; break;
    case 'G': scale = 1000000000ull; p++; break;
    case 'T': scale = 1000000000000ull; p++; break;
    default: return -1;
    }
    if (*p != '\0' || (v && scale > UINT64_MAX / v)) return -1;
    *out = v * scale;
    return 0;
}

int km_parse_option(const char *verb, const char *what, const char *text, uint64_t lo, uint64_t hi,
                    uint64_t *out)
{
    if (km_parse_u64(text, out) != 0 || *out < lo || *out > hi) {
        fprintf(stderr,
                "flashmap-kmer %s: %s must be a whole number from %llu to %llu, with an optional suffix k, M, G "
                "or T (10^3, 10^6, 10^9, 10^12; e.g. 1500M, not 1.5G), not '%s'\n",
                verb, what, (unsigned long long)lo, (unsigned long long)hi, text);
        return -1;
    }
    return 0;
}

int km_check_counts(const char *verb, uint64_t lower, uint64_t upper, int rank)
{
    if (lower <= upper) return 0;
    if (rank == 0)
        fprintf(stderr, "flashmap-kmer %s: -L (lower count) %llu is above -U (upper count) %llu: no k-mer could "
                        "be kept\n", verb, (unsigned long long)lower, (unsigned long long)upper);
    return -1;
}
