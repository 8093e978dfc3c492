/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* flashmap's host emulation of the CUDA runtime (tests/cuda_emu/README.md).
 *
 * It stands in for <cuda_runtime.h> in the "cuda-emu" build, so that the
 * CUDA backend's sources compile with the host C++ compiler and its tests
 * run on machines without a GPU, under AddressSanitizer. It covers the part
 * of the runtime flashmap uses: devices, device and pinned memory (kept in
 * a registry that checks every copy, memset and kernel argument against
 * the memory space it must be in), streams and events (every operation runs
 * when it is enqueued), and kernels (every thread of a block on a fiber of
 * its own, so __syncthreads and warp shuffles behave as on a GPU).
 *
 * It proves the host logic and the per-thread logic of the kernels; it says
 * nothing about speed, about the device memory model, or about races
 * between the streams of a real GPU. */
#ifndef FM_CUDA_EMU_RUNTIME_H
#define FM_CUDA_EMU_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#define FM_CUDA_EMULATION 1
#define CUDART_VERSION 13000

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cudaError {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInitializationError = 3,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevicePointer = 17,
    cudaErrorInvalidMemcpyDirection = 21,
    cudaErrorNoDevice = 100,
    cudaErrorInvalidDevice = 101,
    cudaErrorInvalidResourceHandle = 400,
    cudaErrorNotReady = 600,
    cudaErrorNotSupported = 801,
    cudaErrorUnknown = 999
} cudaError_t;

typedef enum cudaMemcpyKind {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
    cudaMemcpyDefault = 4
} cudaMemcpyKind;

typedef enum cudaMemoryType {
    cudaMemoryTypeUnregistered = 0,
    cudaMemoryTypeHost = 1,
    cudaMemoryTypeDevice = 2,
    cudaMemoryTypeManaged = 3
} cudaMemoryType;

struct cudaPointerAttributes {
    enum cudaMemoryType type;
    int device;
    void *devicePointer;
    void *hostPointer;
};
typedef struct cudaPointerAttributes cudaPointerAttributes;

struct cudaDeviceProp {
    char name[256];
    size_t totalGlobalMem;
    size_t sharedMemPerBlock;
    int warpSize;
    int maxThreadsPerBlock;
    int multiProcessorCount;
    int major, minor;
    int memoryClockRate;
    int memoryBusWidth;
    int clockRate;
    size_t l2CacheSize;
};
typedef struct cudaDeviceProp cudaDeviceProp;

typedef struct fm_emu_stream *cudaStream_t;
typedef struct fm_emu_event *cudaEvent_t;

#define cudaStreamDefault 0x0u
#define cudaStreamNonBlocking 0x1u
#define cudaEventDefault 0x0u
#define cudaEventDisableTiming 0x2u
#define cudaHostAllocDefault 0x0u
#define cudaHostAllocPortable 0x1u

cudaError_t cudaGetDeviceCount(int *count);
cudaError_t cudaSetDevice(int device);
cudaError_t cudaGetDevice(int *device);
cudaError_t cudaGetDeviceProperties(cudaDeviceProp *prop, int device);
cudaError_t cudaDeviceSynchronize(void);
cudaError_t cudaRuntimeGetVersion(int *version);
cudaError_t cudaDriverGetVersion(int *version);
cudaError_t cudaGetLastError(void);
cudaError_t cudaPeekAtLastError(void);
const char *cudaGetErrorString(cudaError_t e);
const char *cudaGetErrorName(cudaError_t e);

cudaError_t cudaMalloc(void **p, size_t bytes);
cudaError_t cudaFree(void *p);
cudaError_t cudaMallocHost(void **p, size_t bytes);
cudaError_t cudaHostAlloc(void **p, size_t bytes, unsigned flags);
cudaError_t cudaFreeHost(void *p);
cudaError_t cudaMemGetInfo(size_t *free_bytes, size_t *total_bytes);
cudaError_t cudaPointerGetAttributes(cudaPointerAttributes *attr, const void *p);

cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind);
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, enum cudaMemcpyKind kind,
                            cudaStream_t stream);
cudaError_t cudaMemcpyPeer(void *dst, int dst_device, const void *src, int src_device, size_t bytes);
cudaError_t cudaMemcpyPeerAsync(void *dst, int dst_device, const void *src, int src_device, size_t bytes,
                                cudaStream_t stream);
cudaError_t cudaMemset(void *p, int value, size_t bytes);
cudaError_t cudaMemsetAsync(void *p, int value, size_t bytes, cudaStream_t stream);

/* Stream-ordered memory pools: a pool keeps the memory freed into it and
 * hands it out again (here: a block of exactly the size asked), so a warm
 * caller allocates nothing new. */
typedef struct fm_emu_pool *cudaMemPool_t;
enum cudaMemAllocationType { cudaMemAllocationTypeInvalid = 0, cudaMemAllocationTypePinned = 1 };
enum cudaMemAllocationHandleType { cudaMemHandleTypeNone = 0 };
enum cudaMemLocationType { cudaMemLocationTypeInvalid = 0, cudaMemLocationTypeDevice = 1 };
enum cudaMemPoolAttr { cudaMemPoolAttrReleaseThreshold = 4 };
struct cudaMemLocation {
    enum cudaMemLocationType type;
    int id;
};
typedef struct cudaMemPoolProps {
    enum cudaMemAllocationType allocType;
    enum cudaMemAllocationHandleType handleTypes;
    struct cudaMemLocation location;
    void *win32SecurityAttributes;
    size_t maxSize;
    unsigned short usage;
    unsigned char reserved[54];
} cudaMemPoolProps;
cudaError_t cudaMemPoolCreate(cudaMemPool_t *pool, const cudaMemPoolProps *props);
cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t pool, enum cudaMemPoolAttr attr, void *value);
cudaError_t cudaMallocFromPoolAsync(void **p, size_t bytes, cudaMemPool_t pool, cudaStream_t stream);
cudaError_t cudaFreeAsync(void *p, cudaStream_t stream);
cudaError_t cudaMemPoolTrimTo(cudaMemPool_t pool, size_t keep_bytes);
cudaError_t cudaMemPoolDestroy(cudaMemPool_t pool);

cudaError_t cudaStreamCreate(cudaStream_t *s);
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags);
cudaError_t cudaStreamDestroy(cudaStream_t s);
cudaError_t cudaStreamSynchronize(cudaStream_t s);
cudaError_t cudaStreamWaitEvent(cudaStream_t s, cudaEvent_t e, unsigned flags);
cudaError_t cudaEventCreate(cudaEvent_t *e);
cudaError_t cudaEventCreateWithFlags(cudaEvent_t *e, unsigned flags);
cudaError_t cudaEventDestroy(cudaEvent_t e);
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s);
cudaError_t cudaEventSynchronize(cudaEvent_t e);
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t start, cudaEvent_t end);

/* For the emulation's own tests and the kernels' launcher: 1 when p is in
 * device memory of `device` (or any device, -1) or pinned host memory
 * (host_ok), counting `bytes` from p. */
int fm_emu_accessible(const void *p, size_t bytes, int device, int host_ok);
/* Prints "cuda-emu: <message>" and aborts: the program broke a rule of the
 * CUDA runtime that a GPU would punish (or not, by chance). */
void fm_emu_misuse(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
/* Records a launch error as the thread's last error (cudaGetLastError). */
void fm_emu_set_last_error(cudaError_t e);
int fm_emu_current_device(void);
int fm_emu_stream_device(cudaStream_t s); /* -1: the legacy default stream */

/* What the program asked of the runtime since it started (all threads):
 * the cost model of a call that tests and tools/write_cost print. host_waits
 * counts every call that blocks the host on the device (stream, event and
 * device synchronization, and the synchronous cudaMemcpy and cudaMemset). */
typedef struct fm_emu_counts {
    unsigned long long launches, memsets, memset_bytes, copies, copy_bytes, mallocs, frees, host_waits;
    unsigned long long pool_grows; /* pool allocations that found no free block (new memory) */
} fm_emu_counts;
void fm_emu_counts_get(fm_emu_counts *out);
/* Launches, copies and memsets enqueued on stream s (NULL: the legacy
 * default stream) since it was created. */
unsigned long long fm_emu_stream_ops(cudaStream_t s);
/* Called by the kernel launcher for every launch that runs. */
void fm_emu_count_launch(cudaStream_t s);

#ifdef __cplusplus
}
/* The C++ overloads of the real runtime: any T ** for the result. */
template <typename T> static inline cudaError_t cudaMalloc(T **p, size_t bytes)
{
    return cudaMalloc((void **)p, bytes);
}
template <typename T> static inline cudaError_t cudaMallocHost(T **p, size_t bytes)
{
    return cudaMallocHost((void **)p, bytes);
}
#include "fm_emu_kernels.h"
#endif

#endif
