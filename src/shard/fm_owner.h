/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Which shard owns a hash, and in which exchange round it travels: plain C
 * for the host's routing (partition.c) and __host__ __device__ for the
 * device routing of sharded CUDA maps (device_route.cu), so both sides send
 * every key to the same shard. */
#ifndef FM_OWNER_H
#define FM_OWNER_H

#include <stdint.h>

#include "table/fm_portable.h"

/* The owner shard of a hash among `owners`: a remix of the whole hash, so
 * it is independent of the high bits that pick home slots and the low bits
 * that make fingerprints, and every shard's table stays uniform. */
FM_FN uint32_t fm_owner_of(uint64_t hash, uint32_t owners)
{
    uint64_t mixed = (hash ^ (hash >> 29)) * 0xbf58476d1ce4e5b9ULL;
    return (uint32_t)(((mixed >> 32) * (uint64_t)owners) >> 32);
}

/* The exchange round of a hash among `rounds`: every occurrence of a key,
 * from any rank, travels in the same round, so applying rounds one after
 * another keeps the batch order of each key. */
FM_FN uint32_t fm_round_of(uint64_t hash, uint32_t rounds)
{
    uint64_t mixed = (hash ^ (hash >> 31)) * 0x94d049bb133111ebULL;
    return (uint32_t)(((mixed >> 32) * (uint64_t)rounds) >> 32);
}

/* The routing bucket of a hash: round-major, owner-minor (round * owners +
 * owner), as the host's partition (partition.c) and the device's sort
 * (device_route.cu) both order a batch. */
FM_FN uint32_t fm_bucket_of(uint64_t hash, uint32_t owners, uint32_t rounds)
{
    const uint32_t owner = fm_owner_of(hash, owners);
    return rounds > 1 ? fm_round_of(hash, rounds) * owners + owner : owner;
}

#endif
