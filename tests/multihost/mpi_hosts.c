/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * One MPI job over several hosts (run by run_multihost_test.sh on
 * simulated hosts): checks what a map learns about its nodes and that a
 * map works across them.
 *   - Every rank's node-local place (fm_mpi_node_place) matches the host
 *     names: `per_host` ranks on each of `hosts` hosts, local ranks
 *     0 .. per_host-1 on each.
 *   - The default exchange size, sized from each node's memory and its
 *     ranks, is the same on every rank and within its bounds.
 *   - An MPI map: every rank adds its keys (some shared by all ranks),
 *     gets them back with the right global counts, fm_size is exact.
 *   - A mismatched call across hosts (the last rank gets while the others
 *     insert) fails on every rank, without a hang, and changes nothing.
 * Prints "mpi_hosts: passed" on rank 0 when every check holds.
 *
 * Usage: mpirun ... mpi_hosts HOSTS PER_HOST
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap_mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpi/fm_mpi_node.h"

#define NAME_LEN 64
#define N_OWN 20000  /* keys of one rank only */
#define N_SHARED 5000 /* keys every rank adds */

static int g_rank, g_size, g_failures;

static void fail(const char *what, long long got, long long want)
{
    fprintf(stderr, "MISMATCH: rank %d: %s: %lld, expected %lld\n", g_rank, what, got, want);
    g_failures++;
}

static void check_places(int hosts, int per_host)
{
    char name[NAME_LEN] = {0};
    gethostname(name, sizeof name - 1);
    int local_rank = -1, local_ranks = -1;
    fm_mpi_node_place(MPI_COMM_WORLD, g_rank, &local_rank, &local_ranks);
    char *names = calloc((size_t)g_size, NAME_LEN);
    int *places = calloc((size_t)g_size * 2, sizeof *places), mine[2] = {local_rank, local_ranks};
    if (!names || !places) exit(2);
    MPI_Allgather(name, NAME_LEN, MPI_CHAR, names, NAME_LEN, MPI_CHAR, MPI_COMM_WORLD);
    MPI_Allgather(mine, 2, MPI_INT, places, 2, MPI_INT, MPI_COMM_WORLD);
    int distinct = 0, same = 0, seen_local = 0;
    for (int r = 0; r < g_size; r++) {
        int first = 1;
        for (int q = 0; q < r; q++) first = first && strcmp(names + q * NAME_LEN, names + r * NAME_LEN) != 0;
        distinct += first;
        if (strcmp(names + r * NAME_LEN, name) == 0) {
            same++;
            seen_local |= 1 << places[2 * r];
        }
    }
    if (distinct != hosts) fail("distinct host names", distinct, hosts);
    if (same != per_host) fail("ranks with this rank's host name", same, per_host);
    if (local_ranks != per_host) fail("node-local ranks", local_ranks, per_host);
    if (seen_local != (1 << per_host) - 1) fail("local ranks of this host (bit set)", seen_local, (1 << per_host) - 1);
    const uint64_t bytes = fm_mpi_default_exchange_bytes(MPI_COMM_WORLD, local_ranks);
    uint64_t lo = 0, hi = 0;
    MPI_Allreduce(&bytes, &lo, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&bytes, &hi, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    if (lo != hi) fail("exchange bytes differ over ranks; largest", (long long)hi, (long long)lo);
    if (bytes < FM_EXCHANGE_MIN || bytes > FM_EXCHANGE_MAX) fail("exchange bytes", (long long)bytes, FM_EXCHANGE_MIN);
    printf("mpi_hosts: rank %d on %s: local rank %d of %d, default exchange %llu bytes\n", g_rank, name, local_rank,
           local_ranks, (unsigned long long)bytes);
    free(names);
    free(places);
}

static void check_map(void)
{
    fm_config cfg = fm_config_default(8, 8, 1 << 16);
    cfg.backend = FM_BACKEND_CPU;
    fm_map *map = NULL;
    if (fm_create_mpi(MPI_COMM_WORLD, &cfg, &map) != FM_OK) {
        fprintf(stderr, "MISMATCH: rank %d: fm_create_mpi: %s\n", g_rank, fm_last_error(NULL));
        exit(1);
    }
    const size_t n = N_OWN + N_SHARED;
    uint64_t *keys = calloc(n, sizeof *keys), *counts = calloc(n, sizeof *counts);
    if (!keys || !counts) exit(2);
    for (size_t i = 0; i < N_OWN; i++) keys[i] = ((uint64_t)g_rank << 40) + i * 7919;
    for (size_t i = 0; i < N_SHARED; i++) keys[N_OWN + i] = ((uint64_t)1 << 60) + i;
    fm_status st = fm_bulk_add_u64(map, keys, NULL, n);
    if (st != FM_OK) fail("fm_bulk_add_u64 status", st, FM_OK);
    /* Across hosts: the last rank gets while the others insert. */
    st = g_rank == g_size - 1 ? fm_bulk_get(map, keys, n, counts, NULL) : fm_bulk_insert(map, keys, counts, n);
    if (st != FM_ERR_INVALID) fail("mismatched call status", st, FM_ERR_INVALID);
    st = fm_bulk_get(map, keys, n, counts, NULL);
    if (st != FM_OK) fail("fm_bulk_get status", st, FM_OK);
    for (size_t i = 0; i < n; i++) {
        const uint64_t want = i < N_OWN ? 1 : (uint64_t)g_size;
        if (counts[i] != want) {
            fail("count", (long long)counts[i], (long long)want);
            break;
        }
    }
    const uint64_t size = fm_size(map), want = (uint64_t)g_size * N_OWN + N_SHARED;
    if (size != want) fail("fm_size", (long long)size, (long long)want);
    fm_destroy(map);
    free(keys);
    free(counts);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    if (argc != 3) {
        if (g_rank == 0) fprintf(stderr, "usage: mpi_hosts HOSTS PER_HOST\n");
        MPI_Finalize();
        return 2;
    }
    check_places(atoi(argv[1]), atoi(argv[2]));
    check_map();
    int failures = 0;
    MPI_Allreduce(&g_failures, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (g_rank == 0) printf(failures ? "mpi_hosts: %d failures\n" : "mpi_hosts: passed\n", failures);
    MPI_Finalize();
    return failures ? 1 : 0;
}
