/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "device_calls.h"

#include <stdio.h>
#include <stdlib.h>

#ifdef FM_TEST_HAVE_CUDA
#include <cuda_runtime_api.h>
#include <flashmap_cuda.h>

static void cuda_ok(cudaError_t e, const char *what)
{
    if (e == cudaSuccess) return;
    fprintf(stderr, "device_calls: %s: %s\n", what, cudaGetErrorString(e));
    exit(2);
}

int td_available(void) { return 1; }

/* The test's own stream (td_caller_stream), or NULL: the legacy stream. */
static cudaStream_t g_stream;

int td_caller_stream(fm_map *map)
{
    if (!g_stream) cuda_ok(cudaStreamCreateWithFlags(&g_stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags");
    return fm_cuda_set_stream(map, g_stream) == FM_OK;
}

/* A device copy of bytes at host (NULL stays NULL; the host pointer itself
 * when keep_host). */
static void *down(const void *host, size_t bytes, int keep_host)
{
    if (!host || keep_host) return (void *)host;
    void *dev = NULL;
    cuda_ok(cudaMalloc(&dev, bytes ? bytes : 1), "cudaMalloc");
    if (bytes) cuda_ok(cudaMemcpyAsync(dev, host, bytes, cudaMemcpyHostToDevice, g_stream), "cudaMemcpy to the device");
    cuda_ok(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize");
    return dev;
}

/* Copies dev back to host (when it is an output) and frees it. */
static void up(void *host, void *dev, size_t bytes, int output)
{
    if (!dev || dev == host) return;
    /* A get on the caller's stream returns before its kernels end. */
    if (output && bytes) cuda_ok(cudaMemcpyAsync(host, dev, bytes, cudaMemcpyDeviceToHost, g_stream), "cudaMemcpy to the host");
    cuda_ok(cudaStreamSynchronize(g_stream), "cudaStreamSynchronize");
    cuda_ok(cudaFree(dev), "cudaFree");
}

fm_status td_insert(fm_map *map, size_t ks, size_t vs, const void *keys, const void *values, size_t n,
                    int host_outputs)
{
    void *k = down(keys, n * ks, 0), *v = down(values, n * vs, host_outputs);
    fm_status st = fm_bulk_insert(map, k, v, n);
    up(NULL, k, 0, 0);
    up((void *)values, v, 0, 0);
    return st;
}

fm_status td_get(fm_map *map, size_t ks, size_t vs, const void *keys, size_t n, void *values_out,
                 uint8_t *found_out, int host_outputs)
{
    void *k = down(keys, n * ks, 0), *v = down(values_out, n * vs, host_outputs);
    uint8_t *f = down(found_out, n, host_outputs);
    fm_status st = fm_bulk_get(map, k, n, v, f);
    up(NULL, k, 0, 0);
    up(values_out, v, n * vs, 1);
    up(found_out, f, n, 1);
    return st;
}

fm_status td_remove(fm_map *map, size_t ks, const void *keys, size_t n, uint8_t *removed_out, int host_outputs)
{
    void *k = down(keys, n * ks, 0);
    uint8_t *f = down(removed_out, n, host_outputs);
    fm_status st = fm_bulk_remove(map, k, n, f);
    up(NULL, k, 0, 0);
    up(removed_out, f, n, 1);
    return st;
}

fm_status td_add(fm_map *map, size_t ks, const void *keys, const uint64_t *deltas, size_t n, int host_outputs)
{
    void *k = down(keys, n * ks, 0), *d = down(deltas, n * sizeof *deltas, host_outputs);
    fm_status st = fm_bulk_add_u64(map, k, d, n);
    up(NULL, k, 0, 0);
    up((void *)deltas, d, 0, 0);
    return st;
}

#else /* built without CUDA */

int td_available(void) { return 0; }

int td_caller_stream(fm_map *map)
{
    (void)map;
    return 0;
}

static fm_status absent(void)
{
    fprintf(stderr, "device_calls: built without CUDA\n");
    exit(2);
}

fm_status td_insert(fm_map *map, size_t ks, size_t vs, const void *keys, const void *values, size_t n,
                    int host_outputs)
{
    (void)map, (void)ks, (void)vs, (void)keys, (void)values, (void)n, (void)host_outputs;
    return absent();
}

fm_status td_get(fm_map *map, size_t ks, size_t vs, const void *keys, size_t n, void *values_out,
                 uint8_t *found_out, int host_outputs)
{
    (void)map, (void)ks, (void)vs, (void)keys, (void)n, (void)values_out, (void)found_out, (void)host_outputs;
    return absent();
}

fm_status td_remove(fm_map *map, size_t ks, const void *keys, size_t n, uint8_t *removed_out, int host_outputs)
{
    (void)map, (void)ks, (void)keys, (void)n, (void)removed_out, (void)host_outputs;
    return absent();
}

fm_status td_add(fm_map *map, size_t ks, const void *keys, const uint64_t *deltas, size_t n, int host_outputs)
{
    (void)map, (void)ks, (void)keys, (void)deltas, (void)n, (void)host_outputs;
    return absent();
}

#endif
