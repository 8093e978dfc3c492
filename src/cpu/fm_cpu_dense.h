/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Writes in home-slot order, for a batch dense in its table.
 *
 * A batch of at least slots / 16 keys touches most lines of the table. In
 * batch order each key costs a cache miss or three; in home-slot order the
 * walk sweeps the table like a copy and neighbouring keys share lines, so
 * the same write runs 2-3 times faster on a core (bench/RESULTS.md). Such
 * a batch is cut into pieces of at most slots / 8 keys; the threads copy a piece,
 * as records (hash, key, and the value, delta or position), into 2^11
 * buckets by the top bits of the hash (a stable counting sort, so each
 * bucket keeps batch order), and each thread then walks the buckets of its
 * own range of slots, each bucket sorted once more by the next bits into a
 * cache-sized buffer. Equal keys stay in batch order on one thread: the
 * semantics (last insert wins, adds sum, first remove reports) and the
 * tentative writes' logs and budgets are those of the chunked walk. */
#ifndef FM_CPU_DENSE_H
#define FM_CPU_DENSE_H

#include "cpu/fm_cpu_walk.h"
#include "table/fm_hash.h"

/* Runs a->op (WALK_INSERT, WALK_ADD or WALK_REMOVE) over the n keys in
 * home-slot order and returns 1 with *out the totals, when the batch is
 * dense in t and its records fit in scratch memory (kept in the table),
 * or when it already comes in a few runs in home-slot order, dense or not
 * (fm_cpu_runs_walk, below). Returns 0, having done nothing, otherwise:
 * the caller walks in chunks.
 * FLASHMAP_TEST_DENSE=1 makes every such write on every table walk
 * this way, in small pieces, so that small test maps run it too. */
int fm_cpu_dense_walk(const uint8_t *keys, size_t n, fm_cpu_table *t, const walk_args *a, walk_totals *out);

/* The dense walk's first try (cpu_runs.c): a batch that already comes as
 * at most 8 runs in home-slot order (each run's hashes not decreasing in
 * their top bits down to groups of 64 slots, as a caller that sorted its
 * batch sends it, or an MPI map receives the sorted batches of a few
 * ranks) is walked as it lies: each thread takes its range of slots
 * (buckets of bucket_bits) from every run, the runs merged (below), so
 * equal keys keep batch order. Returns 1 with *out the totals, or 0, having done
 * nothing, for a batch in any other order. */
int fm_cpu_runs_walk(const uint8_t *keys, size_t n, const fm_cpu_table *t, const walk_args *a,
                     uint32_t bucket_bits, walk_totals *out);

/* The hash of key i of a batch. */
static inline uint64_t fm_runs_hash_at(const fm_cpu_table *t, const uint8_t *keys, size_t i)
{
    return fm_table_hash(&t->v, t->hash_kind, keys + i * t->v.key_size);
}

/* More runs than this and the batch is sorted instead. An MPI map's write
 * is one run per rank when every rank's batch was in order. */
#define FM_RUNS_MAX 8

/* The first position of [lo, hi), part of one run, whose hash's top `bits`
 * bits are at least `bucket` (hi when none is). */
size_t fm_cpu_runs_first_from(const fm_cpu_table *t, const uint8_t *keys, size_t lo, size_t hi, uint32_t bits,
                              uint64_t bucket);

/* Walks owner `owner`'s part (buckets [first, last) of bucket_bits) of
 * runs r < runs (<= FM_RUNS_MAX; run r is [start[r], start[r + 1])),
 * merged in the order of their hashes' top `bits` bits: each run's keys in
 * batch order and, in a tie, the earlier run's first, so equal keys keep
 * batch order, and each table line is swept once, not once a run
 * (cpu_runs_merged.c). */
void fm_cpu_runs_walk_merged(const fm_cpu_table *t, const walk_args *a, int owner, const uint8_t *keys,
                             const size_t *start, size_t runs, uint32_t bits, uint32_t bucket_bits, uint64_t first,
                             uint64_t last, walk_totals *tot);

#endif
