/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Bulk operations on one CPU shard table.
 *
 * Writes (insert, add, remove) split the table into one contiguous range of
 * slots per owner (one owner per configured thread), by the high hash bits
 * that also pick home slots. A batch goes through in chunks: the threads
 * hash a chunk together and sort its positions by owner (a stable counting
 * sort), then each thread walks the keys of its own owners, in batch order.
 * No thread reads the keys of another, and all occurrences of a key go to
 * one thread in batch order: the last insert wins, adds sum up and the
 * first remove reports the removal, on any thread count and with no lock.
 * Threads meet only where a probe runs past the end of a range, and there
 * they claim free slots with a compare-and-swap (see table/fm_probe.h).
 *
 * A write probes each key once. Where the table may not have room for the
 * batch's new keys, the write is tentative: every owner may claim only its
 * share of the free slots (a key beyond it is skipped and the write reports
 * that it ran out of room), and every claim and every overwritten value is
 * logged, so that the write can be undone exactly (fm_cpu_batch_undo) and
 * the batch redone after making room. A write that fits is kept with
 * fm_cpu_batch_keep.
 *
 * Every walk keeps the table lines of the next keys in flight with software
 * prefetches, so a core waits for many cache misses at once. A batch dense
 * in its table (slots / 16 keys or more) is written in home-slot order
 * instead (fm_cpu_dense.h), with the same owners' semantics, budgets and
 * logs; counting and undoing always walk in chunks. */
#ifndef FM_CPU_BATCH_H
#define FM_CPU_BATCH_H

#include "cpu/fm_cpu_table.h"


typedef struct fm_cpu_batch {
    const uint8_t *keys;
    size_t n;
    size_t chunk;
    uint64_t *hashes; /* the current chunk's hashes, in batch order (table scratch) */
    uint32_t *order;  /* the current chunk's positions, sorted by owner (table scratch) */
    uint64_t *counts; /* keys per (thread, owner) of the current chunk (then offsets), then per owner */
} fm_cpu_batch;

/* Gets the table's chunk buffers ready. FM_ERR_NOMEM changes nothing. */
fm_status fm_cpu_batch_plan(fm_cpu_batch *b, fm_cpu_table *t, const void *keys, size_t n);

/* How many keys of the batch t does not hold. When the keys absent from t,
 * duplicates included, number at most `headroom`, that count is returned;
 * otherwise the exact number of distinct absent keys. FM_ERR_NOMEM when the
 * exact count's scratch cannot be allocated. */
fm_status fm_cpu_batch_count_new(const fm_cpu_batch *b, const fm_cpu_table *t, uint64_t headroom,
                                 uint64_t *new_out);

/* How many of `samples` keys spread evenly over the batch t does not hold
 * (a probe each, no scratch): an estimate of the batch's new keys. */
uint64_t fm_cpu_batch_sample_absent(const fm_cpu_batch *b, const fm_cpu_table *t, size_t samples);

/* Apply the batch. values and deltas are in batch order (deltas NULL: +1
 * each). Without `room` (NULL) the caller has made room for every new
 * key. With it, the write is tentative: at most room / owners new keys per
 * owner; the return is 0 when every key was written and 1 when some were
 * skipped for want of room, and in both cases the table holds a log until
 * fm_cpu_batch_keep or fm_cpu_batch_undo. FM_ERR_NOMEM never: a log that
 * cannot grow skips keys like a full table. */
int fm_cpu_batch_insert(const fm_cpu_batch *b, fm_cpu_table *t, const uint8_t *values, const uint64_t *room);
int fm_cpu_batch_add_u64(const fm_cpu_batch *b, fm_cpu_table *t, const uint64_t *deltas, const uint64_t *room);
void fm_cpu_batch_remove(const fm_cpu_batch *b, fm_cpu_table *t, uint8_t *removed_out);

/* New keys the last tentative write claimed. */
uint64_t fm_cpu_batch_claimed(const fm_cpu_table *t);
/* How many of those were tombstones. */
uint64_t fm_cpu_batch_claimed_tombstones(const fm_cpu_table *t);
/* Keeps the last tentative write (drops its log). */
void fm_cpu_batch_keep(fm_cpu_table *t);
/* Undoes the last tentative write exactly: claimed slots get their old tags
 * back, overwritten values their old bytes, added deltas are subtracted.
 * The batch's buffers must be the ones that write was given. */
void fm_cpu_batch_undo(fm_cpu_table *t);

/* Lookups need no plan: threads take contiguous parts of the batch. */
void fm_cpu_get(const fm_cpu_table *t, const uint8_t *keys, size_t n, uint8_t *values_out,
                uint8_t *found_out);

#endif
