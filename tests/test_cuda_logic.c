/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * The CUDA backend's per-key logic on CPU threads: the steps every GPU
 * thread runs (src/cuda/fm_cuda_keys.h: grouping a chunk's keys in the
 * epoch-tagged set, the acting occurrence's write, remove, get, exact
 * new-key counts, add_u64 with no grouping, every occurrence of a key
 * racing the others, and the single-pass insert, whose count of repeats
 * must be exact and which is written again grouped when it has any) run
 * here on
 * OpenMP threads over a table in host memory, in a shuffled order, and the
 * outcome of every batch is compared with the reference map applied in
 * batch order. So the logic the kernels run is tested on every machine,
 * with or without a GPU (the GPU itself is covered by differential_cuda and
 * cross_backend).
 *
 * Batches are split into chunks of random size, as the backend splits them,
 * so repeats of a key across chunks are covered too. Tables are sized so
 * they never need to grow; when tombstones pile up the table is rebuilt from
 * its entries, like the backend's in-place rehash.
 *
 * Usage: test_cuda_logic [--seed S] [--scale X]
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/fm_cuda_keys.h"
#include "reference_map.h"
#include "test_check.h"
#include "test_util.h"


typedef struct emu {
    fm_table_view t;
    uint64_t live, tombstones;
    int kind;
    fm_cuda_dedup d;
    size_t *perm; /* the order the "threads" take a chunk's keys in */
    unsigned *marks; /* the single-pass insert's bit a slot */
    tu_rng rng;
    const char *conf;
    int batch;
} emu;

static fm_table_view table_new(uint64_t slots, uint32_t ks, uint32_t vs)
{
    fm_table_view t;
    memset(&t, 0, sizeof t);
    t.tags = tu_xcalloc(slots, sizeof *t.tags);
    t.keys = tu_xcalloc(slots, ks);
    t.values = vs ? tu_xcalloc(slots, vs) : NULL;
    t.mask = slots - 1;
    while (((uint64_t)1 << t.log2_slots) < slots) t.log2_slots++;
    t.key_size = ks;
    t.value_size = vs;
    t.spread = 1;
    return t;
}

static void table_free(fm_table_view *t)
{
    free(t->tags);
    free(t->keys);
    free(t->values);
}

/* A shuffled order of 0..n-1. */
static void shuffle(emu *e, size_t n)
{
    for (size_t i = 0; i < n; i++) e->perm[i] = i;
    for (size_t i = n; i > 1; i--) {
        size_t j = (size_t)tu_below(&e->rng, i);
        size_t x = e->perm[i - 1];
        e->perm[i - 1] = e->perm[j];
        e->perm[j] = x;
    }
}

static void add_counts(fm_cuda_counts *sum, const fm_key_counts *k)
{
#pragma omp critical(fm_logic_counts)
    {
        sum->counted += k->counted;
        sum->claimed += k->claimed;
        sum->from_tombstones += k->from_tombstones;
        sum->removed += k->removed;
        sum->tombstones_left += k->tombstones_left;
        sum->lost += k->lost;
        sum->repeated += k->repeated;
    }
}

/* The grouping pass of a chunk, on all threads, in a shuffled order. The
 * set is cleared only when the epoch wraps, as on the device. */
static void group_chunk(emu *e, const uint8_t *keys, size_t n, int last)
{
    e->d.mask = fm_dedup_slots(n) - 1;
    if (fm_dedup_next_epoch(&e->d)) memset(e->d.set, 0, e->d.slots * sizeof *e->d.set);
    shuffle(e, n);
    const long long len = (long long)n;
#pragma omp parallel for schedule(dynamic, 3)
    for (long long k = 0; k < len; k++) fm_key_group(keys, e->perm[k], e->t.key_size, e->kind, &e->d, last);
}

typedef enum op { OP_INSERT, OP_ADD, OP_REMOVE, OP_GET, OP_COUNT, OP_INSERT_ONCE } op;

/* Runs one chunk of a batch on the emulated device. */
static void run_chunk(emu *e, op o, const uint8_t *keys, const uint8_t *values,
                      const unsigned long long *deltas, size_t n, uint8_t *flags_out,
                      uint8_t *values_out, const fm_table_view *seen, fm_cuda_counts *c)
{
    const uint32_t ks = e->t.key_size, vs = e->t.value_size;
    if (o != OP_GET && o != OP_ADD && o != OP_INSERT_ONCE) group_chunk(e, keys, n, o == OP_INSERT);
    else shuffle(e, n); /* adds and single-pass inserts are not grouped */
    if (o == OP_INSERT_ONCE) memset(e->marks, 0, fm_mark_words(e->t.mask + 1) * sizeof *e->marks);
    const long long len = (long long)n;
#pragma omp parallel
    {
        fm_key_counts k = {0, 0, 0, 0, 0, 0, 0};
#pragma omp for schedule(dynamic, 5)
        for (long long q = 0; q < len; q++) {
            const size_t i = e->perm[q];
            const uint8_t *key = keys + i * ks;
            switch (o) {
            case OP_GET:
                fm_key_get(&e->t, e->kind, key, vs ? values_out + i * vs : NULL, flags_out + i, 0, &k);
                break;
            case OP_REMOVE:
                flags_out[i] = (uint8_t)(fm_key_acts(&e->d, i, 0, &k) ? fm_key_remove(&e->t, e->kind, key, &k) : 0);
                break;
            case OP_INSERT:
                if (fm_key_acts(&e->d, i, 1, &k)) fm_key_write(&e->t, e->kind, key, values + i * vs, &k);
                break;
            case OP_INSERT_ONCE: /* every occurrence, all at once, as the add */
                fm_key_insert_once(&e->t, e->kind, key, values + i * vs, vs ? e->marks : NULL, &k);
                break;
            case OP_ADD: /* every occurrence, all at once: repeats of a key race */
                fm_key_add(&e->t, e->kind, key, deltas ? deltas[i] : 1ull, &k);
                break;
            case OP_COUNT:
                if (fm_key_acts(&e->d, i, 0, &k)) fm_key_count_distinct(&e->t, seen, e->kind, key, &k);
                break;
            }
        }
        add_counts(c, &k);
    }
}

/* Rebuilds the table from its entries when tombstones pile up (the
 * backend rehashes in place through a packed copy; so does this). */
static void maybe_rehash(emu *e)
{
    if (e->tombstones * 4 < e->t.mask + 1) return;
    fm_table_view next = table_new(e->t.mask + 1, e->t.key_size, e->t.value_size);
    for (uint64_t s = 0; s <= e->t.mask; s++) {
        if (fm_tag_state(e->t.tags[s]) != FM_STATE_FULL) continue;
        const uint8_t *key = fm_key_at(&e->t, s);
        const uint64_t h = fm_hash_key(e->kind, key, e->t.key_size);
        const uint64_t slot = fm_probe_place_new(&next, key, h);
        fm_copy_bytes(fm_value_at(&next, slot), fm_value_at(&e->t, s), e->t.value_size);
        fm_publish(&next, slot, h);
    }
    table_free(&e->t);
    e->t = next;
    e->tombstones = 0;
}

/* The whole table against the reference: entries, live and tombstones. */
static void check_table(emu *e, const ref_map *ref)
{
    uint64_t full = 0, tomb = 0;
    for (uint64_t s = 0; s <= e->t.mask; s++) {
        const uint32_t state = fm_tag_state(e->t.tags[s]);
        tomb += state == FM_STATE_TOMBSTONE;
        if (state == FM_STATE_BUSY) MISMATCH("%s batch %d: slot %llu left BUSY", e->conf, e->batch, (unsigned long long)s);
        if (state != FM_STATE_FULL) continue;
        full++;
        size_t id = ref_find(ref, fm_key_at(&e->t, s));
        if (id == REF_NONE) {
            MISMATCH("%s batch %d: table holds a key the reference does not", e->conf, e->batch);
            return;
        }
        if (e->t.value_size && memcmp(ref_value(ref, id), fm_value_at(&e->t, s), e->t.value_size) != 0) {
            MISMATCH("%s batch %d: a value differs from the reference", e->conf, e->batch);
            return;
        }
    }
    if (full != ref_size(ref) || full != e->live || tomb != e->tombstones)
        MISMATCH("%s batch %d: %llu FULL slots (tracked %llu), reference %zu; %llu tombstones (tracked %llu)",
             e->conf, e->batch, (unsigned long long)full, (unsigned long long)e->live, ref_size(ref),
             (unsigned long long)tomb, (unsigned long long)e->tombstones);
}

static void run_conf(uint32_t ks, uint32_t vs, fm_hash hash, uint64_t seed, double scale)
{
    char conf[96];
    snprintf(conf, sizeof conf, "ks=%u vs=%u %s seed=%llu", ks, vs,
             hash == FM_HASH_IDENTITY ? "identity" : "murmur3", (unsigned long long)seed);
    emu e;
    memset(&e, 0, sizeof e);
    e.conf = conf;
    e.kind = (int)hash;
    tu_rng_seed(&e.rng, seed);
    size_t pool_n = ks == 1 ? 200 : (size_t)tu_range(&e.rng, 50, 6000);
    uint64_t slots = 16;
    while (slots < 2 * pool_n) slots <<= 1;
    e.t = table_new(slots, ks, vs);
    const size_t max_batch = 20000;
    e.d.slots = fm_dedup_slots(max_batch);
    e.d.set = tu_xcalloc(e.d.slots, sizeof *e.d.set);
    e.d.slot_of = tu_xcalloc(max_batch, sizeof *e.d.slot_of);
    /* A third of the runs start just before the epoch wraps, over a set
     * whose words claim epoch 1 (taken, acting for nobody): the wrap must
     * clear them, or no occurrence of the chunks after it acts. */
    if (tu_chance(&e.rng, 33)) {
        e.d.epoch = FM_DEDUP_EPOCHS - 1 - (unsigned)tu_below(&e.rng, 4);
        for (uint64_t i = 0; i < e.d.slots; i++) {
            e.d.set[i].id = 1ull << 48 | 1;
            e.d.set[i].act = 1ull << 32 | 0xffffffffu;
        }
    }
    e.perm = tu_xcalloc(max_batch, sizeof *e.perm);
    e.marks = tu_xcalloc(fm_mark_words(slots), sizeof *e.marks);
    uint8_t *pool = tu_xcalloc(pool_n, ks), *keys = tu_xcalloc(max_batch, ks);
    uint8_t *values = tu_xcalloc(max_batch, vs), *out = tu_xcalloc(max_batch, vs);
    uint8_t *flags = tu_xcalloc(max_batch, 1);
    unsigned long long *deltas = tu_xcalloc(max_batch, sizeof *deltas);
    uint8_t *zeros = tu_xcalloc(1, vs);
    for (size_t i = 0; i < pool_n; i++) { /* distinct pool keys (1-byte keys: 200 of 256) */
        do tu_fill(&e.rng, pool + i * ks, ks);
        while (ks == 1 && memchr(pool, pool[i], i) != NULL);
    }
    ref_map *ref = ref_create(ks, vs), *fresh = ref_create(ks, 0);
    const int batches = (int)(120 * scale) + 2;
    for (e.batch = 0; e.batch < batches && !g_failures; e.batch++) {
        const size_t n = (size_t)tu_log_range(&e.rng, max_batch);
        const size_t w = (size_t)tu_log_range(&e.rng, pool_n); /* a small window: many repeats */
        const size_t a = (size_t)tu_below(&e.rng, pool_n - w + 1);
        for (size_t i = 0; i < n; i++) memcpy(keys + i * ks, pool + (a + tu_below(&e.rng, w)) * ks, ks);
        tu_fill(&e.rng, values, n * vs);
        const int use_deltas = !tu_chance(&e.rng, 25);
        for (size_t i = 0; i < n; i++) deltas[i] = tu_chance(&e.rng, 20) ? ~0ull - tu_below(&e.rng, 3) : tu_below(&e.rng, 9);
        op o = (op)tu_below(&e.rng, 6);
        if (o == OP_ADD && vs != 8) o = OP_INSERT;
        fm_table_view seen;
        memset(&seen, 0, sizeof seen);
        if (o == OP_COUNT) seen = table_new(fm_dedup_slots(n), ks, 0);
        fm_cuda_counts c;
        memset(&c, 0, sizeof c);
        uint64_t repeats = 0; /* single-pass insert: later occurrences of a key in its chunk */
        for (size_t first = 0; first < n;) { /* chunks of random size, in order */
            size_t len = (size_t)tu_range(&e.rng, 1, n);
            if (len > n - first) len = n - first;
            run_chunk(&e, o, keys + first * ks, values + first * vs, use_deltas ? deltas + first : NULL,
                      len, flags + first, out + first * vs, &seen, &c);
            if (o == OP_INSERT_ONCE && vs) {
                ref_clear(fresh);
                for (size_t i = first; i < first + len; i++) repeats += !ref_put(fresh, keys + i * ks, NULL);
            }
            first += len;
        }
        if (o == OP_INSERT_ONCE) {
            if (c.repeated != repeats)
                MISMATCH("%s batch %d: the single pass counted %llu repeats, the chunks hold %llu", conf, e.batch,
                         c.repeated, (unsigned long long)repeats);
            /* With repeats, the backend writes the batch again grouped. */
            for (size_t first = 0; c.repeated && first < n;) {
                size_t len = (size_t)tu_range(&e.rng, 1, n);
                if (len > n - first) len = n - first;
                run_chunk(&e, OP_INSERT, keys + first * ks, values + first * vs, NULL, len, flags + first,
                          out + first * vs, &seen, &c);
                first += len;
            }
        }
        if (c.lost) MISMATCH("%s batch %d: %llu keys found no slot", conf, e.batch, c.lost);
        e.live += c.claimed;
        e.live -= c.removed;
        e.tombstones -= c.from_tombstones;
        e.tombstones += c.tombstones_left;
        switch (o) {
        case OP_INSERT:
        case OP_INSERT_ONCE:
            for (size_t i = 0; i < n; i++) ref_put(ref, keys + i * ks, values + i * vs);
            break;
        case OP_ADD:
            for (size_t i = 0; i < n; i++) ref_add_u64(ref, keys + i * ks, use_deltas ? deltas[i] : 1);
            break;
        case OP_REMOVE:
            for (size_t i = 0; i < n; i++)
                if (flags[i] != ref_remove(ref, keys + i * ks)) {
                    MISMATCH("%s batch %d: removed flag of key #%zu is %u", conf, e.batch, i, flags[i]);
                    break;
                }
            break;
        case OP_GET:
            for (size_t i = 0; i < n; i++) {
                const size_t id = ref_find(ref, keys + i * ks);
                const uint8_t *want = id != REF_NONE ? ref_value(ref, id) : zeros;
                if (flags[i] != (id != REF_NONE) || (vs && memcmp(out + i * vs, want, vs) != 0)) {
                    MISMATCH("%s batch %d: get of key #%zu differs", conf, e.batch, i);
                    break;
                }
            }
            break;
        case OP_COUNT: {
            ref_clear(fresh);
            uint64_t want = 0;
            for (size_t i = 0; i < n; i++)
                if (ref_find(ref, keys + i * ks) == REF_NONE) want += (uint64_t)ref_put(fresh, keys + i * ks, NULL);
            if (c.counted != want)
                MISMATCH("%s batch %d: %llu new keys counted, %llu distinct absent keys", conf, e.batch, c.counted,
                     (unsigned long long)want);
            table_free(&seen);
            break;
        }
        }
        check_table(&e, ref);
        maybe_rehash(&e);
    }
    printf("cuda_logic: %s: %d batches, %zu entries, %s\n", conf, e.batch, ref_size(ref),
           g_failures ? "MISMATCH" : "same as the reference");
    ref_destroy(ref);
    ref_destroy(fresh);
    table_free(&e.t);
    free(e.d.set);
    free(e.d.slot_of);
    free(e.perm);
    free(e.marks);
    free(pool);
    free(keys);
    free(values);
    free(out);
    free(flags);
    free(deltas);
    free(zeros);
}

int main(int argc, char **argv)
{
    uint64_t seed = 1;
    double scale = 1.0;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--seed") == 0) seed = strtoull(argv[i + 1], NULL, 0);
        else if (strcmp(argv[i], "--scale") == 0) scale = strtod(argv[i + 1], NULL);
    }
    static const uint32_t KS[] = {1, 3, 8, 16, 32, 40};
    static const uint32_t VS[] = {0, 8, 24, 128};
    uint64_t s = seed;
    for (size_t k = 0; k < sizeof KS / sizeof KS[0]; k++)
        for (size_t v = 0; v < sizeof VS / sizeof VS[0]; v++)
            for (int h = 0; h < 2; h++)
                run_conf(KS[k], VS[v], h ? FM_HASH_IDENTITY : FM_HASH_MURMUR3, s++, scale);
    printf("cuda_logic: %d mismatches\n", g_failures);
    return g_failures ? 1 : 0;
}
