/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* fm_cuda_set_stream (include/flashmap_cuda.h) on the host emulation of
 * CUDA, which counts the work queued on every stream (fm_emu_stream_ops)
 * and every host wait: with the caller's stream set, every launch, copy
 * and memset of every call lands on that stream (none on the map's own
 * stream, none on the legacy default stream), a device-resident get waits
 * for nothing, and results, growth, clear, export and statistics are
 * right. Then the refusals: no map, a CPU map, a sharded map, a stream of
 * another device (the map keeps its stream). Prints
 * "test_cuda_stream: N failures". */
#include <flashmap.h>
#include <flashmap_cuda.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "cuda_emu/emu_expect.h"

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

typedef struct where {
    unsigned long long mine, own, legacy, waits;
} where;

static where now(cudaStream_t mine, cudaStream_t own)
{
    fm_emu_counts c;
    fm_emu_counts_get(&c);
    where w = {fm_emu_stream_ops(mine), fm_emu_stream_ops(own), fm_emu_stream_ops(NULL), c.host_waits};
    return w;
}

/* Between a and b: work on the caller's stream only (at least `least`
 * operations), and at most `waits` host waits. */
static void only_on_caller(const char *what, where a, where b, unsigned long long least, unsigned long long waits)
{
    EXPECT(b.mine - a.mine >= least, "%s: %llu operations on the caller's stream, want >= %llu", what,
           b.mine - a.mine, least);
    EXPECT(b.own == a.own, "%s: %llu operations on the map's own stream", what, b.own - a.own);
    EXPECT(b.legacy == a.legacy, "%s: %llu operations on the legacy default stream", what, b.legacy - a.legacy);
    EXPECT(b.waits - a.waits <= waits, "%s: %llu host waits, want <= %llu", what, b.waits - a.waits, waits);
}

static void *dev_alloc(size_t bytes)
{
    void *p = NULL;
    if (cudaMalloc(&p, bytes) != cudaSuccess) exit(1);
    return p;
}

int main(void)
{
    const size_t n = 3000; /* past the capacity below: the table grows on the caller's stream */
    fm_config cfg = fm_config_default(8, 8, 1000);
    cfg.backend = FM_BACKEND_CUDA;
    cfg.device = 0;
    fm_map *map = NULL;
    if (fm_create(&cfg, &map) != FM_OK) {
        printf("FAIL fm_create: %s\n", fm_last_error(NULL));
        return 1;
    }
    cudaStream_t own = (cudaStream_t)fm_cuda_get_stream(map), s = NULL;
    EXPECT(own != NULL, "a CUDA map has a stream of its own");
    if (cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking) != cudaSuccess) return 1;
    EXPECT(fm_cuda_set_stream(map, s) == FM_OK, "set_stream: %s", fm_last_error(map));
    EXPECT(fm_cuda_get_stream(map) == (void *)s, "get_stream gives the caller's stream");

    uint64_t *hk = malloc(n * 8), *hv = malloc(n * 8), *out = malloc(n * 8);
    uint8_t *found = malloc(n);
    for (size_t i = 0; i < n; i++) {
        hk[i] = mix(i + 1);
        hv[i] = mix(i + 50000);
    }
    uint64_t *dk = dev_alloc(n * 8), *dv = dev_alloc(n * 8), *dout = dev_alloc(n * 8);
    uint8_t *dfound = dev_alloc(n);
    /* The caller's own work on its stream: the keys and values go up. */
    if (cudaMemcpyAsync(dk, hk, n * 8, cudaMemcpyHostToDevice, s) != cudaSuccess ||
        cudaMemcpyAsync(dv, hv, n * 8, cudaMemcpyHostToDevice, s) != cudaSuccess)
        return 1;

    where a = now(s, own);
    EXPECT(fm_bulk_insert(map, dk, dv, n) == FM_OK, "insert: %s", fm_last_error(map));
    where b = now(s, own);
    only_on_caller("insert (with growth)", a, b, 3, 8);
    EXPECT(fm_size(map) == n, "size %llu after insert, want %zu", (unsigned long long)fm_size(map), n);

    a = now(s, own);
    EXPECT(fm_bulk_get(map, dk, n, dout, dfound) == FM_OK, "get: %s", fm_last_error(map));
    b = now(s, own);
    only_on_caller("device-resident get", a, b, 1, 0);
    if (cudaStreamSynchronize(s) != cudaSuccess || cudaMemcpy(out, dout, n * 8, cudaMemcpyDeviceToHost) != cudaSuccess ||
        cudaMemcpy(found, dfound, n, cudaMemcpyDeviceToHost) != cudaSuccess)
        return 1;
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) wrong += !found[i] || out[i] != hv[i];
    EXPECT(wrong == 0, "get: %zu of %zu wrong", wrong, n);

    a = now(s, own);
    EXPECT(fm_bulk_add_u64(map, dk, NULL, n) == FM_OK, "add: %s", fm_last_error(map));
    EXPECT(fm_bulk_remove(map, dk, n / 2, dfound) == FM_OK, "remove: %s", fm_last_error(map));
    b = now(s, own);
    only_on_caller("add_u64, remove", a, b, 2, 8);

    /* Host buffers, stats, export, clear: all on the caller's stream too. */
    a = now(s, own);
    EXPECT(fm_bulk_get(map, hk, n, out, found) == FM_OK, "host get: %s", fm_last_error(map));
    wrong = 0;
    for (size_t i = 0; i < n; i++) wrong += found[i] != (i >= n / 2) || (i >= n / 2 && out[i] != hv[i] + 1);
    EXPECT(wrong == 0, "host get after add and remove: %zu of %zu wrong", wrong, n);
    fm_stats st;
    EXPECT(fm_get_stats(map, &st) == FM_OK && st.size == n - n / 2, "stats: %s", fm_last_error(map));
    uint64_t cursor = 0;
    size_t got = 0;
    uint64_t *ev = malloc(n * 8);
    EXPECT(fm_export(map, &cursor, out, ev, n, &got) == FM_OK && got == n - n / 2, "export: %zu entries: %s", got,
           fm_last_error(map));
    free(ev);
    EXPECT(fm_clear(map) == FM_OK && fm_size(map) == 0, "clear: %s", fm_last_error(map));
    b = now(s, own);
    only_on_caller("host get, stats, export, clear", a, b, 4, 1000);

    /* Refusals. */
    EXPECT(fm_cuda_set_stream(NULL, s) == FM_ERR_INVALID, "NULL map");
    fm_config cpu = fm_config_default(8, 8, 100);
    cpu.backend = FM_BACKEND_CPU;
    fm_map *cm = NULL;
    if (fm_create(&cpu, &cm) == FM_OK) {
        EXPECT(fm_cuda_set_stream(cm, s) == FM_ERR_INVALID, "a CPU map takes no stream");
        EXPECT(fm_cuda_get_stream(cm) == NULL, "a CPU map has no stream");
        fm_destroy(cm);
    }
    fm_config sh = cfg;
    sh.shards = 2;
    fm_map *sm = NULL;
    if (fm_create(&sh, &sm) == FM_OK) {
        EXPECT(fm_cuda_set_stream(sm, s) == FM_ERR_UNSUPPORTED, "a sharded map takes no stream");
        fm_destroy(sm);
    }
    cudaStream_t other = NULL;
    if (cudaSetDevice(1) == cudaSuccess && cudaStreamCreate(&other) == cudaSuccess) {
        (void)cudaSetDevice(0);
        EXPECT(fm_cuda_set_stream(map, other) == FM_ERR_INVALID, "a stream of device 1 for a map on device 0");
        EXPECT(strstr(fm_last_error(map), "device") != NULL, "the message names the device: %s", fm_last_error(map));
        EXPECT(fm_cuda_get_stream(map) == (void *)s, "a refused stream leaves the map's stream");
        (void)cudaSetDevice(1);
        cudaStreamDestroy(other);
        (void)cudaSetDevice(0);
    }
    EXPECT(fm_cuda_set_stream(map, NULL) == FM_OK && fm_cuda_get_stream(map) == (void *)own, "back to its own stream");
    a = now(s, own);
    EXPECT(fm_bulk_insert(map, hk, hv, n) == FM_OK, "insert on its own stream: %s", fm_last_error(map));
    b = now(s, own);
    EXPECT(b.mine == a.mine && b.own > a.own, "after NULL the map works on its own stream again");
    cudaStreamDestroy(s);
    fm_destroy(map);
    cudaFree(dk);
    cudaFree(dv);
    cudaFree(dout);
    cudaFree(dfound);
    free(hk);
    free(hv);
    free(out);
    free(found);
    printf("test_cuda_stream: %d failures\n", failures);
    return failures != 0;
}
