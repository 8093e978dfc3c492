/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Single-pass writes (src/cpu/fm_cpu_batch.h, cpu_backend.c).
 *
 * 1. Undo is exact: on random tables with entries and tombstones, a
 *    tentative insert or add with a random, often too small, room is
 *    undone, and every tag, and every key and value of a FULL slot, must
 *    be byte for byte what it was, with the same live and tombstone counts.
 *    A tentative write that fit and is kept must equal the reference map.
 * 2. Through the public API, with FLASHMAP_TEST_SINGLE_PASS=1 so that small
 *    growing maps take the single-pass path: random insert / add / remove
 *    batches against the reference map, including batches built so that
 *    the sample that sizes growth sees only present keys while most are new
 *    (the write runs out of room, is undone and redone after counting).
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/fm_cpu_batch.h"
#include "map_check.h"
#include "reference_map.h"
#include "table/fm_hash.h"
#include "test_util.h"

static int g_failures;

#define FAIL(...)                                                                                  \
    do {                                                                                           \
        fprintf(stderr, __VA_ARGS__);                                                              \
        fputc('\n', stderr);                                                                       \
        g_failures++;                                                                              \
    } while (0)

/* Keys i of a pool: distinct for distinct i (the first 8 bytes hold i). */
static void key_of(uint32_t ks, uint64_t i, uint8_t *out)
{
    memset(out, 0, ks);
    uint64_t x = i * 0x9e3779b97f4a7c15ull + 1;
    memcpy(out, &x, ks < 8 ? ks : 8);
    for (uint32_t b = 8; b < ks; b++) out[b] = (uint8_t)(i >> (b % 8));
}

typedef struct snapshot {
    uint32_t *tags;
    uint8_t *keys, *values;
    uint64_t live, tombstones;
} snapshot;

static void take(snapshot *s, const fm_cpu_table *t)
{
    const uint64_t slots = t->v.mask + 1;
    s->tags = tu_xmalloc(slots * 4);
    s->keys = tu_xmalloc(slots * t->v.key_size);
    s->values = tu_xmalloc(slots * t->v.value_size + 1);
    memcpy(s->tags, t->v.tags, slots * 4);
    memcpy(s->keys, t->v.keys, slots * t->v.key_size);
    if (t->v.value_size) memcpy(s->values, t->v.values, slots * t->v.value_size);
    s->live = t->live;
    s->tombstones = t->tombstones;
}

static int same_as(const snapshot *s, const fm_cpu_table *t)
{
    const uint32_t ks = t->v.key_size, vs = t->v.value_size;
    if (s->live != t->live || s->tombstones != t->tombstones) return 0;
    for (uint64_t i = 0; i <= t->v.mask; i++) {
        if (s->tags[i] != t->v.tags[i]) return 0;
        if (fm_tag_state(s->tags[i]) != FM_STATE_FULL) continue;
        if (memcmp(s->keys + i * ks, t->v.keys + i * ks, ks)) return 0;
        if (vs && memcmp(s->values + i * vs, t->v.values + i * vs, vs)) return 0;
    }
    return 1;
}

static void drop(snapshot *s)
{
    free(s->tags);
    free(s->keys);
    free(s->values);
}

/* The table's contents equal the reference's (counts and every entry). */
static int table_matches(const fm_cpu_table *t, const ref_map *ref)
{
    const uint32_t ks = t->v.key_size, vs = t->v.value_size;
    uint64_t full = 0;
    for (uint64_t i = 0; i <= t->v.mask; i++) {
        if (fm_tag_state(t->v.tags[i]) != FM_STATE_FULL) continue;
        full++;
        const size_t id = ref_find(ref, t->v.keys + i * ks);
        if (id == REF_NONE || (vs && memcmp(ref_value(ref, id), t->v.values + i * vs, vs))) return 0;
    }
    return full == ref_size(ref) && t->live == full;
}

/* Part 1: a table of 2^log2 slots about 40% full, some tombstones, then a
 * tentative write of present and new keys with repeats. */
static void undo_case(uint64_t seed, uint32_t ks, uint32_t vs, int threads, int adding)
{
    tu_rng r;
    tu_rng_seed(&r, seed);
    const uint32_t log2 = 10 + (uint32_t)tu_below(&r, 5);
    const uint64_t slots = (uint64_t)1 << log2, pool = slots;
    fm_cpu_table t;
    if (fm_cpu_table_init(&t, slots, ks, vs, FM_HASH_MURMUR3, threads) != FM_OK) exit(1);
    ref_map *ref = ref_create(ks, vs);
    const size_t n0 = (size_t)(slots * 2 / 5);
    uint8_t *keys = tu_xmalloc(2 * slots * ks), *values = tu_xmalloc(2 * slots * (vs + 8));
    uint64_t *deltas = tu_xmalloc(2 * slots * 8);
    for (size_t i = 0; i < n0; i++) key_of(ks, tu_below(&r, pool / 2), keys + i * ks);
    tu_fill(&r, values, n0 * vs);
    fm_cpu_batch b;
    if (fm_cpu_batch_plan(&b, &t, keys, n0) != FM_OK) exit(1);
    fm_cpu_batch_insert(&b, &t, values, NULL);
    for (size_t i = 0; i < n0; i++) ref_put(ref, keys + i * ks, vs ? values + i * vs : NULL);
    const size_t nr = n0 / 4;
    for (size_t i = 0; i < nr; i++) key_of(ks, tu_below(&r, pool / 2), keys + i * ks);
    if (fm_cpu_batch_plan(&b, &t, keys, nr) != FM_OK) exit(1);
    fm_cpu_batch_remove(&b, &t, NULL);
    for (size_t i = 0; i < nr; i++) ref_remove(ref, keys + i * ks);

    /* The write: keys from the whole pool (half of it never inserted). */
    const size_t n = (size_t)tu_range(&r, 1, slots / 3);
    for (size_t i = 0; i < n; i++) key_of(ks, tu_below(&r, pool), keys + i * ks);
    tu_fill(&r, values, n * vs);
    for (size_t i = 0; i < n; i++) deltas[i] = tu_next(&r);
    const uint64_t room = tu_below(&r, n + 1);
    snapshot before;
    take(&before, &t);
    if (fm_cpu_batch_plan(&b, &t, keys, n) != FM_OK) exit(1);
    const int skipped = adding ? fm_cpu_batch_add_u64(&b, &t, deltas, &room) : fm_cpu_batch_insert(&b, &t, values, &room);
    const int keep = !skipped && tu_chance(&r, 50);
    if (keep) {
        fm_cpu_batch_keep(&t);
        for (size_t i = 0; i < n; i++) {
            const uint8_t *k = keys + i * ks;
            if (!adding) {
                ref_put(ref, k, vs ? values + i * vs : NULL);
                continue;
            }
            size_t id = ref_find(ref, k);
            uint64_t c = 0;
            if (id != REF_NONE) memcpy(&c, ref_value(ref, id), 8);
            c += deltas[i];
            ref_put(ref, k, &c);
        }
        if (!table_matches(&t, ref))
            FAIL("seed %llu (%u/%u, %d threads, %s): a kept tentative write differs from the reference",
                 (unsigned long long)seed, ks, vs, threads, adding ? "add" : "insert");
    } else {
        fm_cpu_batch_undo(&t);
        if (!same_as(&before, &t))
            FAIL("seed %llu (%u/%u, %d threads, %s, %zu keys, room %llu, %s): undo did not restore the table",
                 (unsigned long long)seed, ks, vs, threads, adding ? "add" : "insert", n,
                 (unsigned long long)room, skipped ? "ran out of room" : "fitted");
        if (!table_matches(&t, ref)) FAIL("seed %llu: after undo the table differs from the reference", (unsigned long long)seed);
    }
    drop(&before);
    fm_cpu_table_release(&t);
    ref_destroy(ref);
    free(keys);
    free(values);
    free(deltas);
}

/* Part 2: one random batch on a growing map and the reference. Keys come
 * from [lo, lo + span); with `disguised`, the positions the growth sample
 * reads (every n/256th) hold keys already in the map. */
static void api_batch(fm_map *m, ref_map *ref, tu_rng *r, uint32_t ks, uint32_t vs, uint64_t *next_key, int disguised)
{
    const size_t n = (size_t)tu_range(r, 1, 20000);
    uint8_t *keys = tu_xmalloc(n * ks), *values = tu_xmalloc(n * vs + 1);
    uint64_t *deltas = tu_xmalloc(n * 8);
    const int op = (int)tu_below(r, 4); /* insert, add (value 8), remove, insert */
    for (size_t i = 0; i < n; i++) {
        uint64_t id = tu_chance(r, 30) && *next_key ? tu_below(r, *next_key) : (*next_key)++;
        if (disguised && n >= 256 && i % (n / 256) == 0 && *next_key > 1) id = tu_below(r, *next_key / 2);
        key_of(ks, id, keys + i * ks);
    }
    tu_fill(r, values, n * vs);
    for (size_t i = 0; i < n; i++) deltas[i] = tu_below(r, 1000);
    fm_status st;
    const uint64_t *used_deltas = deltas;
    if (op == 1 && vs == 8) {
        used_deltas = tu_chance(r, 20) ? NULL : deltas;
        st = fm_bulk_add_u64(m, keys, used_deltas, n);
    } else if (op == 2) {
        st = fm_bulk_remove(m, keys, n, NULL);
    } else {
        st = fm_bulk_insert(m, keys, values, n);
    }
    if (st != FM_OK) {
        FAIL("bulk call failed: %s", fm_last_error(m));
        exit(1);
    }
    /* The reference replays the batch in order (last insert wins, adds sum). */
    const uint64_t *d = used_deltas;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k = keys + i * ks;
        if (op == 1 && vs == 8) {
            size_t id = ref_find(ref, k);
            uint64_t c = 0;
            if (id != REF_NONE) memcpy(&c, ref_value(ref, id), 8);
            c += d ? d[i] : 1;
            ref_put(ref, k, &c);
        } else if (op == 2) {
            ref_remove(ref, k);
        } else {
            ref_put(ref, k, vs ? values + i * vs : NULL);
        }
    }
    free(keys);
    free(values);
    free(deltas);
}

static void api_case(uint64_t seed, uint32_t ks, uint32_t vs, int threads)
{
    tu_rng r;
    tu_rng_seed(&r, seed);
    fm_config cfg = fm_config_default(ks, vs, 16);
    cfg.backend = FM_BACKEND_CPU;
    cfg.threads = threads;
    fm_map *m = NULL;
    if (fm_create(&cfg, &m) != FM_OK) exit(1);
    ref_map *ref = ref_create(ks, vs);
    uint64_t next_key = 0;
    for (int call = 0; call < 25; call++) {
        api_batch(m, ref, &r, ks, vs, &next_key, tu_chance(&r, 40));
        char what[96];
        snprintf(what, sizeof what, "seed %llu (%u/%u, %d threads), call %d", (unsigned long long)seed, ks, vs,
                 threads, call);
        if (!mc_same_contents(m, ref, ks, vs, what)) {
            FAIL("%s: the map differs from the reference", what);
            break;
        }
    }
    fm_destroy(m);
    ref_destroy(ref);
}

int main(void)
{
    const uint32_t shapes[][2] = {{8, 8}, {16, 0}, {12, 24}};
    int cases = 0;
    for (uint64_t seed = 1; seed <= 40; seed++)
        for (size_t s = 0; s < 3; s++)
            for (int threads = 1; threads <= 3; threads++) {
                const int adding = shapes[s][1] == 8 && (seed & 1);
                undo_case(seed * 131 + s * 7 + (uint64_t)threads, shapes[s][0], shapes[s][1], threads, adding);
                cases++;
            }
    setenv("FLASHMAP_TEST_SINGLE_PASS", "1", 1);
    int calls = 0;
    for (uint64_t seed = 1; seed <= 12; seed++)
        for (size_t s = 0; s < 3; s++) {
            api_case(seed * 977 + s, shapes[s][0], shapes[s][1], 1 + (int)(seed % 3));
            calls += 25;
        }
    printf("test_single_pass: %d undo cases, %d checked bulk calls, %d failures\n", cases, calls, g_failures);
    return g_failures ? 1 : 0;
}
