/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Bulk operations on one CPU shard table.
 *
 * Writes (insert, add, remove) split the table into one contiguous range of
 * slots per thread, by the high hash bits that also pick home slots. Every
 * thread scans the whole batch in order and handles the keys whose home lies
 * in its range. All occurrences of a key thus go to one thread, in batch
 * order: the last insert wins, adds sum up and the first remove reports the
 * removal, on any thread count and with no lock. Threads meet only where a
 * probe runs past the end of a range, and there they claim free slots with a
 * compare-and-swap (see table/fm_probe.h).
 *
 * Every walk keeps the table lines of the next keys in flight with software
 * prefetches, so a core waits for many cache misses at once. */
#ifndef FM_CPU_BATCH_H
#define FM_CPU_BATCH_H

#include "cpu/fm_cpu_table.h"

/* Keys hashed at a time: the hashes of a chunk stay in cache, and a batch
 * of any size needs no scratch memory proportional to it. */
#define FM_BATCH_CHUNK ((size_t)1 << 17)

typedef struct fm_cpu_batch {
    const uint8_t *keys;
    size_t n;
    uint64_t *hashes; /* the current chunk's hashes (table scratch) */
    size_t chunk;
} fm_cpu_batch;

/* Gets the table's chunk buffer ready. FM_ERR_NOMEM changes nothing. */
fm_status fm_cpu_batch_plan(fm_cpu_batch *b, fm_cpu_table *t, const void *keys, size_t n);

/* How many keys of the batch t does not hold. When the keys absent from t,
 * duplicates included, number at most `headroom`, that count is returned;
 * otherwise the exact number of distinct absent keys. FM_ERR_NOMEM when the
 * exact count's scratch cannot be allocated. */
fm_status fm_cpu_batch_count_new(const fm_cpu_batch *b, const fm_cpu_table *t, uint64_t headroom,
                                 uint64_t *new_out);

/* Apply the batch. The caller has made room for every new key. values and
 * deltas are in batch order (deltas NULL: +1 each). */
void fm_cpu_batch_insert(const fm_cpu_batch *b, fm_cpu_table *t, const uint8_t *values);
void fm_cpu_batch_add_u64(const fm_cpu_batch *b, fm_cpu_table *t, const uint64_t *deltas);
void fm_cpu_batch_remove(const fm_cpu_batch *b, fm_cpu_table *t, uint8_t *removed_out);

/* Lookups need no plan: threads take contiguous parts of the batch. */
void fm_cpu_get(const fm_cpu_table *t, const uint8_t *keys, size_t n, uint8_t *values_out,
                uint8_t *found_out);

#endif
