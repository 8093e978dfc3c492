/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Which shard owns a key: the tests' model of flashmap's routing.
 *
 * A sharded map (cfg.shards = S) and an MPI map (one shard per rank) send a
 * key to fm_owner_of(fm_hash_key(hash, key), owners). With FM_FIXED_CAPACITY
 * the map takes up to capacity live entries in all, and each shard's table
 * holds at most fm_part_capacity(capacity, owners) of them (its share plus
 * headroom), so the tests must know the owner of every key to predict
 * FM_ERR_FULL exactly.
 * This uses the library's private headers (tests that include it add
 * ${PROJECT_SOURCE_DIR}/src to their include path); the reference map itself
 * stays independent of flashmap. */
#ifndef FLASHMAP_TESTS_OWNER_MODEL_H
#define FLASHMAP_TESTS_OWNER_MODEL_H

#include <flashmap.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "reference_map.h"

#include "shard/fm_partition.h"
#include "shard/fm_parts.h"
#include "table/fm_hash.h"

/* hash: FM_HASH_MURMUR3 or FM_HASH_IDENTITY (DEFAULT means MURMUR3). */
static inline uint32_t tm_owner(fm_hash hash, const uint8_t *key, uint32_t key_size,
                                uint32_t owners)
{
    if (owners <= 1)
        return 0;
    const int kind = hash == FM_HASH_IDENTITY ? (int)FM_HASH_IDENTITY : (int)FM_HASH_MURMUR3;
    return fm_owner_of(fm_hash_key(kind, key, key_size), owners);
}

typedef struct tm_hashed_position {
    uint64_t hash;
    size_t at;
} tm_hashed_position;

static inline int tm_by_hash_then_position(const void *x, const void *y)
{
    const tm_hashed_position *a = (const tm_hashed_position *)x, *b = (const tm_hashed_position *)y;
    if (a->hash != b->hash)
        return a->hash < b->hash ? -1 : 1;
    return a->at < b->at ? -1 : a->at > b->at;
}

/* Sorts n keys by the map's hash, stably (equal keys keep their order):
 * a batch in hash order is in owner order and, on every owner, in
 * home-slot order (fm_owner_of, fm_table_hash), the order in which
 * flashmap-kmer hands its batches over. Returns 0 when out of memory. */
static inline int tm_sort_by_hash(uint8_t *keys, size_t n, uint32_t key_size, fm_hash hash)
{
    const int kind = hash == FM_HASH_IDENTITY ? (int)FM_HASH_IDENTITY : (int)FM_HASH_MURMUR3;
    tm_hashed_position *order = (tm_hashed_position *)malloc((n ? n : 1) * sizeof *order);
    uint8_t *copy = (uint8_t *)malloc((n ? n : 1) * key_size);
    if (!order || !copy) {
        free(order);
        free(copy);
        return 0;
    }
    memcpy(copy, keys, n * key_size);
    for (size_t i = 0; i < n; i++) {
        order[i].hash = fm_hash_key(kind, copy + i * key_size, key_size);
        order[i].at = i;
    }
    qsort(order, n, sizeof *order, tm_by_hash_then_position);
    for (size_t i = 0; i < n; i++)
        memcpy(keys + i * key_size, copy + order[i].at * key_size, key_size);
    free(order);
    free(copy);
    return 1;
}

/* The live entries one shard's table of a fixed-capacity map may hold. */
static inline uint64_t tm_shard_capacity(uint64_t capacity, uint32_t owners)
{
    return fm_part_capacity(capacity, owners);
}

/* Would new[i] more live entries on every owner i take a fixed map past
 * its capacity, or one owner's table past its part? *by_part: only the
 * latter (the whole map had room). */
static inline int tm_would_be_full(uint64_t capacity, uint32_t owners, const uint64_t *live, const uint64_t *fresh,
                                   int *by_part)
{
    const uint64_t part = tm_shard_capacity(capacity, owners);
    uint64_t total = 0;
    int part_full = 0;
    for (uint32_t i = 0; i < owners; i++) {
        total += live[i] + fresh[i];
        if (live[i] + fresh[i] > part) part_full = 1;
    }
    *by_part = part_full && total <= capacity;
    return part_full || total > capacity;
}

/* The reference map of a test plus, for fixed-capacity maps, the live
 * entries of every owner (live NULL: not counted). put/remove/add/clear
 * change both, so FM_ERR_FULL can be predicted shard by shard. */
static inline void tm_put(ref_map *ref, uint64_t *live, fm_hash hash, uint32_t key_size, uint32_t owners,
                          const uint8_t *key, const uint8_t *value)
{
    if (ref_put(ref, key, value) && live) live[tm_owner(hash, key, key_size, owners)]++;
}

static inline int tm_remove(ref_map *ref, uint64_t *live, fm_hash hash, uint32_t key_size, uint32_t owners,
                            const uint8_t *key)
{
    const int removed = ref_remove(ref, key);
    if (removed && live) live[tm_owner(hash, key, key_size, owners)]--;
    return removed;
}

static inline void tm_add(ref_map *ref, uint64_t *live, fm_hash hash, uint32_t key_size, uint32_t owners,
                          const uint8_t *key, uint64_t delta)
{
    if (live && ref_find(ref, key) == REF_NONE) live[tm_owner(hash, key, key_size, owners)]++;
    ref_add_u64(ref, key, delta);
}

static inline void tm_clear(ref_map *ref, uint64_t *live, uint32_t owners)
{
    ref_clear(ref);
    if (live) memset(live, 0, (size_t)owners * sizeof *live);
}

#endif
