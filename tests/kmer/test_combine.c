/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* km_combine (tools/kmer/kmer_combine.h) against a plain reference: random
 * batches of k-mer codes with many repeats, for one- and two-word k. The
 * output must hold every key with its exact total count (a one-word key may
 * appear more than once, its counts then summing to the total), one-word
 * keys must come ordered by the top 22 bits of code * 2^64/phi (the map's
 * identity placement), and two-word keys sorted
 * and fully combined. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmer_code.h"
#include "kmer_combine.h"

static int g_failures;
#define FAIL(...)                                                                                                \
    do {                                                                                                         \
        printf("FAIL " __VA_ARGS__);                                                                             \
        printf("\n");                                                                                            \
        g_failures++;                                                                                            \
    } while (0)

static uint64_t g_rng = 0x243f6a8885a308d3ull;
static uint64_t next_random(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

/* A random code of k bases, in the key layout of kmer_code.h. */
static void random_code(int k, uint8_t *key)
{
    if (k <= 32) {
        const uint64_t w = k == 32 ? next_random() : next_random() & ((1ull << (2 * k)) - 1);
        memcpy(key, &w, 8);
    } else {
        const uint64_t high = k == 64 ? next_random() : next_random() & ((1ull << (2 * (k - 32))) - 1);
        km_code128 c = {{high, next_random()}};
        memcpy(key, &c, 16);
    }
}

static size_t g_ks;
static int compare_keys(const void *a, const void *b) { return memcmp(a, b, g_ks); }

/* Entries of (key, count) sorted by key bytes, with runs summed. */
static size_t sum_runs(uint8_t *keys, uint64_t *counts, size_t n, size_t ks)
{
    uint8_t *rec = malloc(n * (ks + 8) + 1);
    for (size_t i = 0; i < n; i++) {
        memcpy(rec + i * (ks + 8), keys + i * ks, ks);
        memcpy(rec + i * (ks + 8) + ks, &counts[i], 8);
    }
    g_ks = ks;
    qsort(rec, n, ks + 8, compare_keys);
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t c;
        memcpy(&c, rec + i * (ks + 8) + ks, 8);
        if (m > 0 && memcmp(keys + (m - 1) * ks, rec + i * (ks + 8), ks) == 0) {
            counts[m - 1] += c;
        } else {
            memcpy(keys + m * ks, rec + i * (ks + 8), ks);
            counts[m++] = c;
        }
    }
    free(rec);
    return m;
}

/* keys and tmp start `skew` 8-byte words past their allocations: the
 * streamed scatter of large batches counts cache lines from tmp's and
 * keys' own alignment. */
static void one_batch_at(int k, size_t n, size_t pool, size_t skew)
{
    const size_t ks = km_key_size(k);
    uint8_t *distinct = malloc((pool + 1) * ks);
    uint8_t *keys_mem = malloc((n + 1) * ks + 64), *tmp_mem = malloc((n + 1) * ks + 64);
    uint8_t *keys = keys_mem + 8 * skew, *tmp = tmp_mem + 8 * ((skew * 3) % 8);
    uint8_t *ref_keys = malloc((n + 1) * ks);
    uint64_t *counts = malloc(n * 8 + 8), *ref_counts = malloc(n * 8 + 8);
    for (size_t i = 0; i < pool; i++) random_code(k, distinct + i * ks);
    for (size_t i = 0; i < n; i++) {
        memcpy(keys + i * ks, distinct + (next_random() % pool) * ks, ks);
        ref_counts[i] = 1;
    }
    memcpy(ref_keys, keys, n * ks);
    const size_t ref_n = sum_runs(ref_keys, ref_counts, n, ks);

    const size_t m = km_combine(keys, tmp, counts, n, k);
    uint64_t total = 0;
    for (size_t i = 0; i < m; i++) total += counts[i];
    if (m > n || total != n) FAIL("k=%d n=%zu: %zu entries summing to %llu", k, n, m, (unsigned long long)total);
    for (size_t i = 1; i < m && k <= 32; i++) {
        uint64_t a, b;
        memcpy(&a, keys + (i - 1) * ks, 8);
        memcpy(&b, keys + i * ks, 8);
        if ((a * 0x9e3779b97f4a7c15ull) >> 42 > (b * 0x9e3779b97f4a7c15ull) >> 42) {
            FAIL("k=%d n=%zu: entries %zu and %zu out of placement order", k, n, i - 1, i);
            break;
        }
    }
    for (size_t i = 1; i < m && k > 32; i++) {
        km_code128 a, b;
        memcpy(&a, keys + (i - 1) * ks, 16);
        memcpy(&b, keys + i * ks, 16);
        if (a.w[0] > b.w[0] || (a.w[0] == b.w[0] && a.w[1] >= b.w[1])) {
            FAIL("k=%d n=%zu: entries %zu and %zu not strictly sorted", k, n, i - 1, i);
            break;
        }
    }
    const size_t got_n = m <= n ? sum_runs(keys, counts, m, ks) : 0;
    if (got_n != ref_n || memcmp(keys, ref_keys, ref_n * ks) != 0 || memcmp(counts, ref_counts, ref_n * 8) != 0)
        FAIL("k=%d n=%zu pool=%zu: %zu distinct keys with their counts expected, got %zu or other counts", k, n,
             pool, ref_n, got_n);
    free(distinct);
    free(keys_mem);
    free(tmp_mem);
    free(ref_keys);
    free(counts);
    free(ref_counts);
}

static void one_batch(int k, size_t n, size_t pool) { one_batch_at(k, n, pool, 0); }

int main(void)
{
    static const int ks[] = {1, 5, 21, 31, 32, 33, 45, 64};
    size_t batches = 0;
    for (size_t i = 0; i < sizeof ks / sizeof *ks; i++) {
        const int k = ks[i];
        one_batch(k, 0, 1);
        one_batch(k, 1, 1);
        one_batch(k, 5000, 1); /* one key, repeated */
        for (int round = 0; round < 6; round++) {
            const size_t n = 1 + next_random() % 300000, pool = 1 + next_random() % (2 * n);
            one_batch(k, n, pool);
        }
        batches += 9;
    }
    /* Batches past the streaming threshold (2^19 keys), every line skew. */
    for (size_t skew = 0; skew < 8; skew++) {
        const size_t n = ((size_t)1 << 19) + next_random() % 400000, pool = 1 + next_random() % (2 * n);
        one_batch_at(skew % 2 ? 31 : 21, n, pool, skew);
        batches++;
    }
    printf("test_combine: %zu batches, %d failures\n", batches, g_failures);
    return g_failures ? 1 : 0;
}
