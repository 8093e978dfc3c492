/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Routing a batch that lives in device memory to the CUDA shards of a
 * sharded map without leaving the devices (device_route.cu): each key's
 * owner is computed by a kernel with the host's owner function
 * (shard/fm_owner.h), the batch is sorted stably by owner on the device
 * that holds it (batch order kept inside every shard, so the last
 * occurrence still wins), each shard's run goes to that shard's device (a
 * peer copy, or nothing at all when the shard shares the device), and the
 * results come back and are put in batch order on the device.
 *
 * The shards then run their own operations on their runs, on their own
 * streams (the caller does that between build and finish). */
#ifndef FM_DEVICE_ROUTE_H
#define FM_DEVICE_ROUTE_H

#include <stddef.h>
#include <stdint.h>

#include "api/fm_map.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct fm_device_route {
    uint32_t shards;
    uint64_t *start; /* host: shards + 1 offsets; shard i's run is start[i] .. start[i + 1] */
    /* Host arrays of `shards` device pointers: shard i's run of keys,
     * payload and result buffers, in the memory of shard i's device (NULL
     * where the batch has none). */
    uint8_t **keys, **payload, **values, **flags;
    struct fm_device_route_impl *impl; /* routed buffers, order, stream */
} fm_device_route;

/* What one call routes. keys, payload, values_out and flags_out are device
 * memory of `device` (the last three may be NULL); record is the payload's
 * bytes per key, value_size the result values' (0: none). */
typedef struct fm_device_batch {
    int device;
    const void *keys;
    const void *payload;
    size_t record;
    void *values_out;
    size_t value_size;
    uint8_t *flags_out;
    size_t n;
} fm_device_batch;

/* Fills b and returns 1 when a batch can take a device route: a CUDA map,
 * and keys plus every buffer the call passes (payload of `record` bytes a
 * key, value outputs, flags) in device memory of one device. Plain C
 * (device_batch.c); 0 in a build without CUDA. */
int fm_device_batch_of(const fm_map *map, fm_device_batch *b, const void *keys, const void *payload, size_t record,
                       void *values_out, uint8_t *flags_out, size_t n);

/* Routes b over `shards` shards, shard i on CUDA device shard_device[i],
 * with map's key size and hash. Blocks until every shard's run is in place.
 * Errors (FM_ERR_NOMEM for device or host memory, FM_ERR_DEVICE with the
 * CUDA message) are recorded on map and leave nothing allocated; nothing is
 * written to the caller's buffers. */
fm_status fm_device_route_build(fm_map *map, fm_device_route *r, const fm_device_batch *b,
                                const int *shard_device, uint32_t shards);
/* Brings every shard's results back and writes them in batch order to
 * b->values_out and b->flags_out (those that are not NULL). Blocks. */
fm_status fm_device_route_finish(fm_map *map, fm_device_route *r, const fm_device_batch *b);
/* Frees what build allocated (r may have failed to build). */
void fm_device_route_free(fm_device_route *r);

#ifdef __cplusplus
}
#endif

#endif
