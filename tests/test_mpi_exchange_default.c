/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The default cfg.exchange_bytes of MPI maps: the sizing rule (a sixteenth
 * of a rank's share of the available memory, clamped), and the agreement
 * that gives every rank the same value, since all must cut the same rounds.
 *
 *   mpirun -np P test_mpi_exchange_default */
#include <flashmap_mpi.h>

#include <stdint.h>

#include "mpi/fm_mpi_node.h"
#include "test_check.h"

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)

static void check_rule(void)
{
    CHECK(fm_exchange_bytes_for(0, 1) == FM_EXCHANGE_MIN);
    CHECK(fm_exchange_bytes_for(16 * MIB, 1) == FM_EXCHANGE_MIN);
    CHECK(fm_exchange_bytes_for(1 * GIB, 1) == 64 * MIB);
    CHECK(fm_exchange_bytes_for(1 * GIB, 4) == 16 * MIB);
    CHECK(fm_exchange_bytes_for(1 * GIB, 0) == 64 * MIB); /* no node count: one rank */
    CHECK(fm_exchange_bytes_for(1024 * GIB, 1) == FM_EXCHANGE_MAX);
    CHECK(fm_exchange_bytes_for(1024 * GIB, 16) == FM_EXCHANGE_MAX);
    CHECK(fm_exchange_bytes_for(64 * GIB, 64) == 64 * MIB);
    /* More ranks on a node never get more each. */
    for (int ranks = 1; ranks < 256; ranks++)
        CHECK(fm_exchange_bytes_for(48 * GIB, ranks + 1) <= fm_exchange_bytes_for(48 * GIB, ranks));
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0, ranks = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    check_rule();

    int local_rank = -1, local_ranks = 0;
    fm_mpi_node_place(MPI_COMM_WORLD, rank, &local_rank, &local_ranks);
    CHECK(local_ranks >= 1 && local_ranks <= ranks);
    CHECK(local_rank >= 0 && local_rank < local_ranks);

    const uint64_t mine = fm_mpi_default_exchange_bytes(MPI_COMM_WORLD, local_ranks);
    uint64_t least = 0, most = 0;
    MPI_Allreduce(&mine, &least, 1, MPI_UINT64_T, MPI_MIN, MPI_COMM_WORLD);
    MPI_Allreduce(&mine, &most, 1, MPI_UINT64_T, MPI_MAX, MPI_COMM_WORLD);
    CHECK(least == most);
    CHECK(mine >= FM_EXCHANGE_MIN && mine <= FM_EXCHANGE_MAX);

    int failures = g_failures, all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0)
        printf("test_mpi_exchange_default: %d rank(s), %d per node, default exchange_bytes %llu MiB, %d failures\n",
               ranks, local_ranks, (unsigned long long)(mine / MIB), all);
    MPI_Finalize();
    return all ? 1 : 0;
}
