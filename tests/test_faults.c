/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fault sweep: every operation is run again and again on a freshly built
 * map, with its 1st, 2nd, 3rd, ... host allocation (and, for fm_save, its
 * 1st, 2nd, ... file write step) made to fail, until a run meets no armed
 * fault. Each failed call must return the status that fault means
 * (FM_ERR_NOMEM, FM_ERR_IO), leave the map exactly as it was (compared with
 * the reference map), and the same call must then succeed on that map.
 * A fault the library absorbs (the call succeeds anyway) must still give
 * the right result. Under ASan the sweep also proves no failure path leaks.
 *
 * With --backend cuda the maps are CUDA maps and device allocations
 * (cudaMalloc, pinned staging) fail in turn as well; exits 77 without a
 * usable device.
 *
 * Needs a library built with FLASHMAP_FAULT_INJECTION (src/api/fm_fault.h);
 * exits 77 (skipped) otherwise.
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/fm_fault.h"
#if FM_TEST_CHECKPOINTS
#include "io/fm_checkpoint.h" /* fm_ck_writeback_bytes */
#endif
#include "map_check.h"
#include "reference_map.h"
#include "test_util.h"

#ifndef FLASHMAP_FAULT_INJECTION
int main(void)
{
    printf("test_faults: the library was built without FLASHMAP_FAULT_INJECTION; skipped\n");
    return 77;
}
#else

static int g_failures;
static uint64_t g_faults, g_absorbed, g_runs;
static char g_dir[256];
static fm_backend g_backend = FM_BACKEND_CPU;
static const char *const g_kind_names[FM_FAULT_KINDS] = {"allocation", "write", "device allocation"};

#define FAIL(...)                                                                       \
    do {                                                                                \
        fprintf(stderr, __VA_ARGS__);                                                   \
        fputc('\n', stderr);                                                            \
        g_failures++;                                                                   \
    } while (0)

/* ---- the maps under test ------------------------------------------------------ */

typedef struct variant {
    const char *name;
    uint32_t ks, vs;
    fm_hash hash;
    int threads, shards;
    uint32_t flags;
    uint64_t capacity; /* small: the base content makes a growing map grow */
} variant;

static const variant g_variants[] = {
    {"u64->u64, 2 threads", 8, 8, FM_HASH_MURMUR3, 2, 1, 0, 64},
    {"24-byte set, fixed, identity", 24, 0, FM_HASH_IDENTITY, 1, 1, FM_FIXED_CAPACITY, 3000},
    {"16->8, 3 shards, 2 threads", 16, 8, FM_HASH_MURMUR3, 2, 3, 0, 64},
    {"32->40, fixed, 2 shards", 32, 40, FM_HASH_MURMUR3, 1, 2, FM_FIXED_CAPACITY, 3000},
};

static fm_config config_of(const variant *v)
{
    fm_config cfg = fm_config_default(v->ks, v->vs, v->capacity);
    cfg.backend = g_backend;
    cfg.hash = v->hash;
    cfg.threads = v->threads;
    cfg.shards = v->shards;
    cfg.flags = v->flags;
    return cfg;
}

/* Keys from an index: distinct for distinct i, the same on every run. */
static void key_of(const variant *v, uint64_t i, uint8_t *out)
{
    uint64_t s = i * 0x9e3779b97f4a7c15ull + 12345;
    tu_rng r;
    tu_rng_seed(&r, tu_splitmix64(&s));
    tu_fill(&r, out, v->ks);
    memcpy(out, &i, v->ks < 8 ? v->ks : 8); /* the index makes keys distinct */
}

static void value_of(const variant *v, uint64_t i, uint64_t round, uint8_t *out)
{
    tu_rng r;
    tu_rng_seed(&r, i * 31 + round);
    tu_fill(&r, out, v->vs);
}

/* A batch of n keys: indices drawn from [0, span), so some repeat. */
typedef struct batch {
    size_t n;
    uint8_t *keys, *values;
    uint64_t *deltas;
} batch;

static batch make_batch(const variant *v, uint64_t seed, size_t n, uint64_t span, uint64_t round)
{
    batch b = {n, tu_xmalloc(n * v->ks), tu_xmalloc(n * (v->vs ? v->vs : 1)), tu_xmalloc(n * 8)};
    tu_rng r;
    tu_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        uint64_t idx = tu_below(&r, span);
        key_of(v, idx, b.keys + i * v->ks);
        value_of(v, idx, round + i, b.values + i * (v->vs ? v->vs : 0));
        b.deltas[i] = tu_next(&r) >> 40;
    }
    return b;
}

static void free_batch(batch *b)
{
    free(b->keys);
    free(b->values);
    free(b->deltas);
}

/* The state every run starts from, built with no fault armed: about 1,200
 * entries left of 2,000 inserts and 300 removes; fixed maps also carry
 * some 1,500 tombstones of keys inserted and removed again, so that the
 * growth batch below makes them rehash in place. */
static fm_map *build_base(const variant *v, ref_map **ref_out)
{
    fm_config cfg = config_of(v);
    fm_map *m = NULL;
    fm_status st = fm_create(&cfg, &m);
    if (st != FM_OK) {
        fprintf(stderr, "%s: fm_create: %s\n", v->name, fm_last_error(NULL));
        exit(1);
    }
    ref_map *ref = ref_create(v->ks, v->vs);
    batch b = make_batch(v, 1, 2000, 2400, 0);
    if (fm_bulk_insert(m, b.keys, b.values, b.n) != FM_OK) {
        fprintf(stderr, "%s: base insert: %s\n", v->name, fm_last_error(m));
        exit(1);
    }
    for (size_t i = 0; i < b.n; i++)
        ref_put(ref, b.keys + i * v->ks, v->vs ? b.values + i * v->vs : NULL);
    free_batch(&b);
    b = make_batch(v, 2, 300, 2400, 0);
    if (fm_bulk_remove(m, b.keys, b.n, NULL) != FM_OK) exit(1);
    for (size_t i = 0; i < b.n; i++)
        ref_remove(ref, b.keys + i * v->ks);
    free_batch(&b);
    if (v->flags & FM_FIXED_CAPACITY) {
        b = make_batch(v, 5, 1500, 1500, 0);
        for (size_t i = 0; i < b.n; i++) /* keys no other batch has */
            key_of(v, 100000 + i, b.keys + i * v->ks);
        if (fm_bulk_insert(m, b.keys, b.values, b.n) != FM_OK ||
            fm_bulk_remove(m, b.keys, b.n, NULL) != FM_OK) {
            fprintf(stderr, "%s: churn: %s\n", v->name, fm_last_error(m));
            exit(1);
        }
        free_batch(&b);
    }
    *ref_out = ref;
    return m;
}

/* ---- the operations ------------------------------------------------------------ */

/* One operation: runs on the map (returning its status) and, when it
 * succeeded, is applied to the reference and its outputs checked.
 * Returns the number of problems found in the outputs. */
typedef struct op {
    const char *name;
    fm_status (*run)(fm_map *m, const variant *v, void *ctx);
    int (*check)(fm_map *m, ref_map *ref, const variant *v, void *ctx);
    int needs_u64;    /* only on maps with 8-byte values */
    int fixed_growth; /* sized to need growth (or an in-place rehash) */
} op;

typedef struct op_ctx {
    batch b;
    uint8_t *out, *found;
    ref_map *before; /* for export */
} op_ctx;

static fm_status run_insert(fm_map *m, const variant *v, void *ctx)
{
    (void)v;
    op_ctx *c = ctx;
    return fm_bulk_insert(m, c->b.keys, c->b.values, c->b.n);
}

static int check_insert(fm_map *m, ref_map *ref, const variant *v, void *ctx)
{
    (void)m;
    op_ctx *c = ctx;
    for (size_t i = 0; i < c->b.n; i++)
        ref_put(ref, c->b.keys + i * v->ks, v->vs ? c->b.values + i * v->vs : NULL);
    return 0;
}

static fm_status run_add(fm_map *m, const variant *v, void *ctx)
{
    (void)v;
    op_ctx *c = ctx;
    return fm_bulk_add_u64(m, c->b.keys, c->b.deltas, c->b.n);
}

static int check_add(fm_map *m, ref_map *ref, const variant *v, void *ctx)
{
    (void)m;
    op_ctx *c = ctx;
    for (size_t i = 0; i < c->b.n; i++)
        ref_add_u64(ref, c->b.keys + i * v->ks, c->b.deltas[i]);
    return 0;
}

static fm_status run_get(fm_map *m, const variant *v, void *ctx)
{
    (void)v;
    op_ctx *c = ctx;
    return fm_bulk_get(m, c->b.keys, c->b.n, v->vs ? c->out : NULL, c->found);
}

static int check_get(fm_map *m, ref_map *ref, const variant *v, void *ctx)
{
    (void)m;
    op_ctx *c = ctx;
    for (size_t i = 0; i < c->b.n; i++) {
        const size_t id = ref_find(ref, c->b.keys + i * v->ks);
        if (c->found[i] != (id != REF_NONE) ||
            (id != REF_NONE && v->vs && memcmp(c->out + i * v->vs, ref_value(ref, id), v->vs) != 0))
            return 1;
    }
    return 0;
}

static fm_status run_remove(fm_map *m, const variant *v, void *ctx)
{
    (void)v;
    op_ctx *c = ctx;
    return fm_bulk_remove(m, c->b.keys, c->b.n, c->found);
}

static int check_remove(fm_map *m, ref_map *ref, const variant *v, void *ctx)
{
    (void)m;
    op_ctx *c = ctx;
    for (size_t i = 0; i < c->b.n; i++)
        if (c->found[i] != ref_remove(ref, c->b.keys + i * v->ks)) return 1;
    return 0;
}

/* A full export in chunks of 100 into a scratch reference. */
static fm_status run_export(fm_map *m, const variant *v, void *ctx)
{
    op_ctx *c = ctx;
    ref_clear(c->before);
    uint64_t cursor = 0;
    do {
        size_t n = 0;
        fm_status st = fm_export(m, &cursor, c->b.keys, v->vs ? c->out : NULL, 100, &n);
        if (st != FM_OK) return st;
        for (size_t i = 0; i < n; i++)
            ref_put(c->before, c->b.keys + i * v->ks, v->vs ? c->out + i * v->vs : NULL);
    } while (cursor != 0);
    return FM_OK;
}

static int check_export(fm_map *m, ref_map *ref, const variant *v, void *ctx)
{
    (void)m;
    op_ctx *c = ctx;
    if (ref_size(c->before) != ref_size(ref)) return 1;
    for (size_t id = 0; id < ref_id_limit(ref); id++) {
        const uint8_t *k = ref_key(ref, id);
        if (!k || ref_find(ref, k) != id) continue;
        const size_t got = ref_find(c->before, k);
        if (got == REF_NONE || (v->vs && memcmp(ref_value(c->before, got), ref_value(ref, id), v->vs) != 0))
            return 1;
    }
    return 0;
}

static fm_status run_clear(fm_map *m, const variant *v, void *ctx)
{
    (void)v;
    (void)ctx;
    return fm_clear(m);
}

static int check_clear(fm_map *m, ref_map *ref, const variant *v, void *ctx)
{
    (void)m;
    (void)v;
    (void)ctx;
    ref_clear(ref);
    return 0;
}

static fm_status run_stats(fm_map *m, const variant *v, void *ctx)
{
    (void)v;
    fm_stats *s = (fm_stats *)((op_ctx *)ctx)->out;
    return fm_get_stats(m, s);
}

static int check_stats(fm_map *m, ref_map *ref, const variant *v, void *ctx)
{
    (void)m;
    fm_stats s;
    memcpy(&s, ((op_ctx *)ctx)->out, sizeof s);
    return s.size != ref_size(ref) || s.shards != (v->shards > 1 ? v->shards : 1);
}

static const op g_ops[] = {
    {"insert", run_insert, check_insert, 0, 1},
    {"add_u64", run_add, check_add, 1, 1},
    {"get", run_get, check_get, 0, 0},
    {"remove", run_remove, check_remove, 0, 0},
    {"export", run_export, check_export, 0, 0},
    {"clear", run_clear, check_clear, 0, 0},
    {"stats", run_stats, check_stats, 0, 0},
};

/* The batch each operation gets: inserts and adds bring 2,500 keys, about
 * 1,500 of them new, with repeats (growth on growing maps, an in-place
 * rehash on fixed ones, whose capacity is 3,000: checked in one_fault);
 * the others touch present and absent keys. */
static void make_ctx(op_ctx *c, const variant *v, const op *o)
{
    memset(c, 0, sizeof *c);
    c->b = o->fixed_growth ? make_batch(v, 3, 2500, 6000, 7) : make_batch(v, 4, 800, 3000, 9);
    if (c->b.n < 100) exit(2);
    c->out = tu_xmalloc(c->b.n * (v->vs > sizeof(fm_stats) ? v->vs : sizeof(fm_stats)));
    c->found = tu_xmalloc(c->b.n);
    c->before = ref_create(v->ks, v->vs);
}

static void free_ctx(op_ctx *c)
{
    free_batch(&c->b);
    free(c->out);
    free(c->found);
    ref_destroy(c->before);
}

/* The kinds of allocation this run fails: host, and device on CUDA maps. */
static int allocation_kind(int kind)
{
    return kind == FM_FAULT_ALLOC || (kind == FM_FAULT_DEVICE && g_backend == FM_BACKEND_CUDA);
}

/* ---- the sweep ------------------------------------------------------------------ */

/* Runs o with the nth allocation of this kind failing on a fresh base map.
 * Returns 1 while there are more faults to try (the armed one fired). */
static int one_fault(const variant *v, const op *o, fm_fault_kind kind, uint64_t nth)
{
    char what[200];
    snprintf(what, sizeof what, "%s / %s / %s %llu", v->name, o->name, g_kind_names[kind], (unsigned long long)nth);
    ref_map *ref = NULL;
    fm_map *m = build_base(v, &ref);
    op_ctx c;
    make_ctx(&c, v, o);

    fm_stats before;
    if (fm_get_stats(m, &before) != FM_OK) exit(1);
    fm_fault_arm(kind, nth);
    fm_status st = o->run(m, v, &c);
    const int fired = fm_fault_fired(kind);
    fm_fault_arm(kind, 0);
    g_runs++;

    if (fired && st != FM_OK) {
        g_faults++;
        if (st != FM_ERR_NOMEM) FAIL("%s: returned %s, not FM_ERR_NOMEM: %s", what, fm_status_str(st), fm_last_error(m));
        if (!strstr(fm_last_error(m), "memory")) FAIL("%s: message does not say memory: %s", what, fm_last_error(m));
        if (!mc_same_contents(m, ref, v->ks, v->vs, what)) FAIL("%s: the failed call changed the map", what);
        st = o->run(m, v, &c); /* and the map still works */
        if (st != FM_OK) FAIL("%s: the call fails again without a fault: %s", what, fm_last_error(m));
    } else if (st != FM_OK) {
        FAIL("%s: failed with no fault: %s: %s", what, fm_status_str(st), fm_last_error(m));
    } else if (fired) {
        g_absorbed++;
    }
    if (st == FM_OK && !fired && o->fixed_growth) {
        fm_stats after;
        if (fm_get_stats(m, &after) != FM_OK) exit(1);
        const int grew = after.slots > before.slots, rehashed = after.tombstones < before.tombstones;
        if ((v->flags & FM_FIXED_CAPACITY) ? !rehashed || grew : !grew)
            FAIL("%s: the batch did not make the map %s (slots %llu -> %llu, tombstones %llu -> %llu)", what,
                 (v->flags & FM_FIXED_CAPACITY) ? "rehash in place" : "grow",
                 (unsigned long long)before.slots, (unsigned long long)after.slots,
                 (unsigned long long)before.tombstones, (unsigned long long)after.tombstones);
    }
    if (st == FM_OK) {
        if (o->check(m, ref, v, &c)) FAIL("%s: wrong outputs", what);
        if (!mc_same_contents(m, ref, v->ks, v->vs, what)) FAIL("%s: wrong contents after the call", what);
    }
    free_ctx(&c);
    fm_destroy(m);
    ref_destroy(ref);
    return fired;
}

static void sweep_ops(void)
{
    for (size_t vi = 0; vi < sizeof g_variants / sizeof *g_variants; vi++) {
        const variant *v = &g_variants[vi];
        for (size_t oi = 0; oi < sizeof g_ops / sizeof *g_ops; oi++) {
            const op *o = &g_ops[oi];
            if (o->needs_u64 && v->vs != 8) continue;
            for (int kind = FM_FAULT_ALLOC; kind < FM_FAULT_KINDS; kind++) {
                if (!allocation_kind(kind)) continue;
                uint64_t nth = 1;
                while (one_fault(v, o, (fm_fault_kind)kind, nth) && nth < 100000)
                    nth++;
                if (nth >= 100000) FAIL("%s / %s: the sweep does not end", v->name, o->name);
                printf("  %-32s %-8s %4llu %s sites\n", v->name, o->name, (unsigned long long)nth - 1,
                       g_kind_names[kind]);
            }
        }
    }
}

/* fm_create: every allocation failing gives FM_ERR_NOMEM and no map. */
static void sweep_create(void)
{
    for (size_t vi = 0; vi < sizeof g_variants / sizeof *g_variants; vi++) {
        const variant *v = &g_variants[vi];
        fm_config cfg = config_of(v);
        for (int kind = 0; kind < FM_FAULT_KINDS; kind++) {
            if (!allocation_kind(kind)) continue;
            uint64_t nth = 1;
            for (;; nth++) {
                fm_map *m = (fm_map *)&cfg; /* must become NULL on failure */
                fm_fault_arm((fm_fault_kind)kind, nth);
                fm_status st = fm_create(&cfg, &m);
                const int fired = fm_fault_fired((fm_fault_kind)kind);
                fm_fault_arm((fm_fault_kind)kind, 0);
                g_runs++;
                if (fired && st != FM_OK) {
                    g_faults++;
                    if (st != FM_ERR_NOMEM || m != NULL)
                        FAIL("%s / create / %s %llu: %s, map %p: %s", v->name, g_kind_names[kind],
                             (unsigned long long)nth, fm_status_str(st), (void *)m, fm_last_error(NULL));
                } else if (st != FM_OK) {
                    FAIL("%s / create: fails with no fault: %s", v->name, fm_last_error(NULL));
                }
                if (st == FM_OK) fm_destroy(m);
                if (!fired) break;
            }
            printf("  %-32s %-8s %4llu %s sites\n", v->name, "create", (unsigned long long)nth - 1,
                   g_kind_names[kind]);
        }
    }
}

#if FM_TEST_CHECKPOINTS
/* ---- checkpoints ---------------------------------------------------------------- */

static fm_map *load_or_null(const char *path, const variant *v)
{
    fm_config ov = fm_config_default(0, 0, 0);
    ov.backend = g_backend;
    ov.threads = v->threads;
    fm_map *m = NULL;
    if (fm_load(path, &ov, &m) != FM_OK) return NULL;
    return m;
}

/* fm_save over an older checkpoint, with the nth allocation or write step
 * failing: FM_ERR_NOMEM / FM_ERR_IO, no temporary left, and the file at the
 * path still the old checkpoint (or, when only the directory fsync after
 * the rename failed, the complete new one). */
static int one_save_fault(const variant *v, fm_fault_kind kind, uint64_t nth, const char *path)
{
    char what[200];
    snprintf(what, sizeof what, "%s / save / %s %llu", v->name, g_kind_names[kind], (unsigned long long)nth);
    ref_map *old_ref = NULL, *ref = NULL;
    fm_map *old = build_base(v, &old_ref);
    fm_map *m = build_base(v, &ref);
    op_ctx c;
    make_ctx(&c, v, &g_ops[0]); /* new content for the map being saved */
    if (fm_bulk_insert(m, c.b.keys, c.b.values, c.b.n) != FM_OK) exit(1);
    check_insert(m, ref, v, &c);
    if (fm_save(old, path) != FM_OK) {
        FAIL("%s: saving the old checkpoint: %s", what, fm_last_error(old));
        exit(1);
    }

    fm_fault_arm(kind, nth);
    fm_status st = fm_save(m, path);
    const int fired = fm_fault_fired(kind);
    fm_fault_arm(kind, 0);
    g_runs++;
    const fm_status want = kind == FM_FAULT_WRITE ? FM_ERR_IO : FM_ERR_NOMEM;
    if (fired && st != FM_OK) {
        g_faults++;
        if (st != want) FAIL("%s: returned %s: %s", what, fm_status_str(st), fm_last_error(m));
        if (mc_count_temp_files(g_dir) != 0) FAIL("%s: a temporary file was left behind", what);
        const int renamed = strstr(fm_last_error(m), "is in place") != NULL;
        fm_map *back = load_or_null(path, v);
        if (!back) FAIL("%s: the file at the path no longer loads: %s", what, fm_last_error(NULL));
        else if (!mc_same_contents(back, renamed ? ref : old_ref, v->ks, v->vs, what))
            FAIL("%s: the file at the path changed", what);
        fm_destroy(back);
        if (!mc_same_contents(m, ref, v->ks, v->vs, what)) FAIL("%s: the map changed", what);
        st = fm_save(m, path);
        if (st != FM_OK) FAIL("%s: saving again fails: %s", what, fm_last_error(m));
    } else if (st != FM_OK) {
        FAIL("%s: failed with no fault: %s", what, fm_last_error(m));
    } else if (fired) {
        g_absorbed++;
    }
    if (st == FM_OK) {
        fm_map *back = load_or_null(path, v);
        if (!back || !mc_same_contents(back, ref, v->ks, v->vs, what)) FAIL("%s: the saved file is wrong", what);
        fm_destroy(back);
    }
    free_ctx(&c);
    fm_destroy(m);
    fm_destroy(old);
    ref_destroy(ref);
    ref_destroy(old_ref);
    return fired;
}

/* fm_load with the nth allocation failing: FM_ERR_NOMEM and no map. */
static int one_load_fault(const variant *v, fm_fault_kind kind, uint64_t nth, const char *path,
                          const ref_map *ref)
{
    fm_config ov = fm_config_default(0, 0, 0);
    ov.backend = g_backend;
    ov.threads = v->threads;
    fm_map *m = (fm_map *)&ov;
    fm_fault_arm(kind, nth);
    fm_status st = fm_load(path, &ov, &m);
    const int fired = fm_fault_fired(kind);
    fm_fault_arm(kind, 0);
    g_runs++;
    if (fired && st != FM_OK) {
        g_faults++;
        if (st != FM_ERR_NOMEM || m != NULL)
            FAIL("%s / load / %s %llu: %s, map %p: %s", v->name, g_kind_names[kind], (unsigned long long)nth,
                 fm_status_str(st), (void *)m, fm_last_error(NULL));
    } else if (st != FM_OK) {
        FAIL("%s / load: fails with no fault: %s", v->name, fm_last_error(NULL));
    } else {
        if (fired) g_absorbed++;
        if (!mc_same_contents(m, ref, v->ks, v->vs, "load")) FAIL("%s / load: wrong contents", v->name);
        fm_destroy(m);
    }
    return fired;
}

static void sweep_checkpoints(void)
{
    char path[300];
    snprintf(path, sizeof path, "%s/map.fmck", g_dir);
    /* Every block handed to writeback, so that its flush is a write step. */
    fm_ck_writeback_bytes = 1;
    for (size_t vi = 0; vi < sizeof g_variants / sizeof *g_variants; vi++) {
        const variant *v = &g_variants[vi];
        for (int kind = 0; kind < FM_FAULT_KINDS; kind++) {
            if (kind != FM_FAULT_WRITE && !allocation_kind(kind)) continue;
            uint64_t nth = 1;
            while (one_save_fault(v, (fm_fault_kind)kind, nth, path) && nth < 100000)
                nth++;
            printf("  %-32s %-8s %4llu %s sites\n", v->name, "save", (unsigned long long)nth - 1,
                   g_kind_names[kind]);
        }
        ref_map *ref = NULL;
        fm_map *m = build_base(v, &ref);
        if (fm_save(m, path) != FM_OK) exit(1);
        for (int kind = 0; kind < FM_FAULT_KINDS; kind++) {
            if (!allocation_kind(kind)) continue;
            uint64_t nth = 1;
            while (one_load_fault(v, (fm_fault_kind)kind, nth, path, ref) && nth < 100000)
                nth++;
            printf("  %-32s %-8s %4llu %s sites\n", v->name, "load", (unsigned long long)nth - 1,
                   g_kind_names[kind]);
        }
        fm_destroy(m);
        ref_destroy(ref);
    }
}

#endif /* FM_TEST_CHECKPOINTS */

int main(int argc, char **argv)
{
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc == 3 && strcmp(argv[1], "--backend") == 0 && strcmp(argv[2], "cuda") == 0) {
        g_backend = FM_BACKEND_CUDA;
        fm_config probe = fm_config_default(8, 8, 16);
        probe.backend = FM_BACKEND_CUDA;
        fm_map *m = NULL;
        if (fm_create(&probe, &m) != FM_OK) {
            printf("test_faults: no usable CUDA device (%s); skipped\n", fm_last_error(NULL));
            return 77;
        }
        fm_destroy(m);
    } else if (argc != 1) {
        fprintf(stderr, "usage: test_faults [--backend cuda]\n");
        return 2;
    }
    snprintf(g_dir, sizeof g_dir, "/tmp/flashmap-faults-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 2;
    }
    printf("test_faults: fail each allocation / write step of every operation in turn\n");
    sweep_create();
    sweep_ops();
#if FM_TEST_CHECKPOINTS
    sweep_checkpoints();
#else
    printf("  save/load: not swept (built with FLASHMAP_WITH_CHECKPOINTS=OFF)\n");
#endif
    mc_remove_tree(g_dir);
    printf("test_faults: %llu runs, %llu injected faults returned an error, %llu absorbed, %d failures\n",
           (unsigned long long)g_runs, (unsigned long long)g_faults, (unsigned long long)g_absorbed, g_failures);
    return g_failures ? 1 : 0;
}
#endif
