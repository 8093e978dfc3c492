/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* A map of several shards in one process (cfg.shards > 1). Every batch is
 * routed by hash to the owning shards; each shard runs its own backend's
 * operation on its part; results go back to the caller's order. Writes
 * reserve room on every shard before any shard changes, so a failed batch
 * leaves the whole map as it was.
 *
 * Shards are CPU tables, or CUDA tables on the devices of cfg.devices
 * (NULL: round robin over the visible devices from cfg.device, or from 0).
 * Several shards may share a device. Host batches are routed on the host.
 * A batch of CUDA shards whose buffers are all device memory of one device
 * (keys, and the payload and outputs it passes) is routed on that device
 * (shard/fm_device_route.h) and never leaves the GPUs. Any other mix (device
 * keys with host outputs, managed memory, buffers on two devices) is
 * staged through host memory and routed on the host: one simple fallback
 * for the rare mixed case instead of a route for every combination. CPU
 * shards run one after another (each uses every thread); CUDA shards run
 * side by side, one host thread each, every shard on its own streams. */
#include <stdlib.h>
#include <string.h>

#include "api/fm_alloc.h"
#include "api/fm_map.h"
#include "shard/fm_device_route.h"
#include "shard/fm_parts.h"
#include "shard/fm_route.h"
#include "shard/fm_stage.h"

typedef struct sharded {
    uint32_t count;
    fm_map **shard;
    int *device; /* CUDA shards: each shard's device */
} sharded;

static sharded *sharded_of(fm_map *map) { return (sharded *)map->impl; }

static void sharded_destroy(fm_map *map)
{
    sharded *s = sharded_of(map);
    if (!s) return;
    for (uint32_t i = 0; s->shard && i < s->count; i++) {
        if (!s->shard[i]) continue;
        if (s->shard[i]->impl) s->shard[i]->ops->destroy(s->shard[i]);
        free(s->shard[i]);
    }
    free(s->shard);
    fm_free(s->device);
    free(s);
    map->impl = NULL;
}

static fm_status sharded_create(fm_map *map)
{
    const fm_config *cfg = &map->cfg;
    sharded *s = fm_calloc(1, sizeof *s);
    if (!s) return fm_fail(map, FM_ERR_NOMEM, "no memory for the shard list");
    map->impl = s;
    const uint32_t count = (uint32_t)cfg->shards;
    s->count = count;
    s->shard = fm_calloc(count, sizeof *s->shard);
    s->device = fm_calloc(count, sizeof *s->device);
    if (!s->shard || !s->device) {
        sharded_destroy(map);
        return fm_fail(map, FM_ERR_NOMEM, "no memory for %u shards", count);
    }
    for (uint32_t i = 0; i < s->count; i++) {
        fm_map *part = fm_calloc(1, sizeof *part);
        if (!part) {
            sharded_destroy(map);
            return fm_fail(map, FM_ERR_NOMEM, "no memory for shard %u", i);
        }
        s->shard[i] = part;
        part->cfg = *cfg;
        part->cfg.shards = 1;
        part->cfg.devices = NULL;
        /* An even share of the capacity; fixed: plus headroom (fm_parts.h). */
        fm_part_config(&part->cfg, cfg, s->count);
        part->backend = map->backend;
        part->spread = fm_map_spread(map) * count; /* the tables see 1/count of this map's hash range */
        part->ops = map->backend == FM_BACKEND_CUDA ? &fm_cuda_backend : &fm_cpu_backend;
        if (map->backend == FM_BACKEND_CUDA) {
            const int devices = fm_cuda_device_count();
            const int first = cfg->device >= 0 ? cfg->device : 0;
            part->cfg.device = cfg->devices ? cfg->devices[i] : devices > 0 ? (first + (int)i) % devices : first;
            s->device[i] = part->cfg.device;
            if (cfg->devices && (cfg->devices[i] < 0 || cfg->devices[i] >= devices)) {
                sharded_destroy(map);
                return fm_fail(map, FM_ERR_INVALID, "cfg->devices[%u] is %d; this process sees %d CUDA device(s)", i,
                               cfg->devices[i], devices);
            }
        }
        fm_status st = part->ops->create(part);
        if (st != FM_OK) {
            fm_fail(map, st, "shard %u: %s", i, fm_error_detail(part->error));
            sharded_destroy(map);
            return st;
        }
    }
    return FM_OK;
}


static fm_status route_or_fail(fm_map *map, fm_route *r, const void *keys, size_t n)
{
    if (fm_route_build(r, keys, n, map->cfg.key_size, (int)map->cfg.hash, fm_map_spread(map),
                       sharded_of(map)->count, map->cfg.threads) != FM_OK)
        return fm_fail(map, FM_ERR_NOMEM, "no memory to route a batch of %zu keys to shards", n);
    return FM_OK;
}

/* One step of a bulk call on one shard's part of a routed batch. */
typedef enum shard_step {
    STEP_RESERVE,
    STEP_PREPARE,
    STEP_COUNT,
    STEP_MAKE_ROOM,
    STEP_INSERT,
    STEP_ADD,
    STEP_INSERT_TENTATIVE,
    STEP_ADD_TENTATIVE,
    STEP_GET,
    STEP_REMOVE
} shard_step;
typedef struct step_args {
    shard_step write;        /* STEP_RESERVE, STEP_PREPARE: the write they ready every shard for */
    const uint64_t *start;   /* shard i's run: routed positions start[i] .. start[i + 1] */
    const uint8_t *keys;     /* routed order (host route) */
    const uint8_t *payload;  /* insert values or add deltas, routed order */
    size_t record;           /* bytes of payload per key */
    uint8_t *values, *flags; /* get / remove results, routed order */
    const fm_device_route *dev; /* device route: every shard's own run instead */
    uint64_t *fresh;         /* STEP_COUNT, STEP_MAKE_ROOM: each shard's new keys */
} step_args;

static size_t part_size(const step_args *a, uint32_t i) { return (size_t)(a->start[i + 1] - a->start[i]); }

/* The shard's prepare_write for the coming write step: a shard that must
 * allocate (a CUDA shard's staging buffers) does so before any shard
 * changes, so that no failure leaves some shards written and some not. */
static fm_status prepare(fm_map *shard, shard_step write, const uint8_t *k, const uint8_t *p, uint8_t *f, size_t len)
{
    if (!shard->ops->prepare_write) return FM_OK;
    switch (write) {
    case STEP_INSERT: return shard->ops->prepare_write(shard, FM_WRITE_INSERT, k, p, len);
    case STEP_ADD: return shard->ops->prepare_write(shard, FM_WRITE_ADD, k, p, len);
    case STEP_REMOVE: return shard->ops->prepare_write(shard, FM_WRITE_REMOVE, k, f, len);
    default: return FM_OK;
    }
}

static fm_status step_one(fm_map *map, uint32_t i, shard_step step, const step_args *a)
{
    fm_map *shard = sharded_of(map)->shard[i];
    const size_t at = (size_t)a->start[i], len = part_size(a, i);
    const uint32_t vs = map->cfg.value_size;
    const fm_device_route *d = a->dev;
    const uint8_t *k = d ? d->keys[i] : a->keys ? a->keys + at * map->cfg.key_size : NULL;
    const uint8_t *p = d ? d->payload[i] : a->payload ? a->payload + at * a->record : NULL;
    uint8_t *v = d ? d->values[i] : vs && a->values ? a->values + at * vs : NULL;
    uint8_t *f = d ? d->flags[i] : a->flags ? a->flags + at : NULL;
    switch (step) {
    case STEP_RESERVE: {
        const fm_status st = prepare(shard, a->write, k, p, f, len);
        return st != FM_OK ? st : fm_reserve_batch(shard, k, len);
    }
    case STEP_PREPARE: return prepare(shard, a->write, k, p, f, len);
    case STEP_COUNT: return shard->ops->count_new(shard, k, len, 0, &a->fresh[i]);
    case STEP_MAKE_ROOM: {
        if (a->fresh[i] <= shard->ops->headroom(shard)) return FM_OK;
        const fm_status st = shard->ops->make_room_for(shard, a->fresh[i]);
        if (st == FM_ERR_FULL)
            fm_fail(shard, st, "its table is full (%s): its keys fall unevenly, past the headroom of its share",
                    fm_error_detail(shard->error));
        return st;
    }
    case STEP_INSERT: return shard->ops->insert(shard, k, p, len, FM_WRITE_ROOM_MADE);
    case STEP_ADD: return shard->ops->add_u64(shard, k, (const uint64_t *)p, len, FM_WRITE_ROOM_MADE);
    case STEP_INSERT_TENTATIVE: return shard->ops->insert(shard, k, p, len, FM_WRITE_TENTATIVE);
    case STEP_ADD_TENTATIVE: return shard->ops->add_u64(shard, k, (const uint64_t *)p, len, FM_WRITE_TENTATIVE);
    case STEP_GET: return shard->ops->get(shard, k, len, v, f);
    case STEP_REMOVE: return shard->ops->remove(shard, k, len, f);
    }
    return FM_ERR_INVALID;
}

/* CUDA shards run side by side. FLASHMAP_TEST_SHARDS_SIDE_BY_SIDE=1 makes
 * CPU shards do the same (each then on one thread), so that CPU-only test
 * machines run this path too. */
static int side_by_side(const fm_map *map)
{
    if (sharded_of((fm_map *)map)->count < 2) return 0;
    if (map->backend == FM_BACKEND_CUDA) return 1;
    const char *test = getenv("FLASHMAP_TEST_SHARDS_SIDE_BY_SIDE");
    return test && *test == '1';
}

/* Runs a step on every shard that has keys in the batch. On failure the
 * lowest failing shard's status and message are the map's. (CPU shards
 * stop at the first failure; CUDA shards all finish their step.) */
static fm_status each_shard(fm_map *map, shard_step step, const step_args *a)
{
    sharded *s = sharded_of(map);
    fm_status *st = NULL;
    if (side_by_side(map)) st = fm_calloc(s->count, sizeof *st);
    if (st) {
        const int count = (int)s->count;
#pragma omp parallel for schedule(dynamic, 1) num_threads(count < 64 ? count : 64)
        for (int i = 0; i < count; i++)
            if (part_size(a, (uint32_t)i) > 0) st[i] = step_one(map, (uint32_t)i, step, a);
    }
    fm_status first = FM_OK;
    for (uint32_t i = 0; i < s->count && first == FM_OK; i++) {
        if (part_size(a, i) == 0) continue;
        first = st ? st[i] : step_one(map, i, step, a);
        if (first != FM_OK) fm_fail(map, first, "shard %u: %s", i, fm_error_detail(s->shard[i]->error));
    }
    fm_free(st);
    return first;
}

/* A fixed map's capacity is the whole map's: the batch's new keys, counted
 * on every shard unless the map has room for all n, must fit it in total,
 * and each shard's table must take its own (fm_parts.h). Nothing changes
 * on failure (a shard may clear its tombstones). */
static fm_status reserve_fixed(fm_map *map, const step_args *a)
{
    sharded *s = sharded_of(map);
    fm_status st = each_shard(map, STEP_PREPARE, a);
    if (st != FM_OK) return st;
    uint64_t live = 0, n = 0;
    int roomy = 1;
    for (uint32_t i = 0; i < s->count; i++) {
        live += s->shard[i]->ops->size(s->shard[i]);
        n += part_size(a, i);
        roomy = roomy && part_size(a, i) <= s->shard[i]->ops->headroom(s->shard[i]);
    }
    if (roomy && live + n <= map->cfg.capacity) return FM_OK; /* even if every key is new */
    uint64_t *fresh = fm_calloc(s->count, sizeof *fresh);
    if (!fresh) return fm_fail(map, FM_ERR_NOMEM, "no memory to count new keys on %u shards", s->count);
    step_args counted = *a;
    counted.fresh = fresh;
    uint64_t total = 0;
    if ((st = each_shard(map, STEP_COUNT, &counted)) == FM_OK) {
        for (uint32_t i = 0; i < s->count; i++) total += fresh[i];
        st = live + total > map->cfg.capacity ? fm_parts_full(map, live, total)
                                               : each_shard(map, STEP_MAKE_ROOM, &counted);
    }
    fm_free(fresh);
    return st;
}

/* Room on every shard for a write, before any shard changes. */
static fm_status reserve(fm_map *map, const step_args *a)
{
    if (map->cfg.flags & FM_FIXED_CAPACITY) return reserve_fixed(map, a);
    return each_shard(map, STEP_RESERVE, a);
}

/* Writes every shard's part tentatively and keeps them all, or undoes them
 * all when one fails. FM_ERR_FULL (nothing changed) when the batch must
 * take the counting steps instead: some shard cannot write tentatively,
 * every shard has room already (counting is then free), or one ran out of
 * room. */
static fm_status write_tentatively(fm_map *map, const step_args *a, int adding)
{
    sharded *s = sharded_of(map);
    int needs_room = 0;
    if (map->cfg.flags & FM_FIXED_CAPACITY) return FM_ERR_FULL; /* its capacity is checked by counting */
    for (uint32_t i = 0; i < s->count; i++) {
        fm_map *shard = s->shard[i];
        if (!fm_write_tentative_ok(shard)) return FM_ERR_FULL;
        needs_room |= part_size(a, i) > shard->ops->headroom(shard);
    }
    if (!needs_room) return FM_ERR_FULL; /* the counting steps cost nothing */
    const fm_status st = each_shard(map, adding ? STEP_ADD_TENTATIVE : STEP_INSERT_TENTATIVE, a);
    for (uint32_t i = 0; i < s->count; i++) {
        if (part_size(a, i) == 0) continue;
        fm_map *shard = s->shard[i];
        if (st == FM_OK)
            shard->ops->keep_write(shard);
        else
            shard->ops->undo_write(shard); /* nothing to undo where it failed or did not run */
    }
    return st;
}

/* Insert or add: route, reserve on every shard, then write every shard. */
static fm_status sharded_write_host(fm_map *map, const void *keys, const void *payload, size_t n, int adding)
{
    const size_t record = adding ? sizeof(uint64_t) : map->cfg.value_size;
    fm_route r;
    fm_status st = route_or_fail(map, &r, keys, n);
    if (st != FM_OK) return st;
    uint8_t *routed = NULL;
    if (payload && record) {
        routed = fm_alloc(n * record);
        if (!routed) {
            st = fm_fail(map, FM_ERR_NOMEM, "no memory to route the values of %zu keys", n);
            goto free_route;
        }
        fm_route_gather(&r, routed, payload, record, map->cfg.threads);
    }
    const step_args a = {.write = adding ? STEP_ADD : STEP_INSERT, .start = r.part.start, .keys = r.keys,
                         .payload = routed, .record = record};
    /* Where some shard may lack room and every shard takes tentative
     * writes: one probe per key, kept only when every shard fitted. */
    st = write_tentatively(map, &a, adding);
    if (st != FM_ERR_FULL) goto free_routed;
    /* Room on every shard first; with room made the writes cannot fail
     * (except on a device error). */
    st = reserve(map, &a);
    if (st == FM_OK) st = each_shard(map, adding ? STEP_ADD : STEP_INSERT, &a);
free_routed:
    fm_free(routed);
free_route:
    fm_route_free(&r);
    return st;
}

/* A whole bulk call on the device route: route, then (writes) reserve on
 * every shard before any shard changes, as on the host route, then the
 * step, then (reads, removes) the results back in batch order. */
static fm_status sharded_device(fm_map *map, const fm_device_batch *b, shard_step step)
{
    sharded *s = sharded_of(map);
    fm_device_route dr;
    fm_status st = fm_device_route_build(map, &dr, b, s->device, s->count);
    if (st != FM_OK) return st;
    const step_args a = {.write = step, .start = dr.start, .dev = &dr};
    if (step == STEP_INSERT || step == STEP_ADD) st = reserve(map, &a);
    else if (step == STEP_REMOVE) st = each_shard(map, STEP_PREPARE, &a);
    if (st == FM_OK) st = each_shard(map, step, &a);
    if (st == FM_OK && (step == STEP_GET || step == STEP_REMOVE)) st = fm_device_route_finish(map, &dr, b);
    fm_device_route_free(&dr);
    return st;
}

static fm_status sharded_write(fm_map *map, const void *keys, const void *values,
                               const uint64_t *deltas, size_t n, int adding)
{
    const size_t record = adding ? sizeof(uint64_t) : map->cfg.value_size;
    const void *payload = adding ? (const void *)deltas : values;
    fm_device_batch db;
    if (fm_device_batch_of(map, &db, keys, payload, record, NULL, NULL, n))
        return sharded_device(map, &db, adding ? STEP_ADD : STEP_INSERT);
    fm_stage sg;
    fm_status st = fm_stage_in(map, &sg, keys, n * map->cfg.key_size, payload, payload ? n * record : 0, NULL, 0,
                               NULL, 0);
    if (st == FM_OK) st = sharded_write_host(map, sg.keys, sg.payload, n, adding);
    fm_stage_free(&sg);
    return st;
}

static fm_status sharded_insert(fm_map *map, const void *keys, const void *values, size_t n,
                                unsigned flags)
{
    (void)flags;
    return sharded_write(map, keys, values, NULL, n, 0);
}

static fm_status sharded_add_u64(fm_map *map, const void *keys, const uint64_t *deltas, size_t n,
                                 unsigned flags)
{
    (void)flags;
    return sharded_write(map, keys, NULL, deltas, n, 1);
}

static fm_status sharded_get_host(fm_map *map, const void *keys, size_t n, void *values_out,
                                  uint8_t *found_out)
{
    const uint32_t vs = map->cfg.value_size;
    fm_route r;
    fm_status st = route_or_fail(map, &r, keys, n);
    if (st != FM_OK) return st;
    uint8_t *values = vs ? fm_alloc(n * vs) : NULL;
    uint8_t *found = fm_alloc(n);
    if ((vs && !values) || !found) {
        st = fm_fail(map, FM_ERR_NOMEM, "no memory for the results of %zu lookups", n);
        goto free_all;
    }
    const step_args a = {.start = r.part.start, .keys = r.keys, .values = values, .flags = found};
    if ((st = each_shard(map, STEP_GET, &a)) != FM_OK) goto free_all;
    if (vs) fm_route_scatter(&r, values_out, values, vs, map->cfg.threads);
    if (found_out) fm_route_scatter(&r, found_out, found, 1, map->cfg.threads);
free_all:
    fm_free(values);
    fm_free(found);
    fm_route_free(&r);
    return st;
}

static fm_status sharded_get(fm_map *map, const void *keys, size_t n, void *values_out,
                             uint8_t *found_out)
{
    const size_t vs = map->cfg.value_size;
    fm_device_batch db;
    if (fm_device_batch_of(map, &db, keys, NULL, 0, values_out, found_out, n)) return sharded_device(map, &db, STEP_GET);
    fm_stage sg;
    fm_status st = fm_stage_in(map, &sg, keys, n * map->cfg.key_size, NULL, 0, values_out, values_out ? n * vs : 0,
                               found_out, n);
    if (st == FM_OK) st = sharded_get_host(map, sg.keys, n, sg.values_out, sg.flags_out);
    if (st == FM_OK) st = fm_stage_out(map, &sg);
    fm_stage_free(&sg);
    return st;
}

static fm_status sharded_remove_host(fm_map *map, const void *keys, size_t n, uint8_t *removed_out)
{
    fm_route r;
    fm_status st = route_or_fail(map, &r, keys, n);
    if (st != FM_OK) return st;
    uint8_t *removed = fm_alloc(n);
    if (!removed) {
        st = fm_fail(map, FM_ERR_NOMEM, "no memory for the results of %zu removals", n);
        goto free_route;
    }
    /* Removal cannot fail once every shard is prepared (but for a device
     * error): no shard is left half done. */
    const step_args a = {.write = STEP_REMOVE, .start = r.part.start, .keys = r.keys, .flags = removed};
    if ((st = each_shard(map, STEP_PREPARE, &a)) != FM_OK || (st = each_shard(map, STEP_REMOVE, &a)) != FM_OK)
        goto free_removed;
    if (removed_out) fm_route_scatter(&r, removed_out, removed, 1, map->cfg.threads);
free_removed:
    fm_free(removed);
free_route:
    fm_route_free(&r);
    return st;
}

static fm_status sharded_remove(fm_map *map, const void *keys, size_t n, uint8_t *removed_out)
{
    fm_device_batch db;
    if (fm_device_batch_of(map, &db, keys, NULL, 0, NULL, removed_out, n)) return sharded_device(map, &db, STEP_REMOVE);
    fm_stage sg;
    fm_status st = fm_stage_in(map, &sg, keys, n * map->cfg.key_size, NULL, 0, NULL, 0, removed_out, n);
    if (st == FM_OK) st = sharded_remove_host(map, sg.keys, n, sg.flags_out);
    if (st == FM_OK) st = fm_stage_out(map, &sg);
    fm_stage_free(&sg);
    return st;
}

static uint64_t sharded_size(fm_map *map)
{
    sharded *s = sharded_of(map);
    uint64_t total = 0;
    for (uint32_t i = 0; i < s->count; i++) total += s->shard[i]->ops->size(s->shard[i]);
    return total;
}

static fm_status sharded_clear(fm_map *map)
{
    sharded *s = sharded_of(map);
    for (uint32_t i = 0; i < s->count; i++) {
        fm_status st = s->shard[i]->ops->clear(s->shard[i]);
        if (st != FM_OK) return fm_fail(map, st, "shard %u: %s", i, fm_error_detail(s->shard[i]->error));
    }
    return FM_OK;
}

/* The cursor holds the shard in its top 16 bits and that shard's own
 * cursor below. */
#define FM_CURSOR_SHARD_SHIFT 48

static fm_status sharded_export(fm_map *map, uint64_t *cursor, void *keys_out, void *values_out,
                                size_t max, size_t *n_out)
{
    sharded *s = sharded_of(map);
    const uint32_t ks = map->cfg.key_size, vs = map->cfg.value_size;
    uint32_t i = (uint32_t)(*cursor >> FM_CURSOR_SHARD_SHIFT);
    uint64_t inner = *cursor & (((uint64_t)1 << FM_CURSOR_SHARD_SHIFT) - 1);
    if (i >= s->count)
        return fm_fail(map, FM_ERR_INVALID, "fm_export: cursor names shard %u of %u", i, s->count);
    size_t total = 0;
    while (i < s->count && total < max) {
        size_t got = 0;
        fm_status st = s->shard[i]->ops->export_entries(
            s->shard[i], &inner, (uint8_t *)keys_out + total * ks,
            values_out && vs ? (uint8_t *)values_out + total * vs : values_out, max - total, &got);
        if (st != FM_OK) return fm_fail(map, st, "shard %u: %s", i, fm_error_detail(s->shard[i]->error));
        total += got;
        if (inner == 0) i++; /* that shard is done */
    }
    *n_out = total;
    *cursor = i >= s->count ? 0 : ((uint64_t)i << FM_CURSOR_SHARD_SHIFT) | inner;
    return FM_OK;
}

static fm_status sharded_stats(fm_map *map, fm_stats *out)
{
    sharded *s = sharded_of(map);
    memset(out, 0, sizeof *out);
    for (uint32_t i = 0; i < s->count; i++) {
        fm_stats one;
        fm_status st = s->shard[i]->ops->stats(s->shard[i], &one);
        if (st != FM_OK) return fm_fail(map, st, "shard %u: %s", i, fm_error_detail(s->shard[i]->error));
        out->size += one.size;
        out->slots += one.slots;
        out->tombstones += one.tombstones;
        if (one.longest_probe > out->longest_probe) out->longest_probe = one.longest_probe;
    }
    out->load_factor = out->slots ? (double)out->size / (double)out->slots : 0.0;
    out->shards = (int)s->count;
    out->backend = map->backend;
    return FM_OK;
}

const fm_backend_ops fm_sharded_backend = {
    .name = "sharded",
    .concurrent_reads = 1, /* every call routes into its own buffers */
    .create = sharded_create,
    .destroy = sharded_destroy,
    .insert = sharded_insert,
    .get = sharded_get,
    .remove = sharded_remove,
    .add_u64 = sharded_add_u64,
    .size = sharded_size,
    .clear = sharded_clear,
    .export_entries = sharded_export,
    .stats = sharded_stats,
};
