/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Per-phase times of write batches, for calibrating the cost model on a
 * GPU (bench/gpu/run.sh, step "phases"): with FLASHMAP_CUDA_PHASES=1 in
 * the environment, every chunk of a write is bracketed by CUDA events
 * (grouping, then the write or add kernel) and each write call prints
 *   flashmap-phases: <op> <n> keys, <chunks> chunks: group <ms> ms, write <ms> ms
 * to stderr. Each chunk then waits for its events, so the call's own time
 * grows; the phases' are what the events measure. Off (the default), the
 * only cost is a cached getenv. */
#include <stdio.h>
#include <stdlib.h>

#include "cuda/fm_cuda.h"

static thread_local cudaEvent_t marks[3];
static thread_local double spent[2];
static thread_local unsigned long long chunks;

int fm_cuda_phases_on(void)
{
    static int on = -1;
    int v = __atomic_load_n(&on, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("FLASHMAP_CUDA_PHASES");
        v = e && *e && *e != '0';
        __atomic_store_n(&on, v, __ATOMIC_RELAXED);
    }
    return v;
}

void fm_cuda_phase(fm_map *map, int phase)
{
    cudaStream_t s = fm_cuda_of(map)->stream;
    if (phase == 0)
        for (int i = 0; i < 3; i++)
            if (cudaEventCreate(&marks[i]) != cudaSuccess) marks[i] = NULL;
    if (!marks[0] || !marks[1] || !marks[2] || cudaEventRecord(marks[phase], s) != cudaSuccess) {
        (void)cudaGetLastError();
        return;
    }
    if (phase < 2) return;
    float group = 0, write = 0;
    if (cudaEventSynchronize(marks[2]) == cudaSuccess && cudaEventElapsedTime(&group, marks[0], marks[1]) == cudaSuccess &&
        cudaEventElapsedTime(&write, marks[1], marks[2]) == cudaSuccess) {
        spent[0] += group;
        spent[1] += write;
        chunks++;
    }
    (void)cudaGetLastError();
    for (int i = 0; i < 3; i++) {
        (void)cudaEventDestroy(marks[i]);
        marks[i] = NULL;
    }
}

void fm_cuda_phases_report(const char *op, size_t n)
{
    fprintf(stderr, "flashmap-phases: %s %zu keys, %llu chunks: group %.3f ms, write %.3f ms\n", op, n, chunks,
            spent[0], spent[1]);
    spent[0] = spent[1] = 0;
    chunks = 0;
}
