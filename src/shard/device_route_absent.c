/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Built without CUDA: no batch is ever in device memory, so the sharded
 * map never takes the device route; these only satisfy the linker. */
#include <string.h>

#include "shard/fm_device_route.h"

fm_status fm_device_route_build(fm_map *map, fm_device_route *r, const fm_device_batch *b,
                                const int *shard_device, uint32_t shards)
{
    (void)b;
    (void)shard_device;
    (void)shards;
    memset(r, 0, sizeof *r);
    return fm_fail(map, FM_ERR_UNSUPPORTED, "flashmap was built without CUDA");
}

fm_status fm_device_route_finish(fm_map *map, fm_device_route *r, const fm_device_batch *b)
{
    (void)r;
    (void)b;
    return fm_fail(map, FM_ERR_UNSUPPORTED, "flashmap was built without CUDA");
}

void fm_device_route_free(fm_device_route *r) { memset(r, 0, sizeof *r); }
