/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* fm_copy_bytes: memcpy of a record whose size is known only at run time,
 * with the common small sizes inlined (a variable-size memcpy is a library
 * call per record). Used by the probing code on CPUs and GPUs and by the
 * routing and exchange loops. */
#ifndef FM_COPY_H
#define FM_COPY_H

#include <stdint.h>
#include <string.h>

#include "table/fm_portable.h"

FM_FN void fm_copy_bytes(uint8_t *dst, const uint8_t *src, uint32_t size)
{
#if defined(__CUDA_ARCH__)
    /* A GPU copies aligned data in 16- or 8-byte words; memcpy of unknown
     * alignment would move single bytes. */
    if ((((uintptr_t)dst | (uintptr_t)src | size) & 15) == 0) {
        for (uint32_t w = 0; w < size / 16; w++) ((uint4 *)dst)[w] = ((const uint4 *)src)[w];
        return;
    }
    if ((((uintptr_t)dst | (uintptr_t)src | size) & 7) == 0) {
        for (uint32_t w = 0; w < size / 8; w++) ((uint64_t *)dst)[w] = ((const uint64_t *)src)[w];
        return;
    }
#endif
    switch (size) {
    case 0: return;
    case 1: *dst = *src; return;
    case 4: memcpy(dst, src, 4); return;
    case 8: memcpy(dst, src, 8); return;
    case 16: memcpy(dst, src, 16); return;
    case 32: memcpy(dst, src, 32); return;
    default: memcpy(dst, src, size); return;
    }
}

#endif
