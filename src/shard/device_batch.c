/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Whether a bulk call's buffers all sit on one device (fm_device_route.h). */
#include "shard/fm_device_route.h"

int fm_device_batch_of(const fm_map *map, fm_device_batch *b, const void *keys, const void *payload, size_t record,
                       void *values_out, uint8_t *flags_out, size_t n)
{
    const size_t vs = map->cfg.value_size;
    if (map->backend != FM_BACKEND_CUDA) return 0;
    const int device = fm_cuda_device_of(keys);
    if (device < 0) return 0;
    if (payload && record && fm_cuda_device_of(payload) != device) return 0;
    if (values_out && vs && fm_cuda_device_of(values_out) != device) return 0;
    if (flags_out && fm_cuda_device_of(flags_out) != device) return 0;
    *b = (fm_device_batch){.device = device,
                           .keys = keys,
                           .payload = record ? payload : NULL,
                           .record = record,
                           .values_out = vs ? values_out : NULL,
                           .value_size = vs,
                           .flags_out = flags_out,
                           .n = n};
    return 1;
}
