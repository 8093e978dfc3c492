/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Streaming a batch through the device, chunk by chunk.
 *
 * Each array of a batch is used where it lives: device (and managed) memory
 * directly; pinned host memory by DMA; pageable host memory through pinned
 * staging buffers, filled and emptied by host threads. Two buffers
 * alternate: while the kernels of chunk c run on the map's stream, the
 * inputs of chunk c + 1 go up on one copy stream and the outputs of chunk
 * c - 1 come back on the other. Kernels run in batch order on one stream, so
 * chunking changes no result; a batch of any size needs only the buffers. */
#include "cuda/fm_cuda.h"

#include "api/fm_fault.h"

fm_status fm_cuda_where(fm_map *map, const void *p, int *where)
{
    cudaPointerAttributes attr;
    *where = FM_CUDA_MEM_PAGEABLE;
    if (cudaPointerGetAttributes(&attr, p) != cudaSuccess) {
        (void)cudaGetLastError(); /* memory CUDA does not know: pageable */
        return FM_OK;
    }
    switch (attr.type) {
    case cudaMemoryTypeDevice:
        if (attr.device != fm_cuda_of(map)->device)
            return fm_fail(map, FM_ERR_INVALID,
                           "a buffer lives on CUDA device %d; the map is on device %d", attr.device,
                           fm_cuda_of(map)->device);
        *where = FM_CUDA_MEM_DEVICE;
        break;
    case cudaMemoryTypeManaged: *where = FM_CUDA_MEM_DEVICE; break;
    case cudaMemoryTypeHost: *where = FM_CUDA_MEM_PINNED; break;
    default: break;
    }
    return FM_OK;
}

static void free_pinned(uint8_t **p)
{
    if (*p) (void)cudaFreeHost(*p);
    *p = NULL;
}

fm_status fm_cuda_stage_init(fm_map *map)
{
    fm_cuda_stage *s = &fm_cuda_of(map)->stage;
    fm_status st = FM_OK;
    for (int b = 0; b < 2; b++) {
        FM_CUDA(cudaStreamCreate(&s->copy[b]), fail);
        FM_CUDA(cudaEventCreateWithFlags(&s->ready[b], cudaEventDisableTiming), fail);
        FM_CUDA(cudaEventCreateWithFlags(&s->done[b], cudaEventDisableTiming), fail);
        FM_CUDA(cudaEventCreateWithFlags(&s->freed[b], cudaEventDisableTiming), fail);
    }
fail:
    return st;
}

void fm_cuda_stage_release(fm_cuda_stage *s)
{
    for (int b = 0; b < 2; b++) {
        free_pinned(&s->host_in[b]);
        free_pinned(&s->host_out[b]);
        fm_cuda_free(s->dev_in[b]);
        fm_cuda_free(s->dev_out[b]);
        if (s->copy[b]) (void)cudaStreamDestroy(s->copy[b]);
        if (s->ready[b]) (void)cudaEventDestroy(s->ready[b]);
        if (s->done[b]) (void)cudaEventDestroy(s->done[b]);
        if (s->freed[b]) (void)cudaEventDestroy(s->freed[b]);
    }
    memset(s, 0, sizeof *s);
}

/* The two buffers of one direction (dir 0: inputs, 1: outputs), at least
 * `want` bytes each on the device, and as many pinned on the host when some
 * array is pageable. Kept for later batches and grown (up to
 * FM_CUDA_STAGE_BYTES) when a batch needs more, before it changes anything:
 * a small map never pins 64 MiB. */
static fm_status stage_buffers(fm_map *map, int dir, size_t want, int need_host)
{
    fm_cuda_stage *s = &fm_cuda_of(map)->stage;
    uint8_t **host = dir ? s->host_out : s->host_in, **dev = dir ? s->dev_out : s->dev_in;
    fm_status st = FM_OK;
    want = (want + FM_CUDA_STAGE_MIN - 1) / FM_CUDA_STAGE_MIN * FM_CUDA_STAGE_MIN;
    if (want > FM_CUDA_STAGE_BYTES) want = FM_CUDA_STAGE_BYTES;
    if (s->dev_bytes[dir] < want) {
        for (int b = 0; b < 2; b++) {
            fm_cuda_free(dev[b]);
            dev[b] = NULL;
            free_pinned(&host[b]);
        }
        s->dev_bytes[dir] = s->host_bytes[dir] = 0;
        for (int b = 0; b < 2; b++)
            if ((st = fm_cuda_alloc(map, (void **)&dev[b], want, "staging")) != FM_OK) return st;
        s->dev_bytes[dir] = want;
    }
    if (need_host && s->host_bytes[dir] < s->dev_bytes[dir]) {
        for (int b = 0; b < 2; b++) {
            free_pinned(&host[b]);
            cudaError_t e = fm_fault_fire(FM_FAULT_DEVICE)
                                ? cudaErrorMemoryAllocation
                                : cudaHostAlloc((void **)&host[b], s->dev_bytes[dir], cudaHostAllocDefault);
            if (e != cudaSuccess) {
                host[b] = NULL;
                (void)fm_cuda_fail_at(map, e, "cudaHostAlloc", __FILE__, __LINE__);
                return fm_fail(map, FM_ERR_NOMEM, "cannot pin %zu bytes of host memory for staging: %s",
                               s->dev_bytes[dir], cudaGetErrorString(e));
            }
        }
        s->host_bytes[dir] = s->dev_bytes[dir];
    }
    return FM_OK;
}

fm_status fm_cuda_stage_out_buffers(fm_map *map, size_t want, size_t *got)
{
    fm_status st = stage_buffers(map, 1, want, 0);
    *got = fm_cuda_of(map)->stage.dev_bytes[1];
    return st;
}

/* Arrays are packed in a staging buffer at 256-byte aligned offsets. */
static size_t align_up(size_t x) { return (x + 255) & ~(size_t)255; }

fm_status fm_cuda_plan_batch(fm_map *map, fm_cuda_plan *p, const fm_cuda_array *arrays, int count,
                             size_t n)
{
    fm_cuda_stage *s = &fm_cuda_of(map)->stage;
    memset(p, 0, sizeof *p);
    p->count = count;
    p->n = n;
    size_t per_key[2] = {0, 0}; /* staged bytes a key, in and out */
    int pageable[2] = {0, 0}, staged[2] = {0, 0};
    fm_status st = FM_OK;
    for (int a = 0; a < count; a++) {
        p->a[a] = arrays[a];
        if (!arrays[a].user || arrays[a].elem == 0) {
            p->a[a].user = NULL;
            continue;
        }
        if ((st = fm_cuda_where(map, arrays[a].user, &p->where[a])) != FM_OK) return st;
        if (p->where[a] == FM_CUDA_MEM_DEVICE) continue;
        const int dir = arrays[a].out != 0;
        per_key[dir] += arrays[a].elem;
        staged[dir]++;
        pageable[dir] |= p->where[a] == FM_CUDA_MEM_PAGEABLE;
    }
    p->chunk = FM_CUDA_CHUNK_KEYS;
    for (int dir = 0; dir < 2; dir++) {
        if (!staged[dir]) continue;
        /* Each array's alignment padding, then whole keys. */
        const size_t pad = 256 * (size_t)staged[dir];
        const size_t want = n < FM_CUDA_STAGE_BYTES / per_key[dir] ? n * per_key[dir] + pad : FM_CUDA_STAGE_BYTES;
        if ((st = stage_buffers(map, dir, want, pageable[dir])) != FM_OK) return st;
        const size_t fit = (s->dev_bytes[dir] - pad) / per_key[dir];
        if (fit < p->chunk) p->chunk = fit;
    }
    if (p->chunk > n) p->chunk = n;
    if (p->chunk == 0) p->chunk = 1;
    return FM_OK;
}

/* Host side of a finished chunk: its pageable outputs leave the pinned
 * buffer for the caller's memory. */
static void unstage_outputs(fm_map *map, const fm_cuda_plan *p, int b, size_t first, size_t count)
{
    fm_cuda_map *m = fm_cuda_of(map);
    size_t off = 0;
    for (int a = 0; a < p->count; a++) {
        if (!p->a[a].user || !p->a[a].out || p->where[a] == FM_CUDA_MEM_DEVICE) continue;
        const size_t bytes = count * p->a[a].elem;
        if (p->where[a] == FM_CUDA_MEM_PAGEABLE)
            fm_host_copy((uint8_t *)p->a[a].user + first * p->a[a].elem, m->stage.host_out[b] + off, bytes,
                         m->threads);
        off += align_up(bytes);
    }
}

/* Enqueues chunk [first, first + count) on buffer b: inputs up, fn, outputs
 * down; records freed[b] when all of it is done. */
static fm_status enqueue_chunk(fm_map *map, const fm_cuda_plan *p, int b, size_t first, size_t count,
                               fm_cuda_chunk_fn fn, void *ctx)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_cuda_stage *s = &m->stage;
    uint8_t *dev[FM_CUDA_MAX_ARRAYS] = {NULL, NULL, NULL, NULL};
    size_t off_in = 0, off_out = 0;
    fm_status st = FM_OK;
    for (int a = 0; a < p->count; a++) {
        if (!p->a[a].user) continue;
        uint8_t *user = (uint8_t *)p->a[a].user + first * p->a[a].elem;
        const size_t bytes = count * p->a[a].elem;
        if (p->where[a] == FM_CUDA_MEM_DEVICE) {
            dev[a] = user;
        } else if (p->a[a].out) {
            dev[a] = s->dev_out[b] + off_out;
            off_out += align_up(bytes);
        } else {
            const uint8_t *src = user;
            if (p->where[a] == FM_CUDA_MEM_PAGEABLE) {
                fm_host_copy(s->host_in[b] + off_in, user, bytes, m->threads);
                src = s->host_in[b] + off_in;
            }
            dev[a] = s->dev_in[b] + off_in;
            FM_CUDA(cudaMemcpyAsync(dev[a], src, bytes, cudaMemcpyHostToDevice, s->copy[b]), fail);
            off_in += align_up(bytes);
        }
    }
    FM_CUDA(cudaEventRecord(s->ready[b], s->copy[b]), fail);
    FM_CUDA(cudaStreamWaitEvent(m->stream, s->ready[b], 0), fail);
    if ((st = fn(map, ctx, dev, first, count)) != FM_OK) return st;
    FM_CUDA(cudaEventRecord(s->done[b], m->stream), fail);
    FM_CUDA(cudaStreamWaitEvent(s->copy[b], s->done[b], 0), fail);
    off_out = 0;
    for (int a = 0; a < p->count; a++) {
        if (!p->a[a].user || !p->a[a].out || p->where[a] == FM_CUDA_MEM_DEVICE) continue;
        const size_t bytes = count * p->a[a].elem;
        uint8_t *dst = p->where[a] == FM_CUDA_MEM_PINNED ? (uint8_t *)p->a[a].user + first * p->a[a].elem
                                                        : s->host_out[b] + off_out;
        FM_CUDA(cudaMemcpyAsync(dst, s->dev_out[b] + off_out, bytes, cudaMemcpyDeviceToHost, s->copy[b]),
                fail);
        off_out += align_up(bytes);
    }
    FM_CUDA(cudaEventRecord(s->freed[b], s->copy[b]), fail);
fail:
    return st;
}

/* A batch whose arrays are all in device memory: the chunks on the map's
 * stream alone, no staging, no events. */
static fm_status device_batch(fm_map *map, const fm_cuda_plan *p, fm_cuda_chunk_fn fn, void *ctx,
                              int caller_waits)
{
    fm_cuda_map *m = fm_cuda_of(map);
    uint8_t *dev[FM_CUDA_MAX_ARRAYS] = {NULL, NULL, NULL, NULL};
    fm_status st = FM_OK;
    for (size_t first = 0; first < p->n && st == FM_OK; first += p->chunk) {
        const size_t count = p->n - first < p->chunk ? p->n - first : p->chunk;
        for (int a = 0; a < p->count; a++)
            dev[a] = p->a[a].user ? (uint8_t *)p->a[a].user + first * p->a[a].elem : NULL;
        st = fn(map, ctx, dev, first, count);
    }
    /* On failure nothing may still touch the caller's memory on return. */
    if (st != FM_OK || (!caller_waits && !fm_cuda_on_caller_stream(m))) {
        const cudaError_t e = cudaStreamSynchronize(m->stream);
        if (e != cudaSuccess && st == FM_OK) st = fm_cuda_fail_at(map, e, "cudaStreamSynchronize", __FILE__, __LINE__);
    }
    return st;
}

fm_status fm_cuda_stream_batch(fm_map *map, const fm_cuda_plan *p, fm_cuda_chunk_fn fn, void *ctx,
                               int caller_waits)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_cuda_stage *s = &m->stage;
    int staged = 0;
    for (int a = 0; a < p->count; a++) staged |= p->a[a].user && p->where[a] != FM_CUDA_MEM_DEVICE;
    if (!staged) return device_batch(map, p, fn, ctx, caller_waits);
    int pending[2] = {0, 0};
    size_t pending_first[2] = {0, 0}, pending_count[2] = {0, 0};
    fm_status st = FM_OK;
    for (size_t first = 0, round = 0; first < p->n; first += p->chunk, round++) {
        const int b = (int)(round & 1);
        const size_t count = p->n - first < p->chunk ? p->n - first : p->chunk;
        if (pending[b]) { /* chunk round - 2 used this buffer: wait for it */
            pending[b] = 0;
            FM_CUDA(cudaEventSynchronize(s->freed[b]), drain);
            unstage_outputs(map, p, b, pending_first[b], pending_count[b]);
        }
        pending[b] = 1;
        pending_first[b] = first;
        pending_count[b] = count;
        if ((st = enqueue_chunk(map, p, b, first, count, fn, ctx)) != FM_OK) goto drain;
    }
drain:
    /* Even after a failure nothing may still read or write the caller's
     * memory when this returns. */
    for (int b = 0; b < 2; b++) {
        cudaError_t e = cudaStreamSynchronize(s->copy[b]);
        if (e != cudaSuccess && st == FM_OK) st = fm_cuda_fail_at(map, e, "cudaStreamSynchronize", __FILE__, __LINE__);
    }
    cudaError_t e = cudaStreamSynchronize(m->stream);
    if (e != cudaSuccess && st == FM_OK) st = fm_cuda_fail_at(map, e, "cudaStreamSynchronize", __FILE__, __LINE__);
    for (int b = 0; b < 2 && st == FM_OK; b++)
        if (pending[b]) unstage_outputs(map, p, b, pending_first[b], pending_count[b]);
    return st;
}
