/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Devices, errors and device memory of the CUDA backend. */
#include <mutex>

#include "cuda/fm_cuda.h"

#include "api/fm_fault.h"

/* -1 until the first call, then 0 or 1: the answer does not change while
 * the process runs (the driver enumerates devices once). */
static int usable_cache = -1;
/* What cudaGetDeviceCount said, for the message of a refused CUDA map. */
static cudaError_t usable_error = cudaSuccess;

extern "C" int fm_cuda_usable(void)
{
    int known = __atomic_load_n(&usable_cache, __ATOMIC_ACQUIRE);
    if (known >= 0) return known;
    int count = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) (void)cudaGetLastError(); /* no driver, no device: not sticky */
    usable_error = e;
    known = e == cudaSuccess && count > 0;
    __atomic_store_n(&usable_cache, known, __ATOMIC_RELEASE);
    return known;
}

extern "C" int fm_cuda_device_count(void)
{
    int count = 0;
    if (!fm_cuda_usable() || cudaGetDeviceCount(&count) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return count;
}

extern "C" fm_status fm_cuda_memcpy(fm_map *report, void *dst, const void *src, size_t bytes)
{
    if (bytes == 0) return FM_OK;
    cudaError_t e = cudaMemcpy(dst, src, bytes, cudaMemcpyDefault);
    /* cudaMemcpy may return before a copy into device memory has landed
     * (from pageable memory, or between devices): the caller's next reader
     * could be on a stream that does not wait for it. */
    if (e == cudaSuccess) e = cudaStreamSynchronize(0);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return fm_fail(report, FM_ERR_DEVICE, "cudaMemcpy of %zu bytes: %s", bytes, cudaGetErrorString(e));
    }
    return FM_OK;
}

extern "C" fm_status fm_cuda_bind(fm_map *report, int device)
{
    const cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess) return FM_OK;
    (void)cudaGetLastError();
    return fm_fail(report, FM_ERR_DEVICE, "cudaSetDevice(%d): %s", device, cudaGetErrorString(e));
}

extern "C" int fm_cuda_device_of(const void *p)
{
    if (!p || !fm_cuda_usable()) return -1;
    cudaPointerAttributes a;
    if (cudaPointerGetAttributes(&a, p) != cudaSuccess) {
        (void)cudaGetLastError(); /* plain host memory on old runtimes */
        return -1;
    }
    return a.type == cudaMemoryTypeDevice ? a.device : -1;
}

extern "C" int fm_cuda_is_device_pointer(const void *p) { return fm_cuda_device_of(p) >= 0; }

const char *fm_cuda_unusable_reason(void)
{
    if (fm_cuda_usable()) return "a device is usable";
    if (usable_error == cudaSuccess) return "cudaGetDeviceCount found no device";
    return cudaGetErrorString(usable_error);
}

fm_status fm_cuda_fail_at(fm_map *map, cudaError_t e, const char *what, const char *file, int line)
{
    const fm_status st = e == cudaErrorMemoryAllocation ? FM_ERR_NOMEM : FM_ERR_DEVICE;
    (void)cudaGetLastError();
    return fm_fail_at(map, st, file, line, "%s: %s (%s)", what, cudaGetErrorString(e),
                      cudaGetErrorName(e));
}

fm_status fm_cuda_enter(fm_map *map, int *prev)
{
    fm_status st = FM_OK;
    *prev = -1;
    FM_CUDA(cudaGetDevice(prev), fail);
    if (*prev != fm_cuda_of(map)->device) FM_CUDA(cudaSetDevice(fm_cuda_of(map)->device), fail);
    return FM_OK;
fail:
    *prev = -1;
    return st;
}

void fm_cuda_leave(int prev)
{
    int now = -1;
    if (prev >= 0 && cudaGetDevice(&now) == cudaSuccess && now != prev) (void)cudaSetDevice(prev);
}

/* Returns to the driver what flashmap's pool on the current device holds
 * unused (after a device synchronization: frees still queued on streams
 * count once they ran); 1 when there was such a pool. */
static int trim_pool(void);

fm_status fm_cuda_alloc(fm_map *map, void **p, size_t bytes, const char *what)
{
    fm_status st = FM_OK;
    *p = NULL;
    if (fm_fault_fire(FM_FAULT_DEVICE))
        return fm_fail(map, FM_ERR_NOMEM, "cannot allocate %zu bytes of device memory for %s (injected fault)",
                       bytes, what);
    cudaError_t e = cudaMalloc(p, bytes ? bytes : 1);
    if (e == cudaErrorMemoryAllocation && trim_pool()) { /* memory the pool kept: give it back, once */
        (void)cudaGetLastError();
        e = cudaMalloc(p, bytes ? bytes : 1);
    }
    if (e == cudaSuccess) return FM_OK;
    *p = NULL;
    st = fm_cuda_fail_at(map, e, "cudaMalloc", __FILE__, __LINE__);
    if (st == FM_ERR_NOMEM)
        fm_fail(map, FM_ERR_NOMEM, "cannot allocate %zu bytes of device memory for %s", bytes, what);
    return st;
}

void fm_cuda_free(void *p)
{
    if (p) (void)cudaFree(p);
}

fm_status fm_cuda_copy_back(fm_map *map, void *host, const void *dev, size_t bytes)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_status st = FM_OK;
    FM_CUDA(cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, m->stream), fail);
    FM_CUDA(cudaStreamSynchronize(m->stream), fail);
fail:
    return st;
}

/* ---- per-call scratch from a stream-ordered pool ------------------------------ */

#define FM_CUDA_MAX_DEVICES 64

static std::mutex pool_lock;
static cudaMemPool_t pools[FM_CUDA_MAX_DEVICES];
static int no_pool[FM_CUDA_MAX_DEVICES]; /* creating one failed: plain allocations there */

/* flashmap's own pool on `device`, created on first use and kept for the
 * process: its release threshold keeps what it holds, so warm calls
 * allocate nothing from the driver (the caller's pools are left alone). */
static cudaError_t pool_of(int device, cudaMemPool_t *out)
{
    if (device < 0 || device >= FM_CUDA_MAX_DEVICES) return cudaErrorInvalidDevice;
    std::lock_guard<std::mutex> g(pool_lock);
    if (no_pool[device]) return cudaErrorNotSupported;
    if (!pools[device]) {
        cudaMemPoolProps props;
        memset(&props, 0, sizeof props);
        props.allocType = cudaMemAllocationTypePinned;
        props.handleTypes = cudaMemHandleTypeNone;
        props.location.type = cudaMemLocationTypeDevice;
        props.location.id = device;
        cudaMemPool_t pool = NULL;
        uint64_t keep = UINT64_MAX;
        if (cudaMemPoolCreate(&pool, &props) != cudaSuccess ||
            cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep) != cudaSuccess) {
            (void)cudaGetLastError(); /* a device or driver without pools */
            no_pool[device] = 1;
            return cudaErrorNotSupported;
        }
        pools[device] = pool;
    }
    *out = pools[device];
    return cudaSuccess;
}

static int trim_pool(void)
{
    int device = -1;
    if (cudaGetDevice(&device) != cudaSuccess || device < 0 || device >= FM_CUDA_MAX_DEVICES) {
        (void)cudaGetLastError();
        return 0;
    }
    cudaMemPool_t pool = NULL;
    {
        std::lock_guard<std::mutex> g(pool_lock);
        pool = pools[device];
    }
    if (!pool || cudaDeviceSynchronize() != cudaSuccess || cudaMemPoolTrimTo(pool, 0) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return 1;
}

fm_status fm_cuda_scratch(fm_map *map, void **p, size_t bytes, const char *what, cudaStream_t stream)
{
    fm_status st = FM_OK;
    int device = 0;
    cudaMemPool_t pool = NULL;
    *p = NULL;
    if (fm_fault_fire(FM_FAULT_DEVICE))
        return fm_fail(map, FM_ERR_NOMEM, "cannot allocate %zu bytes of device memory for %s (injected fault)",
                       bytes, what);
    FM_CUDA(cudaGetDevice(&device), fail);
    if (pool_of(device, &pool) != cudaSuccess) { /* no pools here: a plain allocation, freed after a wait */
        (void)cudaGetLastError();
        return fm_cuda_alloc(map, p, bytes, what);
    }
    {
        cudaError_t e = cudaMallocFromPoolAsync(p, bytes ? bytes : 1, pool, stream);
        if (e == cudaErrorMemoryAllocation && trim_pool()) { /* free blocks of other sizes: back, then retry */
            (void)cudaGetLastError();
            e = cudaMallocFromPoolAsync(p, bytes ? bytes : 1, pool, stream);
        }
        if (e == cudaSuccess) return FM_OK;
        *p = NULL;
        st = fm_cuda_fail_at(map, e, "cudaMallocFromPoolAsync", __FILE__, __LINE__);
        if (st == FM_ERR_NOMEM)
            fm_fail(map, FM_ERR_NOMEM, "cannot allocate %zu bytes of device memory for %s", bytes, what);
    }
fail:
    return st;
}

void fm_cuda_scratch_free(void *p, cudaStream_t stream)
{
    if (!p) return;
    int device = -1, plain = 0;
    if (cudaGetDevice(&device) == cudaSuccess && device >= 0 && device < FM_CUDA_MAX_DEVICES) {
        std::lock_guard<std::mutex> g(pool_lock);
        plain = no_pool[device];
    }
    if (plain) {
        if (cudaStreamSynchronize(stream) != cudaSuccess) (void)cudaGetLastError();
        fm_cuda_free(p);
    } else if (cudaFreeAsync(p, stream) != cudaSuccess) {
        (void)cudaGetLastError();
    }
}
