/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Bulk operations on a device table, chunk by chunk: one thread per key,
 * running the per-key steps of cuda/fm_cuda_keys.h. Removes, and inserts
 * whose keys repeat, group each chunk's keys first (fm_k_group, in a set
 * that stays in L2), then the acting occurrences write (fm_k_write), so the
 * result is the CPU backend's to the byte whatever the scheduling; inserts
 * try a single pass first (cuda_insert.cu), and add_u64 needs no grouping
 * (fm_k_add). Chunks run in batch order on one stream, so the rule holds
 * across chunks too. */
#include <stdlib.h>

#include "cuda/fm_cuda.h"
#include "cuda/fm_cuda_block.h"
#include "cuda/fm_cuda_keys.h"

__global__ void fm_k_group(const uint8_t *keys, size_t n, uint32_t ks, int kind, fm_cuda_dedup d, int last)
{
    const size_t i = fm_thread_index();
    if (i < n) fm_key_group(keys, i, ks, kind, &d, last);
}

/* Insert (data = values) or remove (data = removed_out, may be NULL): one
 * thread per occurrence, the acting one works. */
__global__ void fm_k_write(fm_table_view t, int kind, fm_write_kind op, const uint8_t *keys,
                           uint8_t *data, size_t n, fm_cuda_dedup d, fm_cuda_counts *c)
{
    const size_t i = fm_thread_index();
    fm_key_counts k = {0, 0, 0, 0, 0, 0, 0};
    if (i < n) {
        const int remove = op == FM_WRITE_REMOVE;
        const int acts = fm_key_acts(&d, i, !remove, &k);
        const uint8_t *key = keys + i * t.key_size;
        if (remove) {
            const unsigned hit = acts ? fm_key_remove(&t, kind, key, &k) : 0;
            if (data) data[i] = (uint8_t)hit;
        } else if (acts) {
            fm_key_write(&t, kind, key, data + i * t.value_size, &k);
        } else {
            k.repeated++; /* a later occurrence of the key acts */
        }
    }
    fm_block_counts(c, k);
}

/* add_u64 of every occurrence (deltas NULL: +1 each), no grouping. */
__global__ void fm_k_add(fm_table_view t, int kind, const uint8_t *keys, const unsigned long long *deltas,
                         size_t n, fm_cuda_counts *c)
{
    const size_t i = fm_thread_index();
    fm_key_counts k = {0, 0, 0, 0, 0, 0, 0};
    if (i < n) fm_key_add(&t, kind, keys + i * t.key_size, deltas ? deltas[i] : 1ull, &k);
    fm_block_counts(c, k);
}

/* Gets (values_out, found_out; either may be NULL) or, with count, the
 * absent keys, repeats included. */
__global__ void fm_k_read(fm_table_view t, int kind, const uint8_t *keys, size_t n, uint8_t *values_out,
                          uint8_t *found_out, int count, fm_cuda_counts *c)
{
    const size_t i = fm_thread_index();
    fm_key_counts k = {0, 0, 0, 0, 0, 0, 0};
    if (i < n)
        fm_key_get(&t, kind, keys + i * t.key_size, values_out ? values_out + i * t.value_size : NULL,
                   found_out ? found_out + i : NULL, count, &k);
    if (count) fm_block_counts(c, k); /* count is the same for the whole grid */
}

__global__ void fm_k_count_distinct(fm_table_view t, fm_table_view seen, int kind, const uint8_t *keys,
                                    size_t n, fm_cuda_dedup d, fm_cuda_counts *c)
{
    const size_t i = fm_thread_index();
    fm_key_counts k = {0, 0, 0, 0, 0, 0, 0};
    if (i < n && fm_key_acts(&d, i, 0, &k)) fm_key_count_distinct(&t, &seen, kind, keys + i * t.key_size, &k);
    fm_block_counts(c, k);
}

/* Key j of `samples` evenly spaced keys of the batch into out. */
__global__ void fm_k_sample(const uint8_t *keys, size_t n, size_t samples, uint32_t ks, uint8_t *out)
{
    const size_t j = fm_thread_index();
    if (j >= samples) return;
    const uint8_t *from = keys + (j * n / samples) * ks;
    for (uint32_t b = 0; b < ks; b++) out[j * ks + b] = from[b];
}

/* ---- host side ------------------------------------------------------------ */

void fm_cuda_dedup_release(fm_cuda_dedup *d)
{
    fm_cuda_free(d->set);
    fm_cuda_free(d->slot_of);
    memset(d, 0, sizeof *d);
}

/* Keys of one grouped chunk: FM_DEDUP_MAX_KEYS, or what
 * FLASHMAP_CUDA_GROUP_KEYS says (4096 .. FM_DEDUP_MAX_KEYS, read once): a
 * tuning knob for finding the chunk whose grouping set stays in a GPU's
 * L2 cache while the table's traffic passes through it (bench/gpu). */
static size_t group_keys(void)
{
    static size_t keys;
    size_t v = __atomic_load_n(&keys, __ATOMIC_RELAXED);
    if (!v) {
        const char *e = getenv("FLASHMAP_CUDA_GROUP_KEYS");
        v = e && *e ? (size_t)strtoull(e, NULL, 0) : FM_DEDUP_MAX_KEYS;
        if (v < 4096) v = 4096;
        if (v > FM_DEDUP_MAX_KEYS) v = FM_DEDUP_MAX_KEYS;
        __atomic_store_n(&keys, v, __ATOMIC_RELAXED);
    }
    return v;
}

/* Makes the grouping set hold a chunk of `keys` (at most group_keys()).
 * Grows only; FM_ERR_NOMEM leaves what was there. A new set starts at
 * epoch 0, so its first chunk clears it. */
static fm_status dedup_reserve(fm_map *map, size_t keys)
{
    fm_cuda_dedup *d = &fm_cuda_of(map)->dd;
    if (keys > group_keys()) keys = group_keys();
    const uint64_t slots = fm_dedup_slots(keys);
    fm_status st = FM_OK;
    if (slots > d->slots) {
        fm_dedup_slot *set = NULL;
        if ((st = fm_cuda_alloc(map, (void **)&set, slots * sizeof *set, "batch grouping")) != FM_OK) return st;
        fm_cuda_free(d->set);
        d->set = set;
        d->slots = slots;
        d->epoch = 0;
    }
    if (keys > d->keys) {
        unsigned *slot_of = NULL;
        if ((st = fm_cuda_alloc(map, (void **)&slot_of, keys * sizeof *slot_of, "batch grouping")) != FM_OK)
            return st;
        fm_cuda_free(d->slot_of);
        d->slot_of = slot_of;
        d->keys = keys;
    }
    return FM_OK;
}

/* What a chunk does (the ctx of every chunk function below). */
typedef struct batch_job {
    fm_write_kind kind; /* writes */
    fm_table_view seen; /* exact counts */
} batch_job;

/* Groups a chunk's keys (at most group_keys()) on the map's stream:
 * `last` picks which occurrence acts. No memset but once in 65535 chunks
 * (fm_dedup_next_epoch). */
static fm_status dedup_chunk(fm_map *map, const uint8_t *keys, size_t n, int last)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_cuda_dedup *d = &m->dd;
    fm_status st = dedup_reserve(map, n);
    if (st != FM_OK) return st;
    d->mask = fm_dedup_slots(n) - 1;
    if (fm_dedup_next_epoch(d)) FM_CUDA(cudaMemsetAsync(d->set, 0, d->slots * sizeof *d->set, m->stream), fail);
    FM_LAUNCH(fm_k_group, fm_cuda_grid(n), FM_CUDA_BLOCK, 0, m->stream)(keys, n, m->t.v.key_size, m->t.hash_kind,
            *d, last);
    FM_CUDA(cudaGetLastError(), fail);
fail:
    return st;
}

static fm_status write_chunk(fm_map *map, void *ctx, uint8_t *const *dev, size_t first, size_t n)
{
    (void)first;
    fm_cuda_map *m = fm_cuda_of(map);
    const fm_write_kind kind = ((batch_job *)ctx)->kind;
    const int phases = fm_cuda_phases_on();
    fm_status st = FM_OK;
    if (phases) fm_cuda_phase(map, 0);
    if (kind != FM_WRITE_ADD && (st = dedup_chunk(map, dev[0], n, kind == FM_WRITE_INSERT)) != FM_OK) return st;
    if (phases) fm_cuda_phase(map, 1);
    if (kind == FM_WRITE_ADD)
        FM_LAUNCH(fm_k_add, fm_cuda_grid(n), FM_CUDA_BLOCK, 0, m->stream)(m->t.v, m->t.hash_kind, dev[0],
                (const unsigned long long *)dev[1], n, m->counts);
    else
        FM_LAUNCH(fm_k_write, fm_cuda_grid(n), FM_CUDA_BLOCK, 0, m->stream)(m->t.v, m->t.hash_kind, kind, dev[0],
                dev[1], n, m->dd, m->counts);
    FM_CUDA(cudaGetLastError(), fail);
    if (phases) fm_cuda_phase(map, 2);
fail:
    return st;
}

/* Chunks that only read the table: gets (ctx NULL) or absent-key counts
 * (ctx non-NULL). */
static fm_status read_chunk(fm_map *map, void *ctx, uint8_t *const *dev, size_t first, size_t n)
{
    (void)first;
    fm_cuda_map *m = fm_cuda_of(map);
    fm_status st = FM_OK;
    FM_LAUNCH(fm_k_read, fm_cuda_grid(n), FM_CUDA_BLOCK, 0, m->stream)(
        m->t.v, m->t.hash_kind, dev[0], n, ctx ? NULL : dev[1], ctx ? NULL : dev[2], ctx != NULL, m->counts);
    FM_CUDA(cudaGetLastError(), fail);
fail:
    return st;
}

static fm_status count_distinct_chunk(fm_map *map, void *ctx, uint8_t *const *dev, size_t first, size_t n)
{
    (void)first;
    fm_cuda_map *m = fm_cuda_of(map);
    fm_status st = dedup_chunk(map, dev[0], n, 0);
    if (st != FM_OK) return st;
    FM_LAUNCH(fm_k_count_distinct, fm_cuda_grid(n), FM_CUDA_BLOCK, 0, m->stream)(
        m->t.v, ((batch_job *)ctx)->seen, m->t.hash_kind, dev[0], n, m->dd, m->counts);
    FM_CUDA(cudaGetLastError(), fail);
fail:
    return st;
}

/* Plans the batch (chunks of at most group_keys() when `grouped`),
 * zeroes the counters, streams it through fn and reads the counters back
 * into *out. out NULL (gets): no counters, and on the caller's stream
 * (fm_cuda_set_stream) with every array in device memory nothing waits. */
static fm_status run_batch(fm_map *map, const fm_cuda_array *arrays, int count, size_t n, int grouped,
                           fm_cuda_chunk_fn fn, void *ctx, fm_cuda_counts *out)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_cuda_plan plan;
    fm_status st = fm_cuda_plan_batch(map, &plan, arrays, count, n);
    if (st != FM_OK) return st;
    if (grouped && plan.chunk > group_keys()) plan.chunk = group_keys();
    if (out) FM_CUDA(cudaMemsetAsync(m->counts, 0, sizeof *m->counts, m->stream), fail);
    if ((st = fm_cuda_stream_batch(map, &plan, fn, ctx, out != NULL)) != FM_OK) return st;
    if (!out) return FM_OK;
    FM_CUDA(cudaMemcpyAsync(m->counts_host, m->counts, sizeof *out, cudaMemcpyDeviceToHost, m->stream), fail);
    FM_CUDA(cudaStreamSynchronize(m->stream), fail);
    *out = *m->counts_host;
fail:
    return st;
}

fm_status fm_cuda_batch_get(fm_map *map, const void *keys, size_t n, void *values_out,
                            uint8_t *found_out)
{
    const fm_cuda_array arrays[3] = {{keys, map->cfg.key_size, 0},
                                     {values_out, map->cfg.value_size, 1},
                                     {found_out, 1, 1}};
    return run_batch(map, arrays, 3, n, 0, read_chunk, NULL, NULL);
}

fm_status fm_cuda_batch_count_new(fm_map *map, const void *keys, size_t n, uint64_t headroom,
                                  uint64_t *new_out)
{
    const fm_cuda_array arrays[1] = {{keys, map->cfg.key_size, 0}};
    fm_cuda_counts counts;
    memset(&counts, 0, sizeof counts);
    int count_absent = 1;
    fm_status st = run_batch(map, arrays, 1, n, 0, read_chunk, &count_absent, &counts);
    if (st != FM_OK) return st;
    if (counts.counted <= headroom) {
        *new_out = counts.counted;
        return FM_OK;
    }
    return fm_cuda_count_distinct(map, keys, n, counts.counted, new_out);
}

fm_status fm_cuda_count_distinct(fm_map *map, const void *keys, size_t n, uint64_t absent, uint64_t *new_out)
{
    fm_cuda_map *m = fm_cuda_of(map);
    const fm_cuda_array arrays[1] = {{keys, map->cfg.key_size, 0}};
    fm_cuda_counts counts;
    memset(&counts, 0, sizeof counts);
    fm_status st = FM_OK;
    /* Repeats may be what passes headroom: count distinct keys in a set of
     * `cap` keys at most. A fixed map only needs to know whether they pass
     * its capacity; a growing map's set takes at most half of the free
     * device memory (a batch of 10^10 occurrences of 10^8 k-mers must not
     * need a set for 10^10). The set is scratch from the pool. */
    uint64_t enough = absent;
    if (map->cfg.flags & FM_FIXED_CAPACITY) {
        const uint64_t room = map->cfg.capacity > m->t.live ? map->cfg.capacity - m->t.live : 0;
        if (room + 1 < enough) enough = room + 1;
    }
    uint64_t cap = enough;
    size_t free_bytes = 0, total_bytes = 0;
    if (!(map->cfg.flags & FM_FIXED_CAPACITY) && cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
        const uint64_t fits = free_bytes / 2 / (2 * (4 + (uint64_t)map->cfg.key_size));
        if (fits < cap) cap = fits > 1024 ? fits : 1024;
    }
    (void)cudaGetLastError();
    uint64_t slots = 16;
    while (slots < 2 * cap) slots <<= 1;
    batch_job job;
    memset(&job, 0, sizeof job);
    job.seen.mask = slots - 1;
    job.seen.log2_slots = 4;
    while (((uint64_t)1 << job.seen.log2_slots) < slots) job.seen.log2_slots++;
    job.seen.key_size = map->cfg.key_size;
    job.seen.spread = 1; /* placed by the table's hash (fm_key_count_distinct) */
    if ((st = fm_cuda_scratch(map, (void **)&job.seen.tags, slots * sizeof(uint32_t), "counting new keys",
                              m->stream)) != FM_OK)
        goto fail;
    if ((st = fm_cuda_scratch(map, (void **)&job.seen.keys, slots * map->cfg.key_size, "counting new keys",
                              m->stream)) != FM_OK)
        goto free_tags;
    FM_CUDA(cudaMemsetAsync(job.seen.tags, 0, slots * sizeof(uint32_t), m->stream), free_keys);
    if ((st = run_batch(map, arrays, 1, n, 1, count_distinct_chunk, &job, &counts)) == FM_OK)
        /* Up to cap the count is exact (the set is at most half full);
         * beyond it, all that is known is "more than cap": enough stands
         * for that (a fixed map: more than it has room for; a growing map:
         * every absent occurrence, a bound that is never too small). */
        *new_out = counts.counted <= cap || cap == enough ? counts.counted : enough;
free_keys:
    fm_cuda_scratch_free(job.seen.keys, m->stream);
free_tags:
    fm_cuda_scratch_free(job.seen.tags, m->stream);
fail:
    if (st == FM_ERR_NOMEM && !(map->cfg.flags & FM_FIXED_CAPACITY)) {
        /* No room to count exactly: size the growth for every absent
         * occurrence instead (more slots than needed, never too few). */
        *new_out = enough;
        st = FM_OK;
    }
    return st;
}

static void write_arrays(fm_map *map, fm_write_kind kind, const void *keys, const void *data,
                         fm_cuda_array arrays[2])
{
    arrays[0] = fm_cuda_array{keys, map->cfg.key_size, 0};
    arrays[1] = fm_cuda_array{data, 0, 0};
    switch (kind) {
    case FM_WRITE_INSERT: arrays[1].elem = map->cfg.value_size; break;
    case FM_WRITE_ADD: arrays[1].elem = sizeof(uint64_t); break;
    case FM_WRITE_REMOVE: arrays[1].elem = 1; arrays[1].out = 1; break;
    }
}

/* Everything a write needs is allocated before the table changes: the
 * staging buffers (by the plan) and, for grouped writes (and the exact
 * count of new keys an insert may run), the grouping set for a chunk. Both
 * only grow, so a later plan for as many keys or fewer allocates nothing. */
fm_status fm_cuda_batch_prepare(fm_map *map, fm_write_kind kind, const void *keys, const void *data, size_t n)
{
    fm_cuda_array arrays[2];
    write_arrays(map, kind, keys, data, arrays);
    fm_cuda_plan plan;
    fm_status st = fm_cuda_plan_batch(map, &plan, arrays, 2, n);
    if (st == FM_OK) st = dedup_reserve(map, plan.chunk);
    return st;
}

/* Keys sampled before an insert that passes the headroom. */
#define FM_CUDA_SAMPLE_KEYS 256

/* An insert past the headroom of a growing map: when at least half of an
 * evenly spaced sample of its keys is absent, the table grows for the
 * whole batch at once (at most twice the room the new keys need), so no
 * pass over the batch counts them first. Otherwise, or when there is no
 * memory for that much room, nothing changes and the exact count runs. */
static fm_status grow_for_mostly_new(fm_map *map, const void *keys, size_t n)
{
    fm_cuda_map *m = fm_cuda_of(map);
    const uint32_t ks = map->cfg.key_size;
    const size_t samples = n < FM_CUDA_SAMPLE_KEYS ? n : FM_CUDA_SAMPLE_KEYS;
    uint8_t host[FM_CUDA_SAMPLE_KEYS * 64];
    void *sample = NULL;
    uint64_t absent = 0;
    fm_status st = FM_OK;
    if (!fm_cuda_is_device_pointer(keys)) {
        if ((size_t)ks * samples > sizeof host) return FM_OK; /* long keys: count exactly */
        for (size_t j = 0; j < samples; j++) memcpy(host + j * ks, (const uint8_t *)keys + (j * n / samples) * ks, ks);
        sample = host;
    } else {
        if ((st = fm_cuda_scratch(map, &sample, samples * ks, "sampling an insert", m->stream)) != FM_OK) return st;
        FM_LAUNCH(fm_k_sample, fm_cuda_grid(samples), FM_CUDA_BLOCK, 0, m->stream)((const uint8_t *)keys, n,
                samples, ks, (uint8_t *)sample);
        FM_CUDA(cudaGetLastError(), done);
    }
    if ((st = fm_cuda_batch_count_new(map, sample, samples, samples, &absent)) == FM_OK && 2 * absent >= samples) {
        const fm_status grown = map->ops->make_room_for(map, n);
        if (grown != FM_ERR_NOMEM) st = grown; /* no room for the whole batch: the exact count decides */
    }
done:
    if (sample != host) fm_cuda_scratch_free(sample, m->stream);
    return st;
}

/* What a write's counters say about the table: live entries and
 * tombstones, and FM_ERR_DEVICE when a key found no slot. */
static fm_status apply_counts(fm_map *map, const fm_cuda_counts *c)
{
    fm_cuda_table *t = &fm_cuda_of(map)->t;
    t->live += c->claimed;
    t->live -= c->removed;
    t->tombstones -= c->from_tombstones;
    t->tombstones += c->tombstones_left;
    if (c->lost) return fm_fail(map, FM_ERR_DEVICE, "%llu keys found no free slot (internal error)", c->lost);
    return FM_OK;
}

fm_status fm_cuda_batch_write(fm_map *map, fm_write_kind kind, const void *keys, const void *data,
                              size_t n, unsigned write_flags)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_cuda_array arrays[2];
    write_arrays(map, kind, keys, data, arrays);
    fm_status st = fm_cuda_batch_prepare(map, kind, keys, data, n);
    if (st != FM_OK) return st;
    if (kind == FM_WRITE_ADD && !(write_flags & FM_WRITE_ROOM_MADE) && n > map->ops->headroom(map)) {
        int done = 0; /* adds to present keys first, room for the others (cuda_add.cu) */
        if ((st = fm_cuda_add_found_first(map, keys, data, n, &done)) != FM_OK || done) return st;
    }
    if (kind == FM_WRITE_INSERT && !(write_flags & FM_WRITE_ROOM_MADE) && !(map->cfg.flags & FM_FIXED_CAPACITY) &&
        n > map->ops->headroom(map) && (st = grow_for_mostly_new(map, keys, n)) != FM_OK)
        return st;
    if (kind != FM_WRITE_REMOVE && !(write_flags & FM_WRITE_ROOM_MADE) &&
        (st = fm_reserve_batch(map, keys, n)) != FM_OK)
        return st;
    batch_job job;
    memset(&job, 0, sizeof job);
    job.kind = kind;
    fm_cuda_counts counts;
    memset(&counts, 0, sizeof counts);
    const int once = kind == FM_WRITE_INSERT && fm_cuda_insert_once_ready(map, n);
    if (once) { /* one pass; again grouped where keys repeat (cuda_insert.cu) */
        if ((st = run_batch(map, arrays, 2, n, 0, fm_cuda_insert_once_chunk, NULL, &counts)) != FM_OK) return st;
        if (fm_cuda_phases_on()) fm_cuda_phases_report("insert once", n);
        m->insert_repeats = counts.repeated != 0;
        if ((st = apply_counts(map, &counts)) != FM_OK || !m->insert_repeats) return st;
        memset(&counts, 0, sizeof counts);
    }
    if ((st = run_batch(map, arrays, 2, n, kind != FM_WRITE_ADD, write_chunk, &job, &counts)) != FM_OK) return st;
    if (fm_cuda_phases_on())
        fm_cuda_phases_report(kind == FM_WRITE_INSERT ? "insert" : kind == FM_WRITE_ADD ? "add_u64" : "remove", n);
    if (kind == FM_WRITE_INSERT) m->insert_repeats = counts.repeated != 0;
    return apply_counts(map, &counts);
}
