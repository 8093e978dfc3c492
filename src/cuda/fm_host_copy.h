/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Parallel host memcpy for the CUDA backend's staging (host_copy.c, C). */
#ifndef FM_HOST_COPY_H
#define FM_HOST_COPY_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Copies bytes from src to dst on up to `threads` OpenMP threads. */
void fm_host_copy(void *dst, const void *src, size_t bytes, int threads);

#ifdef __cplusplus
}
#endif

#endif
