/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Host memory for flashmap. Every allocation goes through here so that
 * large tables get huge pages and tests can inject failures in one place. */
#ifndef FM_ALLOC_H
#define FM_ALLOC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Allocations of FM_HUGE_THRESHOLD bytes and more ask for transparent huge
 * pages at FM_HUGE_ALIGN boundaries: a probe then costs one TLB entry per
 * 2 MiB instead of per 4 KiB (table arrays too, api/table_mem.c). */
#define FM_HUGE_THRESHOLD ((size_t)4 << 20)
#define FM_HUGE_ALIGN ((size_t)2 << 20)

/* 64-byte aligned, uninitialised; NULL on failure or when bytes overflow. */
void *fm_alloc(size_t bytes);
/* Like fm_alloc, zero-filled (in parallel for large sizes). */
void *fm_alloc_zero(size_t bytes, int threads);
/* Writes zeros over bytes of p, in parallel by `threads` for large sizes
 * (the first touch of fresh pages, by the threads that will use them). */
void fm_zero_parallel(void *p, size_t bytes, int threads);
/* n * size zero bytes, 8-byte aligned (small objects); NULL on failure or
 * overflow. Freed with fm_free like the others. */
void *fm_calloc(size_t n, size_t size);
/* A copy of s; NULL on failure. */
char *fm_strdup(const char *s);
void fm_free(void *p);

/* a * b, or 0 with *overflow set when it does not fit in size_t. */
size_t fm_mul_size(size_t a, size_t b, int *overflow);

#ifdef __cplusplus
}
#endif

#endif
