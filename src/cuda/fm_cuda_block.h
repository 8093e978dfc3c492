/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* What every write kernel of the CUDA backend does per block: its thread's
 * index in the batch, and the sum of its threads' counts (CUDA C++). */
#ifndef FM_CUDA_BLOCK_H
#define FM_CUDA_BLOCK_H

#include "cuda/fm_cuda.h"

/* Adds every thread's counts to *c: a sum per warp (shuffles), per block
 * (shared memory), then one atomic per block and field. Every thread of
 * the block must call it (no thread may have returned). */
__device__ static inline void fm_block_counts(fm_cuda_counts *c, const fm_key_counts &k)
{
    __shared__ unsigned part[FM_CUDA_BLOCK / 32][FM_CUDA_COUNTS];
    const unsigned v[FM_CUDA_COUNTS] = {k.counted, k.claimed, k.from_tombstones, k.removed, k.tombstones_left, k.lost,
                                          k.repeated};
    const unsigned lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    for (int f = 0; f < FM_CUDA_COUNTS; f++) {
        unsigned x = v[f];
        for (int o = 16; o > 0; o >>= 1) x += __shfl_down_sync(0xffffffffu, x, o);
        if (lane == 0) part[warp][f] = x;
    }
    __syncthreads();
    if (threadIdx.x < FM_CUDA_COUNTS) {
        unsigned long long sum = 0;
        for (unsigned w = 0; w < blockDim.x / 32; w++) sum += part[w][threadIdx.x];
        if (sum) atomicAdd(&((unsigned long long *)c)[threadIdx.x], sum);
    }
}

__device__ static inline size_t fm_thread_index(void) { return (size_t)blockIdx.x * blockDim.x + threadIdx.x; }

#endif
