/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include <math.h>

#include "api/fm_map.h"

/* Later fields go into fm_config.reserved: its size is part of the ABI. */
_Static_assert(sizeof(fm_config) == 128, "fm_config must stay 128 bytes (CHANGELOG.md, version policy)");

#ifdef _OPENMP
#include <omp.h>
#endif

fm_config fm_config_default(uint32_t key_size, uint32_t value_size, uint64_t capacity)
{
    fm_config cfg = {
        .key_size = key_size,
        .value_size = value_size,
        .capacity = capacity,
        .max_load = 0.5,
        .hash = FM_HASH_DEFAULT,
        .backend = FM_BACKEND_AUTO,
        .device = -1,
        .threads = 0,
        .shards = 0,
        .devices = NULL,
        .exchange_bytes = 0,
        .flags = 0,
        .version = FM_CONFIG_VERSION,
        .reserved = {0},
    };
    return cfg;
}

fm_status fm_config_check_version(const fm_config *c, const char *name, int allow_zero)
{
    if ((c->version == 0 && !allow_zero) || c->version > FM_CONFIG_VERSION)
        return fm_fail(NULL, FM_ERR_INVALID,
                       "%s->version is %u; this flashmap knows configurations of version 1..%u: make "
                       "them with fm_config_default (a program built against a newer flashmap needs "
                       "that flashmap)", name, c->version, FM_CONFIG_VERSION);
    return FM_OK;
}

fm_status fm_config_resolve(const fm_config *in, fm_config *out)
{
    fm_status st = fm_config_check_version(in, "cfg", 0);
    if (st != FM_OK) return st;
    *out = *in;
    if (in->key_size < 1 || in->key_size > FM_MAX_KEY_SIZE)
        return fm_fail(NULL, FM_ERR_INVALID, "cfg->key_size is %u; it must be 1..%u",
                       in->key_size, FM_MAX_KEY_SIZE);
    if (in->value_size > FM_MAX_VALUE_SIZE)
        return fm_fail(NULL, FM_ERR_INVALID, "cfg->value_size is %u; it must be 0..%u",
                       in->value_size, FM_MAX_VALUE_SIZE);
    if (in->max_load == 0.0) out->max_load = 0.5;
    if (!(out->max_load > 0.0 && out->max_load < 1.0) || isnan(out->max_load))
        return fm_fail(NULL, FM_ERR_INVALID, "cfg->max_load is %g; it must be in (0, 1), or 0 for 0.5",
                       in->max_load);
    switch (in->hash) {
    case FM_HASH_DEFAULT: out->hash = FM_HASH_MURMUR3; break;
    case FM_HASH_MURMUR3:
    case FM_HASH_IDENTITY: break;
    default: return fm_fail(NULL, FM_ERR_INVALID, "cfg->hash is %d; not an fm_hash value", (int)in->hash);
    }
    if (in->backend != FM_BACKEND_AUTO && in->backend != FM_BACKEND_CPU && in->backend != FM_BACKEND_CUDA)
        return fm_fail(NULL, FM_ERR_INVALID, "cfg->backend is %d; not an fm_backend value",
                       (int)in->backend);
    if (in->threads < 0 || in->threads > FM_CONFIG_MAX_THREADS)
        return fm_fail(NULL, FM_ERR_INVALID, "cfg->threads is %d; it must be 0..%d", in->threads,
                       FM_CONFIG_MAX_THREADS);
    if (in->shards < 0 || in->shards > FM_CONFIG_MAX_SHARDS)
        return fm_fail(NULL, FM_ERR_INVALID, "cfg->shards is %d; it must be 0..%d", in->shards,
                       FM_CONFIG_MAX_SHARDS);
    if (in->device < -1)
        return fm_fail(NULL, FM_ERR_INVALID, "cfg->device is %d; it must be >= -1", in->device);
    if (in->flags & ~(uint32_t)FM_FIXED_CAPACITY)
        return fm_fail(NULL, FM_ERR_INVALID, "cfg->flags has unknown bits 0x%x",
                       in->flags & ~(uint32_t)FM_FIXED_CAPACITY);
    if ((in->flags & FM_FIXED_CAPACITY) && in->capacity == 0)
        return fm_fail(NULL, FM_ERR_INVALID, "cfg->capacity is 0 with FM_FIXED_CAPACITY: the map could hold nothing");
    if (out->threads == 0) {
#ifdef _OPENMP
        out->threads = omp_get_max_threads();
        if (out->threads > FM_CONFIG_MAX_THREADS) out->threads = FM_CONFIG_MAX_THREADS;
#else
        out->threads = 1;
#endif
    }
    if (out->shards == 0) out->shards = 1;
    return FM_OK;
}
