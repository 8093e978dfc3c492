/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Kernels in the host emulation of the CUDA runtime (C++ only; included by
 * cuda_runtime.h). A launch, written FM_LAUNCH(kernel, grid, block, shared,
 * stream)(args...) in flashmap's sources (cuda/fm_launch.h), runs every
 * block in turn on the calling thread, each thread of the block on a fiber
 * (kernels.cpp): a thread runs until it ends or waits at __syncthreads or
 * a warp shuffle, so those meet exactly as on a GPU, and a block whose
 * threads can never meet aborts with a message instead of hanging. Before
 * it runs, every pointer argument is checked to lie in memory the device
 * can reach (its own memory or pinned host memory). */
#ifndef FM_EMU_KERNELS_H
#define FM_EMU_KERNELS_H

#include <stdint.h>
#include <string.h>

#include <type_traits>

struct uint3 {
    unsigned x, y, z;
};
struct uint4 {
    unsigned x, y, z, w;
};
struct dim3 {
    unsigned x, y, z;
    dim3(unsigned vx = 1, unsigned vy = 1, unsigned vz = 1) : x(vx), y(vy), z(vz) {}
};

/* The running thread's indices, per host thread (each runs its own
 * launches). Read through functions: an extern thread_local in every
 * translation unit would be reached by whichever TLS model each one picks,
 * and GCC's UBSan takes the initial-exec address for null. */
namespace fm_emu {
const uint3 &thread_idx();
const uint3 &block_idx();
const dim3 &block_dim();
const dim3 &grid_dim();
} // namespace fm_emu
#define threadIdx (::fm_emu::thread_idx())
#define blockIdx (::fm_emu::block_idx())
#define blockDim (::fm_emu::block_dim())
#define gridDim (::fm_emu::grid_dim())

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static thread_local /* one block runs at a time on a thread */
#define __launch_bounds__(...)

/* Threads of one block run one at a time: atomics need no more than the
 * host's (blocks of different maps may run on different host threads). */
template <typename T> static inline T atomicAdd(T *p, T v) { return __atomic_fetch_add(p, v, __ATOMIC_RELAXED); }
template <typename T> static inline T atomicMax(T *p, T v)
{
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old < v && !__atomic_compare_exchange_n(p, &old, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return old;
}
template <typename T> static inline T atomicMin(T *p, T v)
{
    T old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old > v && !__atomic_compare_exchange_n(p, &old, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
    return old;
}
template <typename T> static inline T atomicCAS(T *p, T expected, T desired)
{
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    return expected;
}
template <typename T> static inline T atomicExch(T *p, T v) { return __atomic_exchange_n(p, v, __ATOMIC_ACQ_REL); }
static inline void __threadfence(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }

namespace fm_emu {

struct launch_config {
    dim3 grid, block;
    size_t shared;
    cudaStream_t stream;
    const char *name;
};

/* Runs body(ctx) as every thread of the grid; an invalid launch runs
 * nothing and becomes the thread's last error, as on a GPU. */
void run_grid(const launch_config &c, void (*body)(void *), void *ctx);
/* A pointer argument of a kernel (NULL passes). */
void check_pointer_argument(const launch_config &c, int index, const void *p);
void syncthreads();
/* The value of lane (own lane + delta) among the warp's lanes in mask. */
uint64_t shfl_down(unsigned mask, uint64_t value, unsigned delta, int width);
/* This block's dynamic shared memory (launch_config::shared bytes). */
void *dynamic_shared();

template <typename A> void check_argument(const launch_config &c, int index, const A &a)
{
    if constexpr (std::is_pointer<A>::value && std::is_object<typename std::remove_pointer<A>::type>::value)
        check_pointer_argument(c, index, (const void *)a);
    else
        (void)c, (void)index, (void)a;
}

template <typename F> struct launcher {
    launch_config c;
    F kernel;
    template <typename... A> void operator()(A... args)
    {
        int index = 0;
        (check_argument(c, index++, args), ...);
        auto body = [&]() { kernel(args...); };
        run_grid(c, [](void *p) { (*(decltype(body) *)p)(); }, &body);
    }
};

template <typename F>
launcher<F> launch(dim3 grid, dim3 block, size_t shared, cudaStream_t stream, const char *name, F kernel)
{
    return launcher<F>{launch_config{grid, block, shared, stream, name}, kernel};
}

} // namespace fm_emu

static inline void __syncthreads(void) { fm_emu::syncthreads(); }

template <typename T> static inline T __shfl_down_sync(unsigned mask, T v, unsigned delta, int width = 32)
{
    static_assert(sizeof(T) <= 8, "the emulated shuffle moves at most 8 bytes");
    uint64_t bits = 0;
    memcpy(&bits, &v, sizeof v);
    bits = fm_emu::shfl_down(mask, bits, delta, width);
    memcpy(&v, &bits, sizeof v);
    return v;
}

#define FM_EMU_LAUNCH(kernel, grid, block, shared, stream)                                                      \
    ::fm_emu::launch((grid), (block), (shared), (stream), #kernel,                                              \
                     [](auto... fm_emu_args) { kernel(fm_emu_args...); })
#define FM_EMU_DYNAMIC_SHARED(type, name) type *name = (type *)::fm_emu::dynamic_shared()

#endif
