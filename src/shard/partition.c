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
                       uint64_t spread, int threads)
{
    const int64_t count = (int64_t)n;
    (void)threads; /* without OpenMP */
#pragma omp parallel for schedule(static) num_threads(threads) if (n > 4096)
    for (int64_t i = 0; i < count; i++) hashes[i] = fm_hash_key(hash_kind, keys + (size_t)i * key_size, key_size) * spread;
}

/* Without hashes, each key is hashed where it is read (twice: short keys
 * hash faster than an array of hashes is written and read back). */
static inline uint64_t hash_at(const uint64_t *hashes, const uint8_t *keys, uint32_t ks, int kind, size_t i)
{
    return hashes ? hashes[i] : fm_hash_key(kind, keys + i * ks, ks);
}

/* What a thread's count saw of the order of its slice. */
typedef struct slice_order {
    uint32_t first, last; /* buckets of the slice's first and last entries */
    int sorted;           /* buckets never decrease along the slice */
} slice_order;

/* Keys of [lo, hi) per routing bucket, added to mine[], and whether they
 * come in bucket order. The pack's fields are read once into locals: the
 * record stores below are byte stores, which the compiler must assume can
 * change anything read through a pointer. */
static void count_slice(const uint64_t *hashes, const fm_partition_pack *pack, size_t lo, size_t hi,
                        uint32_t owners, uint32_t rounds, uint64_t *mine, slice_order *seen)
{
    const uint8_t *keys = pack ? pack->a : NULL;
    const uint32_t ks = pack ? (uint32_t)pack->size_a : 0;
    const int kind = pack ? pack->hash_kind : 0;
    uint32_t prev = 0, first = 0;
    int sorted = 1;
    for (size_t i = lo; i < hi; i++) {
        const uint32_t b = fm_bucket_of(hash_at(hashes, keys, ks, kind, i), owners, rounds);
        if (i == lo) first = b;
        sorted &= b >= prev;
        prev = b;
        mine[b]++;
    }
    seen->first = first;
    seen->last = prev;
    seen->sorted = sorted;
}

/* Whether the slices, one after another, are in bucket order. */
static int all_in_order(const slice_order *seen, size_t team, size_t n)
{
    int in_order = 1;
    uint32_t last = 0;
    for (size_t u = 0; u < team; u++) {
        const size_t lo = n * u / team, hi = n * (u + 1) / team;
        if (lo == hi) continue;
        in_order &= seen[u].sorted && seen[u].first >= last;
        last = seen[u].last;
    }
    return in_order;
}

/* Writes each entry of [lo, hi) at its bucket's cursor in mine[]: its batch
 * index into order (unless NULL) and its record into the pack; one pass,
 * since record and index share a position. Inlined with constant sizes
 * for the common records, so the copies become plain loads and stores. */
static inline __attribute__((always_inline)) void scatter_records(const uint64_t *hashes,
                                                                  const fm_partition_pack *pack, uint64_t *order,
                                                                  size_t lo, size_t hi, uint32_t owners,
                                                                  uint32_t rounds, uint64_t *mine, uint32_t sa,
                                                                  uint32_t sb)
{
    const uint8_t *a = pack->a, *b = pack->b;
    uint8_t *dst = pack->dst, *dst_b = pack->dst_b;
    const uint32_t rec = sa + sb;
    const int kind = pack->hash_kind;
    for (size_t i = lo; i < hi; i++) {
        const uint64_t at = mine[fm_bucket_of(hash_at(hashes, a, sa, kind, i), owners, rounds)]++;
        if (order) order[at] = i;
        if (dst_b) {
            fm_copy_bytes(dst + at * sa, a + i * sa, sa);
            fm_copy_bytes(dst_b + at * sb, b + i * sb, sb);
        } else {
            fm_copy_bytes(dst + at * rec, a + i * sa, sa);
            if (sb) fm_copy_bytes(dst + at * rec + sa, b + i * sb, sb);
        }
    }
}

static void scatter_slice(const uint64_t *hashes, const fm_partition_pack *pack, uint64_t *order, size_t lo,
                          size_t hi, uint32_t owners, uint32_t rounds, uint64_t *mine)
{
    if (!pack) {
        if (order)
            for (size_t i = lo; i < hi; i++) order[mine[fm_bucket_of(hashes[i], owners, rounds)]++] = i;
        return;
    }
    const uint32_t sa = (uint32_t)pack->size_a, sb = (uint32_t)pack->size_b;
    if (sa == 8 && sb == 8) /* 8-byte keys with 8-byte values or deltas */
        scatter_records(hashes, pack, order, lo, hi, owners, rounds, mine, 8, 8);
    else
        scatter_records(hashes, pack, order, lo, hi, owners, rounds, mine, sa, sb);
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
    slice_order *seen = fm_alloc(nt * sizeof *seen);
    p->start = fm_alloc(((size_t)buckets + 1) * sizeof(uint64_t));
    p->order = order;
    if (!counts || !seen || !p->start) {
        fm_free(counts);
        fm_free(seen);
        fm_partition_free(p);
        return FM_ERR_NOMEM;
    }
    p->buckets = buckets;

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
        count_slice(hashes, pack, lo, hi, owners, rounds, mine, seen + t);
#pragma omp barrier
#pragma omp single
        {
            p->in_order = all_in_order(seen, team, n);
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
        if (!p->in_order || !pack || !pack->keep_in_order) {
            scatter_slice(hashes, pack, order, lo, hi, owners, rounds, mine);
        } else if (order) {
            for (size_t i = lo; i < hi; i++) order[i] = i;
        }
    }
    fm_free(counts);
    fm_free(seen);
    return FM_OK;
}

void fm_partition_free(fm_partition *p)
{
    fm_free(p->start);
    memset(p, 0, sizeof *p);
}
