/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Randomized differential test: flashmap against reference_map.
 *
 * Every seed picks one configuration (seed % 224 walks all combinations of key
 * size, value size, hash, thread count and fixed/growing capacity) and then
 * runs random batches of insert / get / remove / remove-then-reinsert /
 * add_u64 / clear on both maps. After every batch we compare the status, the
 * outputs, fm_size and a sample of gets; every few batches the statistics;
 * periodically, after every rejected batch and at the end a full export.
 *
 * With --shards S (S > 1) the map is an in-process sharded map
 * (cfg.shards = S): the same semantics, but statistics sum over S tables and
 * a fixed-capacity map holds up to capacity live entries in all, each shard
 * at most its share plus headroom. The test routes every key with the
 * library's owner function (owner_model.h) to predict FM_ERR_FULL.
 *
 * With --device-buffers (CUDA maps) every bulk call gets its keys, values,
 * deltas and outputs in device memory (device_calls.h): on a sharded map
 * that is the device route (routing on the GPU, results put back in batch
 * order there). Every eighth call keeps its outputs and payload on the
 * host: device keys with host buffers, which the map stages instead.
 *
 * With --caller-stream as well, one-table CUDA maps run on a non-blocking
 * stream of the test's own (fm_cuda_set_stream): gets return before their
 * kernels end, and the test reads outputs only after that stream.
 *
 * Usage: test_differential [--seeds N] [--first F] [--scale X] [--seed S]
 *                          [--shards S] [--backend cpu|cuda] [--device-buffers]
 *                          [--caller-stream] [--verbose]
 *        test_differential N X          (same as --seeds N --scale X)
 *   --seeds N   run seeds F .. F+N-1 (default 224: every configuration once)
 *   --scale X   multiply the key operations per seed (default 1.0)
 *   --seed S    run only seed S (to replay a failure; add --verbose to trace)
 *   --shards S  cfg.shards = S (default 1: one table)
 *   --backend B the maps' backend (default cpu); with cuda the program exits
 *               77 (CTest: skipped) when no CUDA device is usable
 *   --device-buffers  buffers in device memory (needs --backend cuda)
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "device_calls.h"
#include "owner_model.h"
#include "reference_map.h"
#include "test_util.h"

static const uint32_t KEY_SIZES[] = {1, 3, 8, 16, 32, 64, 256};
static const uint32_t VALUE_SIZES[] = {0, 8, 128, 4096};
static const double MAX_LOADS[] = {0.0, 0.5, 0.25, 0.75, 0.9};
#define N_KEY_SIZES (sizeof KEY_SIZES / sizeof KEY_SIZES[0])
#define N_VALUE_SIZES (sizeof VALUE_SIZES / sizeof VALUE_SIZES[0])
#define N_COMBOS ((unsigned)(N_KEY_SIZES * N_VALUE_SIZES * 2 * 2 * 2))

#define SAMPLE_MAX 96    /* keys in the verification get after each batch */
#define EXPORT_EVERY 20  /* batches between full export comparisons */
#define STATS_EVERY 4    /* batches between stats checks (fixed maps: every batch) */
/* Some seeds run one batch larger than the CPU backend's 2^17-key chunks, so
 * duplicates, counts and outputs must be right across chunk boundaries. */
#define HUGE_MIN ((size_t)140000)
#define HUGE_MAX ((size_t)300000)
#define HUGE_BYTES ((size_t)64 << 20)

/* ---- totals over the whole run ---------------------------------------- */
static uint64_t g_key_ops;    /* keys passed to bulk calls, all of them */
static uint64_t g_verify_ops; /* ... of which in verification gets */
static uint64_t g_exported;   /* entries read back by fm_export */
static uint64_t g_batches;
static uint64_t g_full;       /* batches rejected with FM_ERR_FULL (as expected) */
static uint64_t g_full_ok;    /* insert/add batches accepted by fixed maps */
static uint64_t g_full_shard; /* ... rejected although the whole map had room:
                                 one shard alone was full */
static int g_verbose;
static double g_scale = 1.0; /* part of the configuration: printed for replays */
static int g_shards = 1;     /* cfg.shards of every map (--shards) */
static fm_backend g_backend = FM_BACKEND_CPU; /* --backend */
static int g_device_buffers;                  /* --device-buffers */
static int g_caller_stream;                   /* --caller-stream */
static uint64_t g_device_calls;               /* this seed's bulk calls with device buffers */

typedef struct config {
    uint64_t seed;
    uint32_t key_size, value_size;
    fm_hash hash;
    int threads;
    int shards;
    int fixed;
    uint64_t capacity;
    double max_load;
    size_t pool_n;
    uint64_t budget; /* key operations in the random batches of this seed */
    size_t max_batch;  /* for the random batches */
    size_t huge_batch; /* one batch of this size (0: none), see HUGE_MIN */
} config;

typedef struct run {
    config cfg;
    tu_rng rng;
    fm_map *map;
    ref_map *ref;
    ref_map *scratch; /* a set: the distinct new keys of a batch */
    uint8_t *pool;    /* pool_n keys that batches draw from */
    /* One batch. */
    uint8_t *keys, *values, *out, *flags, *exp_flags;
    uint64_t *deltas;
    /* Verification gets. */
    uint8_t *s_keys, *s_out, *s_flags;
    /* Export pages. */
    uint8_t *e_keys, *e_values;
    size_t e_max;
    uint8_t *seen;
    size_t seen_cap;
    uint64_t fixed_slots; /* slots of a FIXED_CAPACITY map: must never change */
    /* Fixed-capacity maps: live entries per shard (by the owner model) and
     * the new keys of the current batch per shard. NULL for growing maps. */
    uint64_t *shard_live, *shard_new;
    /* What we are doing, for the failure report. */
    uint64_t batch_index;
    const char *op;
    size_t op_n;
} run;

static void describe(FILE *f, const config *c)
{
    fprintf(f,
            "seed=%llu key_size=%u value_size=%u hash=%s threads=%d shards=%d %s capacity=%llu "
            "max_load=%g pool=%zu budget=%llu huge_batch=%zu",
            (unsigned long long)c->seed, c->key_size, c->value_size,
            c->hash == FM_HASH_IDENTITY ? "identity" : "murmur3", c->threads, c->shards,
            c->fixed ? "FIXED_CAPACITY" : "growing", (unsigned long long)c->capacity,
            c->max_load, c->pool_n, (unsigned long long)c->budget, c->huge_batch);
}

/* Print the failure with everything needed to replay it; returns 1. */
static int mismatch(run *r, const char *fmt, ...)
{
    fprintf(stderr, "MISMATCH: ");
    describe(stderr, &r->cfg);
    fprintf(stderr, "\n  batch #%llu op=%s n=%zu: ", (unsigned long long)r->batch_index,
            r->op ? r->op : "-", r->op_n);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr,
            "\n  fm_last_error: %s\n  replay: test_differential --seed %llu --scale %g "
            "--shards %d --backend %s%s --verbose\n",
            fm_last_error(r->map), (unsigned long long)r->cfg.seed, g_scale, r->cfg.shards,
            g_backend == FM_BACKEND_CUDA ? "cuda" : "cpu", g_device_buffers ? " --device-buffers" : "");
    return 1;
}

static void print_key_value(run *r, const char *what, const void *key, const void *value)
{
    fprintf(stderr, "  %s key=", what);
    tu_print_hex(stderr, key, r->cfg.key_size);
    if (value && r->cfg.value_size) {
        fprintf(stderr, " value=");
        tu_print_hex(stderr, value, r->cfg.value_size);
    }
    fprintf(stderr, "\n");
}

static int is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* ---- configuration ------------------------------------------------------ */

static config make_config(uint64_t seed, double scale, tu_rng *rng)
{
    config c;
    memset(&c, 0, sizeof c);
    unsigned combo = (unsigned)(seed % N_COMBOS);
    c.seed = seed;
    c.key_size = KEY_SIZES[combo % N_KEY_SIZES];
    combo /= N_KEY_SIZES;
    c.value_size = VALUE_SIZES[combo % N_VALUE_SIZES];
    combo /= N_VALUE_SIZES;
    c.hash = combo % 2 ? FM_HASH_IDENTITY : FM_HASH_MURMUR3;
    combo /= 2;
    c.threads = 1 + (int)(combo % 2);
    combo /= 2;
    c.shards = g_shards;
    c.fixed = (int)(combo % 2);

    c.max_load = MAX_LOADS[tu_below(rng, sizeof MAX_LOADS / sizeof MAX_LOADS[0])];

    /* Pool of keys: at most 60000 keys and 8 MiB. */
    size_t pool_max = (size_t)(8u << 20) / c.key_size;
    if (pool_max > 60000)
        pool_max = 60000;

    if (c.fixed) {
        /* Capacity somewhere between 1 and ~20000; the pool is larger than
         * the capacity so batches can overflow it and churn through it. */
        uint64_t cap_max = pool_max / 2 < 20000 ? pool_max / 2 : 20000;
        c.capacity = tu_log_range(rng, cap_max);
        if (tu_chance(rng, 50)) {
            /* Or a table that is really full at capacity: long chains that
             * wrap around the table's end, for the in-place rehash. */
            c.max_load = tu_chance(rng, 50) ? 0.9 : 0.75;
            uint64_t slots = 16ull << tu_below(rng, 8);
            c.capacity = (uint64_t)((double)slots * c.max_load);
        }
        c.pool_n = (size_t)(c.capacity + tu_log_range(rng, 3 * c.capacity + 16));
        if (c.pool_n > pool_max)
            c.pool_n = pool_max;
    } else {
        /* A tiny start so the table doubles many times. 0 is valid too. */
        c.capacity = tu_chance(rng, 12) ? 0 : tu_range(rng, 1, 64);
        c.pool_n = (size_t)tu_range(rng, 4, 16) * tu_log_range(rng, pool_max / 16);
    }

    c.max_batch = c.value_size == 4096 ? 2048 : 40000;
    if (tu_chance(rng, 25)) {
        size_t fit = HUGE_BYTES / (c.key_size + 2 * c.value_size + 16);
        size_t hi = fit < HUGE_MAX ? fit : HUGE_MAX;
        if (hi > HUGE_MIN)
            c.huge_batch = (size_t)tu_range(rng, HUGE_MIN, hi);
    }
    double base = c.value_size == 4096 ? 9000.0 : 90000.0;
    c.budget = (uint64_t)(base * scale);
    if (c.budget < 64)
        c.budget = 64;
    return c;
}

/* The key pool (tu_key_pool: random keys with clusters of similar ones). */
static void make_pool(run *r) { tu_key_pool(&r->rng, r->pool, r->cfg.pool_n, r->cfg.key_size); }

/* ---- the reference, with live entries per shard ------------------------------ */

static uint32_t owner_of(const run *r, const uint8_t *key)
{
    return tm_owner(r->cfg.hash, key, r->cfg.key_size, (uint32_t)r->cfg.shards);
}

static void model_put(run *r, const uint8_t *key, const uint8_t *value)
{
    tm_put(r->ref, r->shard_live, r->cfg.hash, r->cfg.key_size, (uint32_t)r->cfg.shards, key, value);
}

static int model_remove(run *r, const uint8_t *key)
{
    return tm_remove(r->ref, r->shard_live, r->cfg.hash, r->cfg.key_size, (uint32_t)r->cfg.shards, key);
}

static void model_add(run *r, const uint8_t *key, uint64_t delta)
{
    tm_add(r->ref, r->shard_live, r->cfg.hash, r->cfg.key_size, (uint32_t)r->cfg.shards, key, delta);
}

static void model_clear(run *r) { tm_clear(r->ref, r->shard_live, (uint32_t)r->cfg.shards); }

/* ---- checks --------------------------------------------------------------- */

/* Compare get results for `n` keys with the reference. */
static int compare_gets(run *r, const uint8_t *keys, size_t n, const uint8_t *out,
                        const uint8_t *found, int have_values)
{
    const uint32_t ks = r->cfg.key_size, vs = r->cfg.value_size;
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k = keys + (size_t)i * ks;
        size_t id = ref_find(r->ref, k);
        if (found && found[i] != (id != REF_NONE)) {
            int m = mismatch(r, "get #%zu: found=%u, reference says %s", i, found[i],
                             id != REF_NONE ? "present" : "absent");
            print_key_value(r, "at", k, id != REF_NONE ? ref_value(r->ref, id) : NULL);
            return m;
        }
        if (!have_values || vs == 0)
            continue;
        const uint8_t *got = out + (size_t)i * vs;
        if (id == REF_NONE ? !is_zero(got, vs) : memcmp(got, ref_value(r->ref, id), vs) != 0) {
            int m = mismatch(r, "get #%zu: wrong value (%s)", i,
                             id == REF_NONE ? "missing key must read as zeros" : "key present");
            print_key_value(r, "expected", k, id != REF_NONE ? ref_value(r->ref, id) : NULL);
            print_key_value(r, "got     ", k, got);
            return m;
        }
    }
    return 0;
}

/* ---- the bulk calls, on host or (--device-buffers) device buffers -------- */

/* Every eighth call with device buffers keeps outputs and payload on the host. */
static int host_outputs(void) { return ++g_device_calls % 8 == 0; }

static fm_status bulk_insert(run *r, const void *keys, const void *values, size_t n)
{
    if (!g_device_buffers) return fm_bulk_insert(r->map, keys, values, n);
    return td_insert(r->map, r->cfg.key_size, r->cfg.value_size, keys, values, n, host_outputs());
}

static fm_status bulk_get(run *r, const void *keys, size_t n, void *values_out, uint8_t *found_out)
{
    if (!g_device_buffers) return fm_bulk_get(r->map, keys, n, values_out, found_out);
    return td_get(r->map, r->cfg.key_size, r->cfg.value_size, keys, n, values_out, found_out, host_outputs());
}

static fm_status bulk_remove(run *r, const void *keys, size_t n, uint8_t *removed_out)
{
    if (!g_device_buffers) return fm_bulk_remove(r->map, keys, n, removed_out);
    return td_remove(r->map, r->cfg.key_size, keys, n, removed_out, host_outputs());
}

static fm_status bulk_add(run *r, const void *keys, const uint64_t *deltas, size_t n)
{
    if (!g_device_buffers) return fm_bulk_add_u64(r->map, keys, deltas, n);
    return td_add(r->map, r->cfg.key_size, keys, deltas, n, host_outputs());
}

static int check_size(run *r)
{
    uint64_t got = fm_size(r->map);
    if (got != ref_size(r->ref))
        return mismatch(r, "fm_size=%llu, reference size=%zu", (unsigned long long)got,
                        ref_size(r->ref));
    return 0;
}

/* Gets of some keys of the batch, some pool keys and a few fresh ones. */
static int check_sample(run *r, const uint8_t *batch_keys, size_t batch_n)
{
    const uint32_t ks = r->cfg.key_size, vs = r->cfg.value_size;
    size_t n = 0;
    for (size_t i = 0; i < 32 && i < batch_n; i++, n++)
        memcpy(r->s_keys + n * ks, batch_keys + tu_below(&r->rng, batch_n) * ks, ks);
    for (size_t i = 0; i < 56; i++, n++)
        memcpy(r->s_keys + n * ks, r->pool + tu_below(&r->rng, r->cfg.pool_n) * ks, ks);
    for (size_t i = 0; i < 8; i++, n++)
        tu_fill(&r->rng, r->s_keys + n * ks, ks);
    memset(r->s_out, 0xA5, n * vs);
    memset(r->s_flags, 0xA5, n);
    const char *saved_op = r->op;
    r->op = "verify-get";
    fm_status st = bulk_get(r, r->s_keys, n, r->s_out, r->s_flags);
    g_key_ops += n;
    g_verify_ops += n;
    if (st != FM_OK)
        return mismatch(r, "verification get returned %d (%s)", st, fm_status_str(st));
    int bad = compare_gets(r, r->s_keys, n, r->s_out, r->s_flags, 1);
    r->op = saved_op;
    return bad;
}

static int bits_set(uint64_t x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

static int check_stats(run *r)
{
    fm_stats s;
    memset(&s, 0xA5, sizeof s);
    fm_status st = fm_get_stats(r->map, &s);
    if (st != FM_OK)
        return mismatch(r, "fm_get_stats returned %d (%s)", st, fm_status_str(st));
    if (s.size != ref_size(r->ref))
        return mismatch(r, "stats.size=%llu, reference size=%zu", (unsigned long long)s.size,
                        ref_size(r->ref));
    const int S = r->cfg.shards;
    if (S == 1 && (s.slots == 0 || (s.slots & (s.slots - 1)) != 0))
        return mismatch(r, "stats.slots=%llu is not a power of two", (unsigned long long)s.slots);
    /* A sharded map: the sum of S tables' power-of-two slot counts. */
    if (S > 1 && (s.slots < (uint64_t)S || bits_set(s.slots) > S))
        return mismatch(r, "stats.slots=%llu is not a sum of %d powers of two",
                        (unsigned long long)s.slots, S);
    double lf = (double)s.size / (double)s.slots;
    if (fabs(s.load_factor - lf) > 1e-12)
        return mismatch(r, "stats.load_factor=%.17g, size/slots=%.17g", s.load_factor, lf);
    if (s.tombstones > s.slots - s.size)
        return mismatch(r, "stats: tombstones %llu + size %llu > slots %llu",
                        (unsigned long long)s.tombstones, (unsigned long long)s.size,
                        (unsigned long long)s.slots);
    if (s.longest_probe >= s.slots)
        return mismatch(r, "stats.longest_probe=%llu >= slots=%llu",
                        (unsigned long long)s.longest_probe, (unsigned long long)s.slots);
    if (s.shards != S || s.backend != g_backend)
        return mismatch(r, "stats.shards=%d backend=%d, expected %d shard(s) on backend %d", s.shards,
                        (int)s.backend, S, (int)g_backend);
    if (r->cfg.fixed) {
        if (s.slots != r->fixed_slots)
            return mismatch(r, "FIXED_CAPACITY map changed slots: %llu -> %llu",
                            (unsigned long long)r->fixed_slots, (unsigned long long)s.slots);
    } else {
        /* DESIGN: live + tombstones never exceed max_load * slots after a
         * batch (the table grows before a batch that would pass it). With
         * S shards every shard rounds its own limit: up to S - 1 more. */
        double ml = r->cfg.max_load > 0 ? r->cfg.max_load : 0.5;
        if ((double)(s.size + s.tombstones) > ceil(ml * (double)s.slots) + (double)(S - 1))
            return mismatch(r, "load (size %llu + tombstones %llu) / slots %llu > max_load %g",
                            (unsigned long long)s.size, (unsigned long long)s.tombstones,
                            (unsigned long long)s.slots, ml);
    }
    return 0;
}

/* Export everything in pages of random size and compare as a set. */
static int check_export(run *r)
{
    const uint32_t ks = r->cfg.key_size, vs = r->cfg.value_size;
    fm_stats s;
    if (fm_get_stats(r->map, &s) != FM_OK)
        return mismatch(r, "fm_get_stats failed before export");
    size_t limit = ref_id_limit(r->ref);
    if (limit > r->seen_cap) {
        free(r->seen);
        r->seen_cap = limit * 2;
        r->seen = tu_xmalloc(r->seen_cap);
    }
    memset(r->seen, 0, limit);
    const char *saved_op = r->op;
    r->op = "verify-export";

    int want_values = vs > 0 && !tu_chance(&r->rng, 20);
    uint64_t cursor = 0, total = 0;
    uint64_t calls = 0, max_calls = 2 * (s.slots + 64) + ref_size(r->ref);
    uint64_t last_shard = 0; /* sharded maps: the cursor's top 16 bits */
    do {
        size_t max;
        switch (tu_below(&r->rng, 4)) {
        case 0: max = (size_t)tu_range(&r->rng, 1, 8); break;
        case 1: max = (size_t)tu_range(&r->rng, 1, 64); break;
        default: max = (size_t)tu_range(&r->rng, 1, r->e_max); break;
        }
        size_t n_out = (size_t)-1;
        memset(r->e_keys, 0xA5, max * ks);
        fm_status st = fm_export(r->map, &cursor, r->e_keys, want_values ? r->e_values : NULL,
                                 max, &n_out);
        if (st != FM_OK)
            return mismatch(r, "fm_export returned %d (%s)", st, fm_status_str(st));
        if (n_out > max)
            return mismatch(r, "fm_export returned n_out=%zu > max=%zu", n_out, max);
        if (r->cfg.shards > 1 && cursor != 0) {
            /* The shard being exported: never past the last, never back. */
            uint64_t shard = cursor >> 48;
            if (shard >= (uint64_t)r->cfg.shards || shard < last_shard)
                return mismatch(r, "fm_export cursor 0x%llx names shard %llu after shard %llu "
                                "(%d shards)", (unsigned long long)cursor,
                                (unsigned long long)shard, (unsigned long long)last_shard,
                                r->cfg.shards);
            last_shard = shard;
        }
        for (size_t i = 0; i < n_out; i++) {
            const uint8_t *k = r->e_keys + i * ks;
            size_t id = ref_find(r->ref, k);
            if (id == REF_NONE) {
                int m = mismatch(r, "export returned a key the reference does not have");
                print_key_value(r, "exported", k, want_values ? r->e_values + i * vs : NULL);
                return m;
            }
            if (r->seen[id]) {
                int m = mismatch(r, "export returned the same key twice");
                print_key_value(r, "exported", k, NULL);
                return m;
            }
            r->seen[id] = 1;
            if (want_values && memcmp(r->e_values + i * vs, ref_value(r->ref, id), vs) != 0) {
                int m = mismatch(r, "export returned a wrong value");
                print_key_value(r, "expected", k, ref_value(r->ref, id));
                print_key_value(r, "exported", k, r->e_values + i * vs);
                return m;
            }
        }
        total += n_out;
        if (++calls > max_calls)
            return mismatch(r, "fm_export did not finish after %llu calls (cursor %llu)",
                            (unsigned long long)calls, (unsigned long long)cursor);
    } while (cursor != 0);
    g_exported += total;
    if (total != ref_size(r->ref)) {
        int m = mismatch(r, "export returned %llu entries, reference has %zu",
                         (unsigned long long)total, ref_size(r->ref));
        for (size_t id = 0, shown = 0; id < limit && shown < 5; id++) {
            if (ref_find(r->ref, ref_key(r->ref, id)) == id && !r->seen[id]) {
                print_key_value(r, "missing", ref_key(r->ref, id), ref_value(r->ref, id));
                shown++;
            }
        }
        return m;
    }
    r->op = saved_op;
    return 0;
}

/* ---- batches ---------------------------------------------------------------- */

static size_t pick_batch_size(run *r)
{
    uint64_t u = tu_below(&r->rng, 100);
    size_t n;
    if (u < 8)
        n = 0;
    else if (u < 50)
        n = (size_t)tu_range(&r->rng, 1, 16);
    else if (u < 83)
        n = (size_t)tu_range(&r->rng, 17, 512);
    else if (u < 96)
        n = (size_t)tu_range(&r->rng, 513, 4096);
    else
        n = (size_t)tu_range(&r->rng, 4097, 40000);
    return n > r->cfg.max_batch ? r->cfg.max_batch : n;
}

/* Reorders r->keys[0..n) into 1-3 runs, each sorted by the map's hash
 * (so in home-slot order for any table size; stable, so equal keys keep
 * their order): the way a caller that ordered its batch, or an MPI map
 * receiving ordered batches from a few ranks, hands it to a table, which
 * then walks it as it lies (src/cpu/cpu_runs.c). */
static void order_in_runs(run *r, size_t n)
{
    const uint32_t ks = r->cfg.key_size;
    const size_t runs = (size_t)tu_range(&r->rng, 1, 3);
    size_t from = 0;
    for (size_t part = 0; part < runs; part++) {
        const size_t to = part + 1 == runs ? n : from + (size_t)tu_below(&r->rng, n - from + 1);
        if (!tm_sort_by_hash(r->keys + from * ks, to - from, ks, r->cfg.hash)) {
            fprintf(stderr, "test_differential: out of memory\n");
            exit(2);
        }
        from = to;
    }
}

/* Fill r->keys with n keys from a random window of the pool (a small window
 * means many duplicates in the batch); `fresh_percent` of them are new random
 * keys, almost surely absent. A quarter of the batches come in runs ordered
 * by hash (order_in_runs). */
static void pick_keys(run *r, size_t n, unsigned fresh_percent)
{
    const uint32_t ks = r->cfg.key_size;
    size_t w = (size_t)tu_log_range(&r->rng, r->cfg.pool_n);
    size_t a = (size_t)tu_below(&r->rng, r->cfg.pool_n - w + 1);
    for (size_t i = 0; i < n; i++) {
        if (fresh_percent && tu_chance(&r->rng, fresh_percent))
            tu_fill(&r->rng, r->keys + i * ks, ks);
        else
            memcpy(r->keys + i * ks, r->pool + (a + tu_below(&r->rng, w)) * ks, ks);
    }
    if (tu_chance(&r->rng, 25))
        order_in_runs(r, n);
}

/* Would inserting these keys push a fixed-capacity map past its capacity,
 * or (S shards) one shard's table past its part (owner_model.h)? */
static int expect_full(run *r, size_t n)
{
    if (!r->cfg.fixed)
        return 0;
    const uint32_t S = (uint32_t)r->cfg.shards;
    ref_clear(r->scratch);
    memset(r->shard_new, 0, S * sizeof *r->shard_new);
    for (size_t i = 0; i < n; i++) {
        const uint8_t *k = r->keys + i * r->cfg.key_size;
        if (ref_find(r->ref, k) == REF_NONE && ref_put(r->scratch, k, NULL))
            r->shard_new[owner_of(r, k)]++;
    }
    uint64_t live = 0;
    for (uint32_t i = 0; i < S; i++)
        live += r->shard_live[i];
    if (live != ref_size(r->ref)) {
        fprintf(stderr, "test_differential: internal error: shard model has %llu live entries, "
                        "reference %zu\n", (unsigned long long)live, ref_size(r->ref));
        exit(2);
    }
    int by_part = 0;
    const int full = tm_would_be_full(r->cfg.capacity, S, r->shard_live, r->shard_new, &by_part);
    if (by_part)
        g_full_shard++;
    return full;
}

/* After FM_ERR_FULL: the map must be exactly as before (the reference was
 * not touched). */
static int check_unchanged(run *r, size_t n)
{
    memset(r->out, 0xA5, n * r->cfg.value_size);
    memset(r->flags, 0xA5, n);
    fm_status st = bulk_get(r, r->keys, n, r->out, r->flags);
    g_key_ops += n;
    g_verify_ops += n;
    if (st != FM_OK)
        return mismatch(r, "get after FM_ERR_FULL returned %d", st);
    if (compare_gets(r, r->keys, n, r->out, r->flags, 1))
        return 1;
    return check_export(r);
}

static int do_insert(run *r, size_t n, int keys_ready)
{
    const uint32_t ks = r->cfg.key_size, vs = r->cfg.value_size;
    r->op = keys_ready ? "reinsert" : "insert";
    r->op_n = n;
    if (!keys_ready)
        pick_keys(r, n, 0);
    tu_fill(&r->rng, r->values, n * vs);
    int full = expect_full(r, n);
    /* A set may pass values == NULL. */
    const void *vals = vs == 0 && tu_chance(&r->rng, 50) ? NULL : r->values;
    fm_status st = bulk_insert(r, r->keys, vals, n);
    g_key_ops += n;
    fm_status want = full ? FM_ERR_FULL : FM_OK;
    if (st != want)
        return mismatch(r, "fm_bulk_insert returned %d (%s), expected %d (%s)", st,
                        fm_status_str(st), want, fm_status_str(want));
    if (full) {
        g_full++;
        return check_unchanged(r, n);
    }
    if (r->cfg.fixed)
        g_full_ok++;
    for (size_t i = 0; i < n; i++) /* in order: the last occurrence wins */
        model_put(r, r->keys + i * ks, r->values + i * vs);
    return 0;
}

static int do_get(run *r, size_t n)
{
    const uint32_t vs = r->cfg.value_size;
    r->op = "get";
    r->op_n = n;
    pick_keys(r, n, 15);
    memset(r->out, 0xA5, n * vs);
    memset(r->flags, 0xA5, n);
    uint8_t *found = tu_chance(&r->rng, 15) ? NULL : r->flags;
    void *out = vs == 0 && tu_chance(&r->rng, 50) ? NULL : r->out;
    fm_status st = bulk_get(r, r->keys, n, out, found);
    g_key_ops += n;
    if (st != FM_OK)
        return mismatch(r, "fm_bulk_get returned %d (%s)", st, fm_status_str(st));
    return compare_gets(r, r->keys, n, r->out, found, out != NULL);
}

static int do_remove(run *r, size_t n, int keep_keys)
{
    const uint32_t ks = r->cfg.key_size;
    r->op = keep_keys ? "remove(then reinsert)" : "remove";
    r->op_n = n;
    pick_keys(r, n, keep_keys ? 0 : 10);
    memset(r->flags, 0xA5, n);
    uint8_t *removed = tu_chance(&r->rng, 15) ? NULL : r->flags;
    fm_status st = bulk_remove(r, r->keys, n, removed);
    g_key_ops += n;
    if (st != FM_OK)
        return mismatch(r, "fm_bulk_remove returned %d (%s)", st, fm_status_str(st));
    /* In order: the first occurrence of a key removes it, later ones see 0. */
    for (size_t i = 0; i < n; i++)
        r->exp_flags[i] = (uint8_t)model_remove(r, r->keys + i * ks);
    if (removed) {
        for (size_t i = 0; i < n; i++) {
            if (removed[i] != r->exp_flags[i]) {
                int m = mismatch(r, "removed_out[%zu]=%u, expected %u", i, removed[i],
                                 r->exp_flags[i]);
                print_key_value(r, "at", r->keys + i * ks, NULL);
                return m;
            }
        }
    }
    return 0;
}

static int do_add(run *r, size_t n)
{
    const uint32_t ks = r->cfg.key_size;
    r->op = "add_u64";
    r->op_n = n;
    pick_keys(r, n, 3);
    int use_deltas = !tu_chance(&r->rng, 30);
    for (size_t i = 0; i < n; i++) {
        switch (tu_below(&r->rng, 4)) {
        case 0: r->deltas[i] = 0; break;
        case 1: r->deltas[i] = UINT64_MAX - tu_below(&r->rng, 4); break; /* wraps */
        case 2: r->deltas[i] = tu_next(&r->rng); break;
        default: r->deltas[i] = tu_range(&r->rng, 1, 10); break;
        }
    }
    int full = expect_full(r, n);
    fm_status st = bulk_add(r, r->keys, use_deltas ? r->deltas : NULL, n);
    g_key_ops += n;
    fm_status want = full ? FM_ERR_FULL : FM_OK;
    if (st != want)
        return mismatch(r, "fm_bulk_add_u64(deltas %s) returned %d (%s), expected %d (%s)",
                        use_deltas ? "given" : "NULL", st, fm_status_str(st), want,
                        fm_status_str(want));
    if (full) {
        g_full++;
        return check_unchanged(r, n);
    }
    if (r->cfg.fixed)
        g_full_ok++;
    for (size_t i = 0; i < n; i++)
        model_add(r, r->keys + i * ks, use_deltas ? r->deltas[i] : 1);
    return 0;
}

static int do_clear(run *r)
{
    r->op = "clear";
    r->op_n = 0;
    fm_status st = fm_clear(r->map);
    if (st != FM_OK)
        return mismatch(r, "fm_clear returned %d (%s)", st, fm_status_str(st));
    model_clear(r);
    return 0;
}

/* ---- one seed ------------------------------------------------------------- */

static int run_seed(uint64_t seed, double scale)
{
    run r;
    memset(&r, 0, sizeof r);
    g_device_calls = 0; /* so that --seed replays which calls keep host outputs */
    tu_rng_seed(&r.rng, seed);
    r.cfg = make_config(seed, scale, &r.rng);
    const config *c = &r.cfg;
    const size_t ks = c->key_size, vs = c->value_size;
    const size_t mb = c->max_batch > c->huge_batch ? c->max_batch : c->huge_batch;
    if (g_verbose) {
        describe(stdout, c);
        printf("\n");
    }

    r.pool = tu_xmalloc(c->pool_n * ks);
    r.keys = tu_xmalloc(mb * ks);
    r.values = tu_xmalloc(mb * vs);
    r.out = tu_xmalloc(mb * vs);
    r.flags = tu_xmalloc(mb);
    r.exp_flags = tu_xmalloc(mb);
    r.deltas = tu_xmalloc(mb * sizeof *r.deltas);
    r.s_keys = tu_xmalloc(SAMPLE_MAX * ks);
    r.s_out = tu_xmalloc(SAMPLE_MAX * vs);
    r.s_flags = tu_xmalloc(SAMPLE_MAX);
    r.e_max = vs == 4096 ? 256 : 4096;
    r.e_keys = tu_xmalloc(r.e_max * ks);
    r.e_values = tu_xmalloc(r.e_max * vs);
    r.seen_cap = 1024;
    r.seen = tu_xmalloc(r.seen_cap);
    r.ref = ref_create(ks, vs);
    r.scratch = ref_create(ks, 0);
    if (c->fixed) {
        r.shard_live = tu_xmalloc((size_t)c->shards * sizeof *r.shard_live);
        r.shard_new = tu_xmalloc((size_t)c->shards * sizeof *r.shard_new);
        memset(r.shard_live, 0, (size_t)c->shards * sizeof *r.shard_live);
    }
    if (!r.ref || !r.scratch) {
        fprintf(stderr, "test_differential: out of memory\n");
        exit(2);
    }
    make_pool(&r);

    int bad = 0;
    fm_config fc = fm_config_default(c->key_size, c->value_size, c->capacity);
    fc.hash = c->hash;
    fc.threads = c->threads;
    fc.max_load = c->max_load;
    fc.backend = g_backend;
    fc.flags = c->fixed ? FM_FIXED_CAPACITY : 0;
    fc.shards = c->shards;
    fm_status st = fm_create(&fc, &r.map);
    if (st != FM_OK) {
        fprintf(stderr, "MISMATCH: fm_create failed: %d %s: %s\n  ", st, fm_status_str(st),
                fm_last_error(NULL));
        describe(stderr, c);
        fprintf(stderr, "\n");
        bad = 1;
        goto done;
    }
    if (g_caller_stream && !td_caller_stream(r.map) && c->shards <= 1) {
        bad = mismatch(&r, "fm_cuda_set_stream refused a one-table CUDA map: %s", fm_last_error(r.map));
        goto done;
    }
    if (c->fixed) {
        fm_stats s;
        if (fm_get_stats(r.map, &s) != FM_OK) {
            bad = mismatch(&r, "fm_get_stats failed on a new map");
            goto done;
        }
        r.fixed_slots = s.slots;
        if (s.slots < c->capacity) {
            bad = mismatch(&r, "FIXED_CAPACITY map has %llu slots for capacity %llu",
                           (unsigned long long)s.slots, (unsigned long long)c->capacity);
            goto done;
        }
    }

    uint64_t spent = 0;
    int huge_left = c->huge_batch > 0;
    while (!bad && spent < c->budget) {
        r.batch_index++;
        g_batches++;
        size_t n;
        int huge = huge_left && tu_chance(&r.rng, 3);
        if (huge) {
            n = c->huge_batch; /* on top of the budget */
            huge_left = 0;
        } else {
            n = pick_batch_size(&r);
            if (n > c->budget - spent)
                n = (size_t)(c->budget - spent);
            spent += n;
        }
        uint64_t u = tu_below(&r.rng, 1000);
        if (u < 6) {
            bad = do_clear(&r);
            n = 0;
        } else if (u < 300) {
            bad = do_insert(&r, n, 0);
        } else if (u < 450) {
            bad = do_get(&r, n);
        } else if (u < 650) {
            bad = do_remove(&r, n, 0);
        } else if (u < 800) {
            /* Remove some keys, then insert the very same keys again. */
            bad = do_remove(&r, n, 1);
            if (!bad) {
                bad = check_size(&r);
                if (!bad)
                    bad = do_insert(&r, n, 1);
            }
            if (!huge)
                spent += n;
        } else if (vs == 8) {
            bad = do_add(&r, n);
        } else {
            bad = do_insert(&r, n, 0);
        }
        if (g_verbose)
            printf("  batch #%llu %s n=%zu -> size %zu\n", (unsigned long long)r.batch_index,
                   r.op, r.op_n, ref_size(r.ref));
        if (!bad)
            bad = check_size(&r);
        if (!bad)
            bad = check_sample(&r, r.keys, n);
        if (!bad && (c->fixed || r.batch_index % STATS_EVERY == 0))
            bad = check_stats(&r);
        if (!bad && r.batch_index % EXPORT_EVERY == 0)
            bad = check_export(&r);
    }
    if (!bad && g_verbose) {
        fm_stats s;
        if (fm_get_stats(r.map, &s) == FM_OK)
            printf("  final: size %llu slots %llu tombstones %llu longest_probe %llu\n",
                   (unsigned long long)s.size, (unsigned long long)s.slots,
                   (unsigned long long)s.tombstones, (unsigned long long)s.longest_probe);
    }
    if (!bad) {
        r.op = "final";
        r.op_n = 0;
        bad = check_stats(&r);
        if (!bad)
            bad = check_export(&r);
    }

done:
    fm_destroy(r.map);
    ref_destroy(r.ref);
    ref_destroy(r.scratch);
    free(r.pool);
    free(r.keys);
    free(r.values);
    free(r.out);
    free(r.flags);
    free(r.exp_flags);
    free(r.deltas);
    free(r.s_keys);
    free(r.s_out);
    free(r.s_flags);
    free(r.e_keys);
    free(r.e_values);
    free(r.seen);
    free(r.shard_live);
    free(r.shard_new);
    return bad;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr, "usage: test_differential [--seeds N] [--first F] [--scale X] "
                    "[--seed S] [--shards S] [--backend cpu|cuda] [--device-buffers] [--caller-stream] [--verbose]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    uint64_t seeds = N_COMBOS, first = 0;
    double scale = 1.0;
    int positional = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (strcmp(a, "--seeds") == 0 && has_next) {
            seeds = strtoull(argv[++i], NULL, 0);
        } else if (strcmp(a, "--first") == 0 && has_next) {
            first = strtoull(argv[++i], NULL, 0);
        } else if (strcmp(a, "--scale") == 0 && has_next) {
            scale = strtod(argv[++i], NULL);
        } else if (strcmp(a, "--seed") == 0 && has_next) {
            first = strtoull(argv[++i], NULL, 0);
            seeds = 1;
        } else if (strcmp(a, "--shards") == 0 && has_next) {
            g_shards = atoi(argv[++i]);
        } else if (strcmp(a, "--backend") == 0 && has_next) {
            const char *b = argv[++i];
            if (strcmp(b, "cpu") == 0) g_backend = FM_BACKEND_CPU;
            else if (strcmp(b, "cuda") == 0) g_backend = FM_BACKEND_CUDA;
            else usage();
        } else if (strcmp(a, "--device-buffers") == 0) {
            g_device_buffers = 1;
        } else if (strcmp(a, "--caller-stream") == 0) {
            g_caller_stream = 1;
        } else if (strcmp(a, "--verbose") == 0) {
            g_verbose = 1;
        } else if (a[0] != '-' && positional == 0) {
            seeds = strtoull(a, NULL, 0);
            positional++;
        } else if (a[0] != '-' && positional == 1) {
            scale = strtod(a, NULL);
            positional++;
        } else {
            usage();
        }
    }
    if (!(scale > 0) || g_shards < 1 || g_shards > 4096 || ((g_device_buffers || g_caller_stream) && g_backend != FM_BACKEND_CUDA))
        usage();
    g_scale = scale;

    printf("%s\n", fm_version_string());
    if (g_backend == FM_BACKEND_CUDA) {
        /* A CUDA map exists only where a device is usable: skip elsewhere. */
        fm_config probe = fm_config_default(8, 8, 16);
        probe.backend = FM_BACKEND_CUDA;
        fm_map *m = NULL;
        fm_status st = fm_create(&probe, &m);
        if (st == FM_ERR_UNSUPPORTED) {
            printf("differential: no usable CUDA device (%s): skipped\n", fm_last_error(NULL));
            return 77;
        }
        fm_destroy(m);
    }
    double t0 = now_seconds();
    uint64_t failed = 0;
    for (uint64_t s = first; s < first + seeds; s++)
        failed += (uint64_t)run_seed(s, scale);
    double dt = now_seconds() - t0;

    printf("differential: %llu key operations (%llu of them verification gets), "
           "%llu exported entries, %llu batches, %llu seeds, %.1f s\n",
           (unsigned long long)g_key_ops, (unsigned long long)g_verify_ops,
           (unsigned long long)g_exported, (unsigned long long)g_batches,
           (unsigned long long)seeds, dt);
    printf("differential: %d shard(s); fixed-capacity insert/add batches: %llu accepted, %llu "
           "rejected with FM_ERR_FULL (%llu of them by one full shard alone)\n",
           g_shards, (unsigned long long)g_full_ok, (unsigned long long)g_full,
           (unsigned long long)g_full_shard);
    printf("differential: %llu key operations, %llu mismatches\n", (unsigned long long)g_key_ops,
           (unsigned long long)failed);
    return failed ? 1 : 0;
}
