/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Qualifiers that let one function compile as plain C (CPU backend) and as
 * CUDA (__host__ __device__ for the GPU kernels). */
#ifndef FM_PORTABLE_H
#define FM_PORTABLE_H

#if defined(__CUDACC__)
#define FM_FN static inline __host__ __device__
#else
#define FM_FN static inline
#endif

#endif
