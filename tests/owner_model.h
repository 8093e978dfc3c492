/* Which shard owns a key: the tests' model of flashmap's routing.
 *
 * A sharded map (cfg.shards = S) and an MPI map (one shard per rank) send a
 * key to fm_owner_of(fm_hash_key(hash, key), owners). With FM_FIXED_CAPACITY
 * every shard holds at most ceil(capacity / owners) live entries, so the
 * tests must know the owner of every key to predict FM_ERR_FULL exactly.
 * This uses the library's private headers (tests that include it add
 * ${PROJECT_SOURCE_DIR}/src to their include path); the reference map itself
 * stays independent of flashmap. */
#ifndef FLASHMAP_TESTS_OWNER_MODEL_H
#define FLASHMAP_TESTS_OWNER_MODEL_H

#include <flashmap.h>

#include <stdint.h>

#include "shard/fm_partition.h"
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

/* The live entries one shard of a fixed-capacity map may hold. */
static inline uint64_t tm_shard_capacity(uint64_t capacity, uint32_t owners)
{
    return owners <= 1 ? capacity : (capacity + owners - 1) / owners;
}

#endif
