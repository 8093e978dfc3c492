/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Host-side copies of the CUDA backend's staging: pageable caller memory
 * to pinned buffers and back, on several cores (one core copies far slower
 * than a PCIe or NVLink link moves data). */
#include <string.h>

#include "cuda/fm_host_copy.h"

/* Below this a single memcpy is cheaper than waking a team. */
#define FM_COPY_PARALLEL_BYTES ((size_t)1 << 20)
#define FM_COPY_BLOCK ((size_t)256 << 10)

void fm_host_copy(void *dst, const void *src, size_t bytes, int threads)
{
    if (bytes < FM_COPY_PARALLEL_BYTES || threads <= 1) {
        memcpy(dst, src, bytes);
        return;
    }
    const long long blocks = (long long)((bytes + FM_COPY_BLOCK - 1) / FM_COPY_BLOCK);
    (void)threads;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (long long b = 0; b < blocks; b++) {
        const size_t off = (size_t)b * FM_COPY_BLOCK;
        const size_t len = bytes - off < FM_COPY_BLOCK ? bytes - off : FM_COPY_BLOCK;
        memcpy((char *)dst + off, (const char *)src + off, len);
    }
}
