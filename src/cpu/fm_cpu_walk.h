/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* What a batch walk does to one key, shared by the two ways a CPU table
 * walks a batch: in chunks sorted by owner (cpu_batch.c) and, for a batch
 * dense in the table, in records sorted by home slot (cpu_dense.c). Each
 * key comes with its hash, its value (insert), its delta (add, subtract)
 * and its position in the batch (remove's output, the distinct count). */
#ifndef FM_CPU_WALK_H
#define FM_CPU_WALK_H

#include <string.h>

#include "api/fm_alloc.h"
#include "cpu/fm_cpu_table.h"

#ifdef _OPENMP
#include <omp.h>
#endif

/* Keys whose table lines are in flight ahead of the one being probed. */
#define FM_AHEAD 16

static inline int fm_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

static inline int fm_thread_count(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* Open-addressing set of absent keys seen so far, to count each once. */
typedef struct key_set {
    uint64_t *hash; /* 0 and pos 0 = empty slot */
    uint64_t *pos;  /* batch position + 1 */
    uint64_t mask;
} key_set;

/* Adds the key at batch position i unless an equal key is in; 1 when added. */
static inline int key_set_add(key_set *s, const uint8_t *keys, uint32_t ks, uint64_t i, uint64_t h)
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

/* Room for `bytes` more at the end of the log, or NULL when it cannot grow. */
static inline uint8_t *log_append(fm_undo_log *log, size_t bytes)
{
    if (log->len + bytes > log->cap) {
        size_t cap = log->cap ? 2 * log->cap : 64 * 1024;
        while (cap < log->len + bytes) cap *= 2;
        uint8_t *more = fm_alloc(cap);
        if (!more) return NULL;
        if (log->len) memcpy(more, log->bytes, log->len);
        fm_free(log->bytes);
        log->bytes = more;
        log->cap = cap;
    }
    uint8_t *at = log->bytes + log->len;
    log->len += bytes;
    return at;
}

typedef enum walk_op {
    WALK_COUNT_ABSENT,
    WALK_COUNT_DISTINCT,
    WALK_INSERT,
    WALK_ADD,
    WALK_REMOVE,
    WALK_SUBTRACT /* undoes WALK_ADD on the keys that were present */
} walk_op;

typedef struct walk_args {
    walk_op op;
    const uint8_t *keys;     /* the batch (WALK_COUNT_DISTINCT compares by position) */
    const uint8_t *values;   /* WALK_INSERT */
    const uint64_t *deltas;  /* WALK_ADD, WALK_SUBTRACT; NULL = 1 each */
    uint8_t *removed_out;    /* WALK_REMOVE; may be NULL */
    key_set *sets;           /* WALK_COUNT_DISTINCT: one per owner */
    uint64_t *per_owner;     /* WALK_COUNT_ABSENT: absent keys per owner */
    fm_cpu_pending *log;     /* tentative WALK_INSERT / WALK_ADD, else NULL */
    uint64_t budget;         /* with log: new keys each owner may claim */
} walk_args;

typedef struct walk_totals {
    uint64_t counted, claimed, from_tombstones, removed, tombstones_left, skipped;
} walk_totals;

static inline void add_totals(walk_totals *sum, const walk_totals *t)
{
    sum->counted += t->counted;
    sum->claimed += t->claimed;
    sum->from_tombstones += t->from_tombstones;
    sum->removed += t->removed;
    sum->tombstones_left += t->tombstones_left;
    sum->skipped += t->skipped;
}

/* A stable counting sort's offsets, shared by the chunked walk (keys by
 * owner) and the dense walk (keys by bucket), in two steps that split the
 * work among the threads (O(team) each per column, never O(team * groups)
 * on one thread). counts[th * groups + u] holds thread th's keys of group
 * u; positions go group-major, then thread, so a group's keys keep batch
 * order. Step 1, for each group u of this thread: the column of u becomes
 * its running sum over the threads, and total[u] its sum. */
static inline void sort_columns(uint64_t *counts, uint64_t *total, int me, int team, size_t groups)
{
    for (size_t u = (size_t)me; u < groups; u += (size_t)team) {
        uint64_t at = 0;
        for (int th = 0; th < team; th++) {
            const uint64_t c = counts[(size_t)th * groups + u];
            counts[(size_t)th * groups + u] = at;
            at += c;
        }
        total[u] = at;
    }
}

/* Step 2, once every column is done: this thread's row of counts becomes
 * where its keys of each group go, and start[u] (this thread's copy) where
 * group u's keys begin, for u = 0..groups. */
static inline void sort_row(uint64_t *mine, const uint64_t *total, uint64_t *start, size_t groups)
{
    uint64_t at = 0;
    for (size_t u = 0; u < groups; u++) {
        start[u] = at;
        mine[u] += at;
        at += total[u];
    }
    start[groups] = at;
}

/* Whether a walk of `op` writes values (and so prefetches their lines). */
static inline int walk_touches_values(const fm_table_view *v, walk_op op)
{
    return v->value_size && (op == WALK_INSERT || op == WALK_ADD);
}

/* Starts loading the lines a write walk will touch at slot `home`: its tag
 * and value (to write), its key (to compare). */
static inline void walk_prefetch(const fm_table_view *v, uint64_t home, int touches_values)
{
    fm_prefetch_write(&v->tags[home]);
    fm_prefetch(fm_key_at(v, home));
    if (touches_values) fm_prefetch_write(fm_value_at(v, home));
}

/* An insert or add of `key`: one probe finds it or the slot to claim. A
 * tentative write logs what it changes and skips a key it has no room or
 * no log for. `value` is the insert's value, `delta` the add's. */
static inline void write_one(const fm_table_view *v, const walk_args *a, int owner, const uint8_t *key,
                             uint64_t h, const uint8_t *value, uint64_t delta, walk_totals *tot)
{
    const uint32_t vs = v->value_size;
    fm_cpu_pending *log = a->log;
    uint64_t vacancy = FM_NO_SLOT;
    uint64_t slot = fm_probe_find_or_vacancy(v, key, h, &vacancy);
    if (slot != FM_NO_SLOT) { /* present: overwrite or add */
        /* A set has no values (and may pass values == NULL). */
        if (!vs) return;
        uint8_t *dst = fm_value_at(v, slot);
        if (a->op == WALK_ADD) {
            uint64_t counter;
            memcpy(&counter, dst, 8);
            counter += delta;
            memcpy(dst, &counter, 8);
            return;
        }
        if (log) {
            uint8_t *rec = log_append(&log->overwrites[owner], 8 + vs);
            if (!rec) {
                tot->skipped++;
                return;
            }
            memcpy(rec, &slot, 8);
            memcpy(rec + 8, dst, vs);
        }
        fm_copy_bytes(dst, value, vs);
        return;
    }
    uint8_t *rec = NULL;
    if (log && (log->owner_claims[owner] >= a->budget || !(rec = log_append(&log->claims[owner], 8)))) {
        tot->skipped++;
        return;
    }
    int was_tombstone = 0;
    slot = vacancy == FM_NO_SLOT ? FM_NO_SLOT : fm_claim_from(v, vacancy, key, &was_tombstone);
    if (slot == FM_NO_SLOT) { /* only a tentative write meets a full table */
        if (log) log->claims[owner].len -= 8;
        tot->skipped++;
        return;
    }
    if (a->op == WALK_INSERT) {
        if (vs) fm_copy_bytes(fm_value_at(v, slot), value, vs);
    } else {
        memcpy(fm_value_at(v, slot), &delta, 8);
    }
    fm_publish(v, slot, h);
    tot->claimed++;
    tot->from_tombstones += (uint64_t)was_tombstone;
    if (log) {
        const uint64_t entry = slot << 1 | (uint64_t)was_tombstone;
        memcpy(rec, &entry, 8);
        log->owner_claims[owner]++;
    }
}

/* What `a->op` does to `key` (hash h) of owner `owner`, at batch position
 * `pos`, with its value (insert) or delta (add, subtract). */
static inline void walk_one(const fm_table_view *v, const walk_args *a, int owner, const uint8_t *key,
                            uint64_t h, const uint8_t *value, uint64_t delta, uint64_t pos,
                            walk_totals *tot)
{
    switch (a->op) {
    case WALK_COUNT_ABSENT:
        if (fm_probe_find(v, key, h) == FM_NO_SLOT) {
            tot->counted++;
            a->per_owner[owner]++;
        }
        return;
    case WALK_COUNT_DISTINCT:
        if (fm_probe_find(v, key, h) == FM_NO_SLOT)
            tot->counted += (uint64_t)key_set_add(&a->sets[owner], a->keys, v->key_size, pos, h);
        return;
    case WALK_REMOVE: {
        int left_tombstone = 0;
        const int hit = fm_probe_remove(v, key, h, &left_tombstone);
        if (a->removed_out) a->removed_out[pos] = (uint8_t)hit;
        tot->removed += (uint64_t)hit;
        tot->tombstones_left += (uint64_t)left_tombstone;
        return;
    }
    case WALK_SUBTRACT: {
        const uint64_t slot = fm_probe_find(v, key, h);
        if (slot == FM_NO_SLOT) return;
        uint64_t counter;
        memcpy(&counter, fm_value_at(v, slot), 8);
        counter -= delta;
        memcpy(fm_value_at(v, slot), &counter, 8);
        return;
    }
    case WALK_INSERT:
    case WALK_ADD: write_one(v, a, owner, key, h, value, delta, tot); return;
    }
}

/* walk_one on key i of the batch `keys` (hash h), with its value (only
 * inserts pass values) or delta. */
static inline void walk_at(const fm_table_view *v, const walk_args *a, int owner, const uint8_t *keys, uint64_t i,
                           uint64_t h, walk_totals *tot)
{
    const uint8_t *value = a->values ? a->values + i * v->value_size : NULL;
    walk_one(v, a, owner, keys + i * v->key_size, h, value, a->deltas ? a->deltas[i] : 1, i, tot);
}

#endif
