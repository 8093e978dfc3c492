/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "cpu/fm_cpu_table.h"

#include <math.h>
#include <string.h>

#include "api/fm_alloc.h"
#include "api/fm_table_mem.h"
#include "table/fm_hash.h"

uint64_t fm_load_limit(uint64_t slots, double max_load)
{
    return (uint64_t)floor((double)slots * max_load);
}

uint64_t fm_slots_for(uint64_t entries, double max_load)
{
    uint64_t slots = FM_MIN_SLOTS;
    while (fm_load_limit(slots, max_load) < entries) {
        if (slots >> 62) return 0;
        slots <<= 1;
    }
    return slots;
}

fm_status fm_cpu_table_init(fm_cpu_table *t, uint64_t slots, uint32_t key_size,
                            uint32_t value_size, int hash_kind, int threads)
{
    memset(t, 0, sizeof *t);
    int overflow = 0;
    t->tag_bytes = fm_mul_size((size_t)slots, sizeof(uint32_t), &overflow);
    t->key_bytes = fm_mul_size((size_t)slots, key_size, &overflow);
    t->value_bytes = fm_mul_size((size_t)slots, value_size, &overflow);
    if (overflow || slots > SIZE_MAX) return FM_ERR_NOMEM;
    /* Every array is written here (zeros), so that no later batch pays for
     * first-touch faults. */
    t->v.tags = fm_table_mem_alloc(t->tag_bytes, threads);
    t->scratch_words = fm_cpu_table_scratch_words(fm_cpu_table_chunk(slots, threads), threads);
    t->scratch = fm_alloc(t->scratch_words * sizeof(uint64_t));
    t->v.keys = fm_table_mem_alloc(t->key_bytes, threads);
    t->v.values = value_size ? fm_table_mem_alloc(t->value_bytes, threads) : NULL;
    if (!t->scratch || !t->v.tags || !t->v.keys || (value_size && !t->v.values)) {
        fm_cpu_table_release(t);
        return FM_ERR_NOMEM;
    }
    t->v.mask = slots - 1;
    t->v.log2_slots = fm_log2_pow2(slots);
    t->v.key_size = key_size;
    t->v.value_size = value_size;
    t->v.spread = 1;
    t->hash_kind = hash_kind;
    t->threads = threads;
    return FM_OK;
}

void fm_cpu_table_release(fm_cpu_table *t)
{
    fm_table_mem_free(t->v.tags, t->tag_bytes);
    fm_table_mem_free(t->v.keys, t->key_bytes);
    fm_table_mem_free(t->v.values, t->value_bytes);
    memset(&t->v, 0, sizeof t->v);
    t->tag_bytes = t->key_bytes = t->value_bytes = 0;
    fm_free(t->scratch);
    t->scratch = NULL;
    t->scratch_words = 0;
    fm_free(t->dense);
    t->dense = NULL;
    t->dense_bytes = 0;
    fm_cpu_pending *p = &t->pending;
    for (int u = 0; p->claims && u < p->owners; u++) {
        fm_free(p->claims[u].bytes);
        fm_free(p->overwrites[u].bytes);
    }
    fm_free(p->claims);
    fm_free(p->overwrites);
    fm_free(p->owner_claims);
    memset(p, 0, sizeof *p);
}

size_t fm_cpu_table_chunk(uint64_t slots, int threads)
{
    size_t chunk = slots < FM_BATCH_CHUNK ? (size_t)slots : FM_BATCH_CHUNK;
    if (chunk < ((size_t)1 << 12)) chunk = (size_t)1 << 12;
    return chunk * (size_t)(threads > 16 ? threads / 16 : 1);
}

size_t fm_cpu_table_scratch_words(size_t chunk, int threads)
{
    const size_t owners = (size_t)threads;
    return chunk + (chunk + 1) / 2 + owners * owners + owners;
}

uint64_t *fm_cpu_table_scratch(fm_cpu_table *t, size_t words)
{
    if (words <= t->scratch_words) return t->scratch;
    uint64_t *more = fm_alloc_zero(words * sizeof(uint64_t), t->threads);
    if (!more) return NULL;
    fm_free(t->scratch);
    t->scratch = more;
    t->scratch_words = words;
    return more;
}

/* Tombstones become EMPTY and entries become BUSY ("pending"); then each
 * pending entry moves to the first slot from its home that is not FULL
 * ("placed"). An EMPTY target takes it; a pending target swaps with it and
 * the displaced entry is placed next. Placed slots never change again, so
 * every placed entry stays reachable along FULL slots from its home. */
void fm_cpu_table_rehash_in_place(fm_cpu_table *t)
{
    fm_table_view *v = &t->v;
    const int64_t slots = (int64_t)v->mask + 1;
    const uint32_t ks = v->key_size, vs = v->value_size;
#pragma omp parallel for schedule(static, 4096) num_threads(t->threads) if (slots > FM_PARALLEL_SLOTS)
    for (int64_t i = 0; i < slots; i++) {
        uint32_t state = fm_tag_state(v->tags[i]);
        v->tags[i] = state == FM_STATE_FULL ? FM_TAG_BUSY : FM_TAG_EMPTY;
    }
    uint8_t key_tmp[FM_MAX_KEY_SIZE], value_tmp[FM_MAX_VALUE_SIZE];
    for (uint64_t i = 0; i <= v->mask; i++) {
        while (v->tags[i] == FM_TAG_BUSY) {
            uint64_t h = fm_table_hash(v, t->hash_kind, fm_key_at(v, i));
            uint64_t s = fm_home_slot(h, v->log2_slots);
            while (fm_tag_state(v->tags[s]) == FM_STATE_FULL) s = (s + 1) & v->mask;
            if (s == i) {
                v->tags[i] = fm_full_tag(h);
            } else if (v->tags[s] == FM_TAG_EMPTY) {
                memcpy(fm_key_at(v, s), fm_key_at(v, i), ks);
                if (vs) memcpy(fm_value_at(v, s), fm_value_at(v, i), vs);
                v->tags[s] = fm_full_tag(h);
                v->tags[i] = FM_TAG_EMPTY;
            } else { /* s is pending: swap, then place what came back to i */
                memcpy(key_tmp, fm_key_at(v, s), ks);
                memcpy(fm_key_at(v, s), fm_key_at(v, i), ks);
                memcpy(fm_key_at(v, i), key_tmp, ks);
                if (vs) {
                    memcpy(value_tmp, fm_value_at(v, s), vs);
                    memcpy(fm_value_at(v, s), fm_value_at(v, i), vs);
                    memcpy(fm_value_at(v, i), value_tmp, vs);
                }
                v->tags[s] = fm_full_tag(h);
            }
        }
    }
    t->tombstones = 0;
}

void fm_cpu_table_clear(fm_cpu_table *t)
{
    const int64_t slots = (int64_t)t->v.mask + 1;
    uint32_t *tags = t->v.tags;
#pragma omp parallel for schedule(static) num_threads(t->threads) if (slots > FM_PARALLEL_SLOTS)
    for (int64_t i = 0; i < slots; i++) tags[i] = FM_TAG_EMPTY;
    t->live = 0;
    t->tombstones = 0;
}

size_t fm_cpu_table_export(const fm_cpu_table *t, uint64_t *cursor, uint8_t *keys_out,
                           uint8_t *values_out, size_t max)
{
    const fm_table_view *v = &t->v;
    const uint32_t ks = v->key_size, vs = v->value_size;
    uint64_t slot = *cursor;
    size_t n = 0;
    for (; slot <= v->mask && n < max; slot++) {
        if (fm_tag_state(v->tags[slot]) != FM_STATE_FULL) continue;
        memcpy(keys_out + n * ks, fm_key_at(v, slot), ks);
        if (values_out && vs) memcpy(values_out + n * vs, fm_value_at(v, slot), vs);
        n++;
    }
    /* Skip trailing empty slots so the last call with entries can say done. */
    while (slot <= v->mask && fm_tag_state(v->tags[slot]) != FM_STATE_FULL) slot++;
    *cursor = slot > v->mask ? 0 : slot;
    return n;
}

uint64_t fm_cpu_table_longest_probe(const fm_cpu_table *t)
{
    const fm_table_view *v = &t->v;
    const int64_t slots = (int64_t)v->mask + 1;
    uint64_t longest = 0;
#pragma omp parallel for schedule(static, 4096) reduction(max : longest) num_threads(t->threads) \
    if (slots > FM_PARALLEL_SLOTS)
    for (int64_t i = 0; i < slots; i++) {
        if (fm_tag_state(v->tags[i]) != FM_STATE_FULL) continue;
        uint64_t h = fm_table_hash(v, t->hash_kind, fm_key_at(v, (uint64_t)i));
        uint64_t d = ((uint64_t)i - fm_home_slot(h, v->log2_slots)) & v->mask;
        if (d > longest) longest = d;
    }
    return longest;
}
