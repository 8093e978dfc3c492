/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Dense writes of a batch that already comes as a few runs in home-slot
 * order (fm_cpu_dense.h): walked as it lies, with no records to copy. */
#include "cpu/fm_cpu_dense.h"

/* Home slots must be in order only down to groups of 2^6 slots (a group's
 * tags, keys and values stay in cache while its keys are walked in any
 * order), and at most to 2^20 groups, so that a batch ordered by fewer
 * bits than a large table's home slots have still counts as ordered. An
 * unordered batch costs a few keys' hashes to find out, one that turns
 * unordered late at most one pass of hashes. */
#define FM_RUNS_GROUP_BITS 6
#define FM_RUNS_MAX_BITS 20

/* Cuts [0, n) into runs whose hashes' top `bits` bits do not decrease: the
 * number of runs, run r being [start[r], start[r + 1]), or 0 when there are
 * more than FM_RUNS_MAX. An unordered batch stops it within a few keys. */
static size_t find_runs(const fm_cpu_table *t, const uint8_t *keys, size_t n, uint32_t bits, size_t *start)
{
    size_t runs = 0;
    uint64_t previous = 0;
    for (size_t i = 0; i < n; i++) {
        const uint64_t top = fm_runs_hash_at(t, keys, i) >> (64 - bits);
        if (i == 0 || top < previous) {
            if (runs == FM_RUNS_MAX) return 0;
            start[runs++] = i;
        }
        previous = top;
    }
    start[runs] = n;
    return runs;
}

/* See fm_cpu_dense.h. */
size_t fm_cpu_runs_first_from(const fm_cpu_table *t, const uint8_t *keys, size_t lo, size_t hi, uint32_t bits,
                              uint64_t bucket)
{
    while (lo < hi) {
        const size_t mid = lo + (hi - lo) / 2;
        if (fm_runs_hash_at(t, keys, mid) >> (64 - bits) < bucket)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Walks batch positions [lo, hi) in order for `owner`, the table lines of
 * the next FM_AHEAD keys prefetched (their hashes kept in a ring). */
static void walk_range(const fm_cpu_table *t, const walk_args *a, int owner, const uint8_t *keys, size_t lo,
                       size_t hi, walk_totals *tot)
{
    const fm_table_view *v = &t->v;
    const int touches_values = walk_touches_values(v, a->op);
    uint64_t ring[FM_AHEAD];
    for (size_t j = lo; j < hi + FM_AHEAD; j++) {
        if (j >= lo + FM_AHEAD) { /* first: key j takes over key i's place in the ring */
            const size_t i = j - FM_AHEAD;
            walk_at(v, a, owner, keys, i, ring[i % FM_AHEAD], tot);
        }
        if (j < hi) {
            const uint64_t h = fm_runs_hash_at(t, keys, j), home = fm_home_slot(h, v->log2_slots);
            ring[j % FM_AHEAD] = h;
            walk_prefetch(v, home, touches_values);
        }
    }
}

int fm_cpu_runs_walk(const uint8_t *keys, size_t n, const fm_cpu_table *t, const walk_args *a,
                     uint32_t bucket_bits, walk_totals *out)
{
    const uint32_t log2_slots = t->v.log2_slots;
    uint32_t bits = log2_slots > FM_RUNS_GROUP_BITS ? log2_slots - FM_RUNS_GROUP_BITS : 0;
    if (bits > FM_RUNS_MAX_BITS) bits = FM_RUNS_MAX_BITS;
    if (bits < bucket_bits) bits = bucket_bits; /* the owners' ranges must lie in order too */
    if (bits == 0 || bits > log2_slots) return 0;
    size_t start[FM_RUNS_MAX + 1];
    const size_t runs = find_runs(t, keys, n, bits, start);
    if (runs == 0) return 0;
    const size_t buckets = (size_t)1 << bucket_bits;
    walk_totals sum = {0, 0, 0, 0, 0, 0};
#pragma omp parallel num_threads(n > 4096 ? t->threads : 1)
    {
        const int me = fm_thread_id(), team = fm_thread_count(), owners = t->threads;
        walk_totals tot = {0, 0, 0, 0, 0, 0};
        /* Owner u's slots are buckets [u * B / owners, (u + 1) * B / owners),
         * as in the sorted walk: one run walked as it lies, several merged
         * (apart, so that this loop compiles as lean as with one run). */
        for (int u = me; u < owners; u += team) {
            const uint64_t first = buckets * (size_t)u / (size_t)owners;
            const uint64_t last = buckets * (size_t)(u + 1) / (size_t)owners;
            if (runs > 1) {
                fm_cpu_runs_walk_merged(t, a, u, keys, start, runs, bits, bucket_bits, first, last, &tot);
                continue;
            }
            const size_t lo = fm_cpu_runs_first_from(t, keys, start[0], start[1], bucket_bits, first);
            const size_t hi = fm_cpu_runs_first_from(t, keys, lo, start[1], bucket_bits, last);
            walk_range(t, a, u, keys, lo, hi, &tot);
        }
#pragma omp critical(fm_runs_totals)
        add_totals(&sum, &tot);
    }
    *out = sum;
    return 1;
}
