/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Growing a host table in place (src/cpu/cpu_grow.c) against the reference
 * map, on tables whose homes the test chooses: the identity hash is the
 * key times an odd constant, so a key for any hash is the hash times the
 * constant's inverse.
 *
 * 1. Random tables (16 to 2^18 slots, 1 or 2 threads, loads up to full,
 *    tombstones) grow 2 to 16 times. Their hashes are uniform, or crowd
 *    below the boundaries S/2, S/4, ... that the growth reads by, or sit
 *    in one window, often across the end so that the run wraps. After the
 *    growth every entry must be found with its value, every FULL slot must
 *    be an entry (no copies left), no tombstone or claim may remain, and
 *    more inserts and removes must keep agreeing with the reference.
 * 2. Faults (fault injection builds): each allocation of a growth fails in
 *    turn; the table must keep its slots and entries and grow afterwards.
 * 3. fm_table_mem_grow keeps the bytes and reads zeros past them (its added
 *    pages resident, written before any read), small to
 *    small, small to mapped, mapped to mapped in place and moved (the pages
 *    after the array taken, so that it cannot grow where it is).
 *
 * Prints "test_grow: N failures".
 */
#define _GNU_SOURCE /* MAP_FIXED_NOREPLACE */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "api/fm_fault.h"
#include "api/fm_table_mem.h"
#include "cpu/fm_cpu_table.h"
#include "reference_map.h"
#include "test_check.h"
#include "table/fm_hash.h"
#include "test_util.h"

#define KS 8u

/* The key whose identity hash is h. */
static uint64_t key_for_hash(uint64_t h)
{
    const uint64_t a = 0x9e3779b97f4a7c15ULL;
    uint64_t inv = a; /* Newton: each step doubles the correct low bits */
    for (int i = 0; i < 6; i++) inv *= 2 - a * inv;
    return h * inv;
}

typedef struct table_case {
    fm_cpu_table t;
    ref_map *ref;
    uint32_t vs;
} table_case;

/* The key of entry `id`, NULL when that id is not live. */
static const uint8_t *live_key(const ref_map *ref, size_t id)
{
    const uint8_t *key = ref_key(ref, id);
    return ref_find(ref, key) == id ? key : NULL;
}

static uint64_t hash_of(const table_case *c, const uint8_t *key)
{
    return fm_table_hash(&c->t.v, FM_HASH_IDENTITY, key);
}

static void put(table_case *c, uint64_t h, uint64_t value)
{
    uint8_t key[FM_MAX_KEY_SIZE] = {0};
    const uint64_t k = key_for_hash(h);
    memcpy(key, &k, KS);
    if (hash_of(c, key) != h) {
        MISMATCH("key_for_hash is wrong for %016llx", (unsigned long long)h);
        exit(1);
    }
    int fresh = 0, was_tombstone = 0;
    const uint64_t slot = fm_probe_upsert(&c->t.v, key, h, &fresh, &was_tombstone);
    if (slot == FM_NO_SLOT) return; /* full: the test filled it */
    if (c->vs) memcpy(fm_value_at(&c->t.v, slot), &value, c->vs);
    fm_publish(&c->t.v, slot, h);
    if (fresh) {
        c->t.live++;
        if (was_tombstone) c->t.tombstones--;
    }
    ref_put(c->ref, key, c->vs ? &value : NULL);
}

static void drop(table_case *c, const uint8_t *key)
{
    int left_tombstone = 0;
    if (!fm_probe_remove(&c->t.v, key, hash_of(c, key), &left_tombstone)) return;
    c->t.live--;
    c->t.tombstones += (uint64_t)left_tombstone;
    ref_remove(c->ref, key);
}

/* The table holds exactly the reference's entries, every one reachable. */
static int agrees(const table_case *c, const char *when, uint64_t seed)
{
    const fm_table_view *v = &c->t.v;
    uint64_t full = 0, tombstones = 0, odd = 0;
    for (uint64_t s = 0; s <= v->mask; s++) {
        const uint32_t state = fm_tag_state(v->tags[s]);
        full += state == FM_STATE_FULL;
        tombstones += state == FM_STATE_TOMBSTONE;
        odd += state == FM_STATE_BUSY;
    }
    if (full != ref_size(c->ref) || full != c->t.live || tombstones != c->t.tombstones || odd) {
        MISMATCH("seed %llu, %s: %llu FULL slots, %llu live, %zu in the reference, %llu tombstones "
                 "(%llu counted), %llu claimed",
                 (unsigned long long)seed, when, (unsigned long long)full, (unsigned long long)c->t.live,
                 ref_size(c->ref), (unsigned long long)tombstones, (unsigned long long)c->t.tombstones,
                 (unsigned long long)odd);
        return 0;
    }
    for (size_t id = 0; id < ref_id_limit(c->ref); id++) {
        const uint8_t *key = live_key(c->ref, id);
        if (!key) continue;
        const uint64_t slot = fm_probe_find(v, key, hash_of(c, key));
        if (slot == FM_NO_SLOT || (c->vs && memcmp(fm_value_at(v, slot), ref_value(c->ref, id), c->vs))) {
            MISMATCH("seed %llu, %s: an entry is %s", (unsigned long long)seed, when,
                     slot == FM_NO_SLOT ? "not found" : "found with another value");
            return 0;
        }
    }
    return 1;
}

enum { SPREAD_UNIFORM, SPREAD_BOUNDARIES, SPREAD_WINDOW, SPREAD_COUNT };

/* A hash for this case's spread: its home (top log2 bits) is chosen, its
 * low bits are random. */
static uint64_t pick_hash(tu_rng *r, int spread, uint32_t log2, uint64_t window_at, uint64_t window)
{
    const uint64_t slots = (uint64_t)1 << log2, low = tu_next(r) >> log2;
    uint64_t home = tu_below(r, slots);
    /* About 100 keys crowd below each boundary (each insert walks its run). */
    if (spread == SPREAD_BOUNDARIES && tu_below(r, slots) < 100u * (log2 + 1)) {
        const uint64_t boundary = slots >> tu_below(r, log2 + 1); /* S, S/2, ..., 1 */
        home = (boundary - 1 - tu_below(r, 4)) & (slots - 1);       /* just below it, or wrapping */
    } else if (spread == SPREAD_WINDOW) {
        home = (window_at + tu_below(r, window)) & (slots - 1);
    }
    return home << (64 - log2) | low;
}

static void growth_case(uint64_t seed)
{
    tu_rng r;
    tu_rng_seed(&r, seed);
    const uint32_t log2 = 4 + (uint32_t)tu_below(&r, 15); /* 16 to 2^18 slots */
    const uint64_t slots = (uint64_t)1 << log2;
    const int threads = 1 + (int)tu_below(&r, 2);
    /* A window holds one run of all entries: small tables only. */
    const int spread = (int)tu_below(&r, log2 <= 11 ? SPREAD_COUNT : SPREAD_WINDOW);
    const uint32_t growth = 1 + (uint32_t)tu_below(&r, 4), vs = tu_chance(&r, 80) ? 8 : 0;
    table_case c = {.vs = vs};
    if (fm_cpu_table_init(&c.t, slots, KS, vs, FM_HASH_IDENTITY, threads) != FM_OK) exit(1);
    c.ref = ref_create(KS, vs);
    /* Up to every slot; a window of a few slots holds long runs. */
    const uint64_t fill = tu_chance(&r, 10) ? slots : slots * (30 + tu_below(&r, 66)) / 100;
    const uint64_t window_at = tu_chance(&r, 50) ? slots - 1 - tu_below(&r, 8) : tu_below(&r, slots);
    const uint64_t window = 1 + tu_below(&r, 16);
    for (uint64_t i = 0; i < fill; i++) put(&c, pick_hash(&r, spread, log2, window_at, window), tu_next(&r));
    if (tu_chance(&r, 50)) { /* tombstones */
        for (size_t id = 0; id < ref_id_limit(c.ref); id++) {
            const uint8_t *key = live_key(c.ref, id);
            if (key && tu_chance(&r, 20)) drop(&c, key);
        }
    }
    char when[128];
    snprintf(when, sizeof when, "2^%u slots, %d threads, spread %d, grown 2^%u times, values %u", log2, threads, spread,
             growth, vs);
    if (agrees(&c, "before growing", seed)) {
        if (fm_cpu_table_grow(&c.t, slots << growth) != FM_OK) {
            MISMATCH("seed %llu, %s: the growth failed", (unsigned long long)seed, when);
        } else if (c.t.v.mask + 1 != slots << growth || c.t.tombstones != 0) {
            MISMATCH("seed %llu, %s: %llu slots and %llu tombstones after it", (unsigned long long)seed, when,
                     (unsigned long long)(c.t.v.mask + 1), (unsigned long long)c.t.tombstones);
        } else if (agrees(&c, when, seed)) {
            /* The grown table keeps working: new keys, new hashes, removes. */
            for (uint64_t i = 0; i < fill / 2; i++)
                put(&c, pick_hash(&r, spread, log2 + growth, window_at << growth, window), tu_next(&r));
            for (size_t id = 0; id < ref_id_limit(c.ref); id++) {
                const uint8_t *key = live_key(c.ref, id);
                if (key && tu_chance(&r, 10)) drop(&c, key);
            }
            (void)agrees(&c, "writing after the growth", seed);
        }
    }
    fm_cpu_table_release(&c.t);
    ref_destroy(c.ref);
}

#ifdef FLASHMAP_FAULT_INJECTION
/* Every allocation of one growth fails in turn. */
static void fault_case(uint64_t seed, uint32_t log2)
{
    tu_rng r;
    tu_rng_seed(&r, seed);
    const uint64_t slots = (uint64_t)1 << log2;
    table_case c = {.vs = 8};
    if (fm_cpu_table_init(&c.t, slots, KS, 8, FM_HASH_IDENTITY, 2) != FM_OK) exit(1);
    c.ref = ref_create(KS, 8);
    for (uint64_t i = 0; i < slots * 3 / 4; i++) put(&c, pick_hash(&r, SPREAD_BOUNDARIES, log2, 0, 1), tu_next(&r));
    for (uint64_t nth = 1;; nth++) {
        fm_fault_arm(FM_FAULT_ALLOC, nth);
        const fm_status st = fm_cpu_table_grow(&c.t, slots * 4);
        const int fired = fm_fault_fired(FM_FAULT_ALLOC);
        fm_fault_arm(FM_FAULT_ALLOC, 0);
        if (!fired) {
            if (st != FM_OK) MISMATCH("faults 2^%u: the growth failed with no fault", log2);
            (void)agrees(&c, "grown after the faults", seed);
            break;
        }
        char when[96];
        snprintf(when, sizeof when, "2^%u slots, allocation %llu of a growth failed", log2, (unsigned long long)nth);
        if (st != FM_ERR_NOMEM || c.t.v.mask + 1 != slots)
            MISMATCH("%s: status %d, %llu slots", when, (int)st, (unsigned long long)(c.t.v.mask + 1));
        if (!agrees(&c, when, seed)) break;
    }
    fm_cpu_table_release(&c.t);
    ref_destroy(c.ref);
}
#endif

/* Pages of [p, p + bytes) that are not resident; 0 where mincore fails. */
static size_t pages_absent(const uint8_t *p, size_t bytes)
{
    const size_t page = 4096;
    const uintptr_t lo = (uintptr_t)p / page * page, hi = ((uintptr_t)p + bytes + page - 1) / page * page;
    const size_t n = (hi - lo) / page;
    unsigned char *in = malloc(n ? n : 1);
    size_t absent = 0;
    if (in && mincore((void *)lo, hi - lo, in) == 0)
        for (size_t i = 0; i < n; i++) absent += !(in[i] & 1);
    free(in);
    return absent;
}

/* 3: bytes kept, zeros after them, a mapped array's 2 MiB alignment, and
 * its added pages written before anything reads them (resident). */
static void mem_case(size_t from, size_t to, int block_after, int threads)
{
    uint8_t *p = fm_table_mem_alloc(from, 1);
    if (!p) exit(1);
    for (size_t i = 0; i < from; i++) p[i] = (uint8_t)(i * 7 + 1);
    void *blocker = NULL;
    const size_t page = 4096, end = (from + page - 1) / page * page;
    if (block_after) {
        blocker = mmap(p + end, page, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
        if (blocker == MAP_FAILED) blocker = NULL; /* taken already: it cannot grow in place either */
    }
    uint8_t *q = fm_table_mem_grow(p, from, to, threads);
    if (q && to >= ((size_t)4 << 20)) {
        const size_t absent = pages_absent(q, to);
        if (absent) MISMATCH("fm_table_mem_grow %zu -> %zu: %zu added pages not written first", from, to, absent);
    }
    if (!q) {
        MISMATCH("fm_table_mem_grow %zu -> %zu failed", from, to);
        fm_table_mem_free(p, from);
    } else {
        size_t bad = 0;
        for (size_t i = 0; i < from; i++) bad += q[i] != (uint8_t)(i * 7 + 1);
        for (size_t i = from; i < to; i++) bad += q[i] != 0;
        if (bad) MISMATCH("fm_table_mem_grow %zu -> %zu: %zu bytes wrong", from, to, bad);
        if (block_after && q == p) MISMATCH("fm_table_mem_grow %zu -> %zu grew into a taken page", from, to);
        if (to >= ((size_t)4 << 20) && (uintptr_t)q % ((size_t)2 << 20))
            MISMATCH("fm_table_mem_grow %zu -> %zu: not at a 2 MiB boundary", from, to);
        fm_table_mem_free(q, to);
    }
    if (blocker) munmap(blocker, page);
}

int main(int argc, char **argv)
{
    const int cases = argc > 1 ? atoi(argv[1]) : 300;
    for (int i = 0; i < cases; i++) growth_case(0x6e0c0000u + (uint64_t)i);
#ifdef FLASHMAP_FAULT_INJECTION
    fault_case(11, 10);
    fault_case(12, 20); /* mapped arrays */
#endif
    mem_case(1000, 3000, 0, 1);
    mem_case((size_t)1 << 20, (size_t)8 << 20, 0, 2);
    mem_case((size_t)6 << 20, (size_t)24 << 20, 0, 1);
    mem_case((size_t)6 << 20, (size_t)24 << 20, 1, 2);
    mem_case((size_t)6 << 20, (size_t)40 << 20, 0, 2);
    printf("test_grow: %d failures\n", g_failures);
    return g_failures != 0;
}
