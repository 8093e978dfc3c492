/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * libFuzzer target: sequences of bulk calls on a flashmap map and on the
 * reference map (tests/reference_map.h); any difference aborts.
 *
 * The input is read as a little program. Its first bytes pick the map:
 * key size (1..16), value size (0..12; 8 allows fm_bulk_add_u64), hash
 * (murmur3 or identity), growing or FM_FIXED_CAPACITY with a tiny capacity
 * (so that FM_ERR_FULL happens), max_load, 1 or 2 threads, 1 to 4 shards.
 * Then each operation is an opcode byte, a count byte and one byte per key
 * (and per value or delta). A key byte expands to a key from a pool of 256,
 * so batches repeat keys and, for keys longer than 8 bytes, share the first
 * 8 bytes that the identity hash reads (long probe chains).
 *
 * Checked after every call: the status (FM_ERR_FULL predicted from the
 * live entries and new keys of every shard with owner_model.h, FM_ERR_INVALID for calls the API rejects), the
 * outputs of get and remove, fm_size; after a failed call, and at the end,
 * the whole map through fm_export (a failed call must leave the map as it
 * was). Statistics: size, shard count, and a fixed map's slots never change.
 */
#include <flashmap.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owner_model.h"
#include "reference_map.h"

#define MAX_KEY 16
#define MAX_VALUE 12
#define MAX_BATCH 48
#define MAX_SHARDS 4
#define MAX_OPS 64

typedef struct reader {
    const uint8_t *p;
    size_t n;
} reader;

static uint8_t next_byte(reader *r)
{
    if (r->n == 0) return 0;
    r->n--;
    return *r->p++;
}

typedef struct state {
    uint32_t ks, vs, shards;
    fm_hash hash;
    int fixed;
    uint64_t capacity, fixed_slots;
    fm_map *map;
    ref_map *ref, *scratch;
    uint64_t shard_live[MAX_SHARDS], shard_new[MAX_SHARDS];
    int op_index;
    const char *op;
    /* one batch */
    uint8_t keys[MAX_BATCH * MAX_KEY], values[MAX_BATCH * MAX_VALUE];
    uint8_t out[MAX_BATCH * MAX_VALUE], flags[MAX_BATCH];
    uint64_t deltas[MAX_BATCH];
} state;

__attribute__((noreturn, format(printf, 2, 3))) static void mismatch(const state *s, const char *fmt, ...)
{
    fprintf(stderr, "MISMATCH: key_size=%u value_size=%u hash=%d %s capacity=%llu shards=%u, op #%d (%s): ",
            s->ks, s->vs, (int)s->hash, s->fixed ? "fixed" : "growing", (unsigned long long)s->capacity,
            s->shards, s->op_index, s->op ? s->op : "-");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  fm_last_error: %s\n", fm_last_error(s->map));
    abort();
}

/* Key number b of the pool: b's low nibble in the first byte, its high
 * nibble xor-ed into the last (keys of 9+ bytes then collide in the first
 * 8 bytes in groups of 16). */
static void make_key(const state *s, uint8_t b, uint8_t *key)
{
    memset(key, 0, s->ks);
    if (s->ks == 1) {
        key[0] = b;
        return;
    }
    key[0] = b & 0x0f;
    key[s->ks - 1] ^= (uint8_t)(0x10 | (b >> 4));
}

static uint32_t owner(const state *s, const uint8_t *key) { return tm_owner(s->hash, key, s->ks, s->shards); }

/* Reference updates, keeping the live count of every shard. */
static void ref_insert(state *s, const uint8_t *key, const uint8_t *value)
{
    if (ref_put(s->ref, key, value)) s->shard_live[owner(s, key)]++;
}

static int ref_erase(state *s, const uint8_t *key)
{
    const int removed = ref_remove(s->ref, key);
    if (removed) s->shard_live[owner(s, key)]--;
    return removed;
}

static void ref_add(state *s, const uint8_t *key, uint64_t delta)
{
    if (ref_find(s->ref, key) == REF_NONE) s->shard_live[owner(s, key)]++;
    ref_add_u64(s->ref, key, delta);
}

/* Would these n keys push a fixed map past its capacity, or one shard's
 * table past its part (owner_model.h)? */
static int expect_full(state *s, size_t n)
{
    if (!s->fixed) return 0;
    ref_clear(s->scratch);
    memset(s->shard_new, 0, sizeof s->shard_new);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k = s->keys + i * s->ks;
        if (ref_find(s->ref, k) == REF_NONE && ref_put(s->scratch, k, NULL)) s->shard_new[owner(s, k)]++;
    }
    int by_part = 0;
    return tm_would_be_full(s->capacity, s->shards, s->shard_live, s->shard_new, &by_part);
}

static void check_status(const state *s, fm_status got, fm_status want)
{
    if (got != want) mismatch(s, "status %d (%s), expected %d (%s)", got, fm_status_str(got), want, fm_status_str(want));
}

static void check_size(const state *s)
{
    const uint64_t got = fm_size(s->map);
    if (got != ref_size(s->ref)) mismatch(s, "fm_size %llu, reference %zu", (unsigned long long)got, ref_size(s->ref));
}

/* The whole map through fm_export, in pages of `page` entries: every
 * reference entry exactly once, with its value. */
static void check_export(const state *s, size_t page)
{
    uint8_t keys[MAX_BATCH * MAX_KEY], values[MAX_BATCH * MAX_VALUE];
    const size_t limit = ref_id_limit(s->ref);
    uint8_t *seen = calloc(limit ? limit : 1, 1);
    if (!seen) abort();
    uint64_t cursor = 0, total = 0;
    do {
        size_t got = 0;
        const fm_status st = fm_export(s->map, &cursor, keys, s->vs ? values : NULL, page, &got);
        if (st != FM_OK) mismatch(s, "fm_export returned %d", st);
        if (got > page) mismatch(s, "fm_export copied %zu entries into a page of %zu", got, page);
        for (size_t i = 0; i < got; i++) {
            const size_t id = ref_find(s->ref, keys + i * s->ks);
            if (id == REF_NONE) mismatch(s, "fm_export returned a key the reference does not hold");
            if (seen[id]) mismatch(s, "fm_export returned a key twice");
            seen[id] = 1;
            if (s->vs && memcmp(ref_value(s->ref, id), values + i * s->vs, s->vs) != 0)
                mismatch(s, "fm_export returned a wrong value");
        }
        total += got;
    } while (cursor != 0);
    free(seen);
    if (total != ref_size(s->ref))
        mismatch(s, "fm_export returned %llu entries, reference holds %zu", (unsigned long long)total,
                 ref_size(s->ref));
}

static void check_stats(state *s)
{
    fm_stats st;
    check_status(s, fm_get_stats(s->map, &st), FM_OK);
    if (st.size != ref_size(s->ref)) mismatch(s, "stats size %llu", (unsigned long long)st.size);
    if (st.shards != (int)s->shards) mismatch(s, "stats shards %d", st.shards);
    if (s->fixed) {
        if (s->fixed_slots == 0) s->fixed_slots = st.slots;
        if (st.slots != s->fixed_slots)
            mismatch(s, "a fixed map went from %llu to %llu slots", (unsigned long long)s->fixed_slots,
                     (unsigned long long)st.slots);
    }
    if (st.slots && st.size > st.slots) mismatch(s, "%llu entries in %llu slots", (unsigned long long)st.size,
                                                 (unsigned long long)st.slots);
}

/* Gets of the batch's keys must agree with the reference. */
static void check_gets(state *s, size_t n)
{
    memset(s->out, 0xa5, sizeof s->out);
    memset(s->flags, 0xa5, sizeof s->flags);
    check_status(s, fm_bulk_get(s->map, s->keys, n, s->vs ? s->out : NULL, s->flags), FM_OK);
    for (size_t i = 0; i < n; i++) {
        const size_t id = ref_find(s->ref, s->keys + i * s->ks);
        if (s->flags[i] != (id != REF_NONE)) mismatch(s, "get: key %zu found=%d", i, s->flags[i]);
        for (uint32_t b = 0; b < s->vs; b++) {
            const uint8_t want = id == REF_NONE ? 0 : ref_value(s->ref, id)[b];
            if (s->out[i * s->vs + b] != want) mismatch(s, "get: key %zu value byte %u", i, b);
        }
    }
}

/* After a failed call: nothing changed. */
static void check_unchanged(state *s, size_t n)
{
    check_size(s);
    check_gets(s, n);
    check_export(s, MAX_BATCH);
}

enum { OP_INSERT, OP_GET, OP_REMOVE, OP_ADD, OP_ADD_ONES, OP_CLEAR, OP_EXPORT, OP_STATS, OP_BAD, OP_COUNT };

static void run_op(state *s, reader *in)
{
    const int op = next_byte(in) % OP_COUNT;
    const size_t n = next_byte(in) % (MAX_BATCH + 1);
    for (size_t i = 0; i < n; i++) make_key(s, next_byte(in), s->keys + i * s->ks);
    switch (op) {
    case OP_INSERT: {
        s->op = "insert";
        for (size_t i = 0; i < n; i++) {
            const uint8_t v = next_byte(in);
            for (uint32_t b = 0; b < s->vs; b++) s->values[i * s->vs + b] = (uint8_t)(v ^ (b * 37u));
        }
        const int full = expect_full(s, n);
        /* A set may pass values == NULL. */
        const void *vals = s->vs == 0 && (n & 1) ? NULL : s->values;
        check_status(s, fm_bulk_insert(s->map, s->keys, vals, n), full ? FM_ERR_FULL : FM_OK);
        if (full) {
            check_unchanged(s, n);
            break;
        }
        for (size_t i = 0; i < n; i++) ref_insert(s, s->keys + i * s->ks, s->values + i * s->vs);
        break;
    }
    case OP_GET:
        s->op = "get";
        check_gets(s, n);
        break;
    case OP_REMOVE: {
        s->op = "remove";
        const int want_flags = (n & 1) == 0;
        memset(s->flags, 0xa5, sizeof s->flags);
        check_status(s, fm_bulk_remove(s->map, s->keys, n, want_flags ? s->flags : NULL), FM_OK);
        for (size_t i = 0; i < n; i++) {
            const int removed = ref_erase(s, s->keys + i * s->ks);
            if (want_flags && s->flags[i] != removed) mismatch(s, "remove: key %zu removed=%d", i, s->flags[i]);
        }
        break;
    }
    case OP_ADD:
    case OP_ADD_ONES: {
        s->op = op == OP_ADD ? "add_u64" : "add_u64 (+1)";
        for (size_t i = 0; op == OP_ADD && i < n; i++) {
            const uint8_t d = next_byte(in);
            /* Small deltas, and some near 2^64 so counters wrap. */
            s->deltas[i] = d < 0xc0 ? d : ~(uint64_t)0 - (d & 0x3f);
        }
        const uint64_t *deltas = op == OP_ADD ? s->deltas : NULL;
        if (s->vs != 8) {
            check_status(s, fm_bulk_add_u64(s->map, s->keys, deltas, n), FM_ERR_INVALID);
            check_unchanged(s, n);
            break;
        }
        const int full = expect_full(s, n);
        check_status(s, fm_bulk_add_u64(s->map, s->keys, deltas, n), full ? FM_ERR_FULL : FM_OK);
        if (full) {
            check_unchanged(s, n);
            break;
        }
        for (size_t i = 0; i < n; i++) ref_add(s, s->keys + i * s->ks, deltas ? deltas[i] : 1);
        break;
    }
    case OP_CLEAR:
        s->op = "clear";
        check_status(s, fm_clear(s->map), FM_OK);
        ref_clear(s->ref);
        memset(s->shard_live, 0, sizeof s->shard_live);
        break;
    case OP_EXPORT:
        s->op = "export";
        check_export(s, 1 + n % MAX_BATCH);
        break;
    case OP_STATS:
        s->op = "stats";
        check_stats(s);
        break;
    case OP_BAD:
        /* Calls the API must refuse, leaving the map alone. */
        s->op = "bad call";
        if (n == 0) {
            uint64_t cursor = 0;
            check_status(s, fm_export(s->map, &cursor, NULL, NULL, 1, NULL), FM_ERR_INVALID);
        } else if (s->vs) {
            check_status(s, fm_bulk_insert(s->map, s->keys, NULL, n), FM_ERR_INVALID);
            check_status(s, fm_bulk_get(s->map, s->keys, n, NULL, s->flags), FM_ERR_INVALID);
        } else {
            check_status(s, fm_bulk_remove(s->map, NULL, n, NULL), FM_ERR_INVALID);
        }
        check_unchanged(s, n);
        break;
    }
    check_size(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint32_t key_sizes[] = {1, 2, 3, 4, 8, 9, 16, 8};
    static const uint32_t value_sizes[] = {0, 1, 3, 8, 12, 8, 8, 0};
    static const double max_loads[] = {0.0, 0.25, 0.5, 0.9};
    static const uint32_t shard_counts[] = {1, 1, 2, 3, 4, 1, 2, 1};
    static state s;
    reader in = {data, size};
    const uint8_t a = next_byte(&in), b = next_byte(&in), c = next_byte(&in);

    memset(&s, 0, sizeof s);
    s.ks = key_sizes[a & 7];
    s.vs = value_sizes[(a >> 3) & 7];
    s.hash = (a >> 6) & 1 ? FM_HASH_IDENTITY : (a >> 7) ? FM_HASH_MURMUR3 : FM_HASH_DEFAULT;
    s.fixed = b & 1;
    s.shards = shard_counts[(b >> 1) & 7];
    s.capacity = s.fixed ? 1 + c % 40 : c % 64;
    fm_config cfg = fm_config_default(s.ks, s.vs, s.capacity);
    cfg.hash = s.hash;
    cfg.flags = s.fixed ? FM_FIXED_CAPACITY : 0;
    cfg.max_load = max_loads[(b >> 4) & 3];
    cfg.threads = 1 + ((b >> 6) & 1);
    cfg.shards = (int)s.shards;
    cfg.backend = FM_BACKEND_CPU;

    if (fm_create(&cfg, &s.map) != FM_OK) {
        fprintf(stderr, "MISMATCH: fm_create failed: %s\n", fm_last_error(NULL));
        abort();
    }
    s.ref = ref_create(s.ks, s.vs);
    s.scratch = ref_create(s.ks, 0);
    if (!s.ref || !s.scratch) abort();

    for (s.op_index = 0; s.op_index < MAX_OPS && in.n > 0; s.op_index++) run_op(&s, &in);
    s.op = "final export";
    check_export(&s, 7);
    check_stats(&s);

    fm_destroy(s.map);
    ref_destroy(s.ref);
    ref_destroy(s.scratch);
    return 0;
}
