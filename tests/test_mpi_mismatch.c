/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Mismatched collective calls on an MPI map: for every pair (A, B) of the
 * map's collective calls (the four bulk calls, fm_size, fm_get_stats,
 * fm_clear, fm_save, fm_destroy), rank 1 calls B while every other rank
 * calls A. When A and B differ every rank must return FM_ERR_INVALID (fm_size:
 * UINT64_MAX) with the message "rank 1 called B where rank 0 called A, call
 * N on this map", nothing may change (size, every value, no checkpoint
 * file), and the map must take the next calls as usual. A mismatch with
 * fm_destroy frees the map on the destroying ranks and closes it on the
 * others: their next call fails at once and fm_destroy frees it. When A
 * and B are the same the pair must simply work. Also: a rank whose
 * arguments fail while another makes a different call gets the mismatch.
 *
 * fm_export is not collective (each rank reads its own shard) and takes no
 * part. A hang is a failure by the CTest timeout.
 *
 * Usage: mpiexec -n P test_mpi_mismatch   (P >= 2; one rank exits 77)
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap_mpi.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_check.h"

enum { C_INSERT, C_GET, C_REMOVE, C_ADD, C_SIZE, C_STATS, C_CLEAR, C_SAVE, C_DESTROY, N_CALLS };
static const char *const NAMES[N_CALLS] = {"fm_bulk_insert", "fm_bulk_get", "fm_bulk_remove", "fm_bulk_add_u64",
                                           "fm_size", "fm_get_stats", "fm_clear", "fm_save", "fm_destroy"};

#define N_KEYS 1000
#define N_CALL 16 /* keys each rank passes to a bulk call */

static int g_rank, g_size;
static char g_dir[256];      /* rank 0's scratch directory, the same path on every rank */
static uint64_t g_calls;     /* collective calls made on the current map */
static uint64_t g_pairs;

static uint64_t value_of(uint64_t key) { return key * 3 + 1; }

/* A map holding keys 0 .. N_KEYS-1 with value_of(key), put there by rank 0. */
static fm_map *new_map(void)
{
    fm_config cfg = fm_config_default(8, 8, 4096);
    cfg.backend = FM_BACKEND_CPU;
    fm_map *map = NULL;
    if (fm_create_mpi(MPI_COMM_WORLD, &cfg, &map) != FM_OK) {
        fprintf(stderr, "rank %d: fm_create_mpi: %s\n", g_rank, fm_last_error(NULL));
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    uint64_t keys[N_KEYS], values[N_KEYS];
    for (uint64_t k = 0; k < N_KEYS; k++) {
        keys[k] = k;
        values[k] = value_of(k);
    }
    CHECK_OK(map, fm_bulk_insert(map, keys, values, g_rank == 0 ? N_KEYS : 0));
    g_calls = 1;
    return map;
}

/* Makes call c with arguments that would change the map if it ran.
 * Returns the status (fm_size: FM_ERR_INVALID for UINT64_MAX). */
static fm_status make_call(fm_map *map, int c, int *destroyed)
{
    uint64_t keys[N_CALL], values[N_CALL];
    uint8_t flags[N_CALL];
    for (uint64_t i = 0; i < N_CALL; i++) {
        keys[i] = i % 2 ? i : N_KEYS + 100 * (uint64_t)g_rank + i; /* present and new keys */
        values[i] = 999;
    }
    char path[320];
    snprintf(path, sizeof path, "%s/ck", g_dir);
    fm_stats stats;
    *destroyed = 0;
    switch (c) {
    case C_INSERT: return fm_bulk_insert(map, keys, values, N_CALL);
    case C_GET: return fm_bulk_get(map, keys, N_CALL, values, flags);
    case C_REMOVE: return fm_bulk_remove(map, keys, N_CALL, flags);
    case C_ADD: return fm_bulk_add_u64(map, keys, NULL, N_CALL);
    case C_SIZE: return fm_size(map) == UINT64_MAX ? FM_ERR_INVALID : FM_OK;
    case C_STATS: return fm_get_stats(map, &stats);
    case C_CLEAR: return fm_clear(map);
    case C_SAVE: return fm_save(map, path);
    default: fm_destroy(map); *destroyed = 1; return FM_OK;
    }
}

/* Every rank the same answer? */
static int all_ranks(int ok)
{
    int all = 0;
    MPI_Allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    return all;
}

/* The map still holds exactly keys 0 .. N_KEYS-1 with their values, and
 * takes a write. */
static void check_unchanged(fm_map *map, const char *what)
{
    uint64_t keys[N_KEYS], values[N_KEYS];
    uint8_t found[N_KEYS];
    for (uint64_t k = 0; k < N_KEYS; k++) keys[k] = k;
    const uint64_t size = fm_size(map);
    g_calls++;
    if (size != N_KEYS) MISMATCH("rank %d, %s: fm_size is %llu, not %d", g_rank, what, (unsigned long long)size, N_KEYS);
    const fm_status st = fm_bulk_get(map, keys, N_KEYS, values, found);
    g_calls++;
    if (st != FM_OK) {
        MISMATCH("rank %d, %s: get after the mismatch: %s", g_rank, what, fm_last_error(map));
        return;
    }
    for (uint64_t k = 0; k < N_KEYS; k++)
        if (!found[k] || values[k] != value_of(k)) {
            MISMATCH("rank %d, %s: key %llu found %d value %llu", g_rank, what, (unsigned long long)k, found[k],
                     (unsigned long long)values[k]);
            return;
        }
    uint64_t extra = 7 * N_KEYS + (uint64_t)g_rank, one = 1;
    uint8_t removed = 0;
    CHECK_OK(map, fm_bulk_insert(map, &extra, &one, 1));
    CHECK_OK(map, fm_bulk_remove(map, &extra, 1, &removed));
    g_calls += 2;
    if (!removed) MISMATCH("rank %d, %s: a write after the mismatch did not take", g_rank, what);
}

/* No checkpoint file (nor temporary) in the scratch directory. */
static int dir_empty(void)
{
    DIR *d = opendir(g_dir);
    if (!d) return 0;
    int files = 0;
    for (struct dirent *e; (e = readdir(d));)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) files++;
    closedir(d);
    return files == 0;
}

static void clean_dir(void)
{
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) {
        DIR *d = opendir(g_dir);
        for (struct dirent *e; d && (e = readdir(d));) {
            char p[600];
            snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
            if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) unlink(p);
        }
        if (d) closedir(d);
    }
    MPI_Barrier(MPI_COMM_WORLD);
}

/* Rank 1 calls b, the others a. */
static void run_pair(int a, int b)
{
    fm_map *map = new_map();
    const int mine = g_rank == 1 ? b : a;
    const uint64_t number = ++g_calls;
    int destroyed = 0;
    const fm_status st = make_call(map, mine, &destroyed);
    g_pairs++;
    char what[96];
    snprintf(what, sizeof what, "rank 1 %s, others %s", NAMES[b], NAMES[a]);
    if (a == b) {
        if (st != FM_OK) MISMATCH("rank %d, %s: %s", g_rank, what, fm_last_error(map));
        if (!destroyed) fm_destroy(map);
        clean_dir();
        return;
    }
    if (st != FM_ERR_INVALID && !destroyed)
        MISMATCH("rank %d, %s: returned %d (%s), not FM_ERR_INVALID", g_rank, what, st, fm_status_str(st));
    char want[256];
    snprintf(want, sizeof want, "rank 1 called %s where rank 0 called %s, call %llu on this map", NAMES[b],
             NAMES[a], (unsigned long long)number);
    if (!destroyed && !strstr(fm_last_error(map), want))
        MISMATCH("rank %d, %s: message \"%s\" lacks \"%s\"", g_rank, what, fm_last_error(map), want);
    if (!all_ranks(dir_empty())) MISMATCH("rank %d, %s: a checkpoint file was written", g_rank, what);
    clean_dir();
    if (a == C_DESTROY || b == C_DESTROY) {
        /* Gone where destroyed, closed elsewhere: calls fail at once. */
        if (!destroyed) {
            uint64_t key = 1, value = 0;
            const fm_status again = fm_bulk_get(map, &key, 1, &value, NULL);
            if (again != FM_ERR_INVALID || !strstr(fm_last_error(map), "destroyed"))
                MISMATCH("rank %d, %s: a call on the closed map returned %d: %s", g_rank, what, again,
                         fm_last_error(map));
            if (fm_size(map) != UINT64_MAX) MISMATCH("rank %d, %s: fm_size on the closed map", g_rank, what);
            fm_destroy(map); /* alone: must not wait for the others */
        }
        return;
    }
    check_unchanged(map, what);
    fm_destroy(map);
}

/* Bad arguments on rank 0 (keys NULL) while rank 1 gets: the mismatch wins. */
static void bad_args_and_mismatch(void)
{
    fm_map *map = new_map();
    uint64_t keys[4] = {1, 2, 3, 4}, values[4] = {0};
    const fm_status st = g_rank == 1 ? fm_bulk_get(map, keys, 4, values, NULL) : fm_bulk_insert(map, NULL, values, 4);
    if (st != FM_ERR_INVALID || !strstr(fm_last_error(map), "rank 1 called fm_bulk_get where rank 0 called fm_bulk_insert"))
        MISMATCH("rank %d, bad arguments and a mismatch: %d: %s", g_rank, st, fm_last_error(map));
    check_unchanged(map, "bad arguments and a mismatch");
    fm_destroy(map);
}

int main(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    if (g_size < 2) {
        printf("mpi_mismatch: needs 2 ranks or more: skipped\n");
        MPI_Finalize();
        return 77;
    }
    if (g_rank == 0) {
        const char *tmp = getenv("TMPDIR");
        snprintf(g_dir, sizeof g_dir, "%s/fm_mismatch_XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(g_dir)) {
            perror("mkdtemp");
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
    }
    MPI_Bcast(g_dir, sizeof g_dir, MPI_CHAR, 0, MPI_COMM_WORLD);
    for (int a = 0; a < N_CALLS; a++)
        for (int b = 0; b < N_CALLS; b++) run_pair(a, b);
    bad_args_and_mismatch();
    int failures = 0;
    MPI_Allreduce(&g_failures, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (g_rank == 0) {
        rmdir(g_dir);
        printf("mpi_mismatch: %d ranks, %llu pairs of calls, %d failures\n", g_size, (unsigned long long)g_pairs,
               failures);
    }
    MPI_Finalize();
    return failures ? 1 : 0;
}
