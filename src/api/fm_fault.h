/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Fault injection for the test build: make the Nth host allocation, or the
 * Nth checkpoint write step, fail, so tests can walk every failure path.
 *
 * Built when FLASHMAP_FAULT_INJECTION is defined (CMake option
 * FLASHMAP_FAULT_INJECTION, on in the test presets). Without it the sites
 * compile to nothing. Counters are process-wide and atomic: allocations
 * inside OpenMP regions count too, in whatever order the threads reach them.
 */
#ifndef FM_FAULT_H
#define FM_FAULT_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fm_fault_kind {
    FM_FAULT_ALLOC = 0, /* fm_alloc, fm_alloc_zero, fm_calloc, fm_strdup */
    FM_FAULT_WRITE,     /* checkpoint file create, write, flush/sync, rename */
    FM_FAULT_DEVICE,    /* CUDA backend: cudaMalloc and pinned cudaHostAlloc */
    FM_FAULT_KINDS
} fm_fault_kind;

#ifdef FLASHMAP_FAULT_INJECTION
/* Called at every site: 1 when this event is the armed one and must fail. */
int fm_fault_fire(fm_fault_kind kind);
/* Fail the nth event of this kind from now on (1-based); 0 disarms. Resets
 * the count of events seen. */
void fm_fault_arm(fm_fault_kind kind, uint64_t nth);
/* Events of this kind since the last fm_fault_arm. */
uint64_t fm_fault_seen(fm_fault_kind kind);
/* 1 once the armed event has fired. */
int fm_fault_fired(fm_fault_kind kind);
#else
static inline int fm_fault_fire(fm_fault_kind kind)
{
    (void)kind;
    return 0;
}
#endif

#ifdef __cplusplus
}
#endif

#endif
