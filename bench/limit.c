/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * The machine's own limit for a hash map that misses the caches: random
 * 8-byte reads per second over an array as large as the map's table, with
 * software prefetch, on the same threads as the map. Every read touches one
 * random cache line, so this is (close to) the most random lines per second
 * the memory system delivers to these threads.
 *
 * Each thread draws indices from its own LCG stream, in batches of B:
 * it computes and prefetches batch k+1, then reads batch k (so up to 2B
 * lines are in flight), and sums what it read so nothing is optimised away.
 * The array is mapped with mmap and advised MADV_HUGEPAGE (transparent huge
 * pages, fewer TLB misses) or MADV_NOHUGEPAGE (4 KiB pages), then touched
 * before the clock starts.
 */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#ifdef _OPENMP
#include <omp.h>
#endif

#define LIMIT_MAX_BATCH 256

/* 64-bit LCG step: its high bits, which pick() uses, are well mixed, and it
 * costs one multiply (splitmix64 here cost ~10% of the read rate). */
static inline uint64_t lcg_next(uint64_t *s) {
    return *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
}

/* index in [0, len) from 64 random bits (multiply-shift, no modulo) */
static inline uint64_t pick(uint64_t r, uint64_t len) {
    return (uint64_t)(((unsigned __int128)r * len) >> 64);
}

static uint64_t read_stream(const uint64_t *a, uint64_t len, uint64_t reads, uint64_t seed,
                            int batch) {
    uint64_t idx[2][LIMIT_MAX_BATCH];
    uint64_t st = seed * 0x9E3779B97F4A7C15ULL, sum = 0;
    uint64_t nb = reads / (uint64_t)batch;
    if (nb == 0) return 0;
    for (int j = 0; j < batch; j++) {
        idx[0][j] = pick(lcg_next(&st), len);
        __builtin_prefetch(&a[idx[0][j]], 0, 0);
    }
    for (uint64_t b = 0; b < nb; b++) {
        const int cur = (int)(b & 1), nxt = cur ^ 1;
        if (b + 1 < nb) {
            for (int j = 0; j < batch; j++) {
                idx[nxt][j] = pick(lcg_next(&st), len);
                __builtin_prefetch(&a[idx[nxt][j]], 0, 0);
            }
        }
        for (int j = 0; j < batch; j++) sum += a[idx[cur][j]];
    }
    return sum;
}

/* AnonHugePages of this process in KiB (-1 when unknown). */
static long anon_huge_kib(void) {
    FILE *f = fopen("/proc/self/smaps_rollup", "r");
    if (!f) return -1;
    char line[256];
    long kib = -1;
    while (fgets(line, sizeof line, f)) {
        if (sscanf(line, "AnonHugePages: %ld kB", &kib) == 1) break;
    }
    fclose(f);
    return kib;
}

static volatile uint64_t limit_sink;

/* A probe's array: `bytes` rounded up to whole 2 MiB pages, starting on a
 * huge-page boundary (mapped 2 MiB larger), advised MADV_HUGEPAGE or
 * MADV_NOHUGEPAGE, and touched on `threads` threads (a[i] = i). */
typedef struct probe_array {
    void *raw;
    size_t map_bytes, bytes;
    uint64_t *a;
} probe_array;

static int probe_array_map(probe_array *p, size_t bytes, int huge, int threads) {
    const size_t align = (size_t)2 << 20;
    bytes = (bytes + align - 1) / align * align;
    if (bytes < align) bytes = align;
    p->bytes = bytes;
    p->map_bytes = bytes + align;
    p->raw = mmap(NULL, p->map_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p->raw == MAP_FAILED) return -1;
    p->a = (uint64_t *)(((uintptr_t)p->raw + align - 1) & ~(uintptr_t)(align - 1));
#ifdef MADV_HUGEPAGE
    (void)madvise(p->a, bytes, huge ? MADV_HUGEPAGE : MADV_NOHUGEPAGE);
#endif
    uint64_t *const a = p->a;
#pragma omp parallel for num_threads(threads) schedule(static)
    for (int64_t i = 0; i < (int64_t)(bytes / sizeof(uint64_t)); i++) a[i] = (uint64_t)i;
    return 0;
}

int limit_probe(size_t bytes, int threads, int huge, uint64_t reads, int reps,
                limit_result *out) {
    memset(out, 0, sizeof *out);
    long huge0 = anon_huge_kib();
    probe_array arr;
    if (probe_array_map(&arr, bytes, huge, threads) != 0) return -1;
    const uint64_t *a = arr.a, len = arr.bytes / sizeof(uint64_t);
    long huge1 = anon_huge_kib();
    out->huge_mib = (huge0 >= 0 && huge1 >= 0) ? (double)(huge1 - huge0) / 1024.0 : -1.0;
    out->bytes = arr.bytes;

    static const int batches[] = {8, 16, 32, 64, 128, 256};
    double best = 0;
    for (size_t bi = 0; bi < sizeof batches / sizeof batches[0]; bi++) {
        const int batch = batches[bi];
        double secs[BENCH_MAX_REPS];
        int nrep = reps < BENCH_MAX_REPS ? reps : BENCH_MAX_REPS;
        for (int r = 0; r < nrep; r++) {
            uint64_t total = 0;
            double t0 = bench_now();
#pragma omp parallel num_threads(threads) reduction(+ : total)
            {
                int tid = 0, nt = 1;
#ifdef _OPENMP
                tid = omp_get_thread_num();
                nt = omp_get_num_threads();
#endif
                total += read_stream(a, len, reads / (uint64_t)nt, (uint64_t)(tid + 1) * 7919u + (uint64_t)r,
                                     batch);
            }
            secs[r] = bench_now() - t0;
            limit_sink += total;
        }
        double med = bench_median(secs, nrep);
        uint64_t done = reads / (uint64_t)threads / (uint64_t)batch * (uint64_t)batch * (uint64_t)threads;
        double rate = (double)done / med;
        if (getenv("FM_BENCH_LIMIT_VERBOSE"))
            fprintf(stderr, "limit: %s, %d threads, batch %3d: %7.1f M reads/s\n",
                    huge ? "MADV_HUGEPAGE" : "4 KiB pages", threads, batch, rate / 1e6);
        if (rate > best) {
            best = rate;
            out->reads_per_s = rate;
            out->seconds = med;
            out->batch = batch;
            out->reads = done;
        }
    }
    munmap(arr.raw, arr.map_bytes);
    return 0;
}

/* The machine's streaming limit on the same threads: every 8-byte word of
 * an array as large as the map's table (huge pages, touched first) read and
 * written back once (a dense write sweeps its table so), in bytes per
 * second, the median of `reps` passes. The ratio of two thread counts'
 * rates bounds how well such a sweep can scale on this machine at this
 * moment. */
int stream_probe(size_t bytes, int threads, int reps, double *bytes_per_s) {
    probe_array arr;
    if (probe_array_map(&arr, bytes, 1, threads) != 0) return -1;
    uint64_t *const a = arr.a;
    const int64_t len = (int64_t)(arr.bytes / sizeof(uint64_t));
    double secs[BENCH_MAX_REPS];
    const int nrep = reps < 1 ? 1 : reps < BENCH_MAX_REPS ? reps : BENCH_MAX_REPS;
    for (int r = 0; r < nrep; r++) {
        const double t0 = bench_now();
#pragma omp parallel for num_threads(threads) schedule(static)
        for (int64_t i = 0; i < len; i++) a[i] = a[i] * 3 + (uint64_t)i;
        secs[r] = bench_now() - t0;
    }
    limit_sink += a[len / 2];
    munmap(arr.raw, arr.map_bytes);
    *bytes_per_s = 2.0 * (double)arr.bytes / bench_median(secs, nrep);
    return 0;
}
