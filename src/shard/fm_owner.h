/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Which shard owns a hash, and in which exchange round it travels: plain C
 * for the host's routing (partition.c) and __host__ __device__ for the
 * device routing of sharded CUDA maps (device_route.cu), so both sides send
 * every key to the same shard. */
#ifndef FM_OWNER_H
#define FM_OWNER_H

#include <stdint.h>

#include "table/fm_portable.h"

/* The high 64 bits of a * b. */
FM_FN uint64_t fm_mul_hi64(uint64_t a, uint64_t b)
{
#if defined(__CUDA_ARCH__)
    return __umul64hi(a, b);
#else
    __extension__ typedef unsigned __int128 fm_u128;
    return (uint64_t)(((fm_u128)a * b) >> 64);
#endif
}

/* The owner shard of a hash among `owners`: floor(h * owners / 2^64), so
 * owner o holds the o-th of `owners` equal ranges of the hash. The order of
 * hashes is the order of owners, and inside one owner the order of its home
 * slots: the owner's tables place keys by h * owners (fm_table_hash, with
 * the spread of every level of routing above them multiplied in), which
 * stretches its range over all of their slots. A batch in hash order (as
 * flashmap-kmer sends them) is therefore already grouped by owner rank,
 * then by shard, then by each thread's range of slots: one partition from
 * rank to thread, and routing it copies nothing (partition.c). */
FM_FN uint32_t fm_owner_of(uint64_t hash, uint32_t owners)
{
    return (uint32_t)fm_mul_hi64(hash, owners);
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
