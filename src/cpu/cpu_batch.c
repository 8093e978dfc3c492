/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "cpu/fm_cpu_batch.h"

#include <stdlib.h>
#include <string.h>

#include "api/fm_alloc.h"
#include "api/fm_map.h"
#include "cpu/fm_cpu_dense.h"
#include "cpu/fm_cpu_walk.h"
#include "table/fm_hash.h"

/* Which of `owners` equal ranges of slots holds this hash's home slot. A
 * table has one owner per configured thread; a team of fewer threads gives
 * each thread several owners (owner % team == thread). */
static inline int owner_of(uint64_t hash, int owners)
{
    return (int)(((hash >> 32) * (uint64_t)owners) >> 32);
}

/* Hashes this thread's slice [lo, hi) of the chunk at `base` and counts its
 * keys per owner into mine[owners]. */
static void hash_slice(const fm_cpu_batch *b, const fm_cpu_table *t, size_t base, size_t lo, size_t hi,
                       uint64_t *mine, int owners)
{
    const uint32_t ks = t->v.key_size;
    memset(mine, 0, (size_t)owners * sizeof *mine);
    for (size_t k = lo; k < hi; k++) {
        const uint64_t h = fm_table_hash(&t->v, t->hash_kind, b->keys + (base + k) * ks);
        b->hashes[k] = h;
        mine[owner_of(h, owners)]++;
    }
}

/* Walks owner u's keys of the chunk at `base`, with the table lines of
 * the next FM_AHEAD keys prefetched. */
static void walk_owner(const fm_cpu_batch *b, const fm_cpu_table *t, const walk_args *a, int u,
                       const uint32_t *ord, size_t count, size_t base, int touches_values, walk_totals *tot)
{
    const fm_table_view *v = &t->v;
    const uint32_t ks = v->key_size;
    for (size_t j = 0; j < count + FM_AHEAD; j++) {
        if (j < count) {
            const uint64_t h = b->hashes[ord[j]];
            const uint64_t home = fm_home_slot(h, v->log2_slots);
            walk_prefetch(v, home, touches_values); /* counting and removing never touch values */
            fm_prefetch(b->keys + (base + ord[j]) * ks);
        }
        if (j >= FM_AHEAD) {
            const uint64_t i = base + ord[j - FM_AHEAD];
            walk_at(v, a, u, b->keys, i, b->hashes[i - base], tot);
        }
    }
}

/* Runs `a->op` over the batch: chunk by chunk, the threads hash the chunk
 * and sort its positions by owner together, then each walks the keys of
 * its own owners. */
static walk_totals walk_batch(const fm_cpu_batch *b, const fm_cpu_table *t, const walk_args *a)
{
    walk_totals sum = {0, 0, 0, 0, 0, 0};
    const int touches_values = walk_touches_values(&t->v, a->op);
#pragma omp parallel num_threads(b->n > 4096 ? t->threads : 1)
    {
        const int me = fm_thread_id(), team = fm_thread_count(), owners = t->threads;
        uint64_t *const counts = b->counts, *const total = b->counts + (size_t)team * owners;
        uint64_t *const mine = counts + (size_t)me * owners;
        uint64_t start[FM_CONFIG_MAX_THREADS + 1];
        walk_totals tot = {0, 0, 0, 0, 0, 0};
        for (size_t base = 0; base < b->n; base += b->chunk) {
            const size_t len = b->n - base < b->chunk ? b->n - base : b->chunk;
            const size_t lo = len * (size_t)me / (size_t)team, hi = len * (size_t)(me + 1) / (size_t)team;
            hash_slice(b, t, base, lo, hi, mine, owners);
#pragma omp barrier
            sort_columns(counts, total, me, team, owners);
#pragma omp barrier
            sort_row(mine, total, start, owners);
            for (size_t k = lo; k < hi; k++) b->order[mine[owner_of(b->hashes[k], owners)]++] = (uint32_t)k;
#pragma omp barrier
            for (int u = me; u < owners; u += team)
                walk_owner(b, t, a, u, b->order + start[u], (size_t)(start[u + 1] - start[u]), base,
                           touches_values, &tot);
#pragma omp barrier
        }
#pragma omp critical(fm_walk_totals)
        add_totals(&sum, &tot);
    }
    return sum;
}

/* A write in home-slot order where the batch is dense in the table
 * (cpu_dense.c), else in chunks. */
static walk_totals walk_write(const fm_cpu_batch *b, fm_cpu_table *t, const walk_args *a)
{
    walk_totals tot;
    if (fm_cpu_dense_walk(b->keys, b->n, t, a, &tot)) return tot;
    return walk_batch(b, t, a);
}

fm_status fm_cpu_batch_plan(fm_cpu_batch *b, fm_cpu_table *t, const void *keys, size_t n)
{
    memset(b, 0, sizeof *b);
    b->chunk = fm_cpu_table_chunk(t->v.mask + 1, t->threads);
    if (n < b->chunk) b->chunk = n > 64 ? n : 64;
    /* hashes, then order (two positions a word), then the owner counts and
     * totals: within the scratch the table holds (fm_cpu_table.h) */
    const size_t order_words = (b->chunk + 1) / 2;
    uint64_t *scratch = fm_cpu_table_scratch(t, fm_cpu_table_scratch_words(b->chunk, t->threads));
    if (!scratch) return FM_ERR_NOMEM;
    b->hashes = scratch;
    b->order = (uint32_t *)(scratch + b->chunk);
    b->counts = scratch + b->chunk + order_words;
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
        walk_args exact = {.op = WALK_COUNT_DISTINCT, .keys = b->keys, .sets = sets};
        *new_out = walk_batch(b, t, &exact).counted;
    }
    for (int u = 0; u < owners; u++) {
        fm_free(sets[u].hash);
        fm_free(sets[u].pos);
    }
    return st;
}

uint64_t fm_cpu_batch_sample_absent(const fm_cpu_batch *b, const fm_cpu_table *t, size_t samples)
{
    const uint32_t ks = t->v.key_size;
    uint64_t absent = 0;
    for (size_t j = 0; j < samples && j < b->n; j++) {
        const uint8_t *key = b->keys + (j * b->n / samples) * ks;
        absent += fm_probe_find(&t->v, key, fm_table_hash(&t->v, t->hash_kind, key)) == FM_NO_SLOT;
    }
    return absent;
}

/* Gets the per-owner logs of a tentative write ready (empty). 0 when they
 * cannot be allocated. */
static int pending_begin(fm_cpu_table *t, int adding, const uint8_t *keys, const uint64_t *deltas, size_t n)
{
    fm_cpu_pending *p = &t->pending;
    if (!p->claims) {
        const size_t owners = (size_t)t->threads;
        p->claims = fm_calloc(owners, sizeof *p->claims);
        p->overwrites = fm_calloc(owners, sizeof *p->overwrites);
        p->owner_claims = fm_calloc(owners, sizeof *p->owner_claims);
        if (!p->claims || !p->overwrites || !p->owner_claims) {
            fm_free(p->claims);
            fm_free(p->overwrites);
            fm_free(p->owner_claims);
            p->claims = NULL;
            p->overwrites = NULL;
            p->owner_claims = NULL;
            return 0;
        }
        p->owners = t->threads;
    }
    for (int u = 0; u < p->owners; u++) {
        p->claims[u].len = 0;
        p->overwrites[u].len = 0;
        p->owner_claims[u] = 0;
    }
    p->active = 1;
    p->adding = adding;
    p->keys = keys;
    p->deltas = deltas;
    p->n = n;
    p->claimed = 0;
    p->from_tombstones = 0;
    return 1;
}

static int write_batch(const fm_cpu_batch *b, fm_cpu_table *t, walk_args *a, const uint64_t *room)
{
    if (room) {
        if (!pending_begin(t, a->op == WALK_ADD, b->keys, a->deltas, b->n)) return 1;
        a->log = &t->pending;
        a->budget = *room / (uint64_t)t->threads;
    }
    const walk_totals tot = walk_write(b, t, a);
    t->live += tot.claimed;
    t->tombstones -= tot.from_tombstones;
    if (room) {
        t->pending.claimed = tot.claimed;
        t->pending.from_tombstones = tot.from_tombstones;
    }
    return tot.skipped != 0;
}

int fm_cpu_batch_insert(const fm_cpu_batch *b, fm_cpu_table *t, const uint8_t *values, const uint64_t *room)
{
    walk_args a = {.op = WALK_INSERT, .values = values};
    return write_batch(b, t, &a, room);
}

int fm_cpu_batch_add_u64(const fm_cpu_batch *b, fm_cpu_table *t, const uint64_t *deltas, const uint64_t *room)
{
    walk_args a = {.op = WALK_ADD, .deltas = deltas};
    return write_batch(b, t, &a, room);
}

void fm_cpu_batch_remove(const fm_cpu_batch *b, fm_cpu_table *t, uint8_t *removed_out)
{
    walk_args a = {.op = WALK_REMOVE, .removed_out = removed_out};
    walk_totals tot = walk_write(b, t, &a);
    t->live -= tot.removed;
    t->tombstones += tot.tombstones_left;
}

uint64_t fm_cpu_batch_claimed(const fm_cpu_table *t) { return t->pending.active ? t->pending.claimed : 0; }

uint64_t fm_cpu_batch_claimed_tombstones(const fm_cpu_table *t)
{
    return t->pending.active ? t->pending.from_tombstones : 0;
}

/* Logs are kept for the next write up to this size; a larger one is freed
 * (a big batch's log would otherwise hold its memory for good). */
#define FM_LOG_KEEP_BYTES ((size_t)4 << 20)

static void pending_end(fm_cpu_pending *p)
{
    p->active = 0;
    for (int u = 0; u < p->owners; u++) {
        fm_undo_log *logs[2] = {&p->claims[u], &p->overwrites[u]};
        for (int l = 0; l < 2; l++) {
            if (logs[l]->cap <= FM_LOG_KEEP_BYTES) continue;
            fm_free(logs[l]->bytes);
            memset(logs[l], 0, sizeof *logs[l]);
        }
    }
}

void fm_cpu_batch_keep(fm_cpu_table *t) { pending_end(&t->pending); }

void fm_cpu_batch_undo(fm_cpu_table *t)
{
    fm_cpu_pending *p = &t->pending;
    if (!p->active) return;
    const fm_table_view *v = &t->v;
    const uint32_t vs = v->value_size;
    /* Newest first, so a key overwritten twice gets its oldest value. */
    for (int u = 0; u < p->owners; u++) {
        const fm_undo_log *log = &p->overwrites[u];
        for (size_t at = log->len; at > 0; at -= 8 + vs) {
            const uint8_t *rec = log->bytes + at - (8 + vs);
            uint64_t slot;
            memcpy(&slot, rec, 8);
            memcpy(fm_value_at(v, slot), rec + 8, vs);
        }
    }
    for (int u = 0; u < p->owners; u++) {
        const fm_undo_log *log = &p->claims[u];
        for (size_t at = 0; at < log->len; at += 8) {
            uint64_t entry;
            memcpy(&entry, log->bytes + at, 8);
            v->tags[entry >> 1] = (entry & 1) ? FM_TAG_TOMBSTONE : FM_TAG_EMPTY;
        }
    }
    t->live -= p->claimed;
    t->tombstones += p->from_tombstones;
    pending_end(p);
    if (p->adding) { /* what was added to keys present before the write */
        fm_cpu_batch b;
        /* The write's plan left scratch big enough: this cannot fail. */
        if (fm_cpu_batch_plan(&b, t, p->keys, p->n) == FM_OK) {
            walk_args a = {.op = WALK_SUBTRACT, .deltas = p->deltas};
            (void)walk_batch(&b, t, &a);
        }
    }
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
        const size_t threads = (size_t)fm_thread_count(), me = (size_t)fm_thread_id();
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
                const uint64_t h = fm_table_hash(v, kind, keys + i * ks);
                fm_prefetch_home(v, h);
                ring[i % FM_AHEAD] = h;
            }
        }
    }
}
