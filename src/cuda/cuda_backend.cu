/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The CUDA backend: one table in the memory of one device (fm_cuda.h).
 * Every operation makes the map's device current for the call and gives
 * the caller's device back. Inputs and outputs may be host or device
 * memory. */
#include <stdlib.h>

#include <flashmap_cuda.h>

#include "api/fm_room.h"
#include "api/fm_shared.h"
#include "cuda/fm_cuda.h"

static void release(fm_cuda_map *m)
{
    fm_cuda_table_release(&m->t);
    fm_cuda_dedup_release(&m->dd);
    fm_cuda_marks_release(m);
    fm_cuda_gather_release(&m->gather);
    fm_cuda_stage_release(&m->stage);
    fm_cuda_free(m->counts);
    if (m->counts_host) (void)cudaFreeHost(m->counts_host);
    if (m->own_stream) (void)cudaStreamDestroy(m->own_stream);
    free(m);
}

/* The device a new map uses: cfg->device, or the caller's current one. */
static fm_status pick_device(fm_map *map, int *device)
{
    fm_status st = FM_OK;
    int count = 0;
    FM_CUDA(cudaGetDeviceCount(&count), fail);
    *device = map->cfg.device;
    if (*device < 0) FM_CUDA(cudaGetDevice(device), fail);
    if (*device >= count)
        return fm_fail(map, FM_ERR_UNSUPPORTED, "cfg->device is %d; this process sees %d CUDA device(s)",
                       *device, count);
fail:
    return st;
}

static fm_status cuda_create(fm_map *map)
{
    if (!fm_cuda_usable())
        return fm_fail(map, FM_ERR_UNSUPPORTED,
                       "FM_BACKEND_CUDA: no usable CUDA device or driver in this process (%s); "
                       "use FM_BACKEND_CPU or AUTO", fm_cuda_unusable_reason());
    int device = 0, prev = -1;
    fm_status st = pick_device(map, &device);
    if (st != FM_OK) return st;
    uint64_t slots = 0;
    if ((st = fm_room_initial_slots(map, &slots)) != FM_OK) return st;
    fm_cuda_map *m = (fm_cuda_map *)calloc(1, sizeof *m);
    if (!m) return fm_fail(map, FM_ERR_NOMEM, "no memory for the CUDA map header");
    m->device = device;
    m->threads = map->cfg.threads;
    map->impl = m;
    if ((st = fm_cuda_enter(map, &prev)) != FM_OK) goto free_map;
    /* A blocking stream: ordered with the caller's work on the legacy
     * default stream (fm_cuda_set_stream gives it the caller's instead). */
    FM_CUDA(cudaStreamCreate(&m->own_stream), leave);
    m->stream = m->own_stream;
    if ((st = fm_cuda_stage_init(map)) != FM_OK) goto leave;
    if ((st = fm_cuda_alloc(map, (void **)&m->counts, sizeof *m->counts, "counters")) != FM_OK) goto leave;
    FM_CUDA(cudaHostAlloc((void **)&m->counts_host, sizeof *m->counts_host, cudaHostAllocDefault), leave);
    if ((st = fm_cuda_table_init(map, &m->t, slots)) != FM_OK) {
        fm_fail(map, st, "cannot allocate a table of %llu slots (%u-byte keys, %u-byte values) on CUDA "
                "device %d: %s", (unsigned long long)slots, map->cfg.key_size, map->cfg.value_size, device,
                fm_error_detail(map->error));
        goto leave;
    }
    fm_cuda_leave(prev);
    return FM_OK;
leave:
    fm_cuda_leave(prev);
free_map:
    release(m);
    map->impl = NULL;
    return st;
}

static void cuda_destroy(fm_map *map)
{
    fm_cuda_map *m = fm_cuda_of(map);
    if (!m) return;
    int prev = -1;
    (void)fm_cuda_enter(map, &prev);
    release(m);
    fm_cuda_leave(prev);
    map->impl = NULL;
}

static uint64_t cuda_headroom(fm_map *map)
{
    const fm_cuda_table *t = &fm_cuda_of(map)->t;
    return fm_room_headroom(map, t->v.mask + 1, t->live, t->tombstones);
}

/* Runs `call` with the map's device current. */
#define WITH_DEVICE(map, call)                                                 \
    do {                                                                       \
        int prev_ = -1;                                                        \
        fm_status st_ = fm_cuda_enter((map), &prev_);                          \
        if (st_ == FM_OK) st_ = (call);                                        \
        fm_cuda_leave(prev_);                                                  \
        return st_;                                                            \
    } while (0)

static fm_status cuda_count_new(fm_map *map, const void *keys, size_t n, uint64_t headroom,
                                uint64_t *new_out)
{
    WITH_DEVICE(map, fm_cuda_batch_count_new(map, keys, n, headroom, new_out));
}

static fm_status make_room(fm_map *map, uint64_t fresh)
{
    fm_cuda_table *t = &fm_cuda_of(map)->t;
    const uint64_t slots = t->v.mask + 1;
    uint64_t new_slots = 0;
    fm_status st = fm_room_plan(map, slots, t->live, t->tombstones, fresh, &new_slots);
    if (st != FM_OK || new_slots == 0) return st;
    if (new_slots == slots) return fm_cuda_table_rehash_in_place(map);
    if ((st = fm_cuda_table_resize(map, new_slots)) == FM_ERR_NOMEM)
        return fm_fail(map, FM_ERR_NOMEM, "cannot grow the table from %llu to %llu slots: %s",
                       (unsigned long long)slots, (unsigned long long)new_slots,
                       fm_error_detail(map->error));
    return st;
}

static fm_status cuda_make_room_for(fm_map *map, uint64_t fresh)
{
    WITH_DEVICE(map, make_room(map, fresh));
}

static fm_status cuda_prepare_write(fm_map *map, fm_write_kind kind, const void *keys, const void *data,
                                    size_t n)
{
    WITH_DEVICE(map, fm_cuda_batch_prepare(map, kind, keys, data, n));
}

static fm_status cuda_insert(fm_map *map, const void *keys, const void *values, size_t n,
                             unsigned flags)
{
    WITH_DEVICE(map, fm_cuda_batch_write(map, FM_WRITE_INSERT, keys, values, n, flags));
}

static fm_status cuda_add_u64(fm_map *map, const void *keys, const uint64_t *deltas, size_t n,
                              unsigned flags)
{
    WITH_DEVICE(map, fm_cuda_batch_write(map, FM_WRITE_ADD, keys, deltas, n, flags));
}

static fm_status cuda_remove(fm_map *map, const void *keys, size_t n, uint8_t *removed_out)
{
    WITH_DEVICE(map, fm_cuda_batch_write(map, FM_WRITE_REMOVE, keys, removed_out, n, 0));
}

static fm_status cuda_get(fm_map *map, const void *keys, size_t n, void *values_out,
                          uint8_t *found_out)
{
    WITH_DEVICE(map, fm_cuda_batch_get(map, keys, n, values_out, found_out));
}

static uint64_t cuda_size(fm_map *map) { return fm_cuda_of(map)->t.live; }

static fm_status cuda_clear(fm_map *map) { WITH_DEVICE(map, fm_cuda_table_clear(map)); }

/* fm_export into memory the kernels do not write: in rounds through the
 * device staging buffer. */
static fm_status export_via_stage(fm_map *map, uint64_t *cursor, uint8_t *keys_out,
                                  uint8_t *values_out, size_t max, size_t *n_out)
{
    fm_cuda_map *m = fm_cuda_of(map);
    const size_t ks = map->cfg.key_size, vs = values_out ? map->cfg.value_size : 0;
    const size_t widest = ks > vs ? ks : vs;
    const size_t want = max < FM_CUDA_STAGE_BYTES / widest ? max * widest : FM_CUDA_STAGE_BYTES;
    size_t bytes = 0;
    fm_status st = fm_cuda_stage_out_buffers(map, want, &bytes);
    if (st != FM_OK) return st;
    uint8_t *dev_keys = m->stage.dev_out[0];
    uint8_t *dev_values = m->stage.dev_out[1];
    const size_t round_max = bytes / widest;
    *n_out = 0;
    do {
        size_t take = max - *n_out < round_max ? max - *n_out : round_max, got = 0;
        if ((st = fm_cuda_table_export(map, cursor, dev_keys, vs ? dev_values : NULL, take, &got)) != FM_OK)
            return st;
        FM_CUDA(cudaMemcpyAsync(keys_out + *n_out * ks, dev_keys, got * ks, cudaMemcpyDefault, m->stream), fail);
        if (vs)
            FM_CUDA(cudaMemcpyAsync(values_out + *n_out * vs, dev_values, got * vs, cudaMemcpyDefault, m->stream),
                    fail);
        /* The staging buffer is reused by the next round. */
        FM_CUDA(cudaStreamSynchronize(m->stream), fail);
        *n_out += got;
    } while (*cursor != 0 && *n_out < max);
fail:
    return st;
}

/* Outputs in this device's memory are written by the export kernels
 * directly; any others (host memory, or another device's: a sharded map's
 * shards on several devices all export into the caller's one buffer) go
 * through the staging buffer. */
static fm_status export_entries(fm_map *map, uint64_t *cursor, void *keys_out, void *values_out,
                                size_t max, size_t *n_out)
{
    const int here = fm_cuda_of(map)->device;
    void *values = map->cfg.value_size ? values_out : NULL;
    if (fm_cuda_device_of(keys_out) == here && (!values || fm_cuda_device_of(values) == here))
        return fm_cuda_table_export(map, cursor, (uint8_t *)keys_out, (uint8_t *)values, max, n_out);
    return export_via_stage(map, cursor, (uint8_t *)keys_out, (uint8_t *)values, max, n_out);
}

static fm_status cuda_export(fm_map *map, uint64_t *cursor, void *keys_out, void *values_out,
                             size_t max, size_t *n_out)
{
    const fm_cuda_table *t = &fm_cuda_of(map)->t;
    if (*cursor > t->v.mask)
        return fm_fail(map, FM_ERR_INVALID, "cursor %llu is past the table's %llu slots",
                       (unsigned long long)*cursor, (unsigned long long)(t->v.mask + 1));
    WITH_DEVICE(map, export_entries(map, cursor, keys_out, values_out, max, n_out));
}

static fm_status stats(fm_map *map, fm_stats *out)
{
    const fm_cuda_table *t = &fm_cuda_of(map)->t;
    fm_status st = fm_cuda_table_longest_probe(map, &out->longest_probe);
    if (st != FM_OK) return st;
    out->size = t->live;
    out->slots = t->v.mask + 1;
    out->tombstones = t->tombstones;
    out->load_factor = (double)t->live / (double)out->slots;
    out->shards = 1;
    out->backend = FM_BACKEND_CUDA;
    return FM_OK;
}

static fm_status cuda_stats(fm_map *map, fm_stats *out) { WITH_DEVICE(map, stats(map, out)); }

/* ---- the caller's stream (flashmap_cuda.h) ---------------------------------- */

static fm_status set_stream(fm_map *map, cudaStream_t stream)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_status st = FM_OK;
    if (!stream) stream = m->own_stream;
    /* An event of the map's device cannot be recorded on another device's
     * stream: that is the check that the stream is the map's device's. */
    cudaError_t e = cudaEventRecord(m->stage.ready[0], stream);
    if (e != cudaSuccess) {
        (void)cudaGetLastError();
        return fm_fail(map, FM_ERR_INVALID, "fm_cuda_set_stream: the stream cannot be used with CUDA device %d "
                       "(another device's stream, or destroyed?): %s", m->device, cudaGetErrorString(e));
    }
    FM_CUDA(cudaStreamSynchronize(m->stream), fail); /* a get may still run on the old one */
    m->stream = stream;
fail:
    return st;
}

extern "C" fm_status fm_cuda_set_stream(fm_map *map, void *stream)
{
    if (!map) return fm_fail(NULL, FM_ERR_INVALID, "fm_cuda_set_stream: map is NULL");
    if (map->ops != &fm_cuda_backend)
        return map->backend == FM_BACKEND_CUDA
                   ? fm_fail(map, FM_ERR_UNSUPPORTED, "fm_cuda_set_stream: a sharded or MPI map takes no caller "
                             "stream (its shards may live on several devices); only a one-table CUDA map does")
                   : fm_fail(map, FM_ERR_INVALID, "fm_cuda_set_stream: not a CUDA map");
    fm_access_begin(map, FM_ACCESS_WRITE);
    int prev = -1;
    fm_status st = fm_cuda_enter(map, &prev);
    if (st == FM_OK) st = set_stream(map, (cudaStream_t)stream);
    fm_cuda_leave(prev);
    fm_access_end(map, FM_ACCESS_WRITE);
    return st;
}

extern "C" void *fm_cuda_get_stream(const fm_map *map)
{
    if (!map || map->ops != &fm_cuda_backend || !map->impl) return NULL;
    return (void *)((const fm_cuda_map *)map->impl)->stream;
}

extern "C" const fm_backend_ops fm_cuda_backend = {
    .name = "cuda",
    .collective = 0,
    .concurrent_reads = 0, /* gets share the map's streams and staging buffers */
    .agree = NULL,
    .async_ready = NULL,
    .create = cuda_create,
    .destroy = cuda_destroy,
    .headroom = cuda_headroom,
    .count_new = cuda_count_new,
    .make_room_for = cuda_make_room_for,
    .prepare_write = cuda_prepare_write,
    .insert = cuda_insert,
    .get = cuda_get,
    .remove = cuda_remove,
    .add_u64 = cuda_add_u64,
    .size = cuda_size,
    .clear = cuda_clear,
    .export_entries = cuda_export,
    .stats = cuda_stats,
    .keep_write = NULL, /* no tentative writes: writes count first */
    .undo_write = NULL,
    .probes_once = NULL,
};
