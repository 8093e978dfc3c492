/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Shared helpers of flashmap-bench (C11). */
#ifndef FM_BENCH_H
#define FM_BENCH_H

#include <stddef.h>
#include <stdint.h>

#define BENCH_MAX_REPS 64

/* CLOCK_MONOTONIC in seconds. */
double bench_now(void);
/* Median of n values (sorts a copy); 0 for n == 0. */
double bench_median(const double *v, int n);

typedef struct limit_result {
    double reads_per_s; /* best over the prefetch batch sizes tried */
    double seconds;     /* median time of that batch size */
    uint64_t reads;     /* reads in one timed run */
    size_t bytes;       /* array size */
    int batch;          /* prefetch batch that gave the best rate */
    double huge_mib;    /* MiB of the array that got transparent huge pages (-1 unknown) */
} limit_result;

/* Random prefetched 8-byte reads per second over `bytes` bytes on `threads`
 * OpenMP threads; huge: madvise(MADV_HUGEPAGE), else MADV_NOHUGEPAGE.
 * Returns 0, or -1 when the array could not be mapped. */
int limit_probe(size_t bytes, int threads, int huge, uint64_t reads, int reps,
                limit_result *out);

/* Streaming read-and-write bytes per second over `bytes` bytes on `threads`
 * OpenMP threads (median of reps passes). Returns 0, or -1 when the array
 * could not be mapped. */
int stream_probe(size_t bytes, int threads, int reps, double *bytes_per_s);

#endif
