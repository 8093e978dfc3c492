/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "cpu/fm_cpu_batch.h"

#include <stdlib.h>
#include <string.h>

#include "api/fm_alloc.h"
#include "api/fm_map.h"
#include "table/fm_hash.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Keys whose table lines are in flight ahead of the one being probed. */
#define FM_AHEAD 16

static int thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static int thread_count(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* Which of `owners` equal ranges of slots holds this hash's home slot. A
 * table has one owner per configured thread; a team of fewer threads gives
 * each thread several owners (owner % team == thread). */
static inline int owner_of(uint64_t hash, int owners)
{
    return (int)(((hash >> 32) * (uint64_t)owners) >> 32);
}

/* Open-addressing set of absent keys seen so far, to count each once. */
typedef struct key_set {
    uint64_t *hash; /* 0 and pos 0 = empty slot */
    uint64_t *pos;  /* batch position + 1 */
    uint64_t mask;
} key_set;

/* Adds the key at batch position i unless an equal key is in; 1 when added. */
static int key_set_add(key_set *s, const uint8_t *keys, uint32_t ks, uint64_t i, uint64_t h)
{
    const uint8_t *key = keys + i * ks;
    for (uint64_t j = h & s->mask;; j = (j + 1) & s->mask) {
        if (s->pos[j] == 0) {
            s->pos[j] = i + 1;
            s->hash[j] = h;
            return 1;
        }
        if (s->hash[j] == h && fm_key_equal(keys + (s->pos[j] - 1) * ks, key, ks)) return 0;
    }
}

typedef enum walk_op { WALK_COUNT_ABSENT, WALK_COUNT_DISTINCT, WALK_INSERT, WALK_ADD, WALK_REMOVE } walk_op;

typedef struct walk_args {
    walk_op op;
    const uint8_t *values;   /* WALK_INSERT */
    const uint64_t *deltas;  /* WALK_ADD; NULL = +1 */
    uint8_t *removed_out;    /* WALK_REMOVE; may be NULL */
    key_set *sets;           /* WALK_COUNT_DISTINCT: one per owner */
    uint64_t *per_owner;     /* WALK_COUNT_ABSENT: absent keys per owner */
} walk_args;

typedef struct walk_totals {
    uint64_t counted, claimed, from_tombstones, removed, tombstones_left;
} walk_totals;

/* What one key does, at batch position i with hash h. */
static inline void walk_one(const fm_cpu_batch *b, const fm_table_view *v, const walk_args *a,
                            int owner, uint64_t i, uint64_t h, walk_totals *tot)
{
    const uint32_t ks = v->key_size, vs = v->value_size;
    const uint8_t *key = b->keys + i * ks;
    switch (a->op) {
    case WALK_COUNT_ABSENT:
        if (fm_probe_find(v, key, h) == FM_NO_SLOT) {
            tot->counted++;
            a->per_owner[owner]++;
        }
        return;
    case WALK_COUNT_DISTINCT:
        if (fm_probe_find(v, key, h) == FM_NO_SLOT)
            tot->counted += (uint64_t)key_set_add(&a->sets[owner], b->keys, ks, i, h);
        return;
    case WALK_REMOVE: {
        int left_tombstone = 0;
        const int hit = fm_probe_remove(v, key, h, &left_tombstone);
        if (a->removed_out) a->removed_out[i] = (uint8_t)hit;
        tot->removed += (uint64_t)hit;
        tot->tombstones_left += (uint64_t)left_tombstone;
        return;
    }
    case WALK_INSERT:
    case WALK_ADD: {
        int fresh = 0, was_tombstone = 0;
        /* Room for every new key was made before the walk. */
        const uint64_t slot = fm_probe_upsert(v, key, h, &fresh, &was_tombstone);
        if (a->op == WALK_INSERT) {
            /* A set has no values (and may pass values == NULL): no
             * pointer arithmetic on NULL. */
            if (vs) fm_copy_bytes(fm_value_at(v, slot), a->values + i * vs, vs);
        } else {
            uint8_t *dst = fm_value_at(v, slot);
            uint64_t counter = 0;
            if (!fresh) memcpy(&counter, dst, 8);
            counter += a->deltas ? a->deltas[i] : 1;
            memcpy(dst, &counter, 8);
        }
        if (fresh) {
            fm_publish(v, slot, h);
            tot->claimed++;
            tot->from_tombstones += (uint64_t)was_tombstone;
        }
        return;
    }
    }
}

/* Runs `a->op` over the batch: chunk by chunk, the threads hash the chunk
 * together, then each walks it in order for the keys it owns, with the
 * table lines of its next FM_AHEAD keys prefetched. */
static walk_totals walk_batch(const fm_cpu_batch *b, const fm_cpu_table *t, const walk_args *a)
{
    const fm_table_view *v = &t->v;
    const uint32_t ks = v->key_size;
    const int kind = t->hash_kind;
    uint64_t *const hashes = b->hashes;
    walk_totals sum = {0, 0, 0, 0, 0};
    const int touches_values = v->value_size && (a->op == WALK_INSERT || a->op == WALK_ADD);
#pragma omp parallel num_threads(b->n > 4096 ? t->threads : 1)
    {
        const int me = thread_id(), team = thread_count(), owners = t->threads;
        walk_totals tot = {0, 0, 0, 0, 0};
        for (size_t base = 0; base < b->n; base += b->chunk) {
            const int64_t len = (int64_t)(b->n - base < b->chunk ? b->n - base : b->chunk);
#pragma omp for schedule(static)
            for (int64_t k = 0; k < len; k++)
                hashes[k] = fm_hash_key(kind, b->keys + (base + (size_t)k) * ks, ks);
            uint64_t ring[FM_AHEAD];
            int ring_owner[FM_AHEAD];
            unsigned head = 0, queued = 0;
            for (int64_t scan = 0;;) {
                while (queued < FM_AHEAD && scan < len) {
                    const uint64_t h = hashes[scan];
                    const int owner = owner_of(h, owners);
                    if (owner % team == me) {
                        const uint64_t home = fm_home_slot(h, v->log2_slots);
                        fm_prefetch_write(&v->tags[home]);
                        fm_prefetch(fm_key_at(v, home));
                        /* Counting and removing never touch values. */
                        if (touches_values) fm_prefetch_write(fm_value_at(v, home));
                        ring[(head + queued) % FM_AHEAD] = (uint64_t)scan;
                        ring_owner[(head + queued) % FM_AHEAD] = owner;
                        queued++;
                    }
                    scan++;
                }
                if (queued == 0) break;
                const uint64_t k = ring[head];
                const int owner = ring_owner[head];
                head = (head + 1) % FM_AHEAD;
                queued--;
                walk_one(b, v, a, owner, base + k, hashes[k], &tot);
            }
#pragma omp barrier
        }
#pragma omp critical(fm_walk_totals)
        {
            sum.counted += tot.counted;
            sum.claimed += tot.claimed;
            sum.from_tombstones += tot.from_tombstones;
            sum.removed += tot.removed;
            sum.tombstones_left += tot.tombstones_left;
        }
    }
    return sum;
}

fm_status fm_cpu_batch_plan(fm_cpu_batch *b, fm_cpu_table *t, const void *keys, size_t n)
{
    memset(b, 0, sizeof *b);
    b->chunk = FM_BATCH_CHUNK;
    b->hashes = fm_cpu_table_scratch(t, b->chunk);
    if (!b->hashes) return FM_ERR_NOMEM;
    b->keys = keys;
    b->n = n;
    return FM_OK;
}

fm_status fm_cpu_batch_count_new(const fm_cpu_batch *b, const fm_cpu_table *t, uint64_t headroom,
                                 uint64_t *new_out)
{
    const int owners = t->threads;
    uint64_t per_owner[FM_CONFIG_MAX_THREADS] = {0};
    walk_args a = {.op = WALK_COUNT_ABSENT, .per_owner = per_owner};
    const uint64_t with_repeats = walk_batch(b, t, &a).counted;
    if (with_repeats <= headroom) {
        *new_out = with_repeats;
        return FM_OK;
    }
    /* Repeated absent keys may be what breaks the bound: count exactly,
     * with a set per owner sized for the absent keys it owns. */
    key_set sets[FM_CONFIG_MAX_THREADS];
    memset(sets, 0, sizeof sets);
    fm_status st = FM_OK;
    for (int u = 0; u < owners; u++) {
        uint64_t slots = 16;
        while (slots < 2 * per_owner[u]) slots <<= 1;
        sets[u].mask = slots - 1;
        sets[u].hash = fm_alloc(slots * sizeof(uint64_t));
        sets[u].pos = fm_alloc_zero(slots * sizeof(uint64_t), 1);
        if (!sets[u].hash || !sets[u].pos) st = FM_ERR_NOMEM;
    }
    if (st == FM_OK) {
        walk_args exact = {.op = WALK_COUNT_DISTINCT, .sets = sets};
        *new_out = walk_batch(b, t, &exact).counted;
    }
    for (int u = 0; u < owners; u++) {
        fm_free(sets[u].hash);
        fm_free(sets[u].pos);
    }
    return st;
}

void fm_cpu_batch_insert(const fm_cpu_batch *b, fm_cpu_table *t, const uint8_t *values)
{
    walk_args a = {.op = WALK_INSERT, .values = values};
    walk_totals tot = walk_batch(b, t, &a);
    t->live += tot.claimed;
    t->tombstones -= tot.from_tombstones;
}

void fm_cpu_batch_add_u64(const fm_cpu_batch *b, fm_cpu_table *t, const uint64_t *deltas)
{
    walk_args a = {.op = WALK_ADD, .deltas = deltas};
    walk_totals tot = walk_batch(b, t, &a);
    t->live += tot.claimed;
    t->tombstones -= tot.from_tombstones;
}

void fm_cpu_batch_remove(const fm_cpu_batch *b, fm_cpu_table *t, uint8_t *removed_out)
{
    walk_args a = {.op = WALK_REMOVE, .removed_out = removed_out};
    walk_totals tot = walk_batch(b, t, &a);
    t->live -= tot.removed;
    t->tombstones += tot.tombstones_left;
}

/* Lookups: each thread takes a contiguous part of the batch; hashes are
 * computed FM_AHEAD keys ahead, when their lines are prefetched. */
void fm_cpu_get(const fm_cpu_table *t, const uint8_t *keys, size_t n, uint8_t *values_out,
                uint8_t *found_out)
{
    const fm_table_view *v = &t->v;
    const uint32_t ks = v->key_size, vs = v->value_size;
    const int kind = t->hash_kind;
#pragma omp parallel num_threads(n > 4096 ? t->threads : 1)
    {
        const size_t threads = (size_t)thread_count(), me = (size_t)thread_id();
        const size_t lo = n * me / threads, hi = n * (me + 1) / threads;
        uint64_t ring[FM_AHEAD];
        for (size_t i = lo; i < hi + FM_AHEAD; i++) {
            if (i >= lo + FM_AHEAD) { /* probe key k, prefetched FM_AHEAD keys ago */
                const size_t k = i - FM_AHEAD;
                const uint64_t slot = fm_probe_find(v, keys + k * ks, ring[k % FM_AHEAD]);
                if (found_out) found_out[k] = slot != FM_NO_SLOT;
                if (vs && slot != FM_NO_SLOT)
                    fm_copy_bytes(values_out + k * vs, fm_value_at(v, slot), vs);
                else if (vs)
                    memset(values_out + k * vs, 0, vs);
            }
            if (i < hi) {
                const uint64_t h = fm_hash_key(kind, keys + i * ks, ks);
                fm_prefetch_home(v, h);
                ring[i % FM_AHEAD] = h;
            }
        }
    }
}
