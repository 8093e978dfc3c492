/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* One table in device memory: allocation, growth, in-place rehash, clear,
 * statistics and the slot-ordered gather behind fm_export. The kernels use
 * the probing header as the CPU table does (cpu/cpu_table.c). */
#include <cub/device/device_scan.cuh>

#include "cuda/fm_cuda.h"
#include "table/fm_hash.h"

/* Slots one export window scans (its scratch is 8 bytes a slot). */
#define FM_EXPORT_WINDOW ((uint64_t)1 << 22)

static uint32_t log2_of(uint64_t pow2)
{
    uint32_t l = 0;
    while (((uint64_t)1 << l) < pow2) l++;
    return l;
}

fm_status fm_cuda_table_init(fm_map *map, fm_cuda_table *t, uint64_t slots)
{
    const fm_config *cfg = &map->cfg;
    fm_status st = FM_OK;
    memset(t, 0, sizeof *t);
    if (slots > SIZE_MAX / FM_MAX_VALUE_SIZE)
        return fm_fail(map, FM_ERR_NOMEM, "%llu slots do not fit in device memory",
                       (unsigned long long)slots);
    if ((st = fm_cuda_alloc(map, (void **)&t->v.tags, slots * sizeof(uint32_t), "table tags")) != FM_OK)
        goto fail;
    if ((st = fm_cuda_alloc(map, (void **)&t->v.keys, slots * cfg->key_size, "table keys")) != FM_OK)
        goto fail;
    if (cfg->value_size &&
        (st = fm_cuda_alloc(map, (void **)&t->v.values, slots * cfg->value_size, "table values")) != FM_OK)
        goto fail;
    FM_CUDA(cudaMemsetAsync(t->v.tags, 0, slots * sizeof(uint32_t), fm_cuda_of(map)->stream), fail);
    t->v.mask = slots - 1;
    t->v.log2_slots = log2_of(slots);
    t->v.key_size = cfg->key_size;
    t->v.value_size = cfg->value_size;
    t->v.spread = fm_map_spread(map);
    t->hash_kind = (int)cfg->hash;
    return FM_OK;
fail:
    fm_cuda_table_release(t);
    return st;
}

void fm_cuda_table_release(fm_cuda_table *t)
{
    fm_cuda_free(t->v.tags);
    fm_cuda_free(t->v.keys);
    fm_cuda_free(t->v.values);
    memset(&t->v, 0, sizeof t->v);
}

/* Entries of `from` (packed keys/values, n of them, or the FULL slots of a
 * table) placed into `to`, which holds none of them: one thread each. */
__global__ void fm_k_move_slots(fm_table_view from, fm_table_view to, int kind,
                                unsigned long long *lost)
{
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i > from.mask || fm_tag_state(from.tags[i]) != FM_STATE_FULL) return;
    const uint8_t *key = fm_key_at(&from, i);
    const uint64_t h = fm_table_hash(&to, kind, key);
    const uint64_t slot = fm_probe_place_new(&to, key, h);
    if (slot == FM_NO_SLOT) {
        atomicAdd(lost, 1ull);
        return;
    }
    fm_copy_bytes(fm_value_at(&to, slot), fm_value_at(&from, i), to.value_size);
    fm_publish(&to, slot, h);
}

__global__ void fm_k_move_packed(const uint8_t *keys, const uint8_t *values, uint64_t n,
                                 fm_table_view to, int kind, unsigned long long *lost)
{
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const uint8_t *key = keys + i * to.key_size;
    const uint64_t h = fm_table_hash(&to, kind, key);
    const uint64_t slot = fm_probe_place_new(&to, key, h);
    if (slot == FM_NO_SLOT) {
        atomicAdd(lost, 1ull);
        return;
    }
    fm_copy_bytes(fm_value_at(&to, slot), values + i * to.value_size, to.value_size);
    fm_publish(&to, slot, h);
}

/* FULL entries packed into keys/values (room for n) in no particular
 * order; *next counts every FULL slot, so more than n means the table held
 * more entries than the buffers were sized for (nothing is written past
 * them). */
__global__ void fm_k_pack(fm_table_view t, uint8_t *keys, uint8_t *values, uint64_t n, unsigned long long *next)
{
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i > t.mask || fm_tag_state(t.tags[i]) != FM_STATE_FULL) return;
    const uint64_t at = atomicAdd(next, 1ull);
    if (at >= n) return;
    fm_copy_bytes(keys + at * t.key_size, fm_key_at(&t, i), t.key_size);
    fm_copy_bytes(values + at * t.value_size, fm_value_at(&t, i), t.value_size);
}

/* Reads the lost-key counter after a placement and turns it into a status. */
static fm_status check_lost(fm_map *map, unsigned long long *lost_dev, const char *what)
{
    unsigned long long lost = 0;
    const fm_status st = fm_cuda_copy_back(map, &lost, lost_dev, sizeof lost);
    if (st == FM_OK && lost)
        return fm_fail(map, FM_ERR_DEVICE, "%s: %llu entries found no free slot (internal error)",
                       what, lost);
    return st;
}

fm_status fm_cuda_table_resize(fm_map *map, uint64_t new_slots)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_cuda_table next;
    fm_status st = fm_cuda_table_init(map, &next, new_slots);
    if (st != FM_OK) return st;
    FM_CUDA(cudaMemsetAsync(m->counts, 0, sizeof *m->counts, m->stream), fail);
    FM_LAUNCH(fm_k_move_slots, fm_cuda_grid(m->t.v.mask + 1), FM_CUDA_BLOCK, 0, m->stream)(m->t.v, next.v,
            m->t.hash_kind, &m->counts->lost);
    FM_CUDA(cudaGetLastError(), fail);
    if ((st = check_lost(map, &m->counts->lost, "growing the table")) != FM_OK) goto fail;
    next.live = m->t.live;
    fm_cuda_table_release(&m->t);
    m->t = next;
    return FM_OK;
fail:
    fm_cuda_table_release(&next);
    return st;
}

fm_status fm_cuda_table_rehash_in_place(fm_map *map)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_table_view *v = &m->t.v;
    const uint64_t n = m->t.live, slots = v->mask + 1;
    uint8_t *keys = NULL, *values = NULL;
    unsigned long long packed = 0;
    fm_status st = fm_cuda_alloc(map, (void **)&keys, n * v->key_size, "the entries of a rehash");
    if (st != FM_OK) return st;
    if ((st = fm_cuda_alloc(map, (void **)&values, n * v->value_size, "the entries of a rehash")) != FM_OK)
        goto free_keys;
    FM_CUDA(cudaMemsetAsync(m->counts, 0, sizeof *m->counts, m->stream), free_values);
    FM_LAUNCH(fm_k_pack, fm_cuda_grid(slots), FM_CUDA_BLOCK, 0, m->stream)(*v, keys, values, n, &m->counts->counted);
    FM_CUDA(cudaGetLastError(), free_values);
    if ((st = fm_cuda_copy_back(map, &packed, &m->counts->counted, sizeof packed)) != FM_OK) goto free_values;
    if (packed != n) { /* the table is untouched so far */
        st = fm_fail(map, FM_ERR_DEVICE, "rehashing in place: %llu entries in the table, %llu counted (internal error)",
                     packed, (unsigned long long)n);
        goto free_values;
    }
    /* From here on the table is rebuilt from the packed copy. */
    FM_CUDA(cudaMemsetAsync(v->tags, 0, slots * sizeof(uint32_t), m->stream), free_values);
    if (n > 0) {
        FM_LAUNCH(fm_k_move_packed, fm_cuda_grid(n), FM_CUDA_BLOCK, 0, m->stream)(keys, values, n, *v, m->t.hash_kind,
                &m->counts->lost);
        FM_CUDA(cudaGetLastError(), free_values);
    }
    st = check_lost(map, &m->counts->lost, "rehashing in place");
    if (st == FM_OK) m->t.tombstones = 0;
free_values:
    fm_cuda_free(values);
free_keys:
    fm_cuda_free(keys);
    return st;
}

fm_status fm_cuda_table_clear(fm_map *map)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_status st = FM_OK;
    FM_CUDA(cudaMemsetAsync(m->t.v.tags, 0, (m->t.v.mask + 1) * sizeof(uint32_t), m->stream), fail);
    FM_CUDA(cudaStreamSynchronize(m->stream), fail);
    m->t.live = 0;
    m->t.tombstones = 0;
fail:
    return st;
}

__global__ void fm_k_longest_probe(fm_table_view t, int kind, unsigned long long *longest)
{
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i > t.mask || fm_tag_state(t.tags[i]) != FM_STATE_FULL) return;
    const uint64_t h = fm_table_hash(&t, kind, fm_key_at(&t, i));
    const uint64_t d = (i - fm_home_slot(h, t.log2_slots)) & t.mask;
    if (d) atomicMax(longest, (unsigned long long)d);
}

fm_status fm_cuda_table_longest_probe(fm_map *map, uint64_t *out)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_status st = FM_OK;
    unsigned long long longest = 0;
    FM_CUDA(cudaMemsetAsync(m->counts, 0, sizeof *m->counts, m->stream), fail);
    FM_LAUNCH(fm_k_longest_probe, fm_cuda_grid(m->t.v.mask + 1), FM_CUDA_BLOCK, 0, m->stream)(m->t.v, m->t.hash_kind,
            &m->counts->counted);
    FM_CUDA(cudaGetLastError(), fail);
    if ((st = fm_cuda_copy_back(map, &longest, &m->counts->counted, sizeof longest)) != FM_OK) return st;
    *out = longest;
fail:
    return st;
}

/* ---- export: FULL slots of a window, in slot order ----------------------- */

__global__ void fm_k_full_flags(fm_table_view t, uint64_t first, uint64_t len, unsigned *flags)
{
    const uint64_t j = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j < len) flags[j] = fm_tag_state(t.tags[first + j]) == FM_STATE_FULL;
}

/* Copies the window's FULL entries with position < take to out[pos]; the
 * entry at position `take` is the next one to export (result[1]); result[0]
 * is the number of FULL slots in the window. */
__global__ void fm_k_gather(fm_table_view t, uint64_t first, uint64_t len, const unsigned *flags,
                            const unsigned *pos, uint64_t take, uint8_t *keys_out,
                            uint8_t *values_out, unsigned long long *result)
{
    const uint64_t j = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= len) return;
    if (j == len - 1) result[0] = (unsigned long long)pos[j] + flags[j];
    if (!flags[j]) return;
    const uint64_t at = pos[j];
    if (at == take) result[1] = first + j;
    if (at >= take) return;
    fm_copy_bytes(keys_out + at * t.key_size, fm_key_at(&t, first + j), t.key_size);
    if (values_out) fm_copy_bytes(values_out + at * t.value_size, fm_value_at(&t, first + j), t.value_size);
}

static fm_status gather_scratch(fm_map *map, fm_cuda_gather *g)
{
    fm_status st = FM_OK;
    if (g->flags) return FM_OK;
    if ((st = fm_cuda_alloc(map, (void **)&g->flags, FM_EXPORT_WINDOW * sizeof(unsigned), "export")) != FM_OK ||
        (st = fm_cuda_alloc(map, (void **)&g->pos, FM_EXPORT_WINDOW * sizeof(unsigned), "export")) != FM_OK ||
        (st = fm_cuda_alloc(map, (void **)&g->result, 2 * sizeof(unsigned long long), "export")) != FM_OK)
        goto fail;
    FM_CUDA(cub::DeviceScan::ExclusiveSum(NULL, g->scan_tmp_bytes, g->flags, g->pos,
                                          (int)FM_EXPORT_WINDOW),
            fail);
    if ((st = fm_cuda_alloc(map, &g->scan_tmp, g->scan_tmp_bytes, "export")) != FM_OK) goto fail;
    return FM_OK;
fail:
    fm_cuda_gather_release(g);
    return st;
}

void fm_cuda_gather_release(fm_cuda_gather *g)
{
    fm_cuda_free(g->flags);
    fm_cuda_free(g->pos);
    fm_cuda_free(g->result);
    fm_cuda_free(g->scan_tmp);
    memset(g, 0, sizeof *g);
}

fm_status fm_cuda_table_export(fm_map *map, uint64_t *cursor, uint8_t *keys_out,
                               uint8_t *values_out, size_t max, size_t *n_out)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_cuda_gather *g = &m->gather;
    const fm_table_view *v = &m->t.v;
    const uint64_t slots = v->mask + 1;
    fm_status st = gather_scratch(map, g);
    if (st != FM_OK) return st;
    uint64_t slot = *cursor;
    size_t got = 0;
    /* A small page scans a small window first; windows double from there. */
    uint64_t window = 4 * (uint64_t)max < 65536 ? 65536 : 4 * (uint64_t)max;
    for (;; window *= 2) {
        if (window > FM_EXPORT_WINDOW) window = FM_EXPORT_WINDOW;
        const uint64_t len = slots - slot < window ? slots - slot : window;
        const uint64_t take = max - got;
        unsigned long long result[2] = {0, UINT64_MAX};
        FM_LAUNCH(fm_k_full_flags, fm_cuda_grid(len), FM_CUDA_BLOCK, 0, m->stream)(*v, slot, len, g->flags);
        FM_CUDA(cudaGetLastError(), fail);
        FM_CUDA(cub::DeviceScan::ExclusiveSum(g->scan_tmp, g->scan_tmp_bytes, g->flags, g->pos, (int)len,
                                              m->stream),
                fail);
        FM_CUDA(cudaMemcpyAsync(g->result, result, sizeof result, cudaMemcpyHostToDevice, m->stream), fail);
        FM_LAUNCH(fm_k_gather, fm_cuda_grid(len), FM_CUDA_BLOCK, 0, m->stream)(*v, slot, len, g->flags, g->pos, take,
                keys_out + got * v->key_size, values_out ? values_out + got * v->value_size : NULL,
                g->result);
        FM_CUDA(cudaGetLastError(), fail);
        if ((st = fm_cuda_copy_back(map, result, g->result, sizeof result)) != FM_OK) return st;
        if (result[0] > take) { /* the window holds the next entry: stop there */
            got += (size_t)take;
            slot = result[1];
            break;
        }
        got += (size_t)result[0];
        slot += len;
        if (slot >= slots) {
            slot = 0;
            break;
        }
    }
    *cursor = slot;
    *n_out = got;
fail:
    return st;
}
