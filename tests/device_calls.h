/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The bulk calls with their buffers in device memory: every buffer is
 * copied into a fresh cudaMalloc buffer first (outputs too, so a prefill
 * shows what the call did not write) and outputs are copied back after, so
 * the map sees device pointers only. With host_outputs the outputs (and
 * the insert values or add deltas) stay where the caller has them: device
 * keys with host buffers, the mixed case. A CUDA failure ends the test
 * (exit 2). Without CUDA, td_available() is 0 and nothing else may be
 * called. */
#ifndef FLASHMAP_TESTS_DEVICE_CALLS_H
#define FLASHMAP_TESTS_DEVICE_CALLS_H

#include <flashmap.h>

#include <stddef.h>
#include <stdint.h>

int td_available(void);
/* Gives map a non-blocking CUDA stream of the test's own
 * (fm_cuda_set_stream), if it takes one (a one-table CUDA map; returns 0
 * for others). From the first call on, the td_* calls copy their buffers
 * on that stream and wait for it before they read outputs back, as a
 * caller of a stream-ordered map must. */
int td_caller_stream(fm_map *map);
fm_status td_insert(fm_map *map, size_t ks, size_t vs, const void *keys, const void *values, size_t n,
                    int host_outputs);
fm_status td_get(fm_map *map, size_t ks, size_t vs, const void *keys, size_t n, void *values_out,
                 uint8_t *found_out, int host_outputs);
fm_status td_remove(fm_map *map, size_t ks, const void *keys, size_t n, uint8_t *removed_out, int host_outputs);
fm_status td_add(fm_map *map, size_t ks, const void *keys, const uint64_t *deltas, size_t n, int host_outputs);

#endif
