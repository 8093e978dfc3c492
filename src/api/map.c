/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The public API: checks arguments, picks the backend, forwards the call. */
#include <stdlib.h>
#include <string.h>

#include "api/fm_alloc.h"
#include "api/fm_map.h"
#include "api/fm_shared.h"
#include "io/fm_checkpoint.h"

fm_status fm_backend_choose(fm_backend asked, fm_backend *out)
{
    const char *env = getenv("FLASHMAP_BACKEND");
    if (asked == FM_BACKEND_AUTO && env && *env) {
        if (strcmp(env, "cpu") == 0) asked = FM_BACKEND_CPU;
        else if (strcmp(env, "cuda") == 0) asked = FM_BACKEND_CUDA;
        else
            return fm_fail(NULL, FM_ERR_INVALID, "FLASHMAP_BACKEND is \"%s\"; use cpu or cuda", env);
        /* Advice for the one who set the variable, not for the program. */
        if (asked == FM_BACKEND_CUDA && !fm_cuda_usable())
            return fm_fail(NULL, FM_ERR_UNSUPPORTED, "FLASHMAP_BACKEND=cuda, but this process has no usable "
                           "CUDA device or driver; unset FLASHMAP_BACKEND or set it to cpu");
    }
    if (asked == FM_BACKEND_AUTO) asked = fm_cuda_usable() ? FM_BACKEND_CUDA : FM_BACKEND_CPU;
    *out = asked;
    return FM_OK;
}

fm_status fm_create(const fm_config *cfg, fm_map **map_out)
{
    if (map_out) *map_out = NULL;
    if (!cfg) return fm_fail(NULL, FM_ERR_INVALID, "cfg is NULL");
    if (!map_out) return fm_fail(NULL, FM_ERR_INVALID, "map_out is NULL");
    fm_config resolved;
    fm_status st = fm_config_resolve(cfg, &resolved);
    if (st != FM_OK) return st;
    fm_backend backend = FM_BACKEND_CPU;
    if ((st = fm_backend_choose(resolved.backend, &backend)) != FM_OK) return st;
    fm_map *map = fm_calloc(1, sizeof *map);
    if (!map) return fm_fail(NULL, FM_ERR_NOMEM, "no memory for the map handle");
    map->cfg = resolved;
    map->backend = backend;
    if (resolved.shards > 1)
        map->ops = &fm_sharded_backend;
    else
        map->ops = backend == FM_BACKEND_CUDA ? &fm_cuda_backend : &fm_cpu_backend;
    if (!map->ops->create) {
        st = fm_fail(NULL, FM_ERR_UNSUPPORTED, "the %s backend cannot create maps", map->ops->name);
        free(map);
        return st;
    }
    st = map->ops->create(map);
    if (st == FM_OK && (st = fm_shared_attach(map)) != FM_OK) map->ops->destroy(map);
    if (st != FM_OK) {
        fm_fail(NULL, st, "%s", fm_error_detail(map->error)); /* the message outlives the map */
        free(map);
        return st;
    }
    *map_out = map;
    return FM_OK;
}

void fm_destroy(fm_map *map)
{
    if (!map) return;
    fm_shared_detach(map); /* finishes queued requests first */
    if (map->ops->destroy) map->ops->destroy(map);
    free(map);
}

/* Shared checks of the bulk calls: the map, n, and each buffer that must be
 * there when n > 0 (its name goes into the message). */
static fm_status check_batch(fm_map *map, size_t n, const void *keys, const char *func)
{
    int overflow = 0;
    (void)fm_mul_size(n, map->cfg.key_size, &overflow);
    (void)fm_mul_size(n, map->cfg.value_size, &overflow);
    if (overflow || n > (SIZE_MAX >> 4))
        return fm_fail(map, FM_ERR_INVALID, "%s: n = %zu keys is too large for this address space",
                       func, n);
    if (n > 0 && !keys) return fm_fail(map, FM_ERR_INVALID, "%s: keys is NULL with n = %zu", func, n);
    return FM_OK;
}

/* A failure of the local checks: on a collective map it is agreed with
 * the other ranks, which are entering the same call. */
static fm_status checks_failed(fm_map *map, fm_call call, fm_status st)
{
    return map->ops->collective ? map->ops->agree(map, call, st) : st;
}

/* After the local checks of a bulk call. On a collective map n == 0 still
 * takes part (the other ranks may have keys). */
#define FM_AFTER_CHECKS(map, call, st, n)                                      \
    do {                                                                       \
        if ((st) != FM_OK) return checks_failed((map), (call), (st));          \
        if ((n) == 0 && !(map)->ops->collective) return FM_OK;                 \
    } while (0)

#define FM_UNSUPPORTED_IF_MISSING(map, op)                                      \
    do {                                                                       \
        if (!(map)->ops->op)                                                   \
            return fm_fail((map), FM_ERR_UNSUPPORTED, "the %s backend has no " #op, \
                           (map)->ops->name);                                  \
    } while (0)

static fm_status bulk_insert(fm_map *map, const void *keys, const void *values, size_t n)
{
    if (!map) return fm_fail(NULL, FM_ERR_INVALID, "fm_bulk_insert: map is NULL");
    fm_status st = check_batch(map, n, keys, "fm_bulk_insert");
    if (st == FM_OK && n > 0 && map->cfg.value_size > 0 && !values)
        st = fm_fail(map, FM_ERR_INVALID, "fm_bulk_insert: values is NULL but value_size is %u",
                     map->cfg.value_size);
    FM_AFTER_CHECKS(map, FM_CALL_INSERT, st, n);
    FM_UNSUPPORTED_IF_MISSING(map, insert);
    return map->ops->insert(map, keys, values, n, 0);
}

static fm_status bulk_get(fm_map *map, const void *keys, size_t n, void *values_out, uint8_t *found_out)
{
    if (!map) return fm_fail(NULL, FM_ERR_INVALID, "fm_bulk_get: map is NULL");
    fm_status st = check_batch(map, n, keys, "fm_bulk_get");
    if (st == FM_OK && n > 0 && map->cfg.value_size > 0 && !values_out)
        st = fm_fail(map, FM_ERR_INVALID, "fm_bulk_get: values_out is NULL but value_size is %u",
                     map->cfg.value_size);
    FM_AFTER_CHECKS(map, FM_CALL_GET, st, n);
    FM_UNSUPPORTED_IF_MISSING(map, get);
    return map->ops->get(map, keys, n, values_out, found_out);
}

static fm_status bulk_remove(fm_map *map, const void *keys, size_t n, uint8_t *removed_out)
{
    if (!map) return fm_fail(NULL, FM_ERR_INVALID, "fm_bulk_remove: map is NULL");
    fm_status st = check_batch(map, n, keys, "fm_bulk_remove");
    FM_AFTER_CHECKS(map, FM_CALL_REMOVE, st, n);
    FM_UNSUPPORTED_IF_MISSING(map, remove);
    return map->ops->remove(map, keys, n, removed_out);
}

static fm_status bulk_add_u64(fm_map *map, const void *keys, const uint64_t *deltas, size_t n)
{
    if (!map) return fm_fail(NULL, FM_ERR_INVALID, "fm_bulk_add_u64: map is NULL");
    fm_status st = check_batch(map, n, keys, "fm_bulk_add_u64");
    if (st == FM_OK && map->cfg.value_size != 8)
        st = fm_fail(map, FM_ERR_INVALID,
                     "fm_bulk_add_u64: the map's value_size is %u; counters need value_size 8",
                     map->cfg.value_size);
    FM_AFTER_CHECKS(map, FM_CALL_ADD, st, n);
    FM_UNSUPPORTED_IF_MISSING(map, add_u64);
    return map->ops->add_u64(map, keys, deltas, n, 0);
}

static uint64_t map_size(fm_map *map)
{
    if (!map || !map->ops->size) return 0;
    return map->ops->size(map);
}

static fm_status map_clear(fm_map *map)
{
    if (!map) return fm_fail(NULL, FM_ERR_INVALID, "fm_clear: map is NULL");
    FM_UNSUPPORTED_IF_MISSING(map, clear);
    return map->ops->clear(map);
}

static fm_status map_export(fm_map *map, uint64_t *cursor, void *keys_out, void *values_out, size_t max,
                           size_t *n_out)
{
    if (!map) return fm_fail(NULL, FM_ERR_INVALID, "fm_export: map is NULL");
    if (!cursor) return fm_fail(map, FM_ERR_INVALID, "fm_export: cursor is NULL");
    if (!n_out) return fm_fail(map, FM_ERR_INVALID, "fm_export: n_out is NULL");
    *n_out = 0;
    if (max > 0 && !keys_out)
        return fm_fail(map, FM_ERR_INVALID, "fm_export: keys_out is NULL with max = %zu", max);
    int overflow = 0;
    (void)fm_mul_size(max, map->cfg.key_size, &overflow);
    (void)fm_mul_size(max, map->cfg.value_size, &overflow);
    if (overflow)
        return fm_fail(map, FM_ERR_INVALID, "fm_export: max = %zu entries overflow the address space", max);
    FM_UNSUPPORTED_IF_MISSING(map, export_entries);
    if (max == 0) return FM_OK;
    return map->ops->export_entries(map, cursor, keys_out, values_out, max, n_out);
}

static fm_status map_stats(fm_map *map, fm_stats *out)
{
    if (!map) return fm_fail(NULL, FM_ERR_INVALID, "fm_get_stats: map is NULL");
    fm_status st = out ? FM_OK : fm_fail(map, FM_ERR_INVALID, "fm_get_stats: out is NULL");
    if (st != FM_OK) return checks_failed(map, FM_CALL_STATS, st);
    FM_UNSUPPORTED_IF_MISSING(map, stats);
    memset(out, 0, sizeof *out); /* what a backend does not know is 0 */
    return map->ops->stats(map, out);
}


static fm_status map_save(fm_map *map, const char *path)
{
    if (!map) return fm_fail(NULL, FM_ERR_INVALID, "fm_save: map is NULL");
    fm_status st = path ? FM_OK : fm_fail(map, FM_ERR_INVALID, "fm_save: path is NULL");
    if (st != FM_OK) return checks_failed(map, FM_CALL_SAVE, st);
    return fm_checkpoint_save(map, path);
}

fm_status fm_load(const char *path, const fm_config *overrides, fm_map **map_out)
{
    if (map_out) *map_out = NULL;
    if (!path) return fm_fail(NULL, FM_ERR_INVALID, "fm_load: path is NULL");
    if (!map_out) return fm_fail(NULL, FM_ERR_INVALID, "fm_load: map_out is NULL");
    return fm_checkpoint_load(path, overrides, map_out);
}

/* ---- the public calls: each runs under the map's lock (api/fm_shared.h) ---- */

#define FM_LOCKED(map, access, type, call)                                     \
    do {                                                                       \
        if (!(map)) return call; /* reports the NULL map */                    \
        fm_access_begin((map), (access));                                      \
        type result_ = call;                                                   \
        fm_access_end((map), (access));                                        \
        return result_;                                                        \
    } while (0)

fm_status fm_bulk_insert(fm_map *map, const void *keys, const void *values, size_t n)
{
    FM_LOCKED(map, FM_ACCESS_WRITE, fm_status, bulk_insert(map, keys, values, n));
}

fm_status fm_bulk_get(fm_map *map, const void *keys, size_t n, void *values_out, uint8_t *found_out)
{
    FM_LOCKED(map, FM_ACCESS_READ, fm_status, bulk_get(map, keys, n, values_out, found_out));
}

fm_status fm_bulk_remove(fm_map *map, const void *keys, size_t n, uint8_t *removed_out)
{
    FM_LOCKED(map, FM_ACCESS_WRITE, fm_status, bulk_remove(map, keys, n, removed_out));
}

fm_status fm_bulk_add_u64(fm_map *map, const void *keys, const uint64_t *deltas, size_t n)
{
    FM_LOCKED(map, FM_ACCESS_WRITE, fm_status, bulk_add_u64(map, keys, deltas, n));
}

uint64_t fm_size(fm_map *map) { FM_LOCKED(map, FM_ACCESS_READ, uint64_t, map_size(map)); }

fm_status fm_clear(fm_map *map) { FM_LOCKED(map, FM_ACCESS_WRITE, fm_status, map_clear(map)); }

fm_status fm_export(fm_map *map, uint64_t *cursor, void *keys_out, void *values_out, size_t max,
                    size_t *n_out)
{
    FM_LOCKED(map, FM_ACCESS_READ, fm_status, map_export(map, cursor, keys_out, values_out, max, n_out));
}

fm_status fm_get_stats(fm_map *map, fm_stats *out)
{
    FM_LOCKED(map, FM_ACCESS_READ, fm_status, map_stats(map, out));
}

fm_status fm_save(fm_map *map, const char *path)
{
    FM_LOCKED(map, FM_ACCESS_READ, fm_status, map_save(map, path));
}

fm_backend fm_map_backend(const fm_map *map) { return map ? map->backend : FM_BACKEND_AUTO; }
