/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "shard/fm_partition.h"

#include <string.h>

#include "api/fm_alloc.h"
#include "table/fm_copy.h"
#include "table/fm_hash.h"

#ifdef _OPENMP
#include <omp.h>
#endif

void fm_partition_hash(uint64_t *hashes, const uint8_t *keys, size_t n, uint32_t key_size, int hash_kind,
                       int threads)
{
    const int64_t count = (int64_t)n;
    (void)threads; /* without OpenMP */
#pragma omp parallel for schedule(static) num_threads(threads) if (n > 4096)
    for (int64_t i = 0; i < count; i++) hashes[i] = fm_hash_key(hash_kind, keys + (size_t)i * key_size, key_size);
}

fm_status fm_partition_build(fm_partition *p, const uint64_t *hashes, size_t n, uint32_t owners,
                             uint32_t rounds, int threads, uint64_t *order, const fm_partition_pack *pack)
{
    memset(p, 0, sizeof *p);
    if (threads < 1) threads = 1;
    if ((size_t)threads > n / 4096 + 1) threads = (int)(n / 4096 + 1);
    const uint32_t buckets = owners * rounds;
    const size_t nt = (size_t)threads;
    /* Per thread and bucket: counts, then write cursors. */
    uint64_t *counts = fm_alloc(nt * buckets * sizeof(uint64_t));
    p->start = fm_alloc(((size_t)buckets + 1) * sizeof(uint64_t));
    p->order = order;
    if (!counts || !p->start) {
        fm_free(counts);
        fm_partition_free(p);
        return FM_ERR_NOMEM;
    }
    p->buckets = buckets;

    /* Without hashes, each key is hashed where it is read (twice: short
     * keys hash faster than an array of hashes is written and read back). */
    const uint32_t ks = pack ? (uint32_t)pack->size_a : 0;
    const int kind = pack ? pack->hash_kind : 0;
#define FM_HASH_AT(i) (hashes ? hashes[i] : fm_hash_key(kind, pack->a + (i) * ks, ks))
#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP /* the team may be smaller than asked for */
        const size_t t = (size_t)omp_get_thread_num(), team = (size_t)omp_get_num_threads();
#else
        const size_t t = 0, team = 1;
#endif
        const size_t lo = n * t / team, hi = n * (t + 1) / team;
        uint64_t *mine = counts + t * buckets;
        memset(mine, 0, buckets * sizeof(uint64_t));
        for (size_t i = lo; i < hi; i++) mine[fm_bucket_of(FM_HASH_AT(i), owners, rounds)]++;
#pragma omp barrier
#pragma omp single
        {
            /* Bucket-major, thread-minor offsets keep batch order stable. */
            uint64_t at = 0;
            for (uint32_t b = 0; b < buckets; b++) {
                p->start[b] = at;
                for (size_t u = 0; u < team; u++) {
                    uint64_t c = counts[u * buckets + b];
                    counts[u * buckets + b] = at;
                    at += c;
                }
            }
            p->start[buckets] = at;
        }
        /* One pass writes both: record and batch index share a position. */
        const size_t sa = pack ? pack->size_a : 0, sb = pack ? pack->size_b : 0, rec = sa + sb;
        for (size_t i = lo; i < hi; i++) {
            const uint64_t at = mine[fm_bucket_of(FM_HASH_AT(i), owners, rounds)]++;
            if (order) order[at] = i;
            if (pack && pack->dst_b) {
                fm_copy_bytes(pack->dst + at * sa, pack->a + i * sa, (uint32_t)sa);
                fm_copy_bytes(pack->dst_b + at * sb, pack->b + i * sb, (uint32_t)sb);
            } else if (pack) {
                uint8_t *to = pack->dst + at * rec;
                fm_copy_bytes(to, pack->a + i * sa, (uint32_t)sa);
                if (sb) fm_copy_bytes(to + sa, pack->b + i * sb, (uint32_t)sb);
            }
        }
    }
#undef FM_HASH_AT
    fm_free(counts);
    return FM_OK;
}

void fm_partition_free(fm_partition *p)
{
    fm_free(p->start);
    memset(p, 0, sizeof *p);
}
