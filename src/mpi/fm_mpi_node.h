/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Where a rank sits on its node, and what the node's memory allows it for
 * the exchange (mpi_node.c). Both are collective over comm. */
#ifndef FM_MPI_NODE_H
#define FM_MPI_NODE_H

#include <stdint.h>

#include <mpi.h>

/* This rank's place among the ranks of its node (MPI_COMM_TYPE_SHARED),
 * and how many they are; without node information, rank and 1. */
void fm_mpi_node_place(MPI_Comm comm, int rank, int *local_rank, int *local_ranks);

/* The default cfg.exchange_bytes: a share of the memory available to this
 * rank (the node's, or its cgroup's when that is smaller, split among the
 * node's ranks), clamped to [FM_EXCHANGE_MIN, FM_EXCHANGE_MAX], and the
 * smallest over the ranks, since every rank must cut the same rounds. */
#define FM_EXCHANGE_MIN ((uint64_t)4 << 20)
#define FM_EXCHANGE_MAX ((uint64_t)256 << 20)
uint64_t fm_mpi_default_exchange_bytes(MPI_Comm comm, int local_ranks);

/* The same rule for one rank that has `available` bytes (for tests). */
uint64_t fm_exchange_bytes_for(uint64_t available, int local_ranks);

#endif
