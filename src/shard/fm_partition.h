/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Stable parallel counting sort of a batch by owner shard, and by exchange
 * round when a batch crosses the network in several rounds. */
#ifndef FM_PARTITION_H
#define FM_PARTITION_H

#include <stddef.h>
#include <stdint.h>

#include <flashmap.h>

#include "shard/fm_owner.h"

typedef struct fm_partition {
    uint32_t buckets;      /* rounds * owners; bucket = round * owners + owner */
    uint64_t *start;       /* buckets + 1 offsets into order */
    uint64_t *order;       /* original batch index of each position (caller's; may be NULL) */
    int in_order;          /* the batch was already in bucket order: order[j] = j */
} fm_partition;

/* Records to copy into partition order while sorting (instead of a later
 * gather through order): record j = the a bytes of its entry, then its b
 * bytes (b may be NULL with size_b 0). */
typedef struct fm_partition_pack {
    const uint8_t *a;
    size_t size_a;
    const uint8_t *b;
    size_t size_b;
    uint8_t *dst;   /* n records of size_a + size_b bytes, or (dst_b set) n of size_a */
    uint8_t *dst_b; /* NULL, or n of size_b: the b parts apart from the a parts */
    int hash_kind;  /* with hashes NULL: a holds the keys (size_a bytes), hashed as they are read (spread 1) */
    /* 1: a batch already in bucket order is not copied (dst and dst_b stay
     * unwritten; the caller sends a and b as they lie). */
    int keep_in_order;
} fm_partition_pack;

/* hashes[i] = the hash_kind hash of key i of n keys of key_size bytes,
 * times `spread` (that of the map being routed: fm_map_spread), on
 * `threads` threads: the first step of routing, on the host. */
void fm_partition_hash(uint64_t *hashes, const uint8_t *keys, size_t n, uint32_t key_size, int hash_kind,
                       uint64_t spread, int threads);

/* Sorts positions 0..n-1 by (round, owner), keeping batch order inside a
 * bucket. hashes[i] is the hash of batch entry i (hashes NULL: pack's
 * keys are hashed as they are read, with pack->hash_kind). order (the caller's n
 * entries, or NULL) gets each position's batch index; pack (or NULL) gets
 * the records themselves, unless the batch is in bucket order already and
 * pack->keep_in_order is set (p->in_order tells; a batch in hash order is,
 * with one round: fm_owner_of). The offsets are allocated here.
 * FM_ERR_NOMEM leaves nothing allocated. */
fm_status fm_partition_build(fm_partition *p, const uint64_t *hashes, size_t n, uint32_t owners,
                             uint32_t rounds, int threads, uint64_t *order, const fm_partition_pack *pack);
void fm_partition_free(fm_partition *p);

#endif
