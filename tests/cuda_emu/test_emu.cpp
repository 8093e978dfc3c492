/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The emulation's own test: what it must reproduce of a GPU (barriers,
 * shuffles, CUB's DoubleBuffer contract, launch errors, out of memory) and
 * every misuse it must stop (each in a child process that has to abort
 * with a "cuda-emu:" message). Prints "test_emu: 0 failures". */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>
#include <cuda_runtime.h>

#include "emu_expect.h"

#define LAUNCH(kernel, grid, block, shared, stream) FM_EMU_LAUNCH(kernel, grid, block, shared, stream)

/* ---- kernels ---------------------------------------------------------------- */

/* Each block sums its threads' indices with warp shuffles, then its warps'
 * sums through shared memory behind a barrier. */
__global__ void block_sums(unsigned *out)
{
    unsigned v = threadIdx.x;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    FM_EMU_DYNAMIC_SHARED(unsigned, warp_sum);
    if (threadIdx.x % 32 == 0) warp_sum[threadIdx.x / 32] = v;
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned s = 0;
        for (unsigned w = 0; w < blockDim.x / 32; w++) s += warp_sum[w];
        out[blockIdx.x] = s;
    }
}

/* Half a warp waits in a full-mask shuffle for the other half, which waits
 * at a barrier for the first: a hang on a GPU. */
__global__ void shuffle_meets_barrier(unsigned *out)
{
    if (threadIdx.x < 16) out[threadIdx.x] = __shfl_down_sync(0xffffffffu, threadIdx.x, 1);
    else __syncthreads();
}

__global__ void shuffle_in_part_of_a_warp(unsigned *out)
{
    out[threadIdx.x] = __shfl_down_sync(0xffffffffu, threadIdx.x, 1);
}

__global__ void write_one(unsigned *out) { out[0] = 7; }

/* ---- misuse: each must abort the child that commits it ------------------------------------------------ */

static void misuse_copy_direction()
{
    char host[16];
    void *dev = nullptr;
    cudaMalloc(&dev, 16);
    cudaMemcpy(host, dev, 16, cudaMemcpyHostToDevice); /* dev is the source */
}

static void misuse_copy_past_end()
{
    char host[64] = {0};
    void *dev = nullptr;
    cudaMalloc(&dev, 32);
    cudaMemcpy(dev, host, 64, cudaMemcpyHostToDevice);
}

static void misuse_host_pointer_to_kernel()
{
    static unsigned host[1];
    LAUNCH(write_one, 1, 1, 0, 0)(host);
}

static void misuse_threads_that_never_meet()
{
    unsigned *dev = nullptr;
    cudaMalloc((void **)&dev, 64);
    LAUNCH(shuffle_meets_barrier, 1, 32, 0, 0)(dev);
}

static void misuse_full_mask_in_part_of_a_warp()
{
    unsigned *dev = nullptr;
    cudaMalloc((void **)&dev, 64);
    LAUNCH(shuffle_in_part_of_a_warp, 1, 16, 0, 0)(dev);
}

static void misuse_double_free()
{
    void *dev = nullptr;
    cudaMalloc(&dev, 8);
    cudaFree(dev);
    cudaFree(dev);
}

static void misuse_destroyed_stream()
{
    cudaStream_t s;
    cudaStreamCreate(&s);
    cudaStreamDestroy(s);
    cudaStreamSynchronize(s);
}

static void must_abort(const char *name, void (*fn)())
{
    fflush(stdout);
    const pid_t pid = fork();
    if (pid == 0) {
        fn();
        _exit(0); /* not stopped: the parent reports it */
    }
    int status = 0;
    waitpid(pid, &status, 0);
    EXPECT(WIFSIGNALED(status) && WTERMSIG(status) == SIGABRT, "%s: the emulation let it pass (status 0x%x)", name,
           status);
}

/* ---- what a GPU does ---------------------------------------------------------------------------------- */

static void reductions()
{
    const unsigned blocks = 3, threads = 256;
    unsigned *dev = nullptr, got[blocks];
    EXPECT(cudaMalloc((void **)&dev, sizeof got) == cudaSuccess, "cudaMalloc");
    LAUNCH(block_sums, blocks, threads, threads / 32 * sizeof(unsigned), 0)(dev);
    EXPECT(cudaGetLastError() == cudaSuccess, "launch");
    cudaMemcpy(got, dev, sizeof got, cudaMemcpyDeviceToHost);
    for (unsigned b = 0; b < blocks; b++) EXPECT(got[b] == threads * (threads - 1) / 2, "block %u sums %u", b, got[b]);
    cudaFree(dev);
}

static void launch_errors()
{
    unsigned *dev = nullptr;
    cudaMalloc((void **)&dev, 4);
    LAUNCH(write_one, 0, 32, 0, 0)(dev);
    EXPECT(cudaGetLastError() == cudaErrorInvalidConfiguration, "a launch of no blocks");
    EXPECT(cudaGetLastError() == cudaSuccess, "cudaGetLastError clears the error");
    LAUNCH(write_one, 1, 2048, 0, 0)(dev);
    EXPECT(cudaGetLastError() == cudaErrorInvalidConfiguration, "2048 threads in a block");
    LAUNCH(write_one, 1, 32, 64 << 10, 0)(dev);
    EXPECT(cudaGetLastError() == cudaErrorInvalidValue, "64 KiB of dynamic shared memory");
    cudaSetDevice(1);
    cudaStream_t other;
    cudaStreamCreate(&other);
    cudaSetDevice(0);
    LAUNCH(write_one, 1, 1, 0, other)(dev);
    EXPECT(cudaGetLastError() == cudaErrorInvalidResourceHandle, "a stream of another device");
    cudaStreamDestroy(other);
    cudaFree(dev);
}

static void memory()
{
    size_t free_bytes = 0, total = 0;
    cudaMemGetInfo(&free_bytes, &total);
    void *big = nullptr;
    EXPECT(cudaMalloc(&big, total + 1) == cudaErrorMemoryAllocation && big == nullptr, "more than the device has");
    EXPECT(cudaGetLastError() == cudaErrorMemoryAllocation, "the failure is the last error");
    void *dev = nullptr, *pinned = nullptr;
    char host[8];
    cudaMalloc(&dev, 64);
    cudaMallocHost(&pinned, 64);
    cudaPointerAttributes a;
    cudaPointerGetAttributes(&a, (char *)dev + 10);
    EXPECT(a.type == cudaMemoryTypeDevice && a.device == 0, "inside device memory");
    cudaPointerGetAttributes(&a, pinned);
    EXPECT(a.type == cudaMemoryTypeHost, "pinned memory");
    cudaPointerGetAttributes(&a, host);
    EXPECT(a.type == cudaMemoryTypeUnregistered, "pageable memory");
    cudaFree(dev);
    cudaFreeHost(pinned);
}

static void cub_algorithms()
{
    const size_t n = 1000;
    uint32_t keys[n];
    uint64_t idx[n];
    for (size_t i = 0; i < n; i++) {
        keys[i] = (uint32_t)((i * 7919) % 13) | 0xff00u; /* bits above the sort's range must not count */
        idx[i] = i;
    }
    uint32_t *k[2];
    uint64_t *v[2];
    for (int b = 0; b < 2; b++) {
        cudaMalloc((void **)&k[b], sizeof keys);
        cudaMalloc((void **)&v[b], sizeof idx);
    }
    cudaMemcpy(k[0], keys, sizeof keys, cudaMemcpyHostToDevice);
    cudaMemcpy(v[0], idx, sizeof idx, cudaMemcpyHostToDevice);
    cub::DoubleBuffer<uint32_t> kb(k[0], k[1]);
    cub::DoubleBuffer<uint64_t> vb(v[0], v[1]);
    size_t tmp_bytes = 0;
    void *tmp = nullptr;
    cub::DeviceRadixSort::SortPairs(nullptr, tmp_bytes, kb, vb, n, 0, 4);
    cudaMalloc(&tmp, tmp_bytes);
    EXPECT(cub::DeviceRadixSort::SortPairs(tmp, tmp_bytes, kb, vb, n, 0, 4) == cudaSuccess, "sort");
    EXPECT(kb.Current() == k[1] && vb.Current() == v[1], "the result is in the alternate buffers");
    uint32_t sk[n];
    uint64_t sv[n];
    cudaMemcpy(sk, kb.Current(), sizeof sk, cudaMemcpyDeviceToHost);
    cudaMemcpy(sv, vb.Current(), sizeof sv, cudaMemcpyDeviceToHost);
    for (size_t i = 1; i < n; i++) {
        const uint32_t a = sk[i - 1] & 15, b = sk[i] & 15;
        EXPECT(a < b || (a == b && sv[i - 1] < sv[i]), "stable order at %zu", i);
    }
    /* exclusive sum, in place */
    unsigned ones[n];
    for (size_t i = 0; i < n; i++) ones[i] = 1;
    unsigned *d = nullptr;
    cudaMalloc((void **)&d, sizeof ones);
    cudaMemcpy(d, ones, sizeof ones, cudaMemcpyHostToDevice);
    size_t scan_bytes = 0;
    cub::DeviceScan::ExclusiveSum(nullptr, scan_bytes, d, d, (int)n);
    void *scan_tmp = nullptr;
    cudaMalloc(&scan_tmp, scan_bytes);
    cub::DeviceScan::ExclusiveSum(scan_tmp, scan_bytes, d, d, (int)n);
    cudaMemcpy(ones, d, sizeof ones, cudaMemcpyDeviceToHost);
    for (size_t i = 0; i < n; i++) EXPECT(ones[i] == i, "exclusive sum at %zu is %u", i, ones[i]);
    for (int b = 0; b < 2; b++) {
        cudaFree(k[b]);
        cudaFree(v[b]);
    }
    cudaFree(tmp);
    cudaFree(d);
    cudaFree(scan_tmp);
}

/* Stream-ordered pools: a freed block of the same size comes back, new
 * memory is counted (pool_grows), a trim gives free blocks back; counts
 * of launches and memsets, and work per stream. */
static void pools_and_counts()
{
    cudaMemPoolProps props;
    memset(&props, 0, sizeof props);
    props.allocType = cudaMemAllocationTypePinned;
    props.location.type = cudaMemLocationTypeDevice;
    props.location.id = 0;
    cudaMemPool_t pool = nullptr;
    cudaStream_t s = nullptr;
    EXPECT(cudaMemPoolCreate(&pool, &props) == cudaSuccess && cudaStreamCreate(&s) == cudaSuccess, "pool, stream");
    fm_emu_counts a, b;
    fm_emu_counts_get(&a);
    void *p = nullptr, *q = nullptr;
    EXPECT(cudaMallocFromPoolAsync(&p, 4096, pool, s) == cudaSuccess, "first block");
    cudaFreeAsync(p, s);
    EXPECT(cudaMallocFromPoolAsync(&q, 4096, pool, s) == cudaSuccess && q == p, "the freed block comes back");
    cudaFreeAsync(q, s);
    fm_emu_counts_get(&b);
    EXPECT(b.pool_grows - a.pool_grows == 1 && b.mallocs == a.mallocs, "one new block, no cudaMalloc: %llu, %llu",
           b.pool_grows - a.pool_grows, b.mallocs - a.mallocs);
    size_t free0 = 0, free1 = 0, total = 0;
    cudaMemGetInfo(&free0, &total);
    EXPECT(cudaMemPoolTrimTo(pool, 0) == cudaSuccess, "trim");
    cudaMemGetInfo(&free1, &total);
    EXPECT(free1 == free0 + 4096, "the trim gives the block back: %zu more bytes free", free1 - free0);
    const unsigned long long ops = fm_emu_stream_ops(s);
    EXPECT(cudaMallocFromPoolAsync(&p, 64, pool, s) == cudaSuccess && cudaMemsetAsync(p, 0, 64, s) == cudaSuccess,
           "memset");
    fm_emu_counts_get(&a);
    EXPECT(fm_emu_stream_ops(s) == ops + 1 && a.memsets == b.memsets + 1 && a.memset_bytes == b.memset_bytes + 64,
           "a memset counts once, on its stream");
    cudaFreeAsync(p, s);
    cudaStreamDestroy(s);
    EXPECT(cudaMemPoolDestroy(pool) == cudaSuccess, "destroy");
}

int main()
{
    reductions();
    launch_errors();
    memory();
    cub_algorithms();
    pools_and_counts();
    must_abort("a copy against its direction", misuse_copy_direction);
    must_abort("a copy past the end of device memory", misuse_copy_past_end);
    must_abort("a host pointer passed to a kernel", misuse_host_pointer_to_kernel);
    must_abort("a shuffle and a barrier that wait for each other", misuse_threads_that_never_meet);
    must_abort("a full-mask shuffle in a block of 16 threads", misuse_full_mask_in_part_of_a_warp);
    must_abort("cudaFree twice", misuse_double_free);
    must_abort("a destroyed stream", misuse_destroyed_stream);
    printf("test_emu: %d failures\n", failures);
    return failures != 0;
}
