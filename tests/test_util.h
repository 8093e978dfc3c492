/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Small helpers shared by the tests: a reproducible PRNG and hex printing. */
#ifndef FLASHMAP_TESTS_TEST_UTIL_H
#define FLASHMAP_TESTS_TEST_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* malloc / calloc that end the test (exit 2) when memory runs out. An MPI
 * test's other ranks then fail too, as mpiexec ends the job. */
static inline void *tu_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) {
        fprintf(stderr, "test: out of memory (%zu x %zu bytes)\n", n, size);
        exit(2);
    }
    return p;
}

static inline void *tu_xmalloc(size_t bytes) { return tu_xcalloc(1, bytes); }

/* splitmix64: turns one seed into well-mixed state words. */
static inline uint64_t tu_splitmix64(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* xoshiro256**: our own generator, so runs replay exactly on any libc. */
typedef struct tu_rng {
    uint64_t s[4];
} tu_rng;

static inline void tu_rng_seed(tu_rng *r, uint64_t seed)
{
    for (int i = 0; i < 4; i++)
        r->s[i] = tu_splitmix64(&seed);
}

static inline uint64_t tu_rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static inline uint64_t tu_next(tu_rng *r)
{
    uint64_t *s = r->s;
    uint64_t result = tu_rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = tu_rotl(s[3], 45);
    return result;
}

/* Uniform in [0, n); n must be > 0. The modulo bias is irrelevant here. */
static inline uint64_t tu_below(tu_rng *r, uint64_t n) { return tu_next(r) % n; }

/* Uniform in [lo, hi]. */
static inline uint64_t tu_range(tu_rng *r, uint64_t lo, uint64_t hi)
{
    return lo + tu_below(r, hi - lo + 1);
}

/* Roughly log-uniform in [1, hi]: small values as often as large ones, which
 * is what we want for batch and window sizes. */
static inline uint64_t tu_log_range(tu_rng *r, uint64_t hi)
{
    int bits = 0;
    while (bits < 63 && (1ull << (bits + 1)) <= hi)
        bits++;
    uint64_t top = 1ull << tu_below(r, (uint64_t)bits + 1); /* 1, 2, 4, .. <= hi */
    uint64_t v = top + tu_below(r, top);                     /* [top, 2 top) */
    return v > hi ? hi : v;
}

/* 1 with probability percent / 100. */
static inline int tu_chance(tu_rng *r, unsigned percent) { return tu_below(r, 100) < percent; }

static inline void tu_fill(tu_rng *r, void *buf, size_t n)
{
    uint8_t *p = buf;
    while (n >= 8) {
        uint64_t x = tu_next(r);
        for (int i = 0; i < 8; i++)
            p[i] = (uint8_t)(x >> (8 * i));
        p += 8;
        n -= 8;
    }
    if (n) {
        uint64_t x = tu_next(r);
        for (size_t i = 0; i < n; i++)
            p[i] = (uint8_t)(x >> (8 * i));
    }
}

/* n random keys of key_size bytes into pool, with clusters of similar
 * keys: above 8 bytes a cluster shares its first 8 bytes (so the identity
 * hash gives its keys the same home slot and fingerprint, and only the full
 * compare tells them apart); of 2..8 bytes a cluster differs only in byte 0
 * (near-sequential integers, what identity users tend to have). */
static inline void tu_key_pool(tu_rng *r, uint8_t *pool, size_t n, uint32_t key_size)
{
    size_t i = 0;
    while (i < n) {
        uint8_t *base = pool + i * key_size;
        tu_fill(r, base, key_size);
        i++;
        if (key_size == 1 || !tu_chance(r, 30)) continue;
        const size_t members = (size_t)tu_range(r, 1, 31);
        for (size_t m = 0; m < members && i < n; m++, i++) {
            uint8_t *k = pool + i * key_size;
            memcpy(k, base, key_size);
            if (key_size > 8) tu_fill(r, k + 8, key_size - 8);
            else tu_fill(r, k, 1);
        }
    }
}

/* Print up to 32 bytes as hex ("…" after when longer). */
static inline void tu_print_hex(FILE *f, const void *buf, size_t n)
{
    const uint8_t *p = buf;
    size_t shown = n > 32 ? 32 : n;
    for (size_t i = 0; i < shown; i++)
        fprintf(f, "%02x", p[i]);
    if (shown < n)
        fprintf(f, "...(%zu bytes)", n);
}

#endif
