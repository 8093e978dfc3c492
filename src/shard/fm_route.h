/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Routing a batch to the shards that own its keys: hash, partition by owner
 * (stable, so batch order holds inside every shard), gather each shard's keys
 * and values into one contiguous run, and put results back in batch order. */
#ifndef FM_ROUTE_H
#define FM_ROUTE_H

#include "shard/fm_partition.h"

typedef struct fm_route {
    fm_partition part;  /* order[j]: batch position of routed position j */
    uint8_t *keys;      /* keys in routed order; shard s owns part.start[s].. */
    uint64_t *scratch;  /* hashes and the partition's arrays */
} fm_route;

/* Routes n keys of key_size bytes to `shards` owners by their hash_kind
 * hash times `spread` (the routed map's). FM_ERR_NOMEM leaves nothing
 * allocated. */
fm_status fm_route_build(fm_route *r, const void *keys, size_t n, uint32_t key_size,
                         int hash_kind, uint64_t spread, uint32_t shards, int threads);
void fm_route_free(fm_route *r);

/* Copies n records of `size` bytes from batch order (src) into routed order
 * (dst), or back (fm_route_scatter). */
void fm_route_gather(const fm_route *r, uint8_t *dst, const uint8_t *src, size_t size, int threads);
void fm_route_scatter(const fm_route *r, uint8_t *dst, const uint8_t *src, size_t size, int threads);

#endif
