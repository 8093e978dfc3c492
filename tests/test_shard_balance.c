/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Shards stay uniform: the owner shard of a key comes from hash bits that
 * are independent of the bits that pick its home slot and fingerprint.
 *
 * For both hashes and for random, sequential, strided and shared-prefix
 * keys, 2^18 keys go into maps of 1, 3 and 8 CPU shards. Checked:
 *   - every shard's load (by the tests' owner model, which uses the
 *     library's routing function) is within 5% of the mean (at 2^18 keys
 *     and 8 shards one standard deviation is 0.55%);
 *   - the longest probe of a sharded map stays under 64, or 2x that of the
 *     one-table map holding the same keys when that is longer: if owners
 *     and home slots shared bits, each shard would fill only a slice of its
 *     table and probes would run hundreds of slots long;
 *   - every key is found again.
 * 16-byte keys under the identity hash (which reads only the first 8
 * bytes) are the exception by design: runs of 64 keys share one hash, so
 * they share a shard and a home slot; only the lookups are checked there.
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owner_model.h"
#include "test_check.h"
#include "test_util.h"

enum { N = 1 << 18 };

typedef enum pattern { RANDOM, SEQUENTIAL, STRIDE_4096, PREFIX16, PATTERNS } pattern;
static const char *const PATTERN_NAMES[] = {"random", "sequential", "stride 4096", "16-byte, shared prefix"};

static uint32_t key_size_of(pattern p) { return p == PREFIX16 ? 16 : 8; }

static void make_keys(pattern p, uint8_t *keys)
{
    tu_rng r;
    tu_rng_seed(&r, 99);
    const uint32_t ks = key_size_of(p);
    for (uint64_t i = 0; i < N; i++) {
        uint8_t *k = keys + i * ks;
        uint64_t v = p == RANDOM ? tu_next(&r) : p == STRIDE_4096 ? i * 4096 : i;
        if (p == PREFIX16) { /* the same first 8 bytes in runs of 64 keys, the rest counts */
            uint64_t prefix = i / 64, tail = i;
            memcpy(k, &prefix, 8);
            memcpy(k + 8, &tail, 8);
        } else {
            memcpy(k, &v, 8);
        }
    }
}

/* The longest probe of a map of `shards` CPU shards holding the keys. */
static uint64_t longest_probe(const uint8_t *keys, uint32_t ks, fm_hash hash, int shards)
{
    fm_config cfg = fm_config_default(ks, 0, N);
    cfg.backend = FM_BACKEND_CPU;
    cfg.hash = hash;
    cfg.shards = shards;
    cfg.threads = 2;
    fm_map *m = NULL;
    if (fm_create(&cfg, &m) != FM_OK) {
        fprintf(stderr, "fm_create: %s\n", fm_last_error(NULL));
        exit(2);
    }
    CHECK_OK(m, fm_bulk_insert(m, keys, NULL, N));
    uint8_t *found = malloc(N);
    CHECK_OK(m, fm_bulk_get(m, keys, N, NULL, found));
    size_t missing = 0;
    for (size_t i = 0; i < N; i++)
        missing += !found[i];
    CHECK(missing == 0);
    fm_stats st;
    CHECK_OK(m, fm_get_stats(m, &st));
    CHECK(st.size == N);
    free(found);
    fm_destroy(m);
    return st.longest_probe;
}

int main(void)
{
    const uint32_t ks_max = 16;
    uint8_t *keys = malloc((size_t)N * ks_max);
    if (!keys) return 2;
    const fm_hash hashes[] = {FM_HASH_MURMUR3, FM_HASH_IDENTITY};
    const int shard_counts[] = {3, 8};
    for (int p = 0; p < PATTERNS; p++) {
        const uint32_t ks = key_size_of((pattern)p);
        make_keys((pattern)p, keys);
        for (int h = 0; h < 2; h++) {
            const uint64_t one_table = longest_probe(keys, ks, hashes[h], 1);
            for (int si = 0; si < 2; si++) {
                const int shards = shard_counts[si];
                uint64_t load[8] = {0};
                for (size_t i = 0; i < N; i++)
                    load[tm_owner(hashes[h], keys + i * ks, ks, (uint32_t)shards)]++;
                uint64_t lo = N, hi = 0;
                for (int s = 0; s < shards; s++) {
                    if (load[s] < lo) lo = load[s];
                    if (load[s] > hi) hi = load[s];
                }
                const double mean = (double)N / shards;
                const double spread = ((double)hi - (double)lo) / mean;
                const uint64_t probe = longest_probe(keys, ks, hashes[h], shards);
                printf("  %-22s %-8s %d shards: loads %llu..%llu (spread %.2f%%), longest probe %llu "
                       "(one table: %llu)\n",
                       PATTERN_NAMES[p], hashes[h] == FM_HASH_MURMUR3 ? "murmur3" : "identity", shards,
                       (unsigned long long)lo, (unsigned long long)hi, 100 * spread, (unsigned long long)probe,
                       (unsigned long long)one_table);
                if (p == PREFIX16 && hashes[h] == FM_HASH_IDENTITY) continue; /* see the top */
                CHECK((double)hi <= 1.05 * mean && (double)lo >= 0.95 * mean);
                CHECK(probe < 64 || probe <= 2 * one_table);
            }
        }
    }
    free(keys);
    printf("test_shard_balance: %d failures\n", g_failures);
    return g_failures ? 1 : 0;
}
