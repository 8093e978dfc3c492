/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fault sweep on MPI maps: for every rank r and every n, a fresh MPI map is
 * built and one collective call runs with the nth host allocation failing
 * on rank r only. Every rank must return the same status (FM_ERR_NOMEM when
 * the fault was hit, with a message), nobody may hang, the map must hold
 * exactly what it held before on every rank, and the call must then succeed.
 * Calls: insert (with growth), add_u64, get, remove, fm_create_mpi, fm_save
 * (allocations and file write steps) and fm_load_mpi.
 *
 * Needs a library built with FLASHMAP_FAULT_INJECTION; exits 77 otherwise.
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap_mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/fm_fault.h"
#include "map_check.h"
#include "reference_map.h"
#include "test_util.h"

static int g_rank, g_size, g_failures;
static uint64_t g_faults, g_runs;

#define FAIL(...)                                                                       \
    do {                                                                                \
        fprintf(stderr, "rank %d: ", g_rank);                                           \
        fprintf(stderr, __VA_ARGS__);                                                   \
        fputc('\n', stderr);                                                            \
        g_failures++;                                                                   \
    } while (0)

#ifndef FLASHMAP_FAULT_INJECTION
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    if (g_rank == 0) printf("test_mpi_faults: library built without FLASHMAP_FAULT_INJECTION; skipped\n");
    MPI_Finalize();
    return 77;
}
#else

enum { KS = 16, VS = 8 };

/* 16 KiB: several rounds per call; 0 (the default, megabytes): one round,
 * routed before the first agreement. */
static uint64_t g_exchange_bytes = 16384;

static fm_config config(void)
{
    fm_config cfg = fm_config_default(KS, VS, 64);
    cfg.backend = FM_BACKEND_CPU;
    cfg.threads = 1;
    cfg.exchange_bytes = g_exchange_bytes;
    return cfg;
}

static void key_of(uint64_t i, uint8_t *out)
{
    uint64_t s = i ^ 0x5bd1e995;
    memcpy(out, &i, 8);
    uint64_t tail = tu_splitmix64(&s);
    memcpy(out + 8, &tail, 8);
}

/* Rank r's batch `which`: n keys drawn from [0, span), values and deltas
 * from the same stream. Every rank can make every rank's batch. */
typedef struct batch {
    size_t n;
    uint8_t keys[4000 * KS];
    uint64_t values[4000], deltas[4000];
} batch;

static void make_batch(batch *b, int rank, int which, size_t n, uint64_t span)
{
    tu_rng r;
    tu_rng_seed(&r, (uint64_t)which * 1000 + (uint64_t)rank);
    b->n = n;
    for (size_t i = 0; i < n; i++) {
        key_of(tu_below(&r, span), b->keys + i * KS);
        b->values[i] = tu_next(&r);
        b->deltas[i] = tu_next(&r) >> 40;
    }
}

static batch g_mine, g_other;

/* The base map: every rank inserts 700 keys of [0, 3000) (duplicates across
 * ranks: the highest rank wins), then removes 100. `ref` gets the same, in
 * rank order. */
static fm_map *build_base(ref_map *ref)
{
    fm_config cfg = config();
    fm_map *m = NULL;
    if (fm_create_mpi(MPI_COMM_WORLD, &cfg, &m) != FM_OK) {
        FAIL("fm_create_mpi: %s", fm_last_error(NULL));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    ref_clear(ref);
    make_batch(&g_mine, g_rank, 1, 700, 3000);
    if (fm_bulk_insert(m, g_mine.keys, g_mine.values, g_mine.n) != FM_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    make_batch(&g_mine, g_rank, 2, 100, 3000);
    if (fm_bulk_remove(m, g_mine.keys, g_mine.n, NULL) != FM_OK) MPI_Abort(MPI_COMM_WORLD, 1);
    for (int r = 0; r < g_size; r++) {
        make_batch(&g_other, r, 1, 700, 3000);
        for (size_t i = 0; i < g_other.n; i++)
            ref_put(ref, g_other.keys + i * KS, &g_other.values[i]);
    }
    for (int r = 0; r < g_size; r++) {
        make_batch(&g_other, r, 2, 100, 3000);
        for (size_t i = 0; i < g_other.n; i++)
            ref_remove(ref, g_other.keys + i * KS);
    }
    return m;
}

/* The whole map equals ref: the global size, and every rank's get of the
 * keys of every rank's operation batch (present and absent ones). */
static int same_as(fm_map *m, const ref_map *ref, const char *what)
{
    int bad = 0;
    if (fm_size(m) != ref_size(ref)) {
        FAIL("%s: fm_size %llu, reference %zu", what, (unsigned long long)fm_size(m), ref_size(ref));
        bad = 1;
    }
    for (int r = 0; r < g_size; r++) {
        make_batch(&g_other, r, 3, 2000, 8000);
        uint8_t found[4000];
        uint64_t got[4000];
        if (fm_bulk_get(m, g_other.keys, g_other.n, got, found) != FM_OK) {
            FAIL("%s: fm_bulk_get: %s", what, fm_last_error(m));
            return 0;
        }
        for (size_t i = 0; i < g_other.n && !bad; i++) {
            const size_t id = ref_find(ref, g_other.keys + i * KS);
            if (found[i] != (id != REF_NONE) || (id != REF_NONE && memcmp(&got[i], ref_value(ref, id), 8) != 0)) {
                FAIL("%s: key %zu of rank %d's batch differs from the reference", what, i, r);
                bad = 1;
            }
        }
    }
    return !bad;
}

typedef enum op_kind { OP_INSERT, OP_ADD, OP_GET, OP_REMOVE, OP_SAVE_ALLOC, OP_SAVE_WRITE, OP_KINDS } op_kind;
static const char *const g_op_names[] = {"insert", "add_u64", "get", "remove", "save (allocations)",
                                         "save (writes)"};

static char g_path[256];

static uint8_t g_flags[4000];
static uint64_t g_out[4000];

/* Runs op on m with this rank's operation batch (~2,000 new keys per rank:
 * growth). */
static fm_status run_op(op_kind op, fm_map *m)
{
    uint8_t *flags = g_flags;
    uint64_t *out = g_out;
    make_batch(&g_mine, g_rank, 3, 2000, 8000);
    fm_status st = FM_OK;
    switch (op) {
    case OP_INSERT: st = fm_bulk_insert(m, g_mine.keys, g_mine.values, g_mine.n); break;
    case OP_ADD: st = fm_bulk_add_u64(m, g_mine.keys, g_mine.deltas, g_mine.n); break;
    case OP_GET: st = fm_bulk_get(m, g_mine.keys, g_mine.n, out, flags); break;
    case OP_REMOVE: st = fm_bulk_remove(m, g_mine.keys, g_mine.n, flags); break;
    default: st = fm_save(m, g_path); break;
    }
    return st;
}

/* Applies a successful op to ref, in rank order, and checks this rank's
 * outputs of get and remove. */
static void apply_op(op_kind op, ref_map *ref)
{
    const uint8_t *flags = g_flags;
    const uint64_t *out = g_out;
    for (int r = 0; r < g_size; r++) {
        make_batch(&g_other, r, 3, 2000, 8000);
        for (size_t i = 0; i < g_other.n; i++) {
            const uint8_t *k = g_other.keys + i * KS;
            const size_t id = ref_find(ref, k);
            switch (op) {
            case OP_INSERT: ref_put(ref, k, &g_other.values[i]); break;
            case OP_ADD: ref_add_u64(ref, k, g_other.deltas[i]); break;
            case OP_GET:
                if (r == g_rank && (flags[i] != (id != REF_NONE) ||
                                    (id != REF_NONE && memcmp(&out[i], ref_value(ref, id), 8) != 0)))
                    FAIL("get: wrong result for key %zu", i);
                break;
            case OP_REMOVE: {
                const int was = ref_remove(ref, k);
                if (r == g_rank && flags[i] != was) FAIL("remove: wrong flag for key %zu", i);
                break;
            }
            default: break;
            }
        }
    }
}

/* Runs op and, when it succeeds, applies it to ref. */
static fm_status run_and_apply(op_kind op, fm_map *m, ref_map *ref)
{
    fm_status st = run_op(op, m);
    if (st == FM_OK) apply_op(op, ref);
    return st;
}

/* Every rank got the same status. */
static void check_agreement(fm_status st, const char *what)
{
    int lo = (int)st, hi = (int)st;
    MPI_Allreduce(MPI_IN_PLACE, &lo, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(MPI_IN_PLACE, &hi, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    if (lo != hi) FAIL("%s: ranks returned different statuses (%d .. %d)", what, lo, hi);
}

/* One run: the nth event of `kind` fails on rank `victim`. Returns 1 when
 * the fault fired (so there may be more to try). */
static int one_fault(op_kind op, int victim, uint64_t nth)
{
    char what[160];
    snprintf(what, sizeof what, "%s / fault %llu on rank %d", g_op_names[op], (unsigned long long)nth, victim);
    const fm_fault_kind kind = op == OP_SAVE_WRITE ? FM_FAULT_WRITE : FM_FAULT_ALLOC;
    ref_map *ref = ref_create(KS, VS);
    fm_map *m = build_base(ref);
    if (g_rank == victim) fm_fault_arm(kind, nth);
    fm_status st = run_op(op, m);
    int fired = fm_fault_fired(kind);
    fm_fault_arm(kind, 0);
    MPI_Allreduce(MPI_IN_PLACE, &fired, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
    g_runs++;
    check_agreement(st, what);
    if (fired && st != FM_OK) {
        g_faults++;
        const fm_status want = kind == FM_FAULT_WRITE ? FM_ERR_IO : FM_ERR_NOMEM;
        if (st != want) FAIL("%s: returned %s: %s", what, fm_status_str(st), fm_last_error(m));
        if (!*fm_last_error(m)) FAIL("%s: no message", what);
        same_as(m, ref, what);
        st = run_and_apply(op, m, ref); /* and the map still works */
        check_agreement(st, what);
        if (st != FM_OK) FAIL("%s: the call fails again without a fault: %s", what, fm_last_error(m));
    } else if (st != FM_OK) {
        FAIL("%s: failed without a fault: %s", what, fm_last_error(m));
    } else {
        apply_op(op, ref);
    }
    same_as(m, ref, what);
    fm_destroy(m);
    ref_destroy(ref);
    return fired;
}

static void sweep(op_kind op)
{
    uint64_t most = 0;
    for (int victim = 0; victim < g_size; victim++) {
        uint64_t nth = 1;
        while (one_fault(op, victim, nth) && nth < 10000)
            nth++;
        if (nth - 1 > most) most = nth - 1;
    }
    if (g_rank == 0) printf("  %-20s up to %llu sites per rank\n", g_op_names[op], (unsigned long long)most);
}

/* fm_create_mpi and fm_load_mpi with the nth allocation failing on one rank:
 * the same status everywhere, no map anywhere. */
static void sweep_create_load(int load)
{
    ref_map *ref = ref_create(KS, VS);
    if (load) {
        fm_map *m = build_base(ref);
        if (fm_save(m, g_path) != FM_OK) MPI_Abort(MPI_COMM_WORLD, 1);
        fm_destroy(m);
    }
    uint64_t most = 0;
    for (int victim = 0; victim < g_size; victim++) {
        for (uint64_t nth = 1;; nth++) {
            fm_config cfg = config();
            fm_map *m = (fm_map *)&cfg;
            if (g_rank == victim) fm_fault_arm(FM_FAULT_ALLOC, nth);
            fm_status st = load ? fm_load_mpi(MPI_COMM_WORLD, g_path, &cfg, &m)
                                : fm_create_mpi(MPI_COMM_WORLD, &cfg, &m);
            int fired = fm_fault_fired(FM_FAULT_ALLOC);
            fm_fault_arm(FM_FAULT_ALLOC, 0);
            MPI_Allreduce(MPI_IN_PLACE, &fired, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
            g_runs++;
            check_agreement(st, load ? "fm_load_mpi" : "fm_create_mpi");
            if (fired && st != FM_OK) {
                g_faults++;
                if (st != FM_ERR_NOMEM || m != NULL)
                    FAIL("%s / fault %llu on rank %d: %s, map %p: %s", load ? "load" : "create",
                         (unsigned long long)nth, victim, fm_status_str(st), (void *)m, fm_last_error(NULL));
            } else if (st != FM_OK) {
                FAIL("%s: fails without a fault: %s", load ? "load" : "create", fm_last_error(NULL));
            }
            if (st == FM_OK) {
                if (load) same_as(m, ref, "load");
                fm_destroy(m);
            }
            if (!fired) {
                if (nth - 1 > most) most = nth - 1;
                break;
            }
        }
    }
    if (g_rank == 0)
        printf("  %-20s up to %llu sites per rank\n", load ? "fm_load_mpi" : "fm_create_mpi", (unsigned long long)most);
    ref_destroy(ref);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    setvbuf(stdout, NULL, _IOLBF, 0);
    char dir[200] = "/tmp/flashmap-mpi-faults-XXXXXX";
    if (g_rank == 0 && !mkdtemp(dir)) MPI_Abort(MPI_COMM_WORLD, 2);
    MPI_Bcast(dir, sizeof dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    snprintf(g_path, sizeof g_path, "%s/map.fmck", dir);
    if (g_rank == 0) printf("test_mpi_faults: %d ranks, one allocation or write failing on one rank\n", g_size);

    sweep_create_load(0);
    for (int op = 0; op < OP_KINDS; op++)
        sweep((op_kind)op);
    sweep_create_load(1);
    g_exchange_bytes = 0;
    if (g_rank == 0) printf("  one round per call:\n");
    for (int op = OP_INSERT; op <= OP_REMOVE; op++)
        sweep((op_kind)op);

    MPI_Allreduce(MPI_IN_PLACE, &g_failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) {
        mc_remove_tree(dir);
        printf("test_mpi_faults: %llu runs, %llu injected faults returned an error on every rank, %d failures\n",
               (unsigned long long)g_runs, (unsigned long long)g_faults, g_failures);
    }
    MPI_Finalize();
    return g_failures ? 1 : 0;
}
#endif
