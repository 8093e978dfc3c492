#include "cpu/fm_cpu_batch.h"

#include <string.h>

#include "api/fm_alloc.h"

#ifdef _OPENMP
#include <omp.h>
#endif
#include "table/fm_hash.h"

/* Keys ahead of the current one whose table lines are prefetched. */
#define FM_PREFETCH_AHEAD 12
/* Target slots per region: tags, keys and values of a region stay in cache. */
#define FM_LOG2_REGION_SLOTS 10
#define FM_MAX_LOG2_REGIONS 16
/* Lookups hash and prefetch this many keys before probing them. */
#define FM_GET_GROUP 32

static uint32_t floor_log2(uint64_t x)
{
    uint32_t l = 0;
    while (x >>= 1) l++;
    return l;
}

static uint32_t regions_for(const fm_cpu_table *t, size_t n)
{
    uint32_t log2 = t->v.log2_slots > FM_LOG2_REGION_SLOTS ? t->v.log2_slots - FM_LOG2_REGION_SLOTS : 0;
    if (log2 > FM_MAX_LOG2_REGIONS) log2 = FM_MAX_LOG2_REGIONS;
    /* Small batches: a few keys per region at least, or the sort costs more
     * than it saves. */
    uint32_t by_batch = n >= 16 ? floor_log2(n / 4) : 0;
    if (log2 > by_batch) log2 = by_batch;
    return 1u << log2;
}

fm_status fm_cpu_batch_plan(fm_cpu_batch *b, const fm_cpu_table *t, const void *keys, size_t n)
{
    memset(b, 0, sizeof *b);
    b->keys = keys;
    b->n = n;
    uint64_t *hashes = fm_alloc(n * sizeof(uint64_t));
    if (!hashes) return FM_ERR_NOMEM;
    const uint32_t ks = t->v.key_size;
    const int kind = t->hash_kind;
    const int64_t count = (int64_t)n;
#pragma omp parallel for schedule(static) num_threads(t->threads) if (n > 4096)
    for (int64_t i = 0; i < count; i++) hashes[i] = fm_hash_key(kind, b->keys + (size_t)i * ks, ks);
    fm_status st = fm_partition_build(&b->part, hashes, n, regions_for(t, n), FM_BUCKET_HIGH_BITS,
                                      t->threads);
    fm_free(hashes);
    return st;
}

void fm_cpu_batch_release(fm_cpu_batch *b) { fm_partition_free(&b->part); }

static inline void prefetch_position(const fm_cpu_batch *b, const fm_table_view *v, uint64_t j)
{
    if (j >= b->n) return;
    fm_prefetch_home(v, b->part.hash[j]);
    fm_prefetch(b->keys + b->part.order[j] * v->key_size);
}

/* Open-addressing set of batch positions, to count each new key once. */
typedef struct position_set {
    uint64_t *slots; /* position + 1; 0 = empty */
    uint64_t mask;
} position_set;

/* Adds position j unless an equal key is already in; returns 1 if added. */
static int position_set_add(position_set *s, const fm_cpu_batch *b, uint32_t ks, uint64_t j)
{
    const uint64_t h = b->part.hash[j];
    const uint8_t *key = b->keys + b->part.order[j] * ks;
    for (uint64_t i = h & s->mask;; i = (i + 1) & s->mask) {
        uint64_t e = s->slots[i];
        if (e == 0) {
            s->slots[i] = j + 1;
            return 1;
        }
        if (b->part.hash[e - 1] == h && fm_key_equal(b->keys + b->part.order[e - 1] * ks, key, ks))
            return 0;
    }
}

fm_status fm_cpu_batch_count_new(const fm_cpu_batch *b, const fm_cpu_table *t, uint64_t *new_out)
{
    uint64_t set_slots = 16;
    while (set_slots < 2 * b->part.largest) set_slots <<= 1;
    const int threads = t->threads;
    uint64_t *scratch = fm_alloc((size_t)threads * set_slots * sizeof(uint64_t));
    if (!scratch) return FM_ERR_NOMEM;
    const fm_table_view *v = &t->v;
    const int64_t regions = b->part.buckets;
    uint64_t fresh = 0;
#pragma omp parallel num_threads(threads) reduction(+ : fresh)
    {
#ifdef _OPENMP
        uint64_t *mine = scratch + (size_t)omp_get_thread_num() * set_slots;
#else
        uint64_t *mine = scratch;
#endif
#pragma omp for schedule(dynamic, 1)
        for (int64_t r = 0; r < regions; r++) {
            const uint64_t lo = b->part.start[r], hi = b->part.start[r + 1];
            if (lo == hi) continue;
            position_set set = {mine, 15};
            while (set.mask + 1 < 2 * (hi - lo)) set.mask = set.mask * 2 + 1;
            memset(set.slots, 0, (set.mask + 1) * sizeof(uint64_t));
            for (uint64_t j = lo; j < hi; j++) {
                prefetch_position(b, v, j + FM_PREFETCH_AHEAD);
                const uint8_t *key = b->keys + b->part.order[j] * v->key_size;
                if (fm_probe_find(v, key, b->part.hash[j]) == FM_NO_SLOT)
                    fresh += (uint64_t)position_set_add(&set, b, v->key_size, j);
            }
        }
    }
    fm_free(scratch);
    *new_out = fresh;
    return FM_OK;
}

/* The shared walk of insert and add: find or claim each key's slot, then let
 * `apply` write the value. Counts what was claimed. */
typedef enum upsert_kind { UPSERT_COPY, UPSERT_ADD } upsert_kind;

static void upsert_all(const fm_cpu_batch *b, fm_cpu_table *t, upsert_kind kind,
                       const uint8_t *values, const uint64_t *deltas)
{
    const fm_table_view *v = &t->v;
    const uint32_t ks = v->key_size, vs = v->value_size;
    const int64_t regions = b->part.buckets;
    uint64_t claimed = 0, from_tombstones = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(t->threads) \
    reduction(+ : claimed, from_tombstones)
    for (int64_t r = 0; r < regions; r++) {
        for (uint64_t j = b->part.start[r]; j < b->part.start[r + 1]; j++) {
            prefetch_position(b, v, j + FM_PREFETCH_AHEAD);
            const uint64_t i = b->part.order[j], h = b->part.hash[j];
            int fresh = 0, was_tombstone = 0;
            /* Room for every new key was made before the batch started. */
            const uint64_t slot = fm_probe_upsert(v, b->keys + i * ks, h, &fresh, &was_tombstone);
            if (kind == UPSERT_COPY) {
                if (vs) memcpy(fm_value_at(v, slot), values + i * vs, vs);
            } else {
                uint64_t count = 0, delta = deltas ? deltas[i] : 1;
                if (!fresh) memcpy(&count, fm_value_at(v, slot), 8);
                count += delta;
                memcpy(fm_value_at(v, slot), &count, 8);
            }
            if (fresh) {
                fm_publish(v, slot, h);
                claimed++;
                from_tombstones += (uint64_t)was_tombstone;
            }
        }
    }
    t->live += claimed;
    t->tombstones -= from_tombstones;
}

void fm_cpu_batch_insert(const fm_cpu_batch *b, fm_cpu_table *t, const uint8_t *values)
{
    upsert_all(b, t, UPSERT_COPY, values, NULL);
}

void fm_cpu_batch_add_u64(const fm_cpu_batch *b, fm_cpu_table *t, const uint64_t *deltas)
{
    upsert_all(b, t, UPSERT_ADD, NULL, deltas);
}

void fm_cpu_batch_remove(const fm_cpu_batch *b, fm_cpu_table *t, uint8_t *removed_out)
{
    const fm_table_view *v = &t->v;
    const uint32_t ks = v->key_size;
    const int64_t regions = b->part.buckets;
    uint64_t removed = 0, tombstones = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(t->threads) \
    reduction(+ : removed, tombstones)
    for (int64_t r = 0; r < regions; r++) {
        for (uint64_t j = b->part.start[r]; j < b->part.start[r + 1]; j++) {
            prefetch_position(b, v, j + FM_PREFETCH_AHEAD);
            const uint64_t i = b->part.order[j];
            int left_tombstone = 0;
            int hit = fm_probe_remove(v, b->keys + i * ks, b->part.hash[j], &left_tombstone);
            if (removed_out) removed_out[i] = (uint8_t)hit;
            removed += (uint64_t)hit;
            tombstones += (uint64_t)left_tombstone;
        }
    }
    t->live -= removed;
    t->tombstones += tombstones;
}

void fm_cpu_get(const fm_cpu_table *t, const uint8_t *keys, size_t n, uint8_t *values_out,
                uint8_t *found_out)
{
    const fm_table_view *v = &t->v;
    const uint32_t ks = v->key_size, vs = v->value_size;
    const int kind = t->hash_kind;
    const int64_t groups = (int64_t)((n + FM_GET_GROUP - 1) / FM_GET_GROUP);
#pragma omp parallel for schedule(static) num_threads(t->threads) if (n > 4096)
    for (int64_t g = 0; g < groups; g++) {
        const size_t lo = (size_t)g * FM_GET_GROUP;
        const size_t cnt = n - lo < FM_GET_GROUP ? n - lo : FM_GET_GROUP;
        uint64_t hash[FM_GET_GROUP], slot[FM_GET_GROUP];
        for (size_t k = 0; k < cnt; k++) {
            hash[k] = fm_hash_key(kind, keys + (lo + k) * ks, ks);
            fm_prefetch_home(v, hash[k]);
        }
        for (size_t k = 0; k < cnt; k++) {
            slot[k] = fm_probe_find(v, keys + (lo + k) * ks, hash[k]);
            if (vs && slot[k] != FM_NO_SLOT) fm_prefetch(fm_value_at(v, slot[k]));
        }
        for (size_t k = 0; k < cnt; k++) {
            const size_t i = lo + k;
            if (found_out) found_out[i] = slot[k] != FM_NO_SLOT;
            if (!vs) continue;
            if (slot[k] != FM_NO_SLOT)
                memcpy(values_out + i * vs, fm_value_at(v, slot[k]), vs);
            else
                memset(values_out + i * vs, 0, vs);
        }
    }
}
