/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Adds on MPI maps: a rank sums its own repeats of a key before they
 * travel, so a heavy hitter costs one record per rank. */
#include <string.h>

#include "api/fm_alloc.h"
#include "mpi/fm_mpi_map.h"
#include "table/fm_hash.h"

/* Adds of one key from this rank, summed: heavy hitters cost one record. */
static fm_status combine_adds(fm_map *map, const void *keys, const uint64_t *deltas, size_t n,
                              uint8_t **keys_out, uint64_t **deltas_out, size_t *n_out)
{
    mpi_map *m = mpi_of(map);
    fm_status st = FM_OK;
    if (m->sums && n * 8 < m->sums_for) { /* much too big: clearing it would cost more than a new one */
        fm_destroy(m->sums);
        m->sums = NULL;
    }
    if (!m->sums) { /* kept between calls: its pages are faulted once */
        m->sums_for = 0;
        fm_config c = fm_config_default(map->cfg.key_size, 8, n);
        c.hash = map->cfg.hash;
        c.threads = map->cfg.threads;
        c.backend = FM_BACKEND_CPU;
        st = fm_create(&c, &m->sums);
    }
    fm_map *sums = m->sums;
    if (n > m->sums_for) m->sums_for = n;
    if (st == FM_OK) st = fm_bulk_add_u64(sums, keys, deltas, n);
    const size_t distinct = st == FM_OK ? (size_t)fm_size(sums) : 0;
    *keys_out = fm_alloc((distinct ? distinct : 1) * map->cfg.key_size);
    *deltas_out = fm_alloc((distinct ? distinct : 1) * sizeof(uint64_t));
    if (st == FM_OK && (!*keys_out || !*deltas_out)) st = FM_ERR_NOMEM;
    uint64_t cursor = 0;
    size_t got = 0;
    if (st == FM_OK && distinct) st = fm_export(sums, &cursor, *keys_out, *deltas_out, distinct, &got);
    if (sums && fm_clear(sums) != FM_OK) { /* cannot happen on a CPU map; start afresh next time */
        fm_destroy(sums);
        m->sums = NULL;
    }
    if (st != FM_OK) {
        fm_free(*keys_out);
        fm_free(*deltas_out);
        *keys_out = NULL;
        *deltas_out = NULL;
        return fm_fail(map, st, "cannot combine %zu local adds: %s", n, fm_status_str(st));
    }
    *n_out = got;
    return FM_OK;
}

/* Whether combining repeats before sending is worth a pass over the batch:
 * a key repeated often enough to matter (a heavy hitter, or a batch of few
 * distinct keys) shows up twice among evenly spaced samples. */
#define FM_REPEAT_SAMPLES 4096
static int has_repeats(const uint8_t *keys, size_t n, uint32_t ks, int hash_kind)
{
    const size_t samples = n < FM_REPEAT_SAMPLES ? n : FM_REPEAT_SAMPLES;
    uint64_t hashes[2 * FM_REPEAT_SAMPLES];
    size_t where[2 * FM_REPEAT_SAMPLES];
    const size_t mask = 2 * FM_REPEAT_SAMPLES - 1;
    memset(where, 0xff, sizeof where);
    for (size_t j = 0; j < samples; j++) {
        const size_t i = samples == n ? j : (size_t)((double)j * (double)n / (double)samples);
        const uint8_t *key = keys + i * ks;
        const uint64_t h = fm_hash_key(hash_kind, key, ks);
        for (size_t s = h & mask;; s = (s + 1) & mask) {
            if (where[s] == SIZE_MAX) {
                hashes[s] = h;
                where[s] = i;
                break;
            }
            if (hashes[s] == h && memcmp(keys + where[s] * ks, key, ks) == 0) return 1;
        }
    }
    return 0;
}

fm_status fm_mpi_host_adds(fm_map *map, const fm_stage *sg, size_t n_in, const uint8_t **keys,
                           const uint8_t **deltas, size_t *n, uint8_t **combined_keys, uint64_t **combined_deltas)
{
    const size_t ks = map->cfg.key_size;
    if (n_in > 0 && has_repeats(sg->keys, n_in, (uint32_t)ks, (int)map->cfg.hash)) {
        fm_status st = combine_adds(map, sg->keys, sg->payload, n_in, combined_keys, combined_deltas, n);
        *keys = *combined_keys;
        *deltas = (const uint8_t *)*combined_deltas;
        return st;
    }
    if (sg->payload) return FM_OK;
    *combined_deltas = fm_alloc((n_in ? n_in : 1) * sizeof(uint64_t));
    if (!*combined_deltas) return fm_fail(map, FM_ERR_NOMEM, "no memory for %zu deltas", n_in);
    for (size_t i = 0; i < n_in; i++) (*combined_deltas)[i] = 1;
    *deltas = (const uint8_t *)*combined_deltas;
    return FM_OK;
}
