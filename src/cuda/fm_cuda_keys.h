/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* What one GPU thread does for one key of a batch, written once for the
 * CUDA kernels (cuda_batch.cu) and for host tests that run the same steps
 * on CPU threads (tests/test_cuda_logic.c). C11 and CUDA C++.
 *
 * A write batch runs in chunks. In each chunk, fm_key_group puts every
 * occurrence in a temporary open-addressing set keyed by the key bytes: the
 * set slot remembers the first occurrence's position (to compare keys), the
 * occurrence that acts for the key (the last one for insert, by atomic max;
 * the first one for remove and add, by atomic min) and, for add_u64, the sum
 * of all the key's deltas. After the whole chunk is grouped, only acting
 * occurrences touch the table, so no two threads ever work on the same key
 * (the contract of table/fm_probe.h) and the result is that of the batch
 * applied in order. */
#ifndef FM_CUDA_KEYS_H
#define FM_CUDA_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "table/fm_atomic.h"
#include "table/fm_hash.h"
#include "table/fm_probe.h"

/* The grouping set of one chunk. ids[s] = fingerprint << 32 | position + 1
 * (0: empty); winner[s] = the acting position; sums[s] = summed deltas. */
typedef struct fm_cuda_dedup {
    unsigned long long *ids;
    unsigned *winner;
    unsigned long long *sums; /* add_u64 only */
    unsigned *slot_of;        /* each key's set slot */
    uint64_t slots;           /* allocated set slots */
    size_t keys;              /* allocated slot_of entries */
    uint64_t mask;            /* set slots of the current chunk - 1 */
} fm_cuda_dedup;

/* What the keys of a batch did (summed per warp on the GPU). */
typedef struct fm_cuda_counts {
    unsigned long long counted;         /* count passes: absent keys */
    unsigned long long claimed;         /* writes: new entries */
    unsigned long long from_tombstones; /* ... of which reused a tombstone */
    unsigned long long removed;
    unsigned long long tombstones_left;
    unsigned long long lost;            /* keys that found no free slot: a bug */
} fm_cuda_counts;

/* One key's part of fm_cuda_counts. */
typedef struct fm_key_counts {
    unsigned counted, claimed, from_tombstones, removed, tombstones_left, lost;
} fm_key_counts;

/* Set slots for a chunk of n keys: a power of two >= 2n (never full). */
FM_FN uint64_t fm_dedup_slots(size_t n)
{
    uint64_t slots = 64;
    while (slots < 2 * (uint64_t)n) slots <<= 1;
    return slots;
}

/* Groups occurrence i of the chunk's keys (see the top of the file). The
 * set's ids must start at 0, winner at 0 (last) or all ones (first), sums
 * at 0. deltas NULL: every occurrence adds 1. */
FM_FN void fm_key_group(const uint8_t *keys, size_t i, uint32_t ks, int kind,
                        const fm_cuda_dedup *d, int last, int sum,
                        const unsigned long long *deltas)
{
    const uint8_t *key = keys + i * ks;
    const uint64_t h = fm_hash_key(kind, key, ks);
    const unsigned long long mine = (h >> 32 << 32) | (unsigned long long)(i + 1);
    uint64_t s = fm_fmix64(h) & d->mask;
    for (;; s = (s + 1) & d->mask) {
        unsigned long long seen = fm_load_u64(&d->ids[s]);
        if (seen == 0) {
            seen = fm_cas_u64(&d->ids[s], 0ull, mine);
            if (seen == 0) break;
        }
        if (seen >> 32 == h >> 32 && fm_key_equal(keys + ((seen & 0xffffffffu) - 1) * ks, key, ks))
            break;
    }
    d->slot_of[i] = (unsigned)s;
    if (last)
        fm_max_u32(&d->winner[s], (unsigned)i);
    else
        fm_min_u32(&d->winner[s], (unsigned)i);
    if (sum) fm_add_u64(&d->sums[s], deltas ? deltas[i] : 1ull);
}

/* 1 when occurrence i acts for its key (after the whole chunk is grouped). */
FM_FN int fm_key_acts(const fm_cuda_dedup *d, size_t i) { return d->winner[d->slot_of[i]] == i; }

/* Insert (add == 0: the value bytes at `value`) or add_u64 (counter +=
 * delta) of an acting occurrence. */
FM_FN void fm_key_write(const fm_table_view *t, int kind, const uint8_t *key, const uint8_t *value,
                        int add, unsigned long long delta, fm_key_counts *c)
{
    const uint64_t h = fm_hash_key(kind, key, t->key_size);
    int fresh = 0, was_tombstone = 0;
    const uint64_t slot = fm_probe_upsert(t, key, h, &fresh, &was_tombstone);
    if (slot == FM_NO_SLOT) {
        c->lost++;
        return;
    }
    uint8_t *dst = fm_value_at(t, slot);
    if (add) {
        unsigned long long counter = 0;
        if (!fresh) fm_copy_bytes((uint8_t *)&counter, dst, 8);
        counter += delta;
        fm_copy_bytes(dst, (const uint8_t *)&counter, 8);
    } else {
        fm_copy_bytes(dst, value, t->value_size);
    }
    if (fresh) {
        fm_publish(t, slot, h);
        c->claimed++;
        c->from_tombstones += (unsigned)was_tombstone;
    }
}

/* Remove of an acting occurrence; returns 1 when the key was there. */
FM_FN unsigned fm_key_remove(const fm_table_view *t, int kind, const uint8_t *key, fm_key_counts *c)
{
    int left_tombstone = 0;
    const unsigned hit = (unsigned)fm_probe_remove(t, key, fm_hash_key(kind, key, t->key_size),
                                                   &left_tombstone);
    c->removed += hit;
    c->tombstones_left += hit && left_tombstone;
    return hit;
}

/* Lookup: the value (zeros when missing) and the found flag, each where
 * given; or, with `count`, the key counted when absent. */
FM_FN void fm_key_get(const fm_table_view *t, int kind, const uint8_t *key, uint8_t *value_out,
                      uint8_t *found_out, int count, fm_key_counts *c)
{
    const uint64_t slot = fm_probe_find(t, key, fm_hash_key(kind, key, t->key_size));
    if (count) c->counted += slot == FM_NO_SLOT;
    if (found_out) *found_out = slot != FM_NO_SLOT;
    if (!value_out || t->value_size == 0) return;
    if (slot != FM_NO_SLOT)
        fm_copy_bytes(value_out, fm_value_at(t, slot), t->value_size);
    else
        memset(value_out, 0, t->value_size);
}

/* Exact count of new keys: an acting occurrence of a key absent from t
 * enters the value-less set `seen`, and counts when it is new there (so a
 * key repeated across chunks counts once). A key that finds `seen` full
 * still counts: the count then exceeds seen's slots, which the caller sized
 * above every count that matters. */
FM_FN void fm_key_count_distinct(const fm_table_view *t, const fm_table_view *seen, int kind,
                                 const uint8_t *key, fm_key_counts *c)
{
    const uint64_t h = fm_hash_key(kind, key, t->key_size);
    if (fm_probe_find(t, key, h) != FM_NO_SLOT) return;
    int fresh = 0, was_tombstone = 0;
    const uint64_t slot = fm_probe_upsert(seen, key, h, &fresh, &was_tombstone);
    if (slot == FM_NO_SLOT) {
        c->counted++;
    } else if (fresh) {
        fm_publish(seen, slot, h);
        c->counted++;
    }
}

#endif
