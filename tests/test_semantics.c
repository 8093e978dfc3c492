/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Small hand-checked cases that document flashmap's semantics:
 *   (a) the flash-map 0.5 duplicate-key bug cannot happen,
 *   (b) the last occurrence of a key in a batch wins (and the first removes),
 *   (c) a fixed-capacity map survives order-book churn and rejects overflow,
 *       also when filled to max_load (chains wrap around the table's end),
 *   (d) a map started at capacity 16 grows to a million keys,
 *   (e) add_u64 counts repeats, with and without deltas, wrapping mod 2^64,
 *   (f) sets (value_size 0) and fm_clear.
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_check.h"
#include "test_util.h"


static fm_map *create(fm_config cfg)
{
    fm_map *m = NULL;
    cfg.backend = FM_BACKEND_CPU;
    fm_status st = fm_create(&cfg, &m);
    if (st != FM_OK) {
        fprintf(stderr, "fm_create failed: %s: %s\n", fm_status_str(st), fm_last_error(NULL));
        exit(1);
    }
    return m;
}

/* Distinct 8-byte keys: i * odd constant is a bijection on uint64. */
static uint64_t key_of(uint64_t i) { return (i + 1) * 0x9e3779b97f4a7c15ull; }

static uint64_t slots_of(fm_map *m)
{
    fm_stats s;
    CHECK_OK(m, fm_get_stats(m, &s));
    return s.slots;
}

/* Export all entries of a map with 8-byte values; returns the count. */
static size_t export_all(fm_map *m, size_t key_size, uint8_t *keys, uint64_t *values, size_t cap)
{
    uint64_t cursor = 0;
    size_t total = 0;
    uint8_t *kbuf = tu_xcalloc(7, key_size);
    uint64_t vbuf[7];
    do {
        size_t n = 0;
        fm_status st = fm_export(m, &cursor, kbuf, vbuf, 7, &n);
        if (st != FM_OK) {
            CHECK_OK(m, st);
            break;
        }
        for (size_t i = 0; i < n; i++, total++) {
            if (total < cap) {
                memcpy(keys + total * key_size, kbuf + i * key_size, key_size);
                values[total] = vbuf[i];
            }
        }
    } while (cursor != 0);
    free(kbuf);
    return total;
}

/* ---- (a) the flash-map 0.5 bug ------------------------------------------------ */

/* With the identity hash, 16-byte keys that share their first 8 bytes have
 * the same hash: same home slot and fingerprint. flash-map 0.5 (and
 * cuCollections) then stored B twice after: insert A, insert B, remove A,
 * update B (the update reused A's tombstone without looking further). */
static void test_tombstone_duplicate(int threads, fm_hash hash)
{
    fm_config cfg = fm_config_default(16, 8, 16);
    cfg.hash = hash;
    cfg.threads = threads;
    fm_map *m = create(cfg);

    uint8_t a[16], b[16], c[16];
    memset(a, 0, 16);
    for (int i = 0; i < 8; i++)
        a[i] = (uint8_t)(0x11 * (i + 1));
    memcpy(b, a, 16);
    memcpy(c, a, 16);
    memset(a + 8, 'A', 8);
    memset(b + 8, 'B', 8);
    memset(c + 8, 'C', 8);
    uint64_t v;
    uint8_t flag;

    v = 1;
    CHECK_OK(m, fm_bulk_insert(m, a, &v, 1));
    v = 2;
    CHECK_OK(m, fm_bulk_insert(m, b, &v, 1));
    CHECK_OK(m, fm_bulk_remove(m, a, 1, &flag));
    CHECK(flag == 1);
    v = 3;
    CHECK_OK(m, fm_bulk_insert(m, b, &v, 1)); /* update B: must find B behind A's tombstone */
    CHECK(fm_size(m) == 1);

    v = 0;
    flag = 0;
    CHECK_OK(m, fm_bulk_get(m, b, 1, &v, &flag));
    CHECK(flag == 1 && v == 3);
    v = 99;
    CHECK_OK(m, fm_bulk_get(m, a, 1, &v, &flag));
    CHECK(flag == 0 && v == 0); /* missing keys read as zeros */

    uint8_t ek[4 * 16];
    uint64_t ev[4];
    size_t n = export_all(m, 16, ek, ev, 4);
    CHECK(n == 1);
    CHECK(n >= 1 && memcmp(ek, b, 16) == 0 && ev[0] == 3);

    CHECK_OK(m, fm_bulk_remove(m, b, 1, &flag));
    CHECK(flag == 1);
    v = 99;
    CHECK_OK(m, fm_bulk_get(m, b, 1, &v, &flag));
    CHECK(flag == 0 && v == 0); /* no stale copy of B left behind */
    CHECK(fm_size(m) == 0);
    CHECK(export_all(m, 16, ek, ev, 4) == 0);

    /* Three keys in one chain; remove the middle one, update the last. */
    uint8_t abc[48];
    uint64_t vals[3] = {10, 20, 30};
    memcpy(abc, a, 16);
    memcpy(abc + 16, b, 16);
    memcpy(abc + 32, c, 16);
    CHECK_OK(m, fm_bulk_insert(m, abc, vals, 3));
    CHECK_OK(m, fm_bulk_remove(m, b, 1, &flag));
    CHECK(flag == 1);
    v = 33;
    CHECK_OK(m, fm_bulk_insert(m, c, &v, 1));
    v = 11;
    CHECK_OK(m, fm_bulk_insert(m, a, &v, 1));
    CHECK(fm_size(m) == 2);
    uint8_t found[3];
    memset(vals, 0xff, sizeof vals);
    CHECK_OK(m, fm_bulk_get(m, abc, 3, vals, found));
    CHECK(found[0] == 1 && vals[0] == 11);
    CHECK(found[1] == 0 && vals[1] == 0);
    CHECK(found[2] == 1 && vals[2] == 33);
    CHECK(export_all(m, 16, ek, ev, 4) == 2);
    /* Re-insert B: now three entries again, each once. */
    v = 22;
    CHECK_OK(m, fm_bulk_insert(m, b, &v, 1));
    CHECK(fm_size(m) == 3);
    CHECK(export_all(m, 16, ek, ev, 4) == 3);
    fm_destroy(m);
}

/* ---- (b) the last occurrence wins ---------------------------------------------- */

/* A batch of 3 * nkeys entries, every key three times, in random order; the
 * value records which occurrence it is. Inserting it must keep occurrence 2
 * of every key, whatever the thread count. */
static void test_last_wins(int threads, fm_hash hash)
{
    const size_t nkeys = 100000, n = 3 * nkeys;
    fm_config cfg = fm_config_default(8, 8, 1000);
    cfg.hash = hash;
    cfg.threads = threads;
    fm_map *m = create(cfg);

    uint64_t *keys = tu_xcalloc(n, 8), *vals = tu_xcalloc(n, 8), *out = tu_xcalloc(nkeys, 8);
    uint8_t *flags = tu_xcalloc(n, 1), *occ = tu_xcalloc(nkeys, 1);
    tu_rng rng;
    tu_rng_seed(&rng, 42u + (unsigned)threads);
    for (size_t i = 0; i < n; i++)
        keys[i] = i % nkeys;
    for (size_t i = n - 1; i > 0; i--) { /* Fisher-Yates */
        size_t j = (size_t)tu_below(&rng, i + 1);
        uint64_t t = keys[i];
        keys[i] = keys[j];
        keys[j] = t;
    }
    /* Number the occurrences in batch order, then turn indices into keys. */
    for (size_t i = 0; i < n; i++) {
        uint64_t idx = keys[i];
        vals[i] = (idx << 8) | occ[idx]++;
        keys[i] = key_of(idx);
    }

    /* First as inserts into an empty map, then as updates of present keys. */
    for (int round = 0; round < 2; round++) {
        if (round == 1)
            for (size_t i = 0; i < n; i++)
                vals[i] += 0x10;
        CHECK_OK(m, fm_bulk_insert(m, keys, vals, n));
        CHECK(fm_size(m) == nkeys);
        uint64_t *probe = tu_xcalloc(nkeys, 8);
        for (size_t i = 0; i < nkeys; i++)
            probe[i] = key_of(i);
        memset(flags, 0, nkeys);
        CHECK_OK(m, fm_bulk_get(m, probe, nkeys, out, flags));
        size_t bad = 0;
        for (size_t i = 0; i < nkeys; i++) {
            uint64_t want = (i << 8) | (2 + (round ? 0x10u : 0));
            if (!flags[i] || out[i] != want) {
                if (bad++ < 5)
                    fprintf(stderr, "last-wins (threads %d, round %d): key #%zu found=%u "
                                    "value=%#llx, expected %#llx\n",
                            threads, round, i, flags[i], (unsigned long long)out[i],
                            (unsigned long long)want);
            }
        }
        CHECK(bad == 0);
        free(probe);
    }

    /* Removing the same batch: the first occurrence of each key removes it. */
    memset(flags, 0xA5, n);
    CHECK_OK(m, fm_bulk_remove(m, keys, n, flags));
    memset(occ, 0, nkeys);
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t idx = vals[i] >> 8;
        uint8_t want = occ[idx]++ == 0;
        if (flags[i] != want && bad++ < 5)
            fprintf(stderr, "remove (threads %d): entry %zu (key #%llu) removed=%u, expected %u\n",
                    threads, i, (unsigned long long)idx, flags[i], want);
    }
    CHECK(bad == 0);
    CHECK(fm_size(m) == 0);

    free(keys);
    free(vals);
    free(out);
    free(flags);
    free(occ);
    fm_destroy(m);
}

/* ---- (c) fixed capacity: order-book churn ----------------------------------------- */

static void fill_keys(uint64_t *keys, size_t n, uint64_t first)
{
    for (size_t i = 0; i < n; i++)
        keys[i] = key_of(first + i);
}

static void test_fixed_churn(int threads)
{
    const size_t cap = 1000;
    fm_config cfg = fm_config_default(8, 8, cap);
    cfg.flags = FM_FIXED_CAPACITY;
    cfg.threads = threads;
    fm_map *m = create(cfg);
    const uint64_t slots = slots_of(m);
    CHECK(slots >= cap);

    uint64_t keys[1001], vals[1001], out[1001];
    uint8_t flags[1001];
    size_t full = 0, bad = 0;

    /* 200 rounds: 1000 fresh orders in, all cancelled. Tombstones pile up
     * unless the map clears them; it must never report full. */
    for (uint64_t round = 0; round < 200; round++) {
        fill_keys(keys, cap, round * cap);
        for (size_t i = 0; i < cap; i++)
            vals[i] = round;
        fm_status st = fm_bulk_insert(m, keys, vals, cap);
        if (st != FM_OK && full++ == 0)
            fprintf(stderr, "churn (threads %d): round %llu: insert returned %s: %s\n",
                    threads, (unsigned long long)round, fm_status_str(st), fm_last_error(m));
        bad += fm_size(m) != cap;
        memset(flags, 0, cap);
        CHECK_OK(m, fm_bulk_remove(m, keys, cap, flags));
        for (size_t i = 0; i < cap; i++)
            bad += flags[i] != 1;
        bad += fm_size(m) != 0;
        bad += slots_of(m) != slots;
    }
    CHECK(full == 0);
    CHECK(bad == 0);

    /* One more than the capacity: rejected, nothing changes. */
    fill_keys(keys, cap + 1, 1u << 30);
    memset(vals, 7, sizeof vals);
    CHECK(fm_bulk_insert(m, keys, vals, cap + 1) == FM_ERR_FULL);
    CHECK(fm_size(m) == 0);
    CHECK(fm_last_error(m)[0] != '\0');
    CHECK(fm_bulk_add_u64(m, keys, NULL, cap + 1) == FM_ERR_FULL);
    CHECK(fm_size(m) == 0);

    /* Exactly the capacity, twice: the second batch only updates. */
    for (size_t i = 0; i < cap; i++)
        vals[i] = i;
    CHECK_OK(m, fm_bulk_insert(m, keys, vals, cap));
    for (size_t i = 0; i < cap; i++)
        vals[i] = i + 5000;
    CHECK_OK(m, fm_bulk_insert(m, keys, vals, cap));
    CHECK(fm_size(m) == cap);

    /* Full: one new key is refused, the map keeps its values; existing keys
     * (even repeated in the batch) still update; a new key via add_u64 is
     * refused too. */
    CHECK(fm_bulk_insert(m, keys + 1, vals, cap) == FM_ERR_FULL); /* keys[cap] is new */
    CHECK(fm_bulk_add_u64(m, keys + cap, NULL, 1) == FM_ERR_FULL);
    CHECK(fm_size(m) == cap);
    memset(flags, 0, sizeof flags);
    CHECK_OK(m, fm_bulk_get(m, keys, cap + 1, out, flags));
    bad = 0;
    for (size_t i = 0; i < cap; i++)
        bad += !flags[i] || out[i] != i + 5000;
    CHECK(bad == 0);
    CHECK(flags[cap] == 0 && out[cap] == 0);
    uint64_t twice[2 * 1000], tv[2 * 1000];
    for (size_t i = 0; i < 2 * cap; i++) {
        twice[i] = keys[i % cap];
        tv[i] = i;
    }
    CHECK_OK(m, fm_bulk_insert(m, twice, tv, 2 * cap));
    CHECK_OK(m, fm_bulk_get(m, keys, cap, out, flags));
    bad = 0;
    for (size_t i = 0; i < cap; i++)
        bad += !flags[i] || out[i] != cap + i; /* the second occurrence */
    CHECK(bad == 0);
    CHECK_OK(m, fm_bulk_add_u64(m, keys, NULL, cap));
    CHECK(fm_size(m) == cap);
    CHECK(slots_of(m) == slots);
    fm_destroy(m);

    /* A fresh map refuses cap + 1 distinct keys too. */
    m = create(cfg);
    fill_keys(keys, cap + 1, 77);
    CHECK(fm_bulk_insert(m, keys, vals, cap + 1) == FM_ERR_FULL);
    CHECK(fm_size(m) == 0);

    /* Half the book rests, the other half churns. */
    CHECK_OK(m, fm_bulk_insert(m, keys, vals, cap / 2));
    bad = 0;
    full = 0;
    for (uint64_t round = 0; round < 200; round++) {
        uint64_t churn[500], cv[500];
        fill_keys(churn, cap / 2, 1000000 + round * cap);
        for (size_t i = 0; i < cap / 2; i++)
            cv[i] = round;
        fm_status st = fm_bulk_insert(m, churn, cv, cap / 2);
        full += st == FM_ERR_FULL;
        bad += st != FM_OK;
        bad += fm_size(m) != cap;
        CHECK_OK(m, fm_bulk_remove(m, churn, cap / 2, NULL));
        bad += fm_size(m) != cap / 2;
    }
    CHECK(full == 0);
    CHECK(bad == 0);
    CHECK_OK(m, fm_bulk_get(m, keys, cap / 2, out, flags));
    bad = 0;
    for (size_t i = 0; i < cap / 2; i++)
        bad += !flags[i] || out[i] != vals[i];
    CHECK(bad == 0);
    CHECK(slots_of(m) == slots);
    fm_destroy(m);
}

/* A fixed map filled to max_load: probe chains are long and wrap around the
 * end of the table, which is where clearing tombstones by rehashing in place
 * has to move entries across the wrap. Random inserts and removes over a
 * pool of 3 * capacity keys, checked against a plain array after every
 * batch. With the identity hash, keys come in groups of 4 sharing their
 * first 8 bytes (one hash per group). */
static void test_fixed_high_load(uint64_t cap, double max_load, fm_hash hash, int threads,
                                 int rounds)
{
    const size_t pool = (size_t)(3 * cap), ks = 16;
    fm_config cfg = fm_config_default((uint32_t)ks, 8, cap);
    cfg.flags = FM_FIXED_CAPACITY;
    cfg.max_load = max_load;
    cfg.hash = hash;
    cfg.threads = threads;
    fm_map *m = create(cfg);
    const uint64_t slots = slots_of(m);

    uint8_t *keys = tu_xcalloc(pool, ks), *batch = tu_xcalloc(2 * pool, ks);
    uint64_t *model = tu_xcalloc(pool, 8), *vals = tu_xcalloc(2 * pool, 8), *out = tu_xcalloc(pool, 8);
    uint8_t *present = tu_xcalloc(pool, 1), *found = tu_xcalloc(pool, 1), *seen = tu_xcalloc(pool, 1);
    size_t *idx = tu_xcalloc(2 * pool, sizeof(size_t));
    for (size_t i = 0; i < pool; i++) {
        uint64_t group = key_of(i / 4), member = key_of(i);
        memcpy(keys + i * ks, &group, 8);
        memcpy(keys + i * ks + 8, &member, 8);
    }
    tu_rng rng;
    tu_rng_seed(&rng, cap * 31 + (uint64_t)threads);
    size_t live = 0, full = 0, accepted = 0;
    int bad = 0;

    for (int round = 0; round < rounds && !bad; round++) {
        const size_t n = (size_t)tu_range(&rng, 1, cap < 8 ? 8 : cap);
        for (size_t j = 0; j < n; j++) {
            idx[j] = (size_t)tu_below(&rng, pool);
            memcpy(batch + j * ks, keys + idx[j] * ks, ks);
            vals[j] = tu_next(&rng);
        }
        if (tu_chance(&rng, 50)) {
            size_t fresh = 0; /* distinct absent keys in the batch */
            memset(seen, 0, pool);
            for (size_t j = 0; j < n; j++) {
                fresh += !present[idx[j]] && !seen[idx[j]];
                seen[idx[j]] = 1;
            }
            fm_status st = fm_bulk_insert(m, batch, vals, n);
            fm_status want = live + fresh > cap ? FM_ERR_FULL : FM_OK;
            if (st != want) {
                fprintf(stderr, "high load (cap %llu, threads %d): round %d insert of %zu (%zu new, "
                                "%zu live) returned %s, expected %s: %s\n",
                        (unsigned long long)cap, threads, round, n, fresh, live,
                        fm_status_str(st), fm_status_str(want), fm_last_error(m));
                bad = 1;
            }
            if (want == FM_OK) {
                for (size_t j = 0; j < n; j++) { /* the last occurrence wins */
                    model[idx[j]] = vals[j];
                    present[idx[j]] = 1;
                }
                live += fresh;
                accepted++;
            } else {
                full++;
            }
        } else {
            CHECK_OK(m, fm_bulk_remove(m, batch, n, found));
            for (size_t j = 0; j < n; j++) {
                if (found[j] != present[idx[j]] && !bad) {
                    fprintf(stderr, "high load (cap %llu): round %d removed_out[%zu]=%u, expected %u\n",
                            (unsigned long long)cap, round, j, found[j], present[idx[j]]);
                    bad = 1;
                }
                live -= present[idx[j]];
                present[idx[j]] = 0;
            }
        }
        /* Every pool key, against the model. */
        CHECK_OK(m, fm_bulk_get(m, keys, pool, out, found));
        for (size_t i = 0; i < pool && !bad; i++) {
            if (found[i] != present[i] || out[i] != (present[i] ? model[i] : 0)) {
                fprintf(stderr, "high load (cap %llu, threads %d): round %d key #%zu found=%u "
                                "value=%#llx, expected found=%u value=%#llx\n",
                        (unsigned long long)cap, threads, round, i, found[i],
                        (unsigned long long)out[i], present[i],
                        (unsigned long long)(present[i] ? model[i] : 0));
                bad = 1;
            }
        }
        if (fm_size(m) != live || slots_of(m) != slots) {
            fprintf(stderr, "high load (cap %llu): round %d size %llu (expected %zu), slots %llu "
                            "(expected %llu)\n",
                    (unsigned long long)cap, round, (unsigned long long)fm_size(m), live,
                    (unsigned long long)slots_of(m), (unsigned long long)slots);
            bad = 1;
        }
    }
    CHECK(bad == 0);
    CHECK(accepted > 0 && full > 0); /* both paths were exercised */
    free(keys);
    free(batch);
    free(model);
    free(vals);
    free(out);
    free(present);
    free(found);
    free(seen);
    free(idx);
    fm_destroy(m);
}

/* ---- (d) growth ---------------------------------------------------------------- */

static void test_growth(int threads)
{
    const size_t total = 1000000;
    fm_config cfg = fm_config_default(8, 8, 16);
    cfg.threads = threads;
    fm_map *m = create(cfg);
    uint64_t *keys = tu_xcalloc(total, 8), *vals = tu_xcalloc(total, 8), *out = tu_xcalloc(total, 8);
    uint8_t *found = tu_xcalloc(total, 1);
    for (size_t i = 0; i < total; i++) {
        keys[i] = key_of(i);
        vals[i] = ~(uint64_t)i;
    }
    /* Batches of 1, 2, 4, ...: many small growths, then a few huge ones. */
    size_t done = 0;
    for (size_t b = 1; done < total; b *= 2) {
        size_t n = b < total - done ? b : total - done;
        CHECK_OK(m, fm_bulk_insert(m, keys + done, vals + done, n));
        done += n;
    }
    CHECK(fm_size(m) == total);
    CHECK_OK(m, fm_bulk_get(m, keys, total, out, found));
    size_t bad = 0;
    for (size_t i = 0; i < total; i++)
        bad += !found[i] || out[i] != vals[i];
    CHECK(bad == 0);

    fm_stats s;
    CHECK_OK(m, fm_get_stats(m, &s));
    CHECK(s.size == total);
    CHECK(s.slots >= 2 * total && (s.slots & (s.slots - 1)) == 0); /* default max_load 0.5 */
    CHECK(s.size + s.tombstones <= s.slots / 2);
    fm_destroy(m);
    free(keys);
    free(vals);
    free(out);
    free(found);
}

/* ---- (e) counters ---------------------------------------------------------------- */

static void test_add_u64(int threads)
{
    const size_t nkeys = 1000;
    fm_config cfg = fm_config_default(8, 8, 16);
    cfg.threads = threads;
    fm_map *m = create(cfg);

    /* Key j appears (j % 7) + 1 times, shuffled. */
    size_t n = 0;
    for (size_t j = 0; j < nkeys; j++)
        n += j % 7 + 1;
    uint64_t *batch = tu_xcalloc(n, 8), *keys = tu_xcalloc(nkeys, 8), *out = tu_xcalloc(nkeys, 8);
    uint8_t *found = tu_xcalloc(nkeys, 1);
    size_t pos = 0;
    for (size_t j = 0; j < nkeys; j++) {
        keys[j] = key_of(j);
        for (size_t r = 0; r < j % 7 + 1; r++)
            batch[pos++] = keys[j];
    }
    tu_rng rng;
    tu_rng_seed(&rng, 7);
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)tu_below(&rng, i + 1);
        uint64_t t = batch[i];
        batch[i] = batch[j];
        batch[j] = t;
    }

    /* deltas == NULL: +1 per occurrence; absent keys start at their count. */
    for (uint64_t round = 1; round <= 2; round++) {
        CHECK_OK(m, fm_bulk_add_u64(m, batch, NULL, n));
        CHECK(fm_size(m) == nkeys);
        CHECK_OK(m, fm_bulk_get(m, keys, nkeys, out, found));
        size_t bad = 0;
        for (size_t j = 0; j < nkeys; j++)
            bad += !found[j] || out[j] != round * (j % 7 + 1);
        CHECK(bad == 0);
    }

    /* Explicit deltas wrap mod 2^64; an absent key is inserted with its delta. */
    uint64_t k[3] = {key_of(5000), key_of(5000), key_of(5001)};
    uint64_t v = UINT64_MAX - 1;
    CHECK_OK(m, fm_bulk_insert(m, k, &v, 1));
    uint64_t d[3] = {2, 1, 40};
    CHECK_OK(m, fm_bulk_add_u64(m, k, d, 3));
    uint64_t got[3];
    uint8_t f[3];
    CHECK_OK(m, fm_bulk_get(m, k, 3, got, f));
    CHECK(f[0] && got[0] == 1); /* UINT64_MAX - 1 + 3 */
    CHECK(f[2] && got[2] == 40);
    uint64_t big[2] = {UINT64_MAX, UINT64_MAX};
    CHECK_OK(m, fm_bulk_add_u64(m, k, big, 2)); /* 1 + 2 * (2^64 - 1) = 2^64 - 1 */
    CHECK_OK(m, fm_bulk_get(m, k, 1, got, f));
    CHECK(f[0] && got[0] == UINT64_MAX);
    fm_destroy(m);
    free(batch);
    free(keys);
    free(out);
    free(found);
}

/* ---- (f) sets and clear ------------------------------------------------------------ */

static void test_set_and_clear(void)
{
    fm_config cfg = fm_config_default(3, 0, 4);
    fm_map *m = create(cfg);
    const uint8_t keys[4 * 3] = {1, 2, 3, 4, 5, 6, 1, 2, 3, 9, 9, 9};
    uint8_t found[4];
    CHECK_OK(m, fm_bulk_insert(m, keys, NULL, 3)); /* {123, 456} (123 twice) */
    CHECK(fm_size(m) == 2);
    CHECK_OK(m, fm_bulk_get(m, keys, 4, NULL, found));
    CHECK(found[0] == 1 && found[1] == 1 && found[2] == 1 && found[3] == 0);

    uint64_t cursor = 0;
    uint8_t ek[4 * 3];
    size_t n = 0;
    CHECK_OK(m, fm_export(m, &cursor, ek, NULL, 4, &n));
    CHECK(n == 2 && cursor == 0);

    const uint64_t slots = slots_of(m);
    CHECK_OK(m, fm_clear(m));
    CHECK(fm_size(m) == 0);
    CHECK(slots_of(m) == slots); /* the table keeps its size */
    CHECK_OK(m, fm_bulk_get(m, keys, 4, NULL, found));
    CHECK(found[0] == 0 && found[1] == 0 && found[2] == 0 && found[3] == 0);
    CHECK_OK(m, fm_bulk_insert(m, keys + 3, NULL, 3));
    CHECK(fm_size(m) == 3);
    fm_destroy(m);
}

int main(void)
{
    for (int threads = 1; threads <= 2; threads++) {
        test_tombstone_duplicate(threads, FM_HASH_IDENTITY);
        test_tombstone_duplicate(threads, FM_HASH_MURMUR3);
        test_last_wins(threads, FM_HASH_MURMUR3);
        test_last_wins(threads, FM_HASH_IDENTITY);
        test_fixed_churn(threads);
        /* capacity = floor(slots * max_load): 16, 64 and 1024 slots, full. */
        test_fixed_high_load(14, 0.9, FM_HASH_MURMUR3, threads, 3000);
        test_fixed_high_load(14, 0.9, FM_HASH_IDENTITY, threads, 3000);
        test_fixed_high_load(57, 0.9, FM_HASH_MURMUR3, threads, 2000);
        test_fixed_high_load(48, 0.75, FM_HASH_IDENTITY, threads, 2000);
        test_fixed_high_load(921, 0.9, FM_HASH_MURMUR3, threads, 300);
        test_add_u64(threads);
    }
    test_growth(0);
    test_set_and_clear();
    if (g_failures) {
        fprintf(stderr, "test_semantics: %d failures\n", g_failures);
        return 1;
    }
    printf("test_semantics: all checks passed\n");
    return 0;
}
