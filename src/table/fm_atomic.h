/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The few atomics the probing code needs: GCC/C11 builtins on the CPU,
 * CUDA atomics on the GPU. */
#ifndef FM_ATOMIC_H
#define FM_ATOMIC_H

#include <stdint.h>

#include "table/fm_portable.h"

FM_FN uint32_t fm_load_acquire_u32(const uint32_t *p)
{
#if defined(__CUDA_ARCH__)
    uint32_t v = *(const volatile uint32_t *)p;
    __threadfence();
    return v;
#else
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
#endif
}

FM_FN void fm_store_release_u32(uint32_t *p, uint32_t v)
{
#if defined(__CUDA_ARCH__)
    __threadfence();
    *(volatile uint32_t *)p = v;
#else
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
#endif
}

/* Sets *p to desired if it holds expected; returns 1 when it did. */
FM_FN int fm_cas_u32(uint32_t *p, uint32_t expected, uint32_t desired)
{
#if defined(__CUDA_ARCH__)
    return atomicCAS((unsigned int *)p, expected, desired) == expected;
#else
    return __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL,
                                       __ATOMIC_ACQUIRE);
#endif
}

/* 64-bit compare-and-swap; returns the value *p held (== expected: swapped). */
FM_FN unsigned long long fm_cas_u64(unsigned long long *p, unsigned long long expected,
                                    unsigned long long desired)
{
#if defined(__CUDA_ARCH__)
    return atomicCAS(p, expected, desired);
#else
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE);
    return expected;
#endif
}

FM_FN unsigned long long fm_load_u64(const unsigned long long *p)
{
#if defined(__CUDA_ARCH__)
    return *(const volatile unsigned long long *)p;
#else
    return __atomic_load_n(p, __ATOMIC_ACQUIRE);
#endif
}

FM_FN void fm_add_u64(unsigned long long *p, unsigned long long v)
{
#if defined(__CUDA_ARCH__)
    atomicAdd(p, v);
#else
    __atomic_fetch_add(p, v, __ATOMIC_RELAXED);
#endif
}

/* *p |= bits, atomically; returns what *p held before. */
FM_FN unsigned fm_or_u32(unsigned *p, unsigned bits)
{
#if defined(__CUDA_ARCH__)
    return atomicOr(p, bits);
#else
    return __atomic_fetch_or(p, bits, __ATOMIC_RELAXED);
#endif
}

/* *p = max(*p, v) or min(*p, v), atomically. */
FM_FN void fm_max_u32(unsigned *p, unsigned v)
{
#if defined(__CUDA_ARCH__)
    atomicMax(p, v);
#else
    unsigned old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old < v && !__atomic_compare_exchange_n(p, &old, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
#endif
}

FM_FN void fm_min_u32(unsigned *p, unsigned v)
{
#if defined(__CUDA_ARCH__)
    atomicMin(p, v);
#else
    unsigned old = __atomic_load_n(p, __ATOMIC_RELAXED);
    while (old > v && !__atomic_compare_exchange_n(p, &old, v, 1, __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
    }
#endif
}

FM_FN void fm_prefetch(const void *p)
{
#if defined(__CUDA_ARCH__)
    (void)p;
#else
    __builtin_prefetch(p, 0, 3);
#endif
}

FM_FN void fm_prefetch_write(const void *p)
{
#if defined(__CUDA_ARCH__)
    (void)p;
#else
    __builtin_prefetch(p, 1, 3);
#endif
}

#endif
