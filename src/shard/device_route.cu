/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Device routing of a sharded CUDA map's batch (shard/fm_device_route.h).
 *
 * On the device that holds the caller's keys, on a stream of its own
 * (steps 1 and 2 are fm_device_sort and fm_device_permute, which the NCCL
 * exchange of MPI maps uses too, with exchange rounds as well):
 * 1. a kernel computes every key's bucket with fm_bucket_of(fm_hash_key(..) * spread)
 *    (the host's routing, shard/fm_owner.h: the owner, or round and owner)
 *    and counts keys per bucket, in shared memory up to 8192 buckets;
 * 2. a radix sort of (bucket, batch index) pairs over the bucket's bits
 *    only: with at most 12 bits (4096 shards, one round) that is one or two
 *    stable counting passes, which keep batch order inside every bucket;
 * 3. keys and payload are gathered into routed order through the sorted
 *    batch indices ("order"); the per-bucket counts, scanned on the host,
 *    give each shard's run.
 * Shards on the same device use their run in place; the runs of shards on
 * other devices are peer-copied there. finish() copies results back the
 * same way and scatters them through order into the caller's buffers.
 *
 * Everything runs on one stream per device, kept for the process, and the
 * routing buffers come from flashmap's stream-ordered pool
 * (fm_cuda_scratch), so a warm batch allocates nothing from the driver
 * (buffers on a shard's other device are still plain allocations).
 *
 * Sizes and indices are 64-bit throughout, and every kernel loops over its
 * range with a grid stride, so a batch of more than 2^31 keys (or records
 * of more than 2^32 words) needs no launch larger than the grid limits. */
#include <cub/device/device_radix_sort.cuh>

#include <mutex>

#include "api/fm_alloc.h"
#include "cuda/fm_cuda.h"
#include "shard/fm_device_route.h"
#include "shard/fm_device_sort.h"
#include "shard/fm_owner.h"
#include "table/fm_hash.h"

/* Blocks of the owner kernel: enough to fill a GPU, few enough that its
 * per-block counts flush cheaply, and each block's 32-bit counts stay far
 * below 2^32 for any batch that fits in device memory. */
#define ROUTE_OWNER_BLOCKS 1024u
/* Most blocks of the copy kernels (grid stride beyond). */
#define ROUTE_COPY_BLOCKS 65536u

struct fm_device_route_impl {
    int device;               /* the caller's buffers, and everything below */
    cudaStream_t stream;
    uint64_t *order;          /* routed position -> batch index */
    uint8_t *keys, *payload;  /* routed order */
    uint8_t *values, *flags;  /* results in routed order */
    const int *shard_device;  /* the caller's; shards entries */
};

static size_t route_blocks(size_t items, size_t most)
{
    const size_t b = (items + FM_CUDA_BLOCK - 1) / FM_CUDA_BLOCK;
    return b < 1 ? 1 : b > most ? most : b;
}

/* Most buckets counted in shared memory first (32 KiB of counters); more
 * are counted in global memory directly. */
#define ROUTE_SHARED_BUCKETS 8192u

/* bucket[i] and index[i] = i for every key; counts[b] += keys in bucket b.
 * Dynamic shared memory: `buckets` counters when `shared`. */
__global__ void fm_k_route_buckets(const uint8_t *keys, size_t n, uint32_t ks, int kind, uint64_t spread,
                                   uint32_t owners, uint32_t rounds, int shared, uint32_t *bucket, uint64_t *index,
                                   unsigned long long *counts)
{
    FM_DYNAMIC_SHARED(unsigned, fm_route_hist);
    const uint32_t buckets = owners * rounds;
    if (shared)
        for (uint32_t s = threadIdx.x; s < buckets; s += blockDim.x) fm_route_hist[s] = 0;
    __syncthreads();
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) {
        const uint32_t b = fm_bucket_of(fm_hash_key(kind, keys + i * ks, ks) * spread, owners, rounds);
        bucket[i] = b;
        index[i] = i;
        if (shared) atomicAdd(&fm_route_hist[b], 1u);
        else atomicAdd(&counts[b], 1ull);
    }
    __syncthreads();
    if (shared)
        for (uint32_t s = threadIdx.x; s < buckets; s += blockDim.x)
            if (fm_route_hist[s]) atomicAdd(&counts[s], (unsigned long long)fm_route_hist[s]);
}

/* n records of `words` words of type W: dst[j] = src[order[j]] (gather into
 * routed order) or dst[order[j]] = src[j] (scatter back to batch order). */
template <typename W>
__global__ void fm_k_route_permute(W *dst, const W *src, const uint64_t *order, size_t n, size_t words,
                                   int scatter)
{
    const size_t total = n * words, stride = (size_t)gridDim.x * blockDim.x;
    for (size_t u = (size_t)blockIdx.x * blockDim.x + threadIdx.x; u < total; u += stride) {
        const size_t j = u / words, w = u - j * words, o = order[j];
        if (scatter) dst[o * words + w] = src[j * words + w];
        else dst[j * words + w] = src[o * words + w];
    }
}

/* The permutation of n records of `size` bytes runs in the widest word
 * that the size and both addresses allow. */
fm_status fm_device_permute(fm_map *map, cudaStream_t stream, void *dst, const void *src,
                            const uint64_t *order, size_t n, size_t size, int scatter)
{
    fm_status st = FM_OK;
    const uintptr_t bits = (uintptr_t)dst | (uintptr_t)src | (uintptr_t)size;
    const size_t unit = bits % 8 == 0 ? 8 : bits % 4 == 0 ? 4 : 1, words = size / unit;
    const unsigned grid = (unsigned)route_blocks(n * words, ROUTE_COPY_BLOCKS);
    if (unit == 8)
        FM_LAUNCH(fm_k_route_permute, grid, FM_CUDA_BLOCK, 0, stream)((uint64_t *)dst, (const uint64_t *)src,
                order, n, words, scatter);
    else if (unit == 4)
        FM_LAUNCH(fm_k_route_permute, grid, FM_CUDA_BLOCK, 0, stream)((uint32_t *)dst, (const uint32_t *)src,
                order, n, words, scatter);
    else
        FM_LAUNCH(fm_k_route_permute, grid, FM_CUDA_BLOCK, 0, stream)((uint8_t *)dst, (const uint8_t *)src,
                order, n, words, scatter);
    FM_CUDA(cudaGetLastError(), fail);
fail:
    return st;
}

/* Device memory of `bytes` (none when bytes is 0) on the current device:
 * scratch ordered on `stream`, or (stream NULL) a plain allocation. */
static fm_status alloc_if(fm_map *map, int wanted, void **p, size_t bytes, const char *what, cudaStream_t stream)
{
    *p = NULL;
    if (!wanted || !bytes) return FM_OK;
    return stream ? fm_cuda_scratch(map, p, bytes, what, stream) : fm_cuda_alloc(map, p, bytes, what);
}

/* The routing stream of the current device: blocking (it waits for the
 * caller's work on the legacy default stream), created once. */
static fm_status route_stream(fm_map *map, int device, cudaStream_t *out)
{
    static std::mutex lock;
    static cudaStream_t streams[64];
    fm_status st = FM_OK;
    if (device < 0 || device >= 64) return fm_fail(map, FM_ERR_DEVICE, "CUDA device %d: too many devices", device);
    std::lock_guard<std::mutex> g(lock);
    if (!streams[device]) FM_CUDA(cudaStreamCreate(&streams[device]), fail);
    *out = streams[device];
fail:
    return st;
}

fm_status fm_device_sort(fm_map *map, cudaStream_t stream, const void *keys, size_t n, uint32_t owners,
                         uint32_t rounds, uint64_t **order, uint64_t *start)
{
    const size_t ks = map->cfg.key_size;
    *order = NULL;
    if ((uint64_t)owners * rounds > ((uint64_t)1 << 31))
        return fm_fail(map, FM_ERR_INVALID, "%u owners in %u rounds: too many routing buckets", owners, rounds);
    const uint32_t buckets = owners * rounds;
    int bits = 1;
    while (bits < 32 && ((uint64_t)1 << bits) < buckets) bits++;
    uint32_t *bucket[2] = {NULL, NULL};
    uint64_t *index = NULL, *sorted = NULL;
    unsigned long long *counts = NULL;
    void *sort_tmp = NULL;
    cub::DoubleBuffer<uint32_t> keys_db;
    cub::DoubleBuffer<uint64_t> index_db;
    size_t tmp_bytes = 0;
    const int shared = buckets <= ROUTE_SHARED_BUCKETS;
    fm_status st = FM_OK;
    if ((st = fm_cuda_scratch(map, (void **)&bucket[0], n * sizeof(uint32_t), "routing", stream)) != FM_OK ||
        (st = fm_cuda_scratch(map, (void **)&bucket[1], n * sizeof(uint32_t), "routing", stream)) != FM_OK ||
        (st = fm_cuda_scratch(map, (void **)&index, n * sizeof(uint64_t), "routing", stream)) != FM_OK ||
        (st = fm_cuda_scratch(map, (void **)&sorted, n * sizeof(uint64_t), "routing", stream)) != FM_OK ||
        (st = fm_cuda_scratch(map, (void **)&counts, (size_t)buckets * sizeof(unsigned long long), "routing",
                              stream)) != FM_OK)
        goto fail;
    FM_CUDA(cudaMemsetAsync(counts, 0, (size_t)buckets * sizeof(unsigned long long), stream), fail);
    FM_LAUNCH(fm_k_route_buckets, (unsigned)route_blocks(n, ROUTE_OWNER_BLOCKS), FM_CUDA_BLOCK,
              shared ? buckets * sizeof(unsigned) : 0, stream)((const uint8_t *)keys, n, (uint32_t)ks,
            (int)map->cfg.hash, fm_map_spread(map), owners, rounds, shared, bucket[0], index, counts);
    FM_CUDA(cudaGetLastError(), fail);
    keys_db = cub::DoubleBuffer<uint32_t>(bucket[0], bucket[1]);
    index_db = cub::DoubleBuffer<uint64_t>(index, sorted);
    FM_CUDA(cub::DeviceRadixSort::SortPairs(NULL, tmp_bytes, keys_db, index_db, (unsigned long long)n, 0, bits,
                                            stream),
            fail);
    if ((st = fm_cuda_scratch(map, &sort_tmp, tmp_bytes, "routing", stream)) != FM_OK) goto fail;
    FM_CUDA(cub::DeviceRadixSort::SortPairs(sort_tmp, tmp_bytes, keys_db, index_db, (unsigned long long)n, 0,
                                            bits, stream),
            fail);
    if (index_db.Current() != sorted) { /* the sorted indices ended in the other buffer */
        index = sorted;
        sorted = index_db.Current();
    }
    /* counts -> start[1..buckets] (the same 8 bytes each), then scanned */
    FM_CUDA(cudaMemcpyAsync(start + 1, counts, (size_t)buckets * sizeof(uint64_t), cudaMemcpyDeviceToHost, stream),
            fail);
    FM_CUDA(cudaStreamSynchronize(stream), fail);
    start[0] = 0;
    for (uint32_t b = 0; b < buckets; b++) start[b + 1] += start[b];
    if (start[buckets] != n) {
        st = fm_fail(map, FM_ERR_DEVICE, "device routing counted %llu keys of %zu (internal error)",
                     (unsigned long long)start[buckets], n);
        goto fail;
    }
    *order = sorted;
    sorted = NULL;
fail:
    /* Nothing of the sort may be in flight when its buffers go. */
    if (st != FM_OK && cudaStreamSynchronize(stream) != cudaSuccess) (void)cudaGetLastError();
    fm_cuda_scratch_free(bucket[0], stream);
    fm_cuda_scratch_free(bucket[1], stream);
    fm_cuda_scratch_free(index, stream);
    fm_cuda_scratch_free(sorted, stream);
    fm_cuda_scratch_free(counts, stream);
    fm_cuda_scratch_free(sort_tmp, stream);
    return st;
}

/* Steps 1-3 above, on m->stream; r->start gets the runs. */
static fm_status sort_by_owner(fm_map *map, fm_device_route *r, const fm_device_batch *b)
{
    fm_device_route_impl *m = r->impl;
    fm_status st = fm_device_sort(map, m->stream, b->keys, b->n, r->shards, 1, &m->order, r->start);
    if (st != FM_OK) return st;
    if ((st = fm_device_permute(map, m->stream, m->keys, b->keys, m->order, b->n, map->cfg.key_size, 0)) != FM_OK)
        return st;
    if (m->payload)
        st = fm_device_permute(map, m->stream, m->payload, b->payload, m->order, b->n, b->record, 0);
    return st;
}

/* Gives shard i its run: in place on the routing device, else in buffers on
 * its own device, peer-copied there (inputs) on m->stream. */
static fm_status place_shard(fm_map *map, fm_device_route *r, const fm_device_batch *b, uint32_t i)
{
    fm_device_route_impl *m = r->impl;
    const size_t at = r->start[i], len = r->start[i + 1] - at, ks = map->cfg.key_size;
    const int dev = m->shard_device[i];
    fm_status st = FM_OK;
    if (dev == m->device) {
        r->keys[i] = m->keys + at * ks;
        r->payload[i] = m->payload ? m->payload + at * b->record : NULL;
        r->values[i] = m->values ? m->values + at * b->value_size : NULL;
        r->flags[i] = m->flags ? m->flags + at : NULL;
        return FM_OK;
    }
    if (len == 0) return FM_OK; /* the shard sits this batch out */
    FM_CUDA(cudaSetDevice(dev), fail);
    if ((st = fm_cuda_alloc(map, (void **)&r->keys[i], len * ks, "a shard's keys")) == FM_OK &&
        (st = alloc_if(map, m->payload != NULL, (void **)&r->payload[i], len * b->record, "a shard's values",
                       NULL)) == FM_OK &&
        (st = alloc_if(map, m->values != NULL, (void **)&r->values[i], len * b->value_size, "a shard's results",
                       NULL)) == FM_OK)
        st = alloc_if(map, m->flags != NULL, (void **)&r->flags[i], len, "a shard's results", NULL);
    FM_CUDA(cudaSetDevice(m->device), fail);
    if (st != FM_OK) return st;
    FM_CUDA(cudaMemcpyPeerAsync(r->keys[i], dev, m->keys + at * ks, m->device, len * ks, m->stream), fail);
    if (r->payload[i])
        FM_CUDA(cudaMemcpyPeerAsync(r->payload[i], dev, m->payload + at * b->record, m->device, len * b->record,
                                    m->stream),
                fail);
fail:
    return st;
}

static fm_status build(fm_map *map, fm_device_route *r, const fm_device_batch *b)
{
    fm_device_route_impl *m = r->impl;
    const size_t n = b->n;
    fm_status st = FM_OK;
    FM_CUDA(cudaSetDevice(b->device), fail);
    /* A blocking stream: it waits for the caller's work on the legacy
     * default stream (a kernel that wrote the keys, a cudaMemcpy still in
     * flight), as the one-table CUDA map's own stream does. */
    if ((st = route_stream(map, b->device, &m->stream)) != FM_OK ||
        (st = alloc_if(map, 1, (void **)&m->keys, n * map->cfg.key_size, "routed keys", m->stream)) != FM_OK ||
        (st = alloc_if(map, b->payload != NULL, (void **)&m->payload, n * b->record, "routed values", m->stream)) !=
            FM_OK ||
        (st = alloc_if(map, b->values_out != NULL, (void **)&m->values, n * b->value_size, "routed results",
                       m->stream)) != FM_OK ||
        (st = alloc_if(map, b->flags_out != NULL, (void **)&m->flags, n, "routed results", m->stream)) != FM_OK ||
        (st = sort_by_owner(map, r, b)) != FM_OK)
        return st;
    for (uint32_t i = 0; i < r->shards; i++)
        if ((st = place_shard(map, r, b, i)) != FM_OK) return st;
    FM_CUDA(cudaStreamSynchronize(m->stream), fail);
fail:
    return st;
}

/* Runs step and gives the calling thread its current device back. */
static fm_status keep_device(fm_map *map, fm_device_route *r, const fm_device_batch *b,
                             fm_status (*step)(fm_map *, fm_device_route *, const fm_device_batch *))
{
    int prev = -1;
    fm_status st = FM_OK;
    FM_CUDA(cudaGetDevice(&prev), fail);
    st = step(map, r, b);
    (void)cudaSetDevice(prev);
fail:
    return st;
}

extern "C" fm_status fm_device_route_build(fm_map *map, fm_device_route *r, const fm_device_batch *b,
                                           const int *shard_device, uint32_t shards)
{
    memset(r, 0, sizeof *r);
    r->shards = shards;
    r->impl = (fm_device_route_impl *)fm_calloc(1, sizeof *r->impl);
    r->start = (uint64_t *)fm_calloc((size_t)shards + 1, sizeof *r->start);
    r->keys = (uint8_t **)fm_calloc(shards, sizeof *r->keys);
    r->payload = (uint8_t **)fm_calloc(shards, sizeof *r->payload);
    r->values = (uint8_t **)fm_calloc(shards, sizeof *r->values);
    r->flags = (uint8_t **)fm_calloc(shards, sizeof *r->flags);
    if (!r->impl || !r->start || !r->keys || !r->payload || !r->values || !r->flags) {
        fm_device_route_free(r);
        return fm_fail(map, FM_ERR_NOMEM, "no memory to route a batch of %zu keys to %u shards", b->n, shards);
    }
    r->impl->device = b->device;
    r->impl->shard_device = shard_device;
    const fm_status st = keep_device(map, r, b, build);
    if (st != FM_OK) fm_device_route_free(r);
    return st;
}

static fm_status finish(fm_map *map, fm_device_route *r, const fm_device_batch *b)
{
    fm_device_route_impl *m = r->impl;
    fm_status st = FM_OK;
    FM_CUDA(cudaSetDevice(m->device), fail);
    for (uint32_t i = 0; i < r->shards; i++) {
        const int dev = m->shard_device[i];
        const size_t at = r->start[i], len = r->start[i + 1] - at;
        if (dev == m->device || len == 0) continue; /* results already in place */
        if (m->values)
            FM_CUDA(cudaMemcpyPeerAsync(m->values + at * b->value_size, m->device, r->values[i], dev,
                                        len * b->value_size, m->stream),
                    fail);
        if (m->flags)
            FM_CUDA(cudaMemcpyPeerAsync(m->flags + at, m->device, r->flags[i], dev, len, m->stream), fail);
    }
    if (m->values && (st = fm_device_permute(map, m->stream, b->values_out, m->values, m->order, b->n, b->value_size, 1)) != FM_OK)
        goto fail;
    if (m->flags && (st = fm_device_permute(map, m->stream, b->flags_out, m->flags, m->order, b->n, 1, 1)) != FM_OK)
        goto fail;
    FM_CUDA(cudaStreamSynchronize(m->stream), fail);
fail:
    return st;
}

extern "C" fm_status fm_device_route_finish(fm_map *map, fm_device_route *r, const fm_device_batch *b)
{
    return keep_device(map, r, b, finish);
}

extern "C" void fm_device_route_free(fm_device_route *r)
{
    fm_device_route_impl *m = r->impl;
    int prev = -1;
    if (cudaGetDevice(&prev) != cudaSuccess) (void)cudaGetLastError();
    if (m) {
        /* A failed build may leave copies in flight: let them end first. */
        if (m->stream && cudaStreamSynchronize(m->stream) != cudaSuccess) (void)cudaGetLastError();
        const int placed = m->shard_device && r->keys && r->payload && r->values && r->flags;
        for (uint32_t i = 0; placed && i < r->shards; i++) {
            if (m->shard_device[i] == m->device) continue; /* views into the routed buffers */
            (void)cudaSetDevice(m->shard_device[i]);
            fm_cuda_free(r->keys[i]);
            fm_cuda_free(r->payload[i]);
            fm_cuda_free(r->values[i]);
            fm_cuda_free(r->flags[i]);
        }
        (void)cudaSetDevice(m->device);
        fm_cuda_scratch_free(m->order, m->stream);
        fm_cuda_scratch_free(m->keys, m->stream);
        fm_cuda_scratch_free(m->payload, m->stream);
        fm_cuda_scratch_free(m->values, m->stream);
        fm_cuda_scratch_free(m->flags, m->stream);
        if (prev >= 0) (void)cudaSetDevice(prev);
        (void)cudaGetLastError();
    }
    fm_free(r->impl);
    fm_free(r->start);
    fm_free(r->keys);
    fm_free(r->payload);
    fm_free(r->values);
    fm_free(r->flags);
    memset(r, 0, sizeof *r);
}
