/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The CPU backend: one table in host memory, OpenMP across keys. */
#include <stdlib.h>
#include <string.h>

#include "api/fm_alloc.h"
#include "api/fm_map.h"
#include "api/fm_room.h"
#include "cpu/fm_cpu_batch.h"

static fm_cpu_table *table_of(fm_map *map) { return (fm_cpu_table *)map->impl; }

static fm_status cpu_create(fm_map *map)
{
    const fm_config *cfg = &map->cfg;
    uint64_t slots = 0;
    fm_status st = fm_room_initial_slots(map, &slots);
    if (st != FM_OK) return st;
    fm_cpu_table *t = fm_calloc(1, sizeof *t);
    if (!t) return fm_fail(map, FM_ERR_NOMEM, "no memory for the table header");
    st = fm_cpu_table_init(t, slots, cfg->key_size, cfg->value_size, (int)cfg->hash, cfg->threads);
    if (st != FM_OK) {
        free(t);
        return fm_fail(map, st, "cannot allocate a table of %llu slots (%u-byte keys, %u-byte values)",
                       (unsigned long long)slots, cfg->key_size, cfg->value_size);
    }
    map->impl = t;
    return FM_OK;
}

static void cpu_destroy(fm_map *map)
{
    fm_cpu_table *t = table_of(map);
    if (!t) return;
    fm_cpu_table_release(t);
    free(t);
    map->impl = NULL;
}

/* How many new keys the table takes before it must grow (or, for a fixed
 * map, before it is full or must clear tombstones). */
static uint64_t cpu_headroom(fm_map *map)
{
    fm_cpu_table *t = table_of(map);
    return fm_room_headroom(map, t->v.mask + 1, t->live, t->tombstones);
}

static fm_status cpu_count_new(fm_map *map, const void *keys, size_t n, uint64_t headroom,
                               uint64_t *new_out)
{
    fm_cpu_table *t = table_of(map);
    fm_cpu_batch b;
    if (fm_cpu_batch_plan(&b, t, keys, n) != FM_OK || fm_cpu_batch_count_new(&b, t, headroom, new_out) != FM_OK)
        return fm_fail(map, FM_ERR_NOMEM, "no memory to count the new keys of a batch of %zu", n);
    return FM_OK;
}

/* Makes the table take `fresh` more keys within max_load (and capacity for
 * a fixed map), growing or clearing tombstones. Nothing changes on failure. */
static fm_status cpu_make_room_for(fm_map *map, uint64_t fresh)
{
    fm_cpu_table *t = table_of(map);
    const uint64_t slots = t->v.mask + 1;
    uint64_t new_slots = 0;
    fm_status st = fm_room_plan(map, slots, t->live, t->tombstones, fresh, &new_slots);
    if (st != FM_OK || new_slots == 0) return st;
    if (new_slots == slots) {
        fm_cpu_table_rehash_in_place(t);
        return FM_OK;
    }
    if (fm_cpu_table_resize(t, new_slots) != FM_OK)
        return fm_fail(map, FM_ERR_NOMEM, "cannot grow the table from %llu to %llu slots",
                       (unsigned long long)slots, (unsigned long long)new_slots);
    return FM_OK;
}

typedef enum write_kind { WRITE_INSERT, WRITE_ADD, WRITE_REMOVE } write_kind;

static fm_status cpu_write(fm_map *map, write_kind kind, const void *keys, const void *values,
                           const uint64_t *deltas, uint8_t *removed_out, size_t n, unsigned flags)
{
    fm_cpu_table *t = table_of(map);
    if (kind != WRITE_REMOVE && !(flags & FM_WRITE_ROOM_MADE)) {
        fm_status st = fm_reserve_batch(map, keys, n);
        if (st != FM_OK) return st;
    }
    fm_cpu_batch b;
    if (fm_cpu_batch_plan(&b, t, keys, n) != FM_OK)
        return fm_fail(map, FM_ERR_NOMEM, "no memory to plan a batch of %zu keys", n);
    switch (kind) {
    case WRITE_INSERT: fm_cpu_batch_insert(&b, t, values); break;
    case WRITE_ADD: fm_cpu_batch_add_u64(&b, t, deltas); break;
    case WRITE_REMOVE: fm_cpu_batch_remove(&b, t, removed_out); break;
    }
    return FM_OK;
}

static fm_status cpu_insert(fm_map *map, const void *keys, const void *values, size_t n,
                            unsigned flags)
{
    return cpu_write(map, WRITE_INSERT, keys, values, NULL, NULL, n, flags);
}

static fm_status cpu_add_u64(fm_map *map, const void *keys, const uint64_t *deltas, size_t n,
                             unsigned flags)
{
    return cpu_write(map, WRITE_ADD, keys, NULL, deltas, NULL, n, flags);
}

static fm_status cpu_remove(fm_map *map, const void *keys, size_t n, uint8_t *removed_out)
{
    return cpu_write(map, WRITE_REMOVE, keys, NULL, NULL, removed_out, n, 0);
}

static fm_status cpu_get(fm_map *map, const void *keys, size_t n, void *values_out,
                         uint8_t *found_out)
{
    fm_cpu_get(table_of(map), keys, n, values_out, found_out);
    return FM_OK;
}

static uint64_t cpu_size(fm_map *map) { return table_of(map)->live; }

static fm_status cpu_clear(fm_map *map)
{
    fm_cpu_table_clear(table_of(map));
    return FM_OK;
}

static fm_status cpu_export(fm_map *map, uint64_t *cursor, void *keys_out, void *values_out,
                            size_t max, size_t *n_out)
{
    fm_cpu_table *t = table_of(map);
    if (*cursor > t->v.mask)
        return fm_fail(map, FM_ERR_INVALID, "cursor %llu is past the table's %llu slots",
                       (unsigned long long)*cursor, (unsigned long long)(t->v.mask + 1));
    *n_out = fm_cpu_table_export(t, cursor, keys_out, values_out, max);
    return FM_OK;
}

static fm_status cpu_stats(fm_map *map, fm_stats *out)
{
    fm_cpu_table *t = table_of(map);
    out->size = t->live;
    out->slots = t->v.mask + 1;
    out->tombstones = t->tombstones;
    out->longest_probe = fm_cpu_table_longest_probe(t);
    out->load_factor = (double)t->live / (double)out->slots;
    out->shards = 1;
    out->backend = FM_BACKEND_CPU;
    return FM_OK;
}

const fm_backend_ops fm_cpu_backend = {
    .name = "cpu",
    .concurrent_reads = 1, /* gets keep their state on the stack */
    .create = cpu_create,
    .destroy = cpu_destroy,
    .headroom = cpu_headroom,
    .count_new = cpu_count_new,
    .make_room_for = cpu_make_room_for,
    .insert = cpu_insert,
    .get = cpu_get,
    .remove = cpu_remove,
    .add_u64 = cpu_add_u64,
    .size = cpu_size,
    .clear = cpu_clear,
    .export_entries = cpu_export,
    .stats = cpu_stats,
};
