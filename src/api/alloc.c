/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "api/fm_alloc.h"
#include "api/fm_fault.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void *fm_alloc(size_t bytes)
{
    if (fm_fault_fire(FM_FAULT_ALLOC)) return NULL;
    if (bytes == 0) bytes = 1;
    size_t align = bytes >= FM_HUGE_THRESHOLD ? FM_HUGE_ALIGN : 64;
    void *p = NULL;
    if (posix_memalign(&p, align, bytes) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= FM_HUGE_THRESHOLD) (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

void fm_zero_parallel(void *p, size_t bytes, int threads)
{
    unsigned char *b = p;
    const size_t chunk = (size_t)1 << 20;
    const size_t nchunks = (bytes + chunk - 1) / chunk;
    (void)threads;
#pragma omp parallel for schedule(static) num_threads(threads > 0 ? threads : 1) if (nchunks > 8)
    for (size_t c = 0; c < nchunks; c++) {
        const size_t off = c * chunk;
        memset(b + off, 0, bytes - off < chunk ? bytes - off : chunk);
    }
}

void *fm_alloc_zero(size_t bytes, int threads)
{
    void *p = fm_alloc(bytes);
    if (p) fm_zero_parallel(p, bytes, threads);
    return p;
}

void *fm_calloc(size_t n, size_t size)
{
    if (fm_fault_fire(FM_FAULT_ALLOC)) return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

char *fm_strdup(const char *s)
{
    if (fm_fault_fire(FM_FAULT_ALLOC)) return NULL;
    return strdup(s);
}

void fm_free(void *p) { free(p); }

size_t fm_mul_size(size_t a, size_t b, int *overflow)
{
    if (b != 0 && a > SIZE_MAX / b) {
        *overflow = 1;
        return 0;
    }
    return a * b;
}
