/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* One shard table and the probe of one key: the logic every backend runs.
 *
 * Layout (structure of arrays, capacity a power of two):
 *   tags[slot]   uint32: 2-bit state << 30 | 30-bit fingerprint
 *   keys[slot]   key_size bytes
 *   values[slot] value_size bytes (absent when value_size is 0)
 * Linear probing from the home slot (the hash's high bits). A probe reads
 * tags (16 per cache line), compares a key only when the fingerprint matches
 * and touches a value only on a hit. Removal leaves a TOMBSTONE; an insert
 * looks along the whole chain up to an EMPTY tag before reusing one, so a key
 * is never stored twice.
 *
 * Concurrency contract: many threads may probe one table at once, but no two
 * threads may work on the same key at the same time (the CPU backend gives
 * every key's occurrences to one thread; the GPU backend dedups batches).
 * A thread then only competes with others for free slots, which it claims
 * with a compare-and-swap to BUSY before writing the key and publishing FULL.
 */
#ifndef FM_PROBE_H
#define FM_PROBE_H

#include <stdint.h>
#include <string.h>

#include "table/fm_atomic.h"
#include "table/fm_copy.h"
#include "table/fm_hash.h"
#include "table/fm_portable.h"

#define FM_STATE_EMPTY 0u
#define FM_STATE_BUSY 1u /* claimed, key being written (or pending in a rehash) */
#define FM_STATE_FULL 2u
#define FM_STATE_TOMBSTONE 3u
#define FM_TAG_EMPTY 0u
#define FM_TAG_BUSY (FM_STATE_BUSY << 30)
#define FM_TAG_TOMBSTONE (FM_STATE_TOMBSTONE << 30)
#define FM_FINGERPRINT_MASK 0x3fffffffu
#define FM_NO_SLOT UINT64_MAX

typedef struct fm_table_view {
    uint32_t *tags;
    uint8_t *keys;
    uint8_t *values;     /* NULL when value_size is 0 */
    uint64_t mask;       /* slots - 1 */
    uint32_t log2_slots; /* >= 1 */
    uint32_t key_size;
    uint32_t value_size;
    uint64_t spread;     /* owners the routing above spreads keys over (1: none); see fm_table_hash */
} fm_table_view;

FM_FN uint32_t fm_tag_state(uint32_t tag) { return tag >> 30; }
FM_FN uint32_t fm_full_tag(uint64_t hash)
{
    return (FM_STATE_FULL << 30) | ((uint32_t)hash & FM_FINGERPRINT_MASK);
}
FM_FN uint64_t fm_home_slot(uint64_t hash, uint32_t log2_slots)
{
    return hash >> (64 - log2_slots);
}
/* The hash a table places a key by: the key's hash times the table's
 * spread. A sharded or MPI map gives owner floor(h * owners / 2^64) the
 * keys whose hash lies in its 1/owners of the hash range (shard/fm_owner.h);
 * multiplying by the spread stretches that range over the whole table, so
 * its slots fill evenly, and a batch in hash order stays in home-slot
 * order on every owner. (An even spread costs the fingerprint its low
 * bits: 2 owners leave 29 bits, 64 leave 24.) */
FM_FN uint64_t fm_table_hash(const fm_table_view *t, int kind, const uint8_t *key)
{
    return fm_hash_key(kind, key, t->key_size) * t->spread;
}
FM_FN uint8_t *fm_key_at(const fm_table_view *t, uint64_t slot)
{
    return t->keys + slot * t->key_size;
}
FM_FN uint8_t *fm_value_at(const fm_table_view *t, uint64_t slot)
{
    return t->values + slot * t->value_size;
}

FM_FN int fm_key_equal(const uint8_t *a, const uint8_t *b, uint32_t key_size)
{
#if defined(__CUDA_ARCH__)
    /* Loads skip the SM's L1 (__ldcg): a slot published by another SM
     * during the same kernel must not be compared with stale key bytes.
     * Aligned keys compare in 8-byte words (see fm_copy_bytes). */
    if ((((uintptr_t)a | (uintptr_t)b | key_size) & 7) == 0) {
        const unsigned long long *x = (const unsigned long long *)a;
        const unsigned long long *y = (const unsigned long long *)b;
        for (uint32_t w = 0; w < key_size / 8; w++)
            if (__ldcg(x + w) != __ldcg(y + w)) return 0;
        return 1;
    }
    for (uint32_t i = 0; i < key_size; i++)
        if (__ldcg(a + i) != __ldcg(b + i)) return 0;
    return 1;
#else
    uint32_t i = 0;
    for (; i + 8 <= key_size; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y) return 0;
    }
    for (; i < key_size; i++)
        if (a[i] != b[i]) return 0;
    return 1;
#endif
}

/* Prefetch what a lookup of this hash reads: its home tag, key and value. */
FM_FN void fm_prefetch_home(const fm_table_view *t, uint64_t hash)
{
    uint64_t home = fm_home_slot(hash, t->log2_slots);
    fm_prefetch(&t->tags[home]);
    fm_prefetch(fm_key_at(t, home));
    /* A hit usually lies in its home's value line too. */
    if (t->value_size) fm_prefetch(fm_value_at(t, home));
}

/* The slot holding `key`, or FM_NO_SLOT. */
FM_FN uint64_t fm_probe_find(const fm_table_view *t, const uint8_t *key, uint64_t hash)
{
    const uint32_t want = fm_full_tag(hash);
    uint64_t slot = fm_home_slot(hash, t->log2_slots);
    for (uint64_t step = 0; step <= t->mask; step++, slot = (slot + 1) & t->mask) {
        uint32_t tag = fm_load_acquire_u32(&t->tags[slot]);
        if (tag == FM_TAG_EMPTY) return FM_NO_SLOT;
        if (tag == want && fm_key_equal(fm_key_at(t, slot), key, t->key_size)) return slot;
    }
    return FM_NO_SLOT;
}

/* Claims the first EMPTY or TOMBSTONE slot at or after `slot`, writes the key
 * and leaves the tag BUSY (fm_publish makes it FULL). *was_tombstone tells
 * which kind of slot was taken. FM_NO_SLOT when the table has none. */
FM_FN uint64_t fm_claim_from(const fm_table_view *t, uint64_t slot, const uint8_t *key,
                             int *was_tombstone)
{
    for (uint64_t step = 0; step <= t->mask; step++, slot = (slot + 1) & t->mask) {
        uint32_t tag = fm_load_acquire_u32(&t->tags[slot]);
        if ((tag == FM_TAG_EMPTY || tag == FM_TAG_TOMBSTONE) &&
            fm_cas_u32(&t->tags[slot], tag, FM_TAG_BUSY)) {
            fm_copy_bytes(fm_key_at(t, slot), key, t->key_size);
            *was_tombstone = tag == FM_TAG_TOMBSTONE;
            return slot;
        }
    }
    return FM_NO_SLOT;
}

/* Makes a claimed slot visible to probes once its key and value are written. */
FM_FN void fm_publish(const fm_table_view *t, uint64_t slot, uint64_t hash)
{
    fm_store_release_u32(&t->tags[slot], fm_full_tag(hash));
}

/* Looks for `key` along its chain. Returns its slot when present; else
 * FM_NO_SLOT with *vacancy = where a claim for it starts: the first
 * TOMBSTONE on the chain, or the EMPTY slot that ends it (FM_NO_SLOT when
 * the table has neither). The whole chain up to an EMPTY tag is searched
 * before a tombstone may be reused, so a key is never stored twice. */
FM_FN uint64_t fm_probe_find_or_vacancy(const fm_table_view *t, const uint8_t *key, uint64_t hash,
                                        uint64_t *vacancy)
{
    const uint32_t want = fm_full_tag(hash);
    uint64_t slot = fm_home_slot(hash, t->log2_slots);
    uint64_t first_tombstone = FM_NO_SLOT;
    uint64_t step = 0;
    for (; step <= t->mask; step++, slot = (slot + 1) & t->mask) {
        uint32_t tag = fm_load_acquire_u32(&t->tags[slot]);
        if (tag == FM_TAG_EMPTY) break;
        if (tag == want && fm_key_equal(fm_key_at(t, slot), key, t->key_size)) return slot;
        if (tag == FM_TAG_TOMBSTONE && first_tombstone == FM_NO_SLOT) first_tombstone = slot;
    }
    *vacancy = first_tombstone != FM_NO_SLOT ? first_tombstone : step > t->mask ? FM_NO_SLOT : slot;
    return FM_NO_SLOT;
}

/* Finds `key` or claims a slot for it. Returns the slot; *fresh is 0 when the
 * key was present (tag FULL) and 1 when the slot was just claimed (tag BUSY,
 * key written, value not yet: the caller writes it and calls fm_publish). */
FM_FN uint64_t fm_probe_upsert(const fm_table_view *t, const uint8_t *key, uint64_t hash,
                               int *fresh, int *was_tombstone)
{
    uint64_t vacancy = FM_NO_SLOT;
    const uint64_t slot = fm_probe_find_or_vacancy(t, key, hash, &vacancy);
    if (slot != FM_NO_SLOT) {
        *fresh = 0;
        return slot;
    }
    if (vacancy == FM_NO_SLOT) return FM_NO_SLOT;
    *fresh = 1;
    /* Slots before the claimed one never become EMPTY during a batch, so the
     * key stays reachable from its home. */
    return fm_claim_from(t, vacancy, key, was_tombstone);
}

/* Inserts a key known to be absent (rehash into a fresh table): claims the
 * first EMPTY slot from home. */
FM_FN uint64_t fm_probe_place_new(const fm_table_view *t, const uint8_t *key, uint64_t hash)
{
    int was_tombstone;
    return fm_claim_from(t, fm_home_slot(hash, t->log2_slots), key, &was_tombstone);
}

/* Removes `key`; returns 1 when it was present. Within a remove batch (no
 * concurrent inserts) a slot whose successor is EMPTY ends every chain
 * through it, so it can become EMPTY instead of a tombstone. *left_tombstone
 * says which. */
FM_FN int fm_probe_remove(const fm_table_view *t, const uint8_t *key, uint64_t hash,
                          int *left_tombstone)
{
    uint64_t slot = fm_probe_find(t, key, hash);
    if (slot == FM_NO_SLOT) return 0;
    uint32_t next = fm_load_acquire_u32(&t->tags[(slot + 1) & t->mask]);
    *left_tombstone = next != FM_TAG_EMPTY;
    fm_store_release_u32(&t->tags[slot], *left_tombstone ? FM_TAG_TOMBSTONE : FM_TAG_EMPTY);
    return 1;
}

#endif
