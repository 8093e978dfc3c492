/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Kernel launches and dynamic shared memory, written through macros so
 * that the CUDA sources also build against the host emulation of the CUDA
 * runtime that the test suite uses on machines without a GPU
 * (tests/cuda_emu): there a launch runs the kernel's threads on fibers.
 *
 *   FM_LAUNCH(kernel, grid, block, shared_bytes, stream)(args...);
 *   FM_DYNAMIC_SHARED(unsigned, counts);  (in a kernel) */
#ifndef FM_LAUNCH_H
#define FM_LAUNCH_H

#include <cuda_runtime.h>

#ifdef FM_CUDA_EMULATION
#define FM_LAUNCH FM_EMU_LAUNCH
#define FM_DYNAMIC_SHARED FM_EMU_DYNAMIC_SHARED
#else
#define FM_LAUNCH(kernel, grid, block, shared, stream) kernel<<<(grid), (block), (shared), (stream)>>>
#define FM_DYNAMIC_SHARED(type, name) extern __shared__ type name[]
#endif

#endif
