/* Stable parallel counting sort of a batch by bucket: the region of a shard
 * table a key's home slot falls in, or the shard that owns the key. */
#ifndef FM_PARTITION_H
#define FM_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include <flashmap.h>

typedef enum fm_bucketing {
    FM_BUCKET_HIGH_BITS, /* bucket = hash >> (64 - log2 buckets): table regions */
    FM_BUCKET_OWNER      /* bucket = owner shard, from a remix of the hash */
} fm_bucketing;

typedef struct fm_partition {
    uint32_t buckets;
    uint64_t *start;       /* buckets + 1 offsets into order/hash */
    uint64_t *order;       /* original batch index of each position */
    uint64_t *hash;        /* hash of each position */
    uint64_t largest;      /* most keys in one bucket */
} fm_partition;

/* The owner shard of a hash among `shards`: independent of the high bits
 * that pick home slots and the low bits that make fingerprints. */
static inline uint32_t fm_owner_of(uint64_t hash, uint32_t shards)
{
    uint64_t mixed = (hash ^ (hash >> 29)) * 0xbf58476d1ce4e5b9ULL;
    return (uint32_t)(((mixed >> 32) * (uint64_t)shards) >> 32);
}

/* Sorts positions 0..n-1 by bucket, keeping batch order inside a bucket.
 * hashes[i] is the hash of batch entry i. For FM_BUCKET_HIGH_BITS, buckets
 * must be a power of two. Allocates the partition's arrays; FM_ERR_NOMEM
 * leaves nothing allocated. */
fm_status fm_partition_build(fm_partition *p, const uint64_t *hashes, size_t n,
                             uint32_t buckets, fm_bucketing how, int threads);
void fm_partition_free(fm_partition *p);

#endif
