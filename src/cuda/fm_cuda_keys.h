/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* What one GPU thread does for one key of a batch, written once for the
 * CUDA kernels (cuda_batch.cu) and for host tests that run the same steps
 * on CPU threads (tests/test_cuda_logic.c). C11 and CUDA C++.
 *
 * Grouped inserts and removes run in chunks of at most FM_DEDUP_MAX_KEYS keys. In each
 * chunk, fm_key_group puts every occurrence in a small open-addressing set
 * keyed by the key bytes (2 slots a key, 16 bytes a slot: 32 MiB for a full
 * chunk, which stays in a GPU's L2 cache): the set slot remembers the first
 * occurrence's position (to compare keys) and the occurrence that acts for
 * the key (the last one for insert, the first one for remove), by atomic
 * max. After the whole chunk is grouped, only acting occurrences touch the
 * table, so no two threads ever work on the same key (the contract of
 * table/fm_probe.h) and the result is that of the batch applied in order.
 * The set is never cleared between chunks: every word carries the chunk's
 * epoch, and a word of an older epoch reads as empty (the set is cleared
 * once in 65535 chunks, when the epoch wraps).
 *
 * add_u64 is not grouped: sums do not depend on order, so every occurrence
 * adds its delta itself (fm_key_add), with a probe that tolerates other
 * occurrences of the same key at the same time (fm_key_meet). Inserts try
 * that first too (fm_key_insert_once): a chunk whose keys are distinct,
 * which the pass itself detects, needs no grouping; a chunk with repeats
 * is then written again grouped (cuda_insert.cu). */
#ifndef FM_CUDA_KEYS_H
#define FM_CUDA_KEYS_H

#include <stddef.h>
#include <stdint.h>

#include "table/fm_atomic.h"
#include "table/fm_hash.h"
#include "table/fm_probe.h"

#if !defined(__CUDA_ARCH__)
#include <sched.h>
#endif

/* Most keys of one grouped chunk, and the bits of a set word. A set word
 * id is epoch << 48 | fingerprint << 21 | (position + 1); act is
 * epoch << 32 | the acting occurrence's code (fm_dedup_code). */
#define FM_DEDUP_MAX_KEYS ((size_t)1 << 20)
#define FM_DEDUP_POS_BITS 21
#define FM_DEDUP_FP_BITS 27
#define FM_DEDUP_EPOCHS 0x10000u
#define FM_DEDUP_NONE 0xffffffffu /* slot_of of an occurrence that found no set slot */

typedef struct fm_dedup_slot {
    unsigned long long id, act;
} fm_dedup_slot;

/* The grouping set of one chunk. */
typedef struct fm_cuda_dedup {
    fm_dedup_slot *set;
    unsigned *slot_of; /* each key's set slot */
    uint64_t slots;    /* allocated set slots */
    size_t keys;       /* allocated slot_of entries */
    uint64_t mask;     /* set slots of the current chunk - 1 */
    unsigned epoch;    /* the current chunk's, 1 .. FM_DEDUP_EPOCHS - 1 */
} fm_cuda_dedup;

/* What the keys of a batch did (summed per block on the GPU). */
typedef struct fm_cuda_counts {
    unsigned long long counted;         /* count passes: absent keys */
    unsigned long long claimed;         /* writes: new entries */
    unsigned long long from_tombstones; /* ... of which reused a tombstone */
    unsigned long long removed;
    unsigned long long tombstones_left;
    unsigned long long lost;            /* keys that found no free slot: a bug */
    unsigned long long repeated;        /* inserts: occurrences of a key seen before in their chunk */
    unsigned long long deferred;        /* adds of absent keys put off (cuda_add.cu) */
} fm_cuda_counts;
#define FM_CUDA_COUNTS 7 /* fields of fm_cuda_counts summed from fm_key_counts */

/* One key's part of fm_cuda_counts. */
typedef struct fm_key_counts {
    unsigned counted, claimed, from_tombstones, removed, tombstones_left, lost, repeated;
} fm_key_counts;

/* Set slots for a chunk of n keys: a power of two >= 2n (never full). */
FM_FN uint64_t fm_dedup_slots(size_t n)
{
    uint64_t slots = 64;
    while (slots < 2 * (uint64_t)n) slots <<= 1;
    return slots;
}

/* Moves the set to the next chunk's epoch; returns 1 when the epoch wrapped
 * and the caller must zero the whole set first (and on the first chunk of
 * a set just allocated, whose epoch is 0). */
FM_FN int fm_dedup_next_epoch(fm_cuda_dedup *d)
{
    if (d->epoch != 0 && d->epoch + 1 < FM_DEDUP_EPOCHS) {
        d->epoch++;
        return 0;
    }
    d->epoch = 1;
    return 1;
}

/* Occurrence i's code in act: the larger code acts, so the last occurrence
 * (insert) or the first (remove). */
FM_FN unsigned long long fm_dedup_code(const fm_cuda_dedup *d, size_t i, int last)
{
    return (unsigned long long)d->epoch << 32 | (last ? (unsigned)i : 0xffffffffu - (unsigned)i);
}

/* *p = max(*p, v), atomically. */
FM_FN void fm_dedup_max(unsigned long long *p, unsigned long long v)
{
#if defined(__CUDA_ARCH__)
    atomicMax(p, v);
#else
    unsigned long long old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old < v && !__atomic_compare_exchange_n(p, &old, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
#endif
}

/* Groups occurrence i of the chunk's keys (see the top of the file). At
 * most one probe of the whole set: an occurrence that finds it full (a
 * sizing bug) gets FM_DEDUP_NONE and is counted lost by the write. */
FM_FN void fm_key_group(const uint8_t *keys, size_t i, uint32_t ks, int kind, const fm_cuda_dedup *d,
                        int last)
{
    const uint8_t *key = keys + i * ks;
    /* Fingerprint and slot from the top and bottom bits of one remix: the
     * hash's own top bits are nearly the same for all of a shard's keys
     * (they chose its owner: shard/fm_owner.h). */
    const uint64_t mixed = fm_fmix64(fm_hash_key(kind, key, ks));
    const unsigned long long epoch = d->epoch, pos_mask = (1ull << FM_DEDUP_POS_BITS) - 1;
    const unsigned long long fp = (mixed >> (64 - FM_DEDUP_FP_BITS)) << FM_DEDUP_POS_BITS;
    const unsigned long long mine = epoch << 48 | fp | (unsigned long long)(i + 1);
    uint64_t s = mixed & d->mask;
    for (uint64_t step = 0; step <= d->mask; step++, s = (s + 1) & d->mask) {
        unsigned long long seen = fm_load_u64(&d->set[s].id);
        if (seen >> 48 != epoch) { /* empty in this chunk */
            const unsigned long long was = fm_cas_u64(&d->set[s].id, seen, mine);
            if (was == seen) break;
            seen = was; /* another occurrence took it first: of this epoch */
        }
        if ((seen & ~pos_mask) == (mine & ~pos_mask) && fm_key_equal(keys + ((seen & pos_mask) - 1) * ks, key, ks))
            break;
        if (step == d->mask) {
            d->slot_of[i] = FM_DEDUP_NONE;
            return;
        }
    }
    d->slot_of[i] = (unsigned)s;
    fm_dedup_max(&d->set[s].act, fm_dedup_code(d, i, last));
}

/* 1 when occurrence i acts for its key (after the whole chunk is grouped);
 * an occurrence without a set slot is counted lost and does not act. */
FM_FN int fm_key_acts(const fm_cuda_dedup *d, size_t i, int last, fm_key_counts *c)
{
    const unsigned s = d->slot_of[i];
    if (s == FM_DEDUP_NONE) {
        c->lost++;
        return 0;
    }
    return d->set[s].act == fm_dedup_code(d, i, last);
}

/* Most re-reads of a BUSY tag before fm_key_add gives up (and counts the
 * key lost): a claimed slot is published a few stores later, so this is
 * reached only if the claiming thread died. On a CPU (the host tests of
 * this logic) the claiming thread may also have been preempted for a time
 * slice or more: past FM_BUSY_SPINS_BEFORE_YIELD re-reads each one yields
 * the core first, so that thread gets to publish. */
#define FM_BUSY_SPINS (1u << 22)
#define FM_BUSY_SPINS_BEFORE_YIELD 1024u

/* The slot's tag once it is not BUSY (FM_TAG_BUSY when it stayed so). */
FM_FN uint32_t fm_tag_settled(const fm_table_view *t, uint64_t slot)
{
    uint32_t tag = fm_load_acquire_u32(&t->tags[slot]);
    for (uint32_t spin = 0; tag == FM_TAG_BUSY && spin < FM_BUSY_SPINS; spin++) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 700
        __nanosleep(32);
#elif !defined(__CUDA_ARCH__)
        if (spin >= FM_BUSY_SPINS_BEFORE_YIELD) sched_yield();
#endif
        tag = fm_load_acquire_u32(&t->tags[slot]);
    }
    return tag;
}

/* The slot of `key` (hash h) for a write that other occurrences of the
 * same key may run at the same moment (add_u64, the single-pass insert):
 * the slot that holds it, or one this thread claimed for it (*claimed set,
 * *was_tombstone telling what it replaced), which it holds BUSY with the
 * key written: the caller writes the value and publishes. FM_NO_SLOT
 * (counted lost) when the table has no free slot or a slot stayed BUSY.
 * Why all occurrences meet in one slot: within such a batch no slot
 * becomes free again, and every occurrence of a key walks the same chain
 * from its home, finds nothing up to the first EMPTY tag, then tries the
 * free slots from the first free one on in the same order, waiting for
 * and comparing the key of every slot taken on the way; the first
 * occurrence to claim a slot takes the one every other occurrence reaches
 * before any free slot. */
FM_FN uint64_t fm_key_meet(const fm_table_view *t, const uint8_t *key, uint64_t h, int *claimed,
                           int *was_tombstone, fm_key_counts *c)
{
    const uint32_t want = fm_full_tag(h);
    uint64_t slot = fm_home_slot(h, t->log2_slots), first_free = FM_NO_SLOT, step = 0;
    *claimed = 0;
    for (; step <= t->mask; step++, slot = (slot + 1) & t->mask) {
        const uint32_t tag = fm_tag_settled(t, slot);
        if (tag == FM_TAG_BUSY) {
            c->lost++;
            return FM_NO_SLOT;
        }
        if (tag == FM_TAG_EMPTY) {
            if (first_free == FM_NO_SLOT) first_free = slot;
            break;
        }
        if (tag == want && fm_key_equal(fm_key_at(t, slot), key, t->key_size)) return slot;
        if (tag == FM_TAG_TOMBSTONE && first_free == FM_NO_SLOT) first_free = slot;
    }
    slot = first_free;
    for (step = 0; slot != FM_NO_SLOT && step <= t->mask; step++, slot = (slot + 1) & t->mask) {
        uint32_t tag = fm_load_acquire_u32(&t->tags[slot]);
        if ((tag == FM_TAG_EMPTY || tag == FM_TAG_TOMBSTONE) && fm_cas_u32(&t->tags[slot], tag, FM_TAG_BUSY)) {
            fm_copy_bytes(fm_key_at(t, slot), key, t->key_size);
            *claimed = 1;
            *was_tombstone = tag == FM_TAG_TOMBSTONE;
            return slot;
        }
        tag = fm_tag_settled(t, slot); /* taken by another thread: perhaps for this key */
        if (tag == FM_TAG_BUSY) break;
        if (tag == want && fm_key_equal(fm_key_at(t, slot), key, t->key_size)) return slot;
    }
    c->lost++;
    return FM_NO_SLOT;
}

/* A slot this thread claimed (fm_key_meet) becomes FULL and counts. */
FM_FN void fm_key_publish_claim(const fm_table_view *t, uint64_t slot, uint64_t h, int was_tombstone,
                                fm_key_counts *c)
{
    fm_publish(t, slot, h);
    c->claimed++;
    c->from_tombstones += (unsigned)was_tombstone;
}

/* Adds delta to key's counter (inserting it with delta when absent) while
 * other threads may add to the same key (fm_key_meet). */
FM_FN void fm_key_add(const fm_table_view *t, int kind, const uint8_t *key, unsigned long long delta,
                      fm_key_counts *c)
{
    const uint64_t h = fm_table_hash(t, kind, key);
    int claimed = 0, was_tombstone = 0;
    const uint64_t slot = fm_key_meet(t, key, h, &claimed, &was_tombstone, c);
    if (slot == FM_NO_SLOT) return;
    if (!claimed) {
        fm_add_u64((unsigned long long *)fm_value_at(t, slot), delta);
        return;
    }
    fm_copy_bytes(fm_value_at(t, slot), (const uint8_t *)&delta, 8);
    fm_key_publish_claim(t, slot, h, was_tombstone, c);
}

/* Words of the single-pass insert's marks for a table of `slots`: one bit
 * a slot. */
FM_FN uint64_t fm_mark_words(uint64_t slots) { return (slots + 31) / 32; }

/* The single-pass insert of one occurrence, with no grouping: every
 * occurrence of a chunk runs at once and meets the others of its key in
 * one slot (fm_key_meet). The first to reach the slot in the chunk sets
 * the slot's bit in `marks` (cleared before the chunk) and writes its
 * value; a claimer marks before it publishes, so it is always the first.
 * Any later occurrence writes nothing and counts a repeat: which value a
 * key kept is then a matter of timing, and the caller runs the chunk again
 * grouped (the acting occurrence writes last), which gives the batch-order
 * result whatever this pass wrote. A chunk of distinct keys is done in one
 * pass over the table. marks NULL (no values: any occurrence will do):
 * no marks, no repeats. */
FM_FN void fm_key_insert_once(const fm_table_view *t, int kind, const uint8_t *key, const uint8_t *value,
                              unsigned *marks, fm_key_counts *c)
{
    const uint64_t h = fm_table_hash(t, kind, key);
    int claimed = 0, was_tombstone = 0;
    const uint64_t slot = fm_key_meet(t, key, h, &claimed, &was_tombstone, c);
    if (slot == FM_NO_SLOT) return;
    int first = 1;
    if (marks) {
        const unsigned bit = 1u << (slot & 31);
        first = !(fm_or_u32(&marks[slot >> 5], bit) & bit);
    }
    if (first) fm_copy_bytes(fm_value_at(t, slot), value, t->value_size);
    else c->repeated++;
    if (claimed) fm_key_publish_claim(t, slot, h, was_tombstone, c);
}

/* Insert of an acting occurrence: the value bytes at `value`. */
FM_FN void fm_key_write(const fm_table_view *t, int kind, const uint8_t *key, const uint8_t *value,
                        fm_key_counts *c)
{
    const uint64_t h = fm_table_hash(t, kind, key);
    int fresh = 0, was_tombstone = 0;
    const uint64_t slot = fm_probe_upsert(t, key, h, &fresh, &was_tombstone);
    if (slot == FM_NO_SLOT) {
        c->lost++;
        return;
    }
    fm_copy_bytes(fm_value_at(t, slot), value, t->value_size);
    if (fresh) fm_key_publish_claim(t, slot, h, was_tombstone, c);
}

/* Remove of an acting occurrence; returns 1 when the key was there. */
FM_FN unsigned fm_key_remove(const fm_table_view *t, int kind, const uint8_t *key, fm_key_counts *c)
{
    int left_tombstone = 0;
    const unsigned hit = (unsigned)fm_probe_remove(t, key, fm_table_hash(t, kind, key),
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
    const uint64_t slot = fm_probe_find(t, key, fm_table_hash(t, kind, key));
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
    const uint64_t h = fm_table_hash(t, kind, key);
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
