#include "shard/fm_partition.h"

#include <string.h>

#include "api/fm_alloc.h"

#ifdef _OPENMP
#include <omp.h>
#endif

static inline uint32_t bucket_of(uint64_t hash, uint32_t buckets, uint32_t shift,
                                 fm_bucketing how)
{
    if (how == FM_BUCKET_OWNER) return fm_owner_of(hash, buckets);
    return buckets > 1 ? (uint32_t)(hash >> shift) : 0;
}

static uint32_t log2_exact(uint32_t x)
{
    uint32_t l = 0;
    while ((1u << l) < x) l++;
    return l;
}

fm_status fm_partition_build(fm_partition *p, const uint64_t *hashes, size_t n,
                             uint32_t buckets, fm_bucketing how, int threads)
{
    memset(p, 0, sizeof *p);
    if (threads < 1) threads = 1;
    if ((size_t)threads > n / 4096 + 1) threads = (int)(n / 4096 + 1);
    const uint32_t shift = 64 - log2_exact(buckets);
    const size_t nt = (size_t)threads;
    uint64_t *counts = fm_alloc(nt * buckets * sizeof(uint64_t));
    p->start = fm_alloc(((size_t)buckets + 1) * sizeof(uint64_t));
    p->order = fm_alloc((n ? n : 1) * sizeof(uint64_t));
    p->hash = fm_alloc((n ? n : 1) * sizeof(uint64_t));
    if (!counts || !p->start || !p->order || !p->hash) {
        fm_free(counts);
        fm_partition_free(p);
        return FM_ERR_NOMEM;
    }
    p->buckets = buckets;

#pragma omp parallel num_threads(threads)
    {
#ifdef _OPENMP
        const size_t t = (size_t)omp_get_thread_num();
#else
        const size_t t = 0;
#endif
        const size_t lo = n * t / nt, hi = n * (t + 1) / nt;
        uint64_t *mine = counts + t * buckets;
        memset(mine, 0, buckets * sizeof(uint64_t));
        for (size_t i = lo; i < hi; i++) mine[bucket_of(hashes[i], buckets, shift, how)]++;
#pragma omp barrier
#pragma omp single
        {
            /* Bucket-major, thread-minor offsets keep batch order stable. */
            uint64_t at = 0;
            p->largest = 0;
            for (uint32_t b = 0; b < buckets; b++) {
                p->start[b] = at;
                for (size_t u = 0; u < nt; u++) {
                    uint64_t c = counts[u * buckets + b];
                    counts[u * buckets + b] = at;
                    at += c;
                }
                if (at - p->start[b] > p->largest) p->largest = at - p->start[b];
            }
            p->start[buckets] = at;
        }
        for (size_t i = lo; i < hi; i++) {
            uint64_t h = hashes[i];
            uint64_t to = mine[bucket_of(h, buckets, shift, how)]++;
            p->order[to] = i;
            p->hash[to] = h;
        }
    }
    fm_free(counts);
    return FM_OK;
}

void fm_partition_free(fm_partition *p)
{
    fm_free(p->start);
    fm_free(p->order);
    fm_free(p->hash);
    memset(p, 0, sizeof *p);
}
