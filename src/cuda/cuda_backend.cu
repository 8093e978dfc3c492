/* The CUDA backend. Device kernels run the same probing code as the CPU
 * backend (table/fm_probe.h compiled as __host__ __device__).
 *
 * Status: the device-side probe is compiled and checked here; device tables
 * and streamed transfers come with the CUDA backend work. Until then a CUDA
 * map cannot be created, FM_BACKEND_AUTO picks the CPU, and FM_BACKEND_CUDA
 * returns FM_ERR_UNSUPPORTED with the reason. */
#include <cuda_runtime.h>

#include "api/fm_map.h"
#include "table/fm_hash.h"
#include "table/fm_probe.h"

/* One thread per key: look the key up, copy its value or zeros. */
__global__ void fm_cuda_find_kernel(fm_table_view t, int hash_kind, const uint8_t *keys,
                                    size_t n, uint8_t *values_out, uint8_t *found_out)
{
    size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const uint8_t *key = keys + i * t.key_size;
    uint64_t slot = fm_probe_find(&t, key, fm_hash_key(hash_kind, key, t.key_size));
    if (found_out) found_out[i] = slot != FM_NO_SLOT;
    if (t.value_size == 0) return;
    uint8_t *out = values_out + i * t.value_size;
    if (slot != FM_NO_SLOT)
        memcpy(out, fm_value_at(&t, slot), t.value_size);
    else
        memset(out, 0, t.value_size);
}

/* Whether this process sees a CUDA device (and a driver to run it). */
static int cuda_device_present(void)
{
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return count > 0;
}

extern "C" int fm_cuda_usable(void)
{
    return 0; /* no CUDA maps yet: AUTO must keep choosing the CPU */
}

static fm_status cuda_create(fm_map *map)
{
    if (!cuda_device_present())
        return fm_fail(map, FM_ERR_UNSUPPORTED, "FM_BACKEND_CUDA: no usable CUDA device or driver");
    return fm_fail(map, FM_ERR_UNSUPPORTED,
                   "FM_BACKEND_CUDA: device tables are not implemented in this version");
}

extern "C" const fm_backend_ops fm_cuda_backend = {
    .name = "cuda",
    .create = cuda_create,
};
