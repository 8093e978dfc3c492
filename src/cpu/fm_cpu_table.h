/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* One shard table in host memory, run by OpenMP threads. */
#ifndef FM_CPU_TABLE_H
#define FM_CPU_TABLE_H

#include <flashmap.h>

#include "table/fm_probe.h"

#define FM_MIN_SLOTS 16u

/* log2 of a power of two (a table's slots). */
static inline uint32_t fm_log2_pow2(uint64_t pow2)
{
    uint32_t l = 0;
    while (((uint64_t)1 << l) < pow2) l++;
    return l;
}

/* Below this many slots a table-wide pass is cheaper on one thread than
 * waking a team. */
#define FM_PARALLEL_SLOTS 65536

/* A growable log of fixed-size records (cpu_batch.c). */
typedef struct fm_undo_log {
    uint8_t *bytes;
    size_t len, cap;
} fm_undo_log;

/* What a tentative write did, kept until it is kept or undone
 * (fm_cpu_batch.h). The logs are per owner and reused between writes. */
typedef struct fm_cpu_pending {
    int active;
    int adding;              /* add_u64 (undone by subtracting), else insert */
    const uint8_t *keys;     /* the write's batch, for subtracting adds */
    const uint64_t *deltas;
    size_t n;
    uint64_t claimed, from_tombstones;
    int owners;              /* entries of the arrays below */
    uint64_t *owner_claims;  /* new keys each owner claimed */
    fm_undo_log *claims;     /* per owner: uint64 slot << 1 | was_tombstone */
    fm_undo_log *overwrites; /* per owner: uint64 slot, then the old value */
} fm_cpu_pending;

typedef struct fm_cpu_table {
    fm_table_view v;
    /* Bytes held by each array (api/fm_table_mem.h): at least slots times
     * the entry's size, more after a growth that failed half way. */
    size_t tag_bytes, key_bytes, value_bytes;
    uint64_t live;       /* FULL slots */
    uint64_t tombstones; /* TOMBSTONE slots */
    int hash_kind;       /* fm_hash value (resolved, never DEFAULT) */
    int threads;
    /* Per-batch work arrays, kept between batches: fresh memory would cost a
     * page fault per 4 KiB on every call. */
    uint64_t *scratch;
    size_t scratch_words;
    /* Records of a dense write (cpu_dense.c), allocated on its first use. */
    uint8_t *dense;
    size_t dense_bytes;
    fm_cpu_pending pending;
} fm_cpu_table;

/* Keys hashed and sorted at a time (times threads / 16 past 16 threads;
 * a smaller batch is one chunk of its own size): the hashes and positions
 * of a chunk stay in cache, a batch of any size needs no scratch memory
 * proportional to it, and the threads meet four times a chunk. 2^19 keys
 * (6 MiB of scratch) wrote 8-11% faster than 2^17 on 2 threads, where the
 * meetings cost; positions inside a chunk fit in 32 bits. */
#define FM_BATCH_CHUNK ((size_t)1 << 19)

/* The chunk of a batch walk on a table of `slots` run by `threads`
 * (at least 2^12 keys, FM_BATCH_CHUNK for 2^19 slots and more, times
 * threads / 16 past 16 threads), and the scratch words it needs: hashes,
 * positions and per-owner counts (fm_cpu_batch.h). A table holds that
 * scratch from its creation on, so that no bulk call (a remove on one rank
 * of an MPI map, say) fails to allocate after others have changed. */
size_t fm_cpu_table_chunk(uint64_t slots, int threads);
size_t fm_cpu_table_scratch_words(size_t chunk, int threads);

/* At least `words` uint64 of scratch, reusing what the table holds. NULL
 * when it cannot be allocated (the table is unchanged). */
uint64_t *fm_cpu_table_scratch(fm_cpu_table *t, size_t words);

/* Smallest power of two >= FM_MIN_SLOTS whose load limit holds `entries`;
 * 0 when that would not fit in 64 bits. */
uint64_t fm_slots_for(uint64_t entries, double max_load);
/* Most entries + tombstones a table of `slots` may hold. */
uint64_t fm_load_limit(uint64_t slots, double max_load);

/* A table of `slots` (a power of two) with every tag EMPTY. All of its
 * memory is written once here, so no batch pays for first-touch faults. */
fm_status fm_cpu_table_init(fm_cpu_table *t, uint64_t slots, uint32_t key_size,
                            uint32_t value_size, int hash_kind, int threads);
void fm_cpu_table_release(fm_cpu_table *t);

/* Grows the table to new_slots (a larger power of two) in its own memory,
 * dropping tombstones (cpu_grow.c). FM_ERR_NOMEM leaves the table as it
 * was, though its arrays may have grown. */
fm_status fm_cpu_table_grow(fm_cpu_table *t, uint64_t new_slots);
/* Clears tombstones without allocating: same slots, same entries. */
void fm_cpu_table_rehash_in_place(fm_cpu_table *t);
void fm_cpu_table_clear(fm_cpu_table *t);

/* Copies FULL entries from slot *cursor on, up to max; see fm_export. */
size_t fm_cpu_table_export(const fm_cpu_table *t, uint64_t *cursor, uint8_t *keys_out,
                           uint8_t *values_out, size_t max);
uint64_t fm_cpu_table_longest_probe(const fm_cpu_table *t);

#endif
