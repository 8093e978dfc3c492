/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Randomized differential test of MPI maps (fm_create_mpi) against
 * reference_map, on any number of ranks.
 *
 * Every rank seeds the same generator, so every rank draws the same
 * configuration and the same batches for ALL ranks. The global batch of a
 * step is rank 0's keys, then rank 1's, and so on; every rank applies that
 * whole batch to its own copy of the reference map (so the copies stay
 * identical), passes only its own slice to the collective flashmap call, and
 * checks its own results: values and found flags of gets, removed flags
 * (the first occurrence in rank order removes), last occurrence in rank
 * order wins for inserts, adds sum. Then it checks that all ranks got the
 * same status, the expected one, and the global fm_size. Every few steps,
 * after every rejected batch and at the end, all ranks export their entries,
 * gather them (MPI_Allgatherv) and compare the union with the reference as a
 * set; every entry must sit on the rank that owns its hash.
 *
 * Batches have rank-dependent sizes (empty ones included, sometimes only one
 * rank has keys), duplicates within and across ranks, removes, remove-then-
 * reinsert of the same keys, add_u64, gets, occasional clears, and now and
 * then one rank passes a bad argument (keys == NULL with n > 0, ...): every
 * rank must then return FM_ERR_INVALID with the map unchanged.
 *
 * Configurations (seed % 144): key size 1/8/16/32, value size 0/8/128,
 * murmur3/identity, growing/fixed capacity, exchange_bytes default / 64 /
 * a few hundred to a few thousand bytes (many exchange rounds). With
 * FM_FIXED_CAPACITY the map holds up to capacity entries in all, and each
 * rank's table its share plus headroom; the test routes every key with the
 * library's owner function (owner_model.h) and predicts FM_ERR_FULL.
 *
 * Before the seeds: fm_create_mpi with configurations that differ between
 * ranks (or are invalid on one rank only) must return FM_ERR_INVALID on
 * every rank, without hanging.
 *
 * Usage: mpiexec -n P test_mpi_differential [--seeds N] [--first F] [--scale X]
 *                                           [--seed S] [--backend cpu|cuda] [--verbose]
 *                                           [--all-config-cases] [--device-buffers]
 *                                           [--expect-path nccl|host]
 *   --seeds N   run seeds F .. F+N-1 (default 144: every configuration once)
 *   --scale X   multiply the key operations per seed (default 1.0)
 *   --seed S    run only seed S (to replay a failure; add --verbose to trace)
 *   --backend B the shards' backend (default cpu); with cuda every rank's
 *               shard is a CUDA table, and every rank exits 77 (CTest:
 *               skipped) unless every rank has a usable device
 *   --all-config-cases  also the configuration cases that fail in this
 *               version (see test_configs)
 *   --device-buffers  the bulk calls of the steps pass device memory
 *               (tests/device_calls.c; with --backend cuda, on a node whose
 *               ranks share device 0): on a map with NCCL such batches take
 *               the NCCL path; every rank exits 77 without a usable device
 *   --expect-path P  every map must exchange device batches through P
 *               ("nccl" or "host"; the library's choice at fm_create_mpi)
 * FLASHMAP_TEST_MPI_EXCHANGE=1 in the environment makes a one-rank map
 * exchange with itself, as maps of several ranks do.
 * A failure prints the seed and exits non-zero on every rank.
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap_mpi.h>

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/fm_map.h" /* fm_cuda_usable */
#include "device_calls.h"
#include "mpi/fm_mpi_nccl.h" /* fm_mpi_exchange_path */
#include "owner_model.h"
#include "reference_map.h"
#include "test_util.h"

static const uint32_t KEY_SIZES[] = {1, 8, 16, 32};
static const uint32_t VALUE_SIZES[] = {0, 8, 128};
#define N_KEY_SIZES (sizeof KEY_SIZES / sizeof KEY_SIZES[0])
#define N_VALUE_SIZES (sizeof VALUE_SIZES / sizeof VALUE_SIZES[0])
#define N_EXCHANGE 3 /* default, 64 bytes, a few hundred to a few thousand */
#define N_COMBOS ((unsigned)(N_KEY_SIZES * N_VALUE_SIZES * 2 * 2 * N_EXCHANGE))

#define SAMPLE_MAX 64   /* keys per rank in the verification get after each step */
#define EXPORT_EVERY 16 /* steps between gathered export comparisons */
#define STATS_EVERY 4   /* steps between stats checks (fixed maps: every step) */

static int g_rank, g_nranks;
static int g_verbose;
static double g_scale = 1.0;
static fm_backend g_backend = FM_BACKEND_CPU; /* --backend */
static int g_device_buffers;                  /* --device-buffers */
static const char *g_expect_path;             /* --expect-path */

/* The replay command line's backend arguments. */
static const char *backend_arg(void)
{
    if (g_backend != FM_BACKEND_CUDA) return g_device_buffers ? " --device-buffers" : "";
    return g_device_buffers ? " --backend cuda --device-buffers" : " --backend cuda";
}

/* The bulk calls of the steps: on the caller's host buffers, or through
 * device copies of them with --device-buffers. */
static fm_status call_insert(fm_map *m, uint32_t ks, uint32_t vs, const void *keys, const void *values, size_t n)
{
    return g_device_buffers ? td_insert(m, ks, vs, keys, values, n, 0) : fm_bulk_insert(m, keys, values, n);
}

static fm_status call_get(fm_map *m, uint32_t ks, uint32_t vs, const void *keys, size_t n, void *out, uint8_t *found)
{
    return g_device_buffers ? td_get(m, ks, vs, keys, n, out, found, 0) : fm_bulk_get(m, keys, n, out, found);
}

static fm_status call_remove(fm_map *m, uint32_t ks, const void *keys, size_t n, uint8_t *removed)
{
    return g_device_buffers ? td_remove(m, ks, keys, n, removed, 0) : fm_bulk_remove(m, keys, n, removed);
}

static fm_status call_add(fm_map *m, uint32_t ks, const void *keys, const uint64_t *deltas, size_t n)
{
    return g_device_buffers ? td_add(m, ks, keys, deltas, n, 0) : fm_bulk_add_u64(m, keys, deltas, n);
}

/* Totals over the run (this rank's view; rank 0 prints them). */
static uint64_t g_global_key_ops; /* keys in all ranks' batches of bulk calls */
static uint64_t g_local_key_ops;  /* ... of which this rank passed */
static uint64_t g_steps, g_full, g_full_rank, g_full_ok, g_invalid, g_exports, g_exported;
static uint64_t g_rounds_max; /* most exchange rounds one call needed (estimate) */

typedef struct config {
    uint64_t seed;
    uint32_t key_size, value_size;
    fm_hash hash;
    int fixed;
    uint64_t exchange_bytes; /* 0: the library's default */
    uint64_t capacity;
    double max_load;
    size_t pool_n;
    uint64_t budget;        /* global key operations of this seed's steps */
    size_t max_rank_batch;  /* keys one rank passes to one call */
} config;

typedef struct run {
    config cfg;
    tu_rng rng;   /* shared: the same stream on every rank */
    tu_rng local; /* this rank's: sample keys, export page sizes */
    fm_map *map;
    ref_map *ref;
    ref_map *scratch;
    uint64_t *rank_live, *rank_new; /* fixed maps: live entries per owner rank */
    uint8_t *pool;
    /* The global batch: all ranks' keys one after another. */
    size_t *cnt, *off; /* per rank */
    uint8_t *keys, *values, *exp_flags, *out, *flags;
    uint64_t *deltas;
    uint8_t *opt;      /* per rank: which optional pointers are NULL (bits) */
    /* Verification gets. */
    uint8_t *s_keys, *s_out, *s_flags;
    /* Export and gather. */
    uint8_t *e_keys, *e_values, *e_pack;
    size_t e_max, e_pack_cap;
    uint8_t *seen;
    size_t seen_cap;
    uint64_t fixed_slots;
    uint64_t step;
    const char *op;
    size_t op_n; /* global keys of the step */
    int bad;     /* this rank saw a mismatch in this step */
} run;

static const char *exchange_name(const config *c, char *buf, size_t len)
{
    if (c->exchange_bytes == 0)
        snprintf(buf, len, "default");
    else
        snprintf(buf, len, "%llu", (unsigned long long)c->exchange_bytes);
    return buf;
}

static int describe_to(char *buf, size_t len, const config *c)
{
    char xb[32];
    return snprintf(buf, len,
            "seed=%llu ranks=%d key_size=%u value_size=%u hash=%s %s capacity=%llu max_load=%g "
            "exchange_bytes=%s pool=%zu budget=%llu max_rank_batch=%zu",
            (unsigned long long)c->seed, g_nranks, c->key_size, c->value_size,
            c->hash == FM_HASH_IDENTITY ? "identity" : "murmur3",
            c->fixed ? "FIXED_CAPACITY" : "growing", (unsigned long long)c->capacity,
            c->max_load, exchange_name(c, xb, sizeof xb), c->pool_n,
            (unsigned long long)c->budget, c->max_rank_batch);
}

static void describe(FILE *f, const config *c)
{
    char buf[512];
    describe_to(buf, sizeof buf, c);
    fputs(buf, f);
}

/* Appends to a message buffer (ranks write whole messages at once, so the
 * reports of several ranks do not interleave mid-line). */
static void append(char *buf, size_t len, size_t *at, const char *fmt, ...)
{
    if (*at >= len)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(buf + *at, len - *at, fmt, ap);
    va_end(ap);
    if (n > 0)
        *at += (size_t)n;
}

/* Report a mismatch seen on this rank; the step ends with every rank
 * agreeing that the seed failed. Returns 1. */
static int mismatch(run *r, const char *fmt, ...)
{
    if (r->bad)
        return 1; /* the first report of a step is the one that matters */
    r->bad = 1;
    char buf[4096];
    size_t at = 0;
    append(buf, sizeof buf, &at, "MISMATCH on rank %d of %d: ", g_rank, g_nranks);
    if (at < sizeof buf)
        at += (size_t)describe_to(buf + at, sizeof buf - at, &r->cfg);
    append(buf, sizeof buf, &at, "\n  step #%llu op=%s global n=%zu (this rank: %zu at %zu): ",
           (unsigned long long)r->step, r->op ? r->op : "-", r->op_n,
           r->cnt ? r->cnt[g_rank] : 0, r->off ? r->off[g_rank] : 0);
    if (at < sizeof buf) {
        va_list ap;
        va_start(ap, fmt);
        int n = vsnprintf(buf + at, sizeof buf - at, fmt, ap);
        va_end(ap);
        if (n > 0)
            at += (size_t)n;
    }
    append(buf, sizeof buf, &at,
           "\n  fm_last_error: %s\n  replay: mpiexec -n %d test_mpi_differential --seed %llu "
           "--scale %g%s --verbose\n",
           r->map ? fm_last_error(r->map) : fm_last_error(NULL), g_nranks,
           (unsigned long long)r->cfg.seed, g_scale, backend_arg());
    fputs(buf, stderr);
    fflush(stderr);
    return 1;
}

static void hex_to(char *buf, size_t len, size_t *at, const void *p, size_t n)
{
    const uint8_t *b = p;
    size_t shown = n > 32 ? 32 : n;
    for (size_t i = 0; i < shown; i++)
        append(buf, len, at, "%02x", b[i]);
    if (shown < n)
        append(buf, len, at, "...(%zu bytes)", n);
}

static void print_key_value(run *r, const char *what, const void *key, const void *value)
{
    char buf[512];
    size_t at = 0;
    append(buf, sizeof buf, &at, "  [rank %d] %s key=", g_rank, what);
    hex_to(buf, sizeof buf, &at, key, r->cfg.key_size);
    if (value && r->cfg.value_size) {
        append(buf, sizeof buf, &at, " value=");
        hex_to(buf, sizeof buf, &at, value, r->cfg.value_size);
    }
    append(buf, sizeof buf, &at, "\n");
    fputs(buf, stderr);
}

static int is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

/* 1 on every rank if every rank passes non-zero. */
static int all_ranks(int mine)
{
    int all = 0;
    mine = mine != 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}

/* 1 on every rank if any rank passes 1. */
static int any_rank(int mine)
{
    int any = 0;
    MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    return any;
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
    c.fixed = (int)(combo % 2);
    combo /= 2;
    unsigned xchg = combo % N_EXCHANGE;

    static const double loads[] = {0.0, 0.5, 0.25, 0.75, 0.9};
    c.max_load = loads[tu_below(rng, sizeof loads / sizeof loads[0])];

    /* One-byte keys: at most 256 distinct, so a small pool. */
    size_t pool_max = c.key_size == 1 ? 256 : 12000;
    if (c.fixed) {
        /* Small capacities so that batches hit FM_ERR_FULL often and one
         * rank's shard can be full while the others have room. */
        uint64_t cap_max = c.key_size == 1 ? 160 : 3000;
        c.capacity = tu_log_range(rng, cap_max);
        c.pool_n = (size_t)(c.capacity + tu_log_range(rng, 3 * c.capacity + 16));
        if (c.pool_n > pool_max)
            c.pool_n = pool_max;
    } else {
        c.capacity = tu_chance(rng, 12) ? 0 : tu_range(rng, 1, 64);
        c.pool_n = (size_t)tu_range(rng, 4, 16) * tu_log_range(rng, pool_max / 16);
        if (c.pool_n > pool_max)
            c.pool_n = pool_max;
    }

    switch (xchg) {
    case 0:
        c.exchange_bytes = 0;
        c.max_rank_batch = 6000;
        break;
    case 1:
        /* 64 bytes: a key or two per round, and every round is a few
         * collectives: batches of up to ~64 rounds per call. */
        c.exchange_bytes = 64;
        c.max_rank_batch = 64 * 64 / (c.key_size + c.value_size + 1);
        if (c.max_rank_batch > 96)
            c.max_rank_batch = 96;
        break;
    default:
        c.exchange_bytes = tu_range(rng, 200, 4000);
        c.max_rank_batch = 1500;
        break;
    }
    c.budget = (uint64_t)(40000.0 * scale);
    if (c.exchange_bytes == 64)
        c.budget /= 25;
    if (c.budget < 64)
        c.budget = 64;
    return c;
}

/* The key pool (tu_key_pool: random keys with clusters of similar ones). */
static void make_pool(run *r) { tu_key_pool(&r->rng, r->pool, r->cfg.pool_n, r->cfg.key_size); }

/* ---- the reference, with live entries per owner rank ------------------------ */

static uint32_t owner_of(const run *r, const uint8_t *key)
{
    return tm_owner(r->cfg.hash, key, r->cfg.key_size, (uint32_t)g_nranks);
}

static void model_put(run *r, const uint8_t *key, const uint8_t *value)
{
    tm_put(r->ref, r->rank_live, r->cfg.hash, r->cfg.key_size, (uint32_t)g_nranks, key, value);
}

static int model_remove(run *r, const uint8_t *key)
{
    return tm_remove(r->ref, r->rank_live, r->cfg.hash, r->cfg.key_size, (uint32_t)g_nranks, key);
}

static void model_add(run *r, const uint8_t *key, uint64_t delta)
{
    tm_add(r->ref, r->rank_live, r->cfg.hash, r->cfg.key_size, (uint32_t)g_nranks, key, delta);
}

static void model_clear(run *r) { tm_clear(r->ref, r->rank_live, (uint32_t)g_nranks); }

/* Would the global batch (r->keys, total keys) push a fixed-capacity map
 * past its capacity, or one rank's table past its part (owner_model.h)?
 * Same answer on every rank. */
static int expect_full(run *r, size_t total)
{
    if (!r->cfg.fixed)
        return 0;
    const uint32_t P = (uint32_t)g_nranks;
    ref_clear(r->scratch);
    memset(r->rank_new, 0, P * sizeof *r->rank_new);
    for (size_t i = 0; i < total; i++) {
        const uint8_t *k = r->keys + i * r->cfg.key_size;
        if (ref_find(r->ref, k) == REF_NONE && ref_put(r->scratch, k, NULL))
            r->rank_new[owner_of(r, k)]++;
    }
    uint64_t live = 0;
    for (uint32_t p = 0; p < P; p++)
        live += r->rank_live[p];
    if (live != ref_size(r->ref)) {
        fprintf(stderr, "test_mpi_differential: internal error: owner model has %llu entries, "
                        "reference %zu\n", (unsigned long long)live, ref_size(r->ref));
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    int by_part = 0;
    const int full = tm_would_be_full(r->cfg.capacity, P, r->rank_live, r->rank_new, &by_part);
    if (by_part)
        g_full_rank++;
    return full;
}

/* ---- batches ----------------------------------------------------------------- */

static size_t pick_rank_size(run *r)
{
    uint64_t u = tu_below(&r->rng, 100);
    size_t n;
    if (u < 15)
        n = 0;
    else if (u < 55)
        n = (size_t)tu_range(&r->rng, 1, 16);
    else if (u < 85)
        n = (size_t)tu_range(&r->rng, 17, 512);
    else
        n = (size_t)tu_range(&r->rng, 513, 6000);
    return n > r->cfg.max_rank_batch ? r->cfg.max_rank_batch : n;
}

/* Sizes of every rank's part (r->cnt, r->off); returns the global total,
 * at most `left` (the rest of the budget) unless that is 0. */
static size_t pick_sizes(run *r, uint64_t left)
{
    const int P = g_nranks;
    uint64_t u = tu_below(&r->rng, 100);
    int only = -1;
    if (u < 12)
        only = (int)tu_below(&r->rng, (uint64_t)P); /* one rank has keys */
    for (int p = 0; p < P; p++) {
        size_t n = pick_rank_size(r);
        if (u >= 12 && u < 15)
            n = 0; /* everybody empty: still a collective call */
        if (only >= 0 && p != only)
            n = 0;
        r->cnt[p] = n;
    }
    /* Trim to the budget from the last rank down. */
    size_t total = 0;
    for (int p = 0; p < P; p++)
        total += r->cnt[p];
    for (int p = P - 1; p >= 0 && total > left; p--) {
        size_t cut = total - (size_t)left < r->cnt[p] ? total - (size_t)left : r->cnt[p];
        r->cnt[p] -= cut;
        total -= cut;
    }
    size_t at = 0;
    for (int p = 0; p < P; p++) {
        r->off[p] = at;
        at += r->cnt[p];
    }
    return total;
}

/* Keys for the whole global batch from one random window of the pool; some
 * ranks also repeat keys of lower ranks (exact cross-rank duplicates). */
static void pick_keys(run *r, size_t total, unsigned fresh_percent)
{
    const uint32_t ks = r->cfg.key_size;
    size_t w = (size_t)tu_log_range(&r->rng, r->cfg.pool_n);
    size_t a = (size_t)tu_below(&r->rng, r->cfg.pool_n - w + 1);
    for (size_t i = 0; i < total; i++) {
        if (fresh_percent && tu_chance(&r->rng, fresh_percent))
            tu_fill(&r->rng, r->keys + i * ks, ks);
        else
            memcpy(r->keys + i * ks, r->pool + (a + tu_below(&r->rng, w)) * ks, ks);
    }
    for (int p = 1; p < g_nranks; p++) {
        if (r->off[p] == 0 || r->cnt[p] == 0 || !tu_chance(&r->rng, 30))
            continue;
        unsigned percent = (unsigned)tu_range(&r->rng, 10, 100);
        for (size_t i = r->off[p]; i < r->off[p] + r->cnt[p]; i++)
            if (tu_chance(&r->rng, percent))
                memcpy(r->keys + i * ks, r->keys + tu_below(&r->rng, r->off[p]) * ks, ks);
    }
    /* Some ranks hand over their part in hash order, which is owner order:
     * it goes to the exchange as it lies (src/shard/partition.c). */
    for (int p = 0; p < g_nranks; p++)
        if (tu_chance(&r->rng, 25) && !tm_sort_by_hash(r->keys + r->off[p] * ks, r->cnt[p], ks, r->cfg.hash)) {
            fprintf(stderr, "test_mpi_differential: out of memory\n");
            exit(2);
        }
}

/* Per rank: which optional pointers it passes as NULL. */
enum { OPT_NO_FOUND = 1, OPT_NO_VALUES = 2, OPT_NO_DELTAS = 4, OPT_NO_REMOVED = 8 };
static void pick_options(run *r)
{
    for (int p = 0; p < g_nranks; p++) {
        uint8_t o = 0;
        if (tu_chance(&r->rng, 15))
            o |= OPT_NO_FOUND;
        if (r->cfg.value_size == 0 && tu_chance(&r->rng, 50))
            o |= OPT_NO_VALUES;
        if (tu_chance(&r->rng, 30))
            o |= OPT_NO_DELTAS;
        if (tu_chance(&r->rng, 15))
            o |= OPT_NO_REMOVED;
        r->opt[p] = o;
    }
}

/* ---- checks (every function here makes the same collective calls on every
 * rank, whatever it finds: a mismatch only sets r->bad) ---------------------- */

/* The status of a collective call: the same on every rank, and `want`. */
static void check_status(run *r, const char *what, fm_status st, fm_status want)
{
    int mine[2] = {(int)st, -(int)st}, all[2];
    MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (all[0] != -all[1])
        mismatch(r, "%s returned %d (%s) here, but statuses differ between ranks (min %d, max %d)",
                 what, st, fm_status_str(st), all[0], -all[1]);
    else if (st != want)
        mismatch(r, "%s returned %d (%s), expected %d (%s)", what, st, fm_status_str(st), want,
                 fm_status_str(want));
}

static void compare_gets(run *r, const uint8_t *keys, size_t n, const uint8_t *out,
                         const uint8_t *found, int have_values, const char *what)
{
    const uint32_t ks = r->cfg.key_size, vs = r->cfg.value_size;
    for (size_t i = 0; i < n && !r->bad; i++) {
        const uint8_t *k = keys + i * ks;
        size_t id = ref_find(r->ref, k);
        if (found && found[i] != (id != REF_NONE)) {
            mismatch(r, "%s #%zu of this rank: found=%u, reference says %s", what, i, found[i],
                     id != REF_NONE ? "present" : "absent");
            print_key_value(r, "at", k, id != REF_NONE ? ref_value(r->ref, id) : NULL);
            return;
        }
        if (!have_values || vs == 0)
            continue;
        const uint8_t *got = out + i * vs;
        if (id == REF_NONE ? !is_zero(got, vs) : memcmp(got, ref_value(r->ref, id), vs) != 0) {
            mismatch(r, "%s #%zu of this rank: wrong value (%s)", what, i,
                     id == REF_NONE ? "missing key must read as zeros" : "key present");
            print_key_value(r, "expected", k, id != REF_NONE ? ref_value(r->ref, id) : NULL);
            print_key_value(r, "got     ", k, got);
            return;
        }
    }
}

static void check_size(run *r)
{
    uint64_t got = fm_size(r->map);
    if (got != ref_size(r->ref))
        mismatch(r, "fm_size=%llu, reference size=%zu", (unsigned long long)got, ref_size(r->ref));
}

/* Each rank looks up its own sample: batch keys, pool keys, fresh keys. */
static void check_sample(run *r)
{
    const uint32_t ks = r->cfg.key_size, vs = r->cfg.value_size;
    size_t n = 0;
    if (!tu_chance(&r->local, 10)) {
        /* With a tiny exchange_bytes every key is a round or so: fewer. */
        const size_t limit = r->cfg.max_rank_batch < SAMPLE_MAX ? r->cfg.max_rank_batch : SAMPLE_MAX;
        const size_t mine = r->cnt[g_rank], at = r->off[g_rank];
        for (size_t i = 0; i < 24 && i < mine && n < limit; i++, n++)
            memcpy(r->s_keys + n * ks, r->keys + (at + tu_below(&r->local, mine)) * ks, ks);
        size_t from_pool = (size_t)tu_below(&r->local, 36);
        for (size_t i = 0; i < from_pool && n < limit; i++, n++)
            memcpy(r->s_keys + n * ks, r->pool + tu_below(&r->local, r->cfg.pool_n) * ks, ks);
        for (size_t i = 0; i < 4 && n < limit; i++, n++)
            tu_fill(&r->local, r->s_keys + n * ks, ks);
    }
    memset(r->s_out, 0xA5, n * vs);
    memset(r->s_flags, 0xA5, n);
    fm_status st = call_get(r->map, ks, vs, n ? r->s_keys : NULL, n, r->s_out, r->s_flags);
    g_local_key_ops += n;
    check_status(r, "verification fm_bulk_get", st, FM_OK);
    if (st == FM_OK)
        compare_gets(r, r->s_keys, n, r->s_out, r->s_flags, 1, "verification get");
}

static int bits_set(uint64_t x)
{
    int n = 0;
    for (; x; x &= x - 1)
        n++;
    return n;
}

static void check_stats(run *r)
{
    fm_stats s;
    memset(&s, 0xA5, sizeof s);
    fm_status st = fm_get_stats(r->map, &s);
    check_status(r, "fm_get_stats", st, FM_OK);
    if (st != FM_OK)
        return;
    if (s.size != ref_size(r->ref))
        mismatch(r, "stats.size=%llu, reference size=%zu", (unsigned long long)s.size,
                 ref_size(r->ref));
    else if (s.shards != g_nranks || s.backend != g_backend)
        mismatch(r, "stats.shards=%d backend=%d, expected %d shards on backend %d", s.shards,
                 (int)s.backend, g_nranks, (int)g_backend);
    else if (s.slots < (uint64_t)g_nranks || s.tombstones > s.slots - s.size ||
             s.longest_probe >= s.slots)
        mismatch(r, "stats: slots %llu, size %llu, tombstones %llu, longest_probe %llu",
                 (unsigned long long)s.slots, (unsigned long long)s.size,
                 (unsigned long long)s.tombstones, (unsigned long long)s.longest_probe);
    else if (fabs(s.load_factor - (double)s.size / (double)s.slots) > 1e-12)
        mismatch(r, "stats.load_factor=%.17g, size/slots=%.17g", s.load_factor,
                 (double)s.size / (double)s.slots);
    else if (bits_set(s.slots) > g_nranks)
        mismatch(r, "stats.slots=%llu is not a sum of %d powers of two (one table per rank)",
                 (unsigned long long)s.slots, g_nranks);
    else if (r->cfg.fixed && s.slots != r->fixed_slots)
        mismatch(r, "FIXED_CAPACITY map changed slots: %llu -> %llu",
                 (unsigned long long)r->fixed_slots, (unsigned long long)s.slots);
    else if (!r->cfg.fixed) {
        /* Every rank's table stays within max_load (each rounds its own
         * limit: up to ranks - 1 more in all). */
        double ml = r->cfg.max_load > 0 ? r->cfg.max_load : 0.5;
        if ((double)(s.size + s.tombstones) > ceil(ml * (double)s.slots) + (double)(g_nranks - 1))
            mismatch(r, "load (size %llu + tombstones %llu) / slots %llu > max_load %g",
                     (unsigned long long)s.size, (unsigned long long)s.tombstones,
                     (unsigned long long)s.slots, ml);
    }
    /* Every rank must have seen the same global numbers. */
    uint64_t mine[4] = {s.size, s.slots, s.tombstones, s.longest_probe}, lo[4], hi[4];
    MPI_Allreduce(mine, lo, 4, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(mine, hi, 4, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (memcmp(lo, hi, sizeof lo) != 0)
        mismatch(r, "fm_get_stats differs between ranks");
}

/* Export this rank's entries, gather every rank's, compare the union with
 * the reference as a set (on every rank: they all hold the same data). */
static void check_export(run *r)
{
    const uint32_t ks = r->cfg.key_size, vs = r->cfg.value_size;
    const size_t rec = (size_t)ks + vs;
    const char *saved_op = r->op;
    r->op = "verify-export";
    g_exports++;

    /* This rank's part, in pages of random size. */
    int want_values = vs > 0 && !tu_chance(&r->local, 20);
    size_t have = 0;
    uint64_t cursor = 0, calls = 0;
    const uint64_t max_calls = 4 * (ref_size(r->ref) + 64) + 1024;
    int local_bad = 0;
    do {
        size_t max;
        switch (tu_below(&r->local, 4)) {
        case 0: max = (size_t)tu_range(&r->local, 1, 8); break;
        case 1: max = (size_t)tu_range(&r->local, 1, 64); break;
        default: max = (size_t)tu_range(&r->local, 1, r->e_max); break;
        }
        size_t n_out = (size_t)-1;
        fm_status st = fm_export(r->map, &cursor, r->e_keys, want_values ? r->e_values : NULL,
                                 max, &n_out);
        if (st != FM_OK) {
            mismatch(r, "fm_export returned %d (%s)", st, fm_status_str(st));
            local_bad = 1;
            break;
        }
        if (n_out > max) {
            mismatch(r, "fm_export returned n_out=%zu > max=%zu", n_out, max);
            local_bad = 1;
            break;
        }
        if ((have + n_out) * rec > r->e_pack_cap) {
            r->e_pack_cap = 2 * (have + n_out) * rec + 4096;
            uint8_t *p = realloc(r->e_pack, r->e_pack_cap);
            if (!p) {
                fprintf(stderr, "test_mpi_differential: out of memory\n");
                MPI_Abort(MPI_COMM_WORLD, 2);
            }
            r->e_pack = p;
        }
        for (size_t i = 0; i < n_out; i++, have++) {
            uint8_t *dst = r->e_pack + have * rec;
            memcpy(dst, r->e_keys + i * ks, ks);
            if (want_values)
                memcpy(dst + ks, r->e_values + i * vs, vs);
            else
                memset(dst + ks, 0, vs);
        }
        if (++calls > max_calls) {
            mismatch(r, "fm_export did not finish after %llu calls", (unsigned long long)calls);
            local_bad = 1;
            break;
        }
    } while (cursor != 0);
    if (local_bad)
        have = 0;

    /* Gather counts (and whether values came along), then the records. */
    const int P = g_nranks;
    long long mine[2] = {(long long)have, want_values}, *all = tu_xmalloc(2 * (size_t)P * sizeof *all);
    MPI_Allgather(mine, 2, MPI_LONG_LONG, all, 2, MPI_LONG_LONG, MPI_COMM_WORLD);
    int *counts = tu_xmalloc((size_t)P * sizeof *counts), *displs = tu_xmalloc((size_t)P * sizeof *displs);
    size_t total = 0;
    for (int p = 0; p < P; p++) {
        counts[p] = (int)((size_t)all[2 * p] * rec);
        displs[p] = (int)(total * rec);
        total += (size_t)all[2 * p];
    }
    uint8_t *gathered = tu_xmalloc(total * rec);
    MPI_Allgatherv(r->e_pack, (int)(have * rec), MPI_BYTE, gathered, counts, displs, MPI_BYTE,
                   MPI_COMM_WORLD);

    size_t limit = ref_id_limit(r->ref);
    if (limit > r->seen_cap) {
        free(r->seen);
        r->seen_cap = 2 * limit;
        r->seen = tu_xmalloc(r->seen_cap);
    }
    memset(r->seen, 0, limit);
    size_t at = 0;
    for (int p = 0; p < P && !r->bad; p++) {
        for (long long i = 0; i < all[2 * p] && !r->bad; i++, at++) {
            const uint8_t *k = gathered + at * rec, *v = k + ks;
            size_t id = ref_find(r->ref, k);
            if (id == REF_NONE) {
                mismatch(r, "rank %d exported a key the reference does not have", p);
                print_key_value(r, "exported", k, all[2 * p + 1] ? v : NULL);
            } else if (r->seen[id]) {
                mismatch(r, "a key was exported twice (the second time by rank %d)", p);
                print_key_value(r, "exported", k, NULL);
            } else if (owner_of(r, k) != (uint32_t)p) {
                mismatch(r, "rank %d exported a key owned by rank %u", p, owner_of(r, k));
                print_key_value(r, "exported", k, NULL);
            } else if (all[2 * p + 1] && memcmp(v, ref_value(r->ref, id), vs) != 0) {
                mismatch(r, "rank %d exported a wrong value", p);
                print_key_value(r, "expected", k, ref_value(r->ref, id));
                print_key_value(r, "exported", k, v);
            } else {
                r->seen[id] = 1;
            }
        }
    }
    g_exported += total;
    if (!r->bad && total != ref_size(r->ref)) {
        mismatch(r, "the ranks exported %zu entries in all, the reference has %zu", total,
                 ref_size(r->ref));
        for (size_t id = 0, shown = 0; id < limit && shown < 5; id++) {
            if (ref_find(r->ref, ref_key(r->ref, id)) == id && !r->seen[id]) {
                print_key_value(r, "missing", ref_key(r->ref, id), ref_value(r->ref, id));
                fprintf(stderr, "    (owner: rank %u)\n", owner_of(r, ref_key(r->ref, id)));
                shown++;
            }
        }
    }
    free(all);
    free(counts);
    free(displs);
    free(gathered);
    r->op = saved_op;
}

/* After a rejected batch the map must be exactly as before: the reference
 * was not touched. */
static void check_unchanged(run *r)
{
    const size_t mine = r->cnt[g_rank], at = r->off[g_rank];
    const uint8_t *k = r->keys + at * r->cfg.key_size;
    memset(r->out, 0xA5, mine * r->cfg.value_size);
    memset(r->flags, 0xA5, mine);
    fm_status st = call_get(r->map, r->cfg.key_size, r->cfg.value_size, k, mine, r->out, r->flags);
    g_local_key_ops += mine;
    check_status(r, "get after a rejected batch", st, FM_OK);
    if (st == FM_OK)
        compare_gets(r, k, mine, r->out, r->flags, 1, "get after a rejected batch");
    check_export(r);
}

/* ---- steps --------------------------------------------------------------------- */

static uint64_t estimate_rounds(run *r, size_t per_key)
{
    if (r->cfg.exchange_bytes == 0)
        return 1;
    size_t most = 0;
    for (int p = 0; p < g_nranks; p++)
        if (r->cnt[p] > most)
            most = r->cnt[p];
    return (uint64_t)most * per_key / r->cfg.exchange_bytes + 1;
}

static void count_ops(run *r, size_t total)
{
    g_global_key_ops += total;
    g_local_key_ops += r->cnt[g_rank];
}

static void do_insert(run *r, size_t total, int keys_ready)
{
    const uint32_t ks = r->cfg.key_size, vs = r->cfg.value_size;
    r->op = keys_ready ? "reinsert" : "insert";
    if (!keys_ready)
        pick_keys(r, total, 0);
    tu_fill(&r->rng, r->values, total * vs);
    pick_options(r);
    int full = expect_full(r, total);
    const size_t at = r->off[g_rank];
    const void *vals = (r->opt[g_rank] & OPT_NO_VALUES) ? NULL : r->values + at * vs;
    fm_status st = call_insert(r->map, ks, vs, r->keys + at * ks, vals, r->cnt[g_rank]);
    count_ops(r, total);
    uint64_t rounds = estimate_rounds(r, ks + vs);
    if (rounds > g_rounds_max)
        g_rounds_max = rounds;
    check_status(r, "fm_bulk_insert", st, full ? FM_ERR_FULL : FM_OK);
    if (full) {
        g_full++;
        check_unchanged(r);
        return;
    }
    if (r->cfg.fixed)
        g_full_ok++;
    for (size_t i = 0; i < total; i++) /* rank order, then batch order: the last wins */
        model_put(r, r->keys + i * ks, r->values + i * vs);
}

static void do_get(run *r, size_t total)
{
    const uint32_t ks = r->cfg.key_size, vs = r->cfg.value_size;
    r->op = "get";
    pick_keys(r, total, 15);
    pick_options(r);
    const size_t mine = r->cnt[g_rank], at = r->off[g_rank];
    memset(r->out, 0xA5, mine * vs);
    memset(r->flags, 0xA5, mine);
    uint8_t *found = (r->opt[g_rank] & OPT_NO_FOUND) ? NULL : r->flags;
    void *out = (r->opt[g_rank] & OPT_NO_VALUES) ? NULL : r->out;
    fm_status st = call_get(r->map, ks, vs, r->keys + at * ks, mine, out, found);
    count_ops(r, total);
    uint64_t rounds = estimate_rounds(r, ks + vs + 1);
    if (rounds > g_rounds_max)
        g_rounds_max = rounds;
    check_status(r, "fm_bulk_get", st, FM_OK);
    if (st == FM_OK)
        compare_gets(r, r->keys + at * ks, mine, r->out, found, out != NULL, "get");
}

static void do_remove(run *r, size_t total, int keep_keys)
{
    const uint32_t ks = r->cfg.key_size;
    r->op = keep_keys ? "remove(then reinsert)" : "remove";
    pick_keys(r, total, keep_keys ? 0 : 10);
    pick_options(r);
    const size_t mine = r->cnt[g_rank], at = r->off[g_rank];
    memset(r->flags, 0xA5, mine);
    uint8_t *removed = (r->opt[g_rank] & OPT_NO_REMOVED) ? NULL : r->flags;
    fm_status st = call_remove(r->map, ks, r->keys + at * ks, mine, removed);
    count_ops(r, total);
    check_status(r, "fm_bulk_remove", st, FM_OK);
    /* Rank order, then batch order: the first occurrence removes. */
    for (size_t i = 0; i < total; i++)
        r->exp_flags[i] = (uint8_t)model_remove(r, r->keys + i * ks);
    if (st != FM_OK || !removed)
        return;
    for (size_t i = 0; i < mine; i++) {
        if (removed[i] != r->exp_flags[at + i]) {
            mismatch(r, "removed_out[%zu] of this rank (global #%zu) = %u, expected %u", i,
                     at + i, removed[i], r->exp_flags[at + i]);
            print_key_value(r, "at", r->keys + (at + i) * ks, NULL);
            return;
        }
    }
}

static void do_add(run *r, size_t total)
{
    const uint32_t ks = r->cfg.key_size;
    r->op = "add_u64";
    pick_keys(r, total, 3);
    pick_options(r);
    for (size_t i = 0; i < total; i++) {
        switch (tu_below(&r->rng, 4)) {
        case 0: r->deltas[i] = 0; break;
        case 1: r->deltas[i] = UINT64_MAX - tu_below(&r->rng, 4); break; /* wraps */
        case 2: r->deltas[i] = tu_next(&r->rng); break;
        default: r->deltas[i] = tu_range(&r->rng, 1, 10); break;
        }
    }
    /* A rank that passes deltas == NULL adds 1 for each of its keys. */
    for (int p = 0; p < g_nranks; p++)
        if (r->opt[p] & OPT_NO_DELTAS)
            for (size_t i = r->off[p]; i < r->off[p] + r->cnt[p]; i++)
                r->deltas[i] = 1;
    int full = expect_full(r, total);
    const size_t at = r->off[g_rank];
    fm_status st = call_add(r->map, ks, r->keys + at * ks, (r->opt[g_rank] & OPT_NO_DELTAS) ? NULL : r->deltas + at,
                            r->cnt[g_rank]);
    count_ops(r, total);
    check_status(r, "fm_bulk_add_u64", st, full ? FM_ERR_FULL : FM_OK);
    if (full) {
        g_full++;
        check_unchanged(r);
        return;
    }
    if (r->cfg.fixed)
        g_full_ok++;
    for (size_t i = 0; i < total; i++)
        model_add(r, r->keys + i * ks, r->deltas[i]);
}

static void do_clear(run *r)
{
    r->op = "clear";
    fm_status st = fm_clear(r->map);
    check_status(r, "fm_clear", st, FM_OK);
    model_clear(r);
}

/* One rank (the victim) passes a bad argument with n > 0; the others pass
 * good batches. Every rank must return FM_ERR_INVALID, and the map must not
 * change. */
static void do_bad_args(run *r, size_t total)
{
    const uint32_t ks = r->cfg.key_size, vs = r->cfg.value_size;
    const int victim = (int)tu_below(&r->rng, (uint64_t)g_nranks);
    if (r->cnt[victim] == 0) { /* the victim needs n > 0 */
        r->cnt[victim] = 1;
        total = 0;
        for (int p = 0; p < g_nranks; p++) {
            r->off[p] = total;
            total += r->cnt[p];
        }
    }
    pick_keys(r, total, 10);
    tu_fill(&r->rng, r->values, total * vs);
    for (size_t i = 0; i < total; i++)
        r->deltas[i] = tu_next(&r->rng);
    unsigned kind = (unsigned)tu_below(&r->rng, 7);
    if (kind == 5 && vs != 8)
        kind = 0;
    const size_t mine = r->cnt[g_rank], at = r->off[g_rank];
    const uint8_t *k = r->keys + at * ks;
    const int me = g_rank == victim;
    fm_status st;
    const char *func;
    switch (kind) {
    case 0: /* insert, keys NULL */
    case 1: /* insert, values NULL with value_size > 0 (else keys NULL) */
        func = "fm_bulk_insert";
        r->op = kind == 0 || vs == 0 ? "bad-args insert(keys NULL on one rank)"
                                     : "bad-args insert(values NULL on one rank)";
        st = fm_bulk_insert(r->map, me && (kind == 0 || vs == 0) ? NULL : k,
                            me && kind == 1 ? NULL : r->values + at * vs, mine);
        break;
    case 2: /* get, keys NULL */
    case 3: /* get, values_out NULL with value_size > 0 (else keys NULL) */
        func = "fm_bulk_get";
        r->op = kind == 2 || vs == 0 ? "bad-args get(keys NULL on one rank)"
                                     : "bad-args get(values_out NULL on one rank)";
        st = fm_bulk_get(r->map, me && (kind == 2 || vs == 0) ? NULL : k, mine,
                         me && kind == 3 ? NULL : r->out, r->flags);
        break;
    case 6: { /* fm_get_stats, out NULL */
        fm_stats stats;
        func = "fm_get_stats";
        r->op = "bad-args fm_get_stats(out NULL on one rank)";
        st = fm_get_stats(r->map, me ? NULL : &stats);
        break;
    }
    case 4:
        func = "fm_bulk_remove";
        r->op = "bad-args remove(keys NULL on one rank)";
        st = fm_bulk_remove(r->map, me ? NULL : k, mine, r->flags);
        break;
    default:
        func = "fm_bulk_add_u64";
        r->op = "bad-args add_u64(keys NULL on one rank)";
        st = fm_bulk_add_u64(r->map, me ? NULL : k, r->deltas + at, mine);
        break;
    }
    count_ops(r, total);
    g_invalid++;
    check_status(r, func, st, FM_ERR_INVALID);
    /* Every rank learns what went wrong (the victim's message). */
    const char *msg = fm_last_error(r->map);
    if (!r->bad && (!msg || !strstr(msg, func)))
        mismatch(r, "after a bad argument on rank %d, fm_last_error is \"%s\" (should name %s)",
                 victim, msg ? msg : "(null)", func);
    if (g_verbose && g_rank == 0)
        printf("    victim rank %d: %s\n", victim, msg ? msg : "");
}

/* ---- one seed ------------------------------------------------------------------ */

static int run_seed(uint64_t seed, double scale)
{
    run r;
    memset(&r, 0, sizeof r);
    tu_rng_seed(&r.rng, seed);
    tu_rng_seed(&r.local, seed * 1000003u + (uint64_t)g_rank + 1);
    r.cfg = make_config(seed, scale, &r.rng);
    const config *c = &r.cfg;
    const size_t ks = c->key_size, vs = c->value_size, P = (size_t)g_nranks;
    const size_t mb = c->max_rank_batch * P + 1;
    if (g_verbose && g_rank == 0) {
        describe(stdout, c);
        printf("\n");
        fflush(stdout);
    }
    r.pool = tu_xmalloc(c->pool_n * ks);
    r.cnt = tu_xmalloc(P * sizeof *r.cnt);
    r.off = tu_xmalloc(P * sizeof *r.off);
    r.opt = tu_xmalloc(P);
    r.keys = tu_xmalloc(mb * ks);
    r.values = tu_xmalloc(mb * vs);
    r.exp_flags = tu_xmalloc(mb);
    r.out = tu_xmalloc(mb * vs);
    r.flags = tu_xmalloc(mb);
    r.deltas = tu_xmalloc(mb * sizeof *r.deltas);
    r.s_keys = tu_xmalloc(SAMPLE_MAX * ks);
    r.s_out = tu_xmalloc(SAMPLE_MAX * vs);
    r.s_flags = tu_xmalloc(SAMPLE_MAX);
    r.e_max = 2048;
    r.e_keys = tu_xmalloc(r.e_max * ks);
    r.e_values = tu_xmalloc(r.e_max * vs);
    r.e_pack_cap = 4096;
    r.e_pack = tu_xmalloc(r.e_pack_cap);
    r.seen_cap = 1024;
    r.seen = tu_xmalloc(r.seen_cap);
    r.ref = ref_create(ks, vs);
    r.scratch = ref_create(ks, 0);
    if (!r.ref || !r.scratch) {
        fprintf(stderr, "test_mpi_differential: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    if (c->fixed) {
        r.rank_live = tu_xmalloc(P * sizeof *r.rank_live);
        r.rank_new = tu_xmalloc(P * sizeof *r.rank_new);
        memset(r.rank_live, 0, P * sizeof *r.rank_live);
    }
    make_pool(&r);
    memset(r.cnt, 0, P * sizeof *r.cnt);
    memset(r.off, 0, P * sizeof *r.off);

    fm_config fc = fm_config_default(c->key_size, c->value_size, c->capacity);
    fc.hash = c->hash;
    fc.threads = 1; /* ranks are oversubscribed */
    fc.max_load = c->max_load;
    fc.backend = g_backend;
    fc.exchange_bytes = c->exchange_bytes;
    fc.flags = c->fixed ? FM_FIXED_CAPACITY : 0;
    r.op = "fm_create_mpi";
    fm_status st = fm_create_mpi(MPI_COMM_WORLD, &fc, &r.map);
    check_status(&r, "fm_create_mpi", st, FM_OK);
    if (st == FM_OK && fm_map_backend(r.map) != g_backend)
        mismatch(&r, "fm_map_backend = %d, expected %d", (int)fm_map_backend(r.map), (int)g_backend);
    if (st == FM_OK && g_expect_path && strcmp(fm_mpi_exchange_path(r.map), g_expect_path) != 0)
        mismatch(&r, "device batches exchange through \"%s\", expected \"%s\"", fm_mpi_exchange_path(r.map),
                 g_expect_path);
    int bad = any_rank(r.bad);
    if (!bad && c->fixed) {
        fm_stats s;
        st = fm_get_stats(r.map, &s);
        check_status(&r, "fm_get_stats", st, FM_OK);
        r.fixed_slots = st == FM_OK ? s.slots : 0;
        if (st == FM_OK && s.slots < c->capacity)
            mismatch(&r, "FIXED_CAPACITY map has %llu slots for capacity %llu",
                     (unsigned long long)s.slots, (unsigned long long)c->capacity);
        bad = any_rank(r.bad);
    }

    uint64_t spent = 0;
    while (!bad && spent < c->budget) {
        r.step++;
        g_steps++;
        uint64_t u = tu_below(&r.rng, 1000);
        size_t total = pick_sizes(&r, c->budget - spent);
        spent += total;
        r.op_n = total;
        int rejected = 0;
        if (u < 6) {
            do_clear(&r);
        } else if (u < 20) {
            do_bad_args(&r, total);
            r.op_n = r.off[P - 1] + r.cnt[P - 1];
            rejected = 1;
        } else if (u < 300) {
            do_insert(&r, total, 0);
        } else if (u < 450) {
            do_get(&r, total);
        } else if (u < 630) {
            do_remove(&r, total, 0);
        } else if (u < 800) {
            /* Remove some keys, then insert the very same keys again. */
            do_remove(&r, total, 1);
            check_size(&r);
            do_insert(&r, total, 1);
            spent += total;
        } else if (vs == 8) {
            do_add(&r, total);
        } else {
            do_insert(&r, total, 0);
        }
        if (g_verbose && g_rank == 0) {
            printf("  step #%llu %s n=%zu [", (unsigned long long)r.step, r.op, r.op_n);
            for (size_t p = 0; p < P; p++)
                printf("%s%zu", p ? " " : "", r.cnt[p]);
            printf("] -> size %zu\n", ref_size(r.ref));
            fflush(stdout);
        }
        check_size(&r);
        check_sample(&r);
        if (c->fixed || r.step % STATS_EVERY == 0)
            check_stats(&r);
        if (rejected || r.step % EXPORT_EVERY == 0)
            check_export(&r);
        bad = any_rank(r.bad);
    }
    if (!bad) {
        r.op = "final";
        r.op_n = 0;
        memset(r.cnt, 0, P * sizeof *r.cnt);
        check_stats(&r);
        check_export(&r);
        bad = any_rank(r.bad);
    }
    if (bad && g_rank == 0) {
        fprintf(stderr, "FAILED: ");
        describe(stderr, c);
        fprintf(stderr, "\n  replay: mpiexec -n %d test_mpi_differential --seed %llu --scale %g%s "
                        "--verbose\n",
                g_nranks, (unsigned long long)seed, g_scale, backend_arg());
    }

    fm_destroy(r.map);
    ref_destroy(r.ref);
    ref_destroy(r.scratch);
    free(r.pool);
    free(r.cnt);
    free(r.off);
    free(r.opt);
    free(r.keys);
    free(r.values);
    free(r.exp_flags);
    free(r.out);
    free(r.flags);
    free(r.deltas);
    free(r.s_keys);
    free(r.s_out);
    free(r.s_flags);
    free(r.e_keys);
    free(r.e_values);
    free(r.e_pack);
    free(r.seen);
    free(r.rank_live);
    free(r.rank_new);
    return bad;
}

/* ---- configurations that differ between ranks ---------------------------------- */

static int g_config_failures;

/* Every rank calls fm_create_mpi with its own configuration (or NULL); all
 * must return `want` (the same on every rank; ANY_ERROR: any failure), with
 * *map_out NULL on failure and a message in fm_last_error(NULL). */
#define ANY_ERROR ((fm_status)1)
static void expect_create(const char *what, const fm_config *cfg, fm_status want)
{
    fm_map *m = (fm_map *)&g_config_failures; /* must be overwritten */
    fm_status st = fm_create_mpi(MPI_COMM_WORLD, cfg, &m);
    int mine[2] = {(int)st, -(int)st}, all[2];
    MPI_Allreduce(mine, all, 2, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    int bad = 0;
    if (all[0] != -all[1]) {
        fprintf(stderr, "MISMATCH on rank %d: %s: fm_create_mpi returned %d here, statuses differ "
                        "between ranks (min %d, max %d)\n", g_rank, what, st, all[0], -all[1]);
        bad = 1;
    } else if (want == ANY_ERROR ? st == FM_OK : st != want) {
        fprintf(stderr, "MISMATCH on rank %d: %s: fm_create_mpi returned %d (%s), expected %d (%s): %s\n",
                g_rank, what, st, fm_status_str(st), want, fm_status_str(want),
                fm_last_error(NULL));
        bad = 1;
    } else if (st != FM_OK && m != NULL) {
        fprintf(stderr, "MISMATCH on rank %d: %s: failed fm_create_mpi left *map_out non-NULL\n",
                g_rank, what);
        bad = 1;
        m = NULL;
    } else if (st != FM_OK && fm_last_error(NULL)[0] == '\0') {
        fprintf(stderr, "MISMATCH on rank %d: %s: no fm_last_error(NULL) message\n", g_rank, what);
        bad = 1;
    }
    int any_bad = any_rank(bad);
    if (st == FM_OK && !any_bad && want == FM_OK) {
        /* Every rank has a map: one collective round trip (an 8-byte key
         * and value per rank). */
        uint64_t key = (uint64_t)g_rank + 1;
        uint8_t value[8] = {0};
        fm_status s2 = fm_bulk_insert(m, &key, value, 1);
        uint64_t size = fm_size(m);
        if (s2 != FM_OK || size != (uint64_t)g_nranks) {
            fprintf(stderr, "MISMATCH on rank %d: %s: map does not work (%d, size %llu)\n", g_rank,
                    what, s2, (unsigned long long)size);
            bad = 1;
        }
        any_bad = any_rank(bad);
    }
    if (st == FM_OK)
        fm_destroy(m);
    if (any_bad) {
        g_config_failures++;
        if (g_rank == 0)
            fprintf(stderr, "MISMATCH: configuration check \"%s\" failed on %d rank(s)\n", what,
                    g_nranks);
    }
}

/* Regression cases (they once hung with more than one rank):
 *  - a configuration invalid on one rank only (key_size 0, max_load 1.5,
 *    shards 2, cfg NULL) must fail on every rank, not leave the others
 *    waiting in MPI_Comm_dup;
 *  - exchange_bytes differing between ranks must be FM_ERR_INVALID at
 *    creation, not a truncated exchange later.
 * --all-config-cases is kept for old command lines; these always run. */
static int g_all_config_cases = 1; /* the library agrees on every case now */

static void test_configs(void)
{
    const int last = g_nranks - 1;
    fm_config base = fm_config_default(8, 8, 100);
    base.threads = 1;
    base.backend = FM_BACKEND_CPU;
    fm_config c;

    expect_create("same configuration everywhere", &base, FM_OK);

    c = base;
    c.key_size = 0;
    expect_create("key_size 0 on every rank", &c, FM_ERR_INVALID);

    c = base;
    c.max_load = 1.5;
    expect_create("max_load 1.5 on every rank", &c, FM_ERR_INVALID);

    if (g_all_config_cases || g_nranks == 1) {
        c = base;
        if (g_rank == last)
            c.key_size = 0;
        expect_create("key_size 0 on the last rank only", &c, FM_ERR_INVALID);

        c = base;
        if (g_rank == last)
            c.max_load = 1.5;
        expect_create("max_load 1.5 on the last rank only", &c, FM_ERR_INVALID);

        /* FM_ERR_UNSUPPORTED (one shard per rank in this version) or
         * FM_ERR_INVALID: the same everywhere. */
        c = base;
        if (g_rank == last)
            c.shards = 2;
        expect_create("shards 2 on the last rank only", &c, ANY_ERROR);

        expect_create("cfg NULL on the last rank", g_rank == last ? NULL : &base, FM_ERR_INVALID);
    }

    /* CUDA local shards: without a usable device every rank refuses. */
    if (!fm_cuda_usable()) {
        c = base;
        c.backend = FM_BACKEND_CUDA;
        expect_create("FM_BACKEND_CUDA with no usable device", &c, FM_ERR_UNSUPPORTED);
    }

    if (g_nranks > 1) {
        c = base;
        if (g_rank == last)
            c.key_size = 16;
        expect_create("key_size 16 on the last rank, 8 elsewhere", &c, FM_ERR_INVALID);

        c = base;
        if (g_rank == 0)
            c.value_size = 0;
        expect_create("value_size 0 on rank 0, 8 elsewhere", &c, FM_ERR_INVALID);

        c = base;
        if (g_rank == last)
            c.hash = FM_HASH_IDENTITY;
        expect_create("identity hash on the last rank only", &c, FM_ERR_INVALID);

        c = base;
        if (g_rank == last)
            c.flags = FM_FIXED_CAPACITY;
        expect_create("FM_FIXED_CAPACITY on the last rank only", &c, FM_ERR_INVALID);

        c = base;
        if (g_rank == last)
            c.capacity = 101;
        expect_create("capacity 101 on the last rank, 100 elsewhere", &c, FM_ERR_INVALID);

        c = base;
        if (g_rank == 0)
            c.max_load = 0.75;
        expect_create("max_load 0.75 on rank 0, 0.5 elsewhere", &c, FM_ERR_INVALID);

        if (g_all_config_cases) {
            /* The ranks would cut batches into different numbers of
             * exchange rounds. */
            c = base;
            if (g_rank == last)
                c.exchange_bytes = 64;
            expect_create("exchange_bytes 64 on the last rank, default elsewhere", &c,
                          FM_ERR_INVALID);
        }
    }
}

/* ---- main ------------------------------------------------------------------------ */

static void usage(void)
{
    if (g_rank == 0)
        fprintf(stderr, "usage: test_mpi_differential [--seeds N] [--first F] [--scale X] "
                        "[--seed S] [--backend cpu|cuda] [--verbose] [--all-config-cases] "
                        "[--device-buffers] [--expect-path nccl|host]\n");
    MPI_Finalize();
    exit(2);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_nranks);

    uint64_t seeds = N_COMBOS, first = 0;
    double scale = 1.0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_next = i + 1 < argc;
        if (strcmp(a, "--seeds") == 0 && has_next)
            seeds = strtoull(argv[++i], NULL, 0);
        else if (strcmp(a, "--first") == 0 && has_next)
            first = strtoull(argv[++i], NULL, 0);
        else if (strcmp(a, "--scale") == 0 && has_next)
            scale = strtod(argv[++i], NULL);
        else if (strcmp(a, "--seed") == 0 && has_next) {
            first = strtoull(argv[++i], NULL, 0);
            seeds = 1;
        } else if (strcmp(a, "--backend") == 0 && has_next) {
            const char *b = argv[++i];
            if (strcmp(b, "cpu") == 0)
                g_backend = FM_BACKEND_CPU;
            else if (strcmp(b, "cuda") == 0)
                g_backend = FM_BACKEND_CUDA;
            else
                usage();
        } else if (strcmp(a, "--device-buffers") == 0)
            g_device_buffers = 1;
        else if (strcmp(a, "--expect-path") == 0 && has_next)
            g_expect_path = argv[++i];
        else if (strcmp(a, "--verbose") == 0)
            g_verbose = 1;
        else if (strcmp(a, "--all-config-cases") == 0)
            g_all_config_cases = 1;
        else
            usage();
    }
    if (!(scale > 0))
        usage();
    g_scale = scale;

    if (g_rank == 0) {
        printf("%s, %d rank(s)%s\n", fm_version_string(), g_nranks,
               g_backend == FM_BACKEND_CUDA ? ", CUDA shards" : "");
        fflush(stdout);
    }
    if ((g_backend == FM_BACKEND_CUDA || g_device_buffers) && !all_ranks(fm_cuda_usable() && td_available())) {
        /* CUDA shards only where every rank has a device: skip elsewhere. */
        if (g_rank == 0)
            printf("mpi_differential: no usable CUDA device on some rank: skipped\n");
        MPI_Finalize();
        return 77;
    }
    double t0 = MPI_Wtime();
    test_configs();
    uint64_t failed = 0;
    for (uint64_t s = first; s < first + seeds; s++)
        failed += (uint64_t)run_seed(s, scale);
    double dt = MPI_Wtime() - t0;

    uint64_t local_ops = 0;
    MPI_Reduce(&g_local_key_ops, &local_ops, 1, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
    if (g_rank == 0) {
        printf("mpi_differential: %d ranks, %llu seeds, %llu steps, %llu global key operations in "
               "batches, %llu key operations passed by all ranks (verification included), %llu "
               "exported entries gathered in %llu exports, up to ~%llu exchange rounds per call, "
               "%.1f s\n",
               g_nranks, (unsigned long long)seeds, (unsigned long long)g_steps,
               (unsigned long long)g_global_key_ops, (unsigned long long)local_ops,
               (unsigned long long)g_exported, (unsigned long long)g_exports,
               (unsigned long long)g_rounds_max, dt);
        printf("mpi_differential: fixed-capacity insert/add batches: %llu accepted, %llu rejected "
               "with FM_ERR_FULL (%llu of them by one rank's full shard alone); %llu bad-argument "
               "steps rejected on every rank\n",
               (unsigned long long)g_full_ok, (unsigned long long)g_full,
               (unsigned long long)g_full_rank, (unsigned long long)g_invalid);
        printf("mpi_differential: %d configuration mismatches, %llu seeds failed, %llu mismatches\n",
               g_config_failures, (unsigned long long)failed,
               (unsigned long long)(failed + (uint64_t)g_config_failures));
        fflush(stdout);
    }
    MPI_Finalize();
    return failed || g_config_failures ? 1 : 0;
}
