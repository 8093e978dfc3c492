/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Built without CUDA: AUTO always picks the CPU, and asking for CUDA says why not. */
#include <flashmap_cuda.h>

#include "api/fm_map.h"

int fm_cuda_usable(void) { return 0; }
int fm_cuda_device_count(void) { return 0; }
int fm_cuda_is_device_pointer(const void *p)
{
    (void)p;
    return 0;
}
int fm_cuda_device_of(const void *p)
{
    (void)p;
    return -1;
}

fm_status fm_cuda_memcpy(fm_map *report, void *dst, const void *src, size_t bytes)
{
    (void)dst;
    (void)src;
    (void)bytes;
    return fm_fail(report, FM_ERR_UNSUPPORTED, "flashmap was built without CUDA");
}

fm_status fm_cuda_bind(fm_map *report, int device)
{
    (void)device;
    return fm_fail(report, FM_ERR_UNSUPPORTED, "flashmap was built without CUDA");
}

fm_status fm_cuda_set_stream(fm_map *map, void *stream)
{
    (void)stream;
    return fm_fail(map, FM_ERR_UNSUPPORTED, "fm_cuda_set_stream: flashmap was built without CUDA");
}

void *fm_cuda_get_stream(const fm_map *map)
{
    (void)map;
    return NULL;
}

static fm_status cuda_create(fm_map *map)
{
    return fm_fail(map, FM_ERR_UNSUPPORTED,
                   "flashmap was built without CUDA (configure with -DFLASHMAP_WITH_CUDA=ON)");
}

const fm_backend_ops fm_cuda_backend = {
    .name = "cuda",
    .create = cuda_create,
};
