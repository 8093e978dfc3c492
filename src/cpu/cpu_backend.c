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
    t->v.spread = fm_map_spread(map);
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
    if (fm_cpu_table_grow(t, new_slots) != FM_OK)
        return fm_fail(map, FM_ERR_NOMEM, "cannot grow the table from %llu to %llu slots",
                       (unsigned long long)slots, (unsigned long long)new_slots);
    return FM_OK;
}

/* Keys probed to estimate how many of a batch are new. */
#define FM_SAMPLE_KEYS 256

/* New keys a write may claim without making room first: the table may pass
 * max_load during a write, up to midway between it and full, and grows
 * after it. */
static uint64_t physical_room(const fm_map *map, const fm_cpu_table *t)
{
    const double max_load = map->cfg.max_load;
    const uint64_t ceiling = fm_load_limit(t->v.mask + 1, max_load + (1.0 - max_load) / 2);
    const uint64_t used = t->live + t->tombstones;
    return ceiling > used ? ceiling - used : 0;
}

/* Before a write that may not fit: when a sample of the batch says its new
 * keys will pass max_load, grow now for them and as many again (a growing
 * map then rehashes once per few batches, not per batch). FM_ERR_NOMEM
 * leaves the table as it was. */
static fm_status grow_from_sample(fm_map *map, fm_cpu_table *t, const fm_cpu_batch *b)
{
    const size_t n = b->n, samples = n < FM_SAMPLE_KEYS ? n : FM_SAMPLE_KEYS;
    const uint64_t absent = fm_cpu_batch_sample_absent(b, t, samples);
    if (absent == 0) return FM_OK;
    /* The estimate, with a margin for sampling error. */
    uint64_t fresh = absent * (uint64_t)n / samples + n / 16;
    if (fresh > n) fresh = n;
    if (fresh <= cpu_headroom(map)) return FM_OK;
    return cpu_make_room_for(map, 2 * fresh);
}

/* After a write that claimed `claimed` new slots (from_tombstones of them
 * tombstones): grow as a plan made before the write would have. A failure is absorbed: every key is in, the table is
 * below its physical limit, and the next write that needs room grows first
 * or fails. */
static void grow_after(fm_map *map, fm_cpu_table *t, uint64_t claimed, uint64_t from_tombstones)
{
    const uint64_t slots = t->v.mask + 1, live_before = t->live - claimed;
    uint64_t new_slots = 0;
    if (fm_room_plan(map, slots, live_before, t->tombstones + from_tombstones, claimed, &new_slots) != FM_OK ||
        new_slots <= slots)
        return;
    (void)fm_cpu_table_grow(t, new_slots);
}

static void cpu_keep_write(fm_map *map)
{
    fm_cpu_table *t = table_of(map);
    const uint64_t claimed = fm_cpu_batch_claimed(t), from_tombstones = fm_cpu_batch_claimed_tombstones(t);
    fm_cpu_batch_keep(t);
    grow_after(map, t, claimed, from_tombstones);
}

typedef enum write_kind { WRITE_INSERT, WRITE_ADD, WRITE_REMOVE } write_kind;

/* One pass over the batch; `room` NULL: no limit (see fm_cpu_batch.h). */
static int write_pass(fm_cpu_table *t, const fm_cpu_batch *b, write_kind kind, const void *values,
                      const uint64_t *deltas, const uint64_t *room)
{
    return kind == WRITE_INSERT ? fm_cpu_batch_insert(b, t, values, room) : fm_cpu_batch_add_u64(b, t, deltas, room);
}

static fm_status plan_or_fail(fm_map *map, fm_cpu_batch *b, const void *keys, size_t n)
{
    if (fm_cpu_batch_plan(b, table_of(map), keys, n) != FM_OK)
        return fm_fail(map, FM_ERR_NOMEM, "no memory to plan a batch of %zu keys", n);
    return FM_OK;
}

/* An insert or add that probes each key once: a batch that fits within
 * max_load (or the physical room) is written at once; otherwise the write
 * is tentative, and only when it runs out of room is it undone and the
 * batch counted, room made, and written again. */
static fm_status write_once(fm_map *map, write_kind kind, const void *keys, const void *values,
                            const uint64_t *deltas, size_t n, unsigned flags)
{
    fm_cpu_table *t = table_of(map);
    const int tentative = (flags & FM_WRITE_TENTATIVE) != 0;
    fm_cpu_batch b;
    fm_status st = plan_or_fail(map, &b, keys, n);
    if (st != FM_OK) return st;
    const uint64_t slots = t->v.mask + 1;
    if ((st = grow_from_sample(map, t, &b)) != FM_OK) return st;
    /* A grown table holds new scratch: plan again (it cannot fail now). */
    if (t->v.mask + 1 != slots && (st = plan_or_fail(map, &b, keys, n)) != FM_OK) return st;
    uint64_t room = physical_room(map, t);
    if (!tentative && n <= room) {
        const uint64_t live_before = t->live, tombstones_before = t->tombstones;
        write_pass(t, &b, kind, values, deltas, NULL);
        grow_after(map, t, t->live - live_before, tombstones_before - t->tombstones);
        return FM_OK;
    }
    if (!write_pass(t, &b, kind, values, deltas, &room)) {
        if (!tentative) cpu_keep_write(map);
        return FM_OK;
    }
    fm_cpu_batch_undo(t);
    if (tentative)
        return fm_fail(map, FM_ERR_FULL, "a tentative write of %zu keys ran out of room (undone)", n);
    if ((st = fm_reserve_batch(map, keys, n)) != FM_OK || (st = plan_or_fail(map, &b, keys, n)) != FM_OK)
        return st;
    write_pass(t, &b, kind, values, deltas, NULL);
    return FM_OK;
}

/* Whether a write that may not fit probes once (write_once) or counts
 * first. A fixed map counts: it must refuse a batch past capacity. So does
 * a table below FM_SINGLE_PASS_SLOTS, which a count pass reads from cache;
 * FLASHMAP_TEST_SINGLE_PASS=1 makes every growing table probe once, so
 * that small test maps run that path too. */
#define FM_SINGLE_PASS_SLOTS ((uint64_t)1 << 16)
static int cpu_probes_once(const fm_map *map)
{
    const fm_cpu_table *t = (const fm_cpu_table *)map->impl;
    if (map->cfg.flags & FM_FIXED_CAPACITY) return 0;
    if (t->v.mask + 1 >= FM_SINGLE_PASS_SLOTS) return 1;
    const char *test = getenv("FLASHMAP_TEST_SINGLE_PASS");
    return test && *test == '1';
}

static fm_status cpu_write(fm_map *map, write_kind kind, const void *keys, const void *values,
                           const uint64_t *deltas, uint8_t *removed_out, size_t n, unsigned flags)
{
    fm_cpu_table *t = table_of(map);
    if (kind != WRITE_REMOVE && !(flags & FM_WRITE_ROOM_MADE)) {
        if ((flags & FM_WRITE_TENTATIVE) || (n > cpu_headroom(map) && cpu_probes_once(map)))
            return write_once(map, kind, keys, values, deltas, n, flags);
        fm_status st = fm_reserve_batch(map, keys, n);
        if (st != FM_OK) return st;
    }
    fm_cpu_batch b;
    fm_status st = plan_or_fail(map, &b, keys, n);
    if (st != FM_OK) return st;
    if (kind == WRITE_REMOVE)
        fm_cpu_batch_remove(&b, t, removed_out);
    else
        write_pass(t, &b, kind, values, deltas, NULL);
    return FM_OK;
}

static void cpu_undo_write(fm_map *map) { fm_cpu_batch_undo(table_of(map)); }

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
    .keep_write = cpu_keep_write,
    .undo_write = cpu_undo_write,
    .probes_once = cpu_probes_once,
};
