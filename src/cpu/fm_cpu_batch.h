/* Bulk operations on one CPU shard table.
 *
 * Writes (insert, add, remove) first sort the batch by table region (high
 * hash bits, so a region is a contiguous run of slots) and give whole regions
 * to threads. Every occurrence of a key then lands in one thread, in batch
 * order: the last insert wins, adds sum up and the first remove reports the
 * removal, on any thread count, with no lock. Working region by region also
 * keeps each thread's probes inside a cache-sized part of the table. */
#ifndef FM_CPU_BATCH_H
#define FM_CPU_BATCH_H

#include "cpu/fm_cpu_table.h"
#include "shard/fm_partition.h"

typedef struct fm_cpu_batch {
    const uint8_t *keys;
    size_t n;
    fm_partition part; /* positions sorted by region, with their hashes */
} fm_cpu_batch;

/* Hashes and sorts the batch for table t. FM_ERR_NOMEM allocates nothing. */
fm_status fm_cpu_batch_plan(fm_cpu_batch *b, const fm_cpu_table *t, const void *keys,
                            size_t n);
void fm_cpu_batch_release(fm_cpu_batch *b);

/* Distinct keys of the batch that t does not hold (exact, duplicates once).
 * FM_ERR_NOMEM when its scratch cannot be allocated. */
fm_status fm_cpu_batch_count_new(const fm_cpu_batch *b, const fm_cpu_table *t,
                                 uint64_t *new_out);

/* Apply the batch. The caller has made room for every new key. values or
 * deltas are indexed by batch position (deltas NULL: +1). */
void fm_cpu_batch_insert(const fm_cpu_batch *b, fm_cpu_table *t, const uint8_t *values);
void fm_cpu_batch_add_u64(const fm_cpu_batch *b, fm_cpu_table *t, const uint64_t *deltas);
void fm_cpu_batch_remove(const fm_cpu_batch *b, fm_cpu_table *t, uint8_t *removed_out);

/* Lookups need no plan: they run in batch order with prefetching. */
void fm_cpu_get(const fm_cpu_table *t, const uint8_t *keys, size_t n, uint8_t *values_out,
                uint8_t *found_out);

#endif
