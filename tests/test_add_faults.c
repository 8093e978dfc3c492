/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The add_u64 that adds to present keys first (src/cuda/cuda_add.cu) must
 * take its adds back when it cannot make room for the absent keys: every
 * device allocation of such a call (the deferred positions, the gathered
 * keys and deltas, the distinct count, the table's growth) fails in turn
 * (FLASHMAP_FAULT_INJECTION), on a growing map and on a fixed one that
 * also refuses with FM_ERR_FULL; each failed call must return its status
 * and leave every counter as it was, and the call must then succeed and
 * give the right counters. Keys and deltas in device memory, on the host
 * emulation of CUDA. Prints "test_add_faults: N failures". */
#include <flashmap.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "api/fm_fault.h"
#include "cuda_emu/emu_expect.h"

enum { PRESENT = 3000, FRESH = 1500 }; /* past the headroom: a count and growth */

static uint64_t key_of(size_t i) { return 0x9e3779b97f4a7c15ull * (i + 1); }

/* Every counter as a get reads it: found flags and values of keys 0 ..
 * PRESENT + FRESH - 1. */
static void counters(fm_map *m, const uint64_t *dkeys, uint64_t *out, uint8_t *found)
{
    uint64_t *dv = NULL;
    uint8_t *df = NULL;
    if (cudaMalloc((void **)&dv, 8 * (PRESENT + FRESH)) != cudaSuccess ||
        cudaMalloc((void **)&df, PRESENT + FRESH) != cudaSuccess)
        exit(1);
    EXPECT(fm_bulk_get(m, dkeys, PRESENT + FRESH, dv, df) == FM_OK, "get: %s", fm_last_error(m));
    if (cudaMemcpy(out, dv, 8 * (PRESENT + FRESH), cudaMemcpyDeviceToHost) != cudaSuccess ||
        cudaMemcpy(found, df, PRESENT + FRESH, cudaMemcpyDeviceToHost) != cudaSuccess)
        exit(1);
    cudaFree(dv);
    cudaFree(df);
}

/* A map holding keys 0 .. PRESENT - 1 with counter i, past its headroom. */
static fm_map *base(int fixed, const uint64_t *dkeys, const uint64_t *ddeltas)
{
    fm_config cfg = fm_config_default(8, 8, fixed ? PRESENT + FRESH / 2 : PRESENT);
    cfg.backend = FM_BACKEND_CUDA;
    cfg.device = 0;
    cfg.flags = fixed ? FM_FIXED_CAPACITY : 0;
    fm_map *m = NULL;
    if (fm_create(&cfg, &m) != FM_OK || fm_bulk_add_u64(m, dkeys, ddeltas, PRESENT) != FM_OK) {
        printf("FAIL base map: %s\n", fm_last_error(m));
        exit(1);
    }
    return m;
}

static void sweep(int fixed, const uint64_t *dkeys, const uint64_t *ddeltas)
{
    const char *name = fixed ? "fixed" : "growing";
    uint64_t *before = malloc(8 * (PRESENT + FRESH)), *after = malloc(8 * (PRESENT + FRESH));
    uint8_t *fb = malloc(PRESENT + FRESH), *fa = malloc(PRESENT + FRESH);
    int faults = 0;
    for (uint64_t nth = 1; nth < 100; nth++) {
        fm_map *m = base(fixed, dkeys, ddeltas);
        counters(m, dkeys, before, fb);
        fm_fault_arm(FM_FAULT_DEVICE, nth);
        const fm_status st = fm_bulk_add_u64(m, dkeys, ddeltas, PRESENT + FRESH);
        const int fired = fm_fault_fired(FM_FAULT_DEVICE);
        fm_fault_arm(FM_FAULT_DEVICE, 0);
        const fm_status want = fixed ? FM_ERR_FULL : FM_OK;
        if (!fired) { /* no allocation left to fail: the sweep is done */
            EXPECT(st == want, "%s: %s without a fault: %s", name, fm_status_str(st), fm_last_error(m));
            fm_destroy(m);
            break;
        }
        faults++;
        if (st == FM_OK) { /* absorbed: the result must be right */
            counters(m, dkeys, after, fa);
            size_t wrong = 0;
            for (size_t i = 0; i < PRESENT + FRESH; i++) wrong += !fa[i] || after[i] != (i < PRESENT ? 2 * i : i);
            EXPECT(wrong == 0, "%s, fault %llu absorbed: %zu counters wrong", name, (unsigned long long)nth, wrong);
        } else {
            EXPECT(st == FM_ERR_NOMEM || st == want, "%s, fault %llu: %s: %s", name, (unsigned long long)nth,
                   fm_status_str(st), fm_last_error(m));
            counters(m, dkeys, after, fa);
            EXPECT(memcmp(before, after, 8 * (PRESENT + FRESH)) == 0 && memcmp(fb, fa, PRESENT + FRESH) == 0,
                   "%s, fault %llu: the failed add changed the map", name, (unsigned long long)nth);
        }
        fm_destroy(m);
    }
    EXPECT(faults >= 2, "%s: only %d allocations to fail", name, faults);
    printf("test_add_faults: %s map: %d device allocations failed in turn\n", name, faults);
    free(before);
    free(after);
    free(fb);
    free(fa);
}

int main(void)
{
#ifndef FLASHMAP_FAULT_INJECTION
    printf("test_add_faults: built without FLASHMAP_FAULT_INJECTION: skipped\ntest_add_faults: 0 failures\n");
    return 0;
#else
    uint64_t *keys = malloc(8 * (PRESENT + FRESH)), *deltas = malloc(8 * (PRESENT + FRESH));
    for (size_t i = 0; i < PRESENT + FRESH; i++) {
        keys[i] = key_of(i);
        deltas[i] = i;
    }
    uint64_t *dkeys = NULL, *ddeltas = NULL;
    if (cudaMalloc((void **)&dkeys, 8 * (PRESENT + FRESH)) != cudaSuccess ||
        cudaMalloc((void **)&ddeltas, 8 * (PRESENT + FRESH)) != cudaSuccess ||
        cudaMemcpy(dkeys, keys, 8 * (PRESENT + FRESH), cudaMemcpyHostToDevice) != cudaSuccess ||
        cudaMemcpy(ddeltas, deltas, 8 * (PRESENT + FRESH), cudaMemcpyHostToDevice) != cudaSuccess)
        return 1;
    sweep(0, dkeys, ddeltas);
    sweep(1, dkeys, ddeltas);
    cudaFree(dkeys);
    cudaFree(ddeltas);
    free(keys);
    free(deltas);
    printf("test_add_faults: %d failures\n", failures);
    return failures != 0;
#endif
}
