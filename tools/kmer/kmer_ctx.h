/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* How the process runs: alone or as one rank of an MPI job. */
#ifndef KMER_CTX_H
#define KMER_CTX_H

/* Every verb runs over MPI_COMM_WORLD when started by a launcher (mpirun,
 * srun), and alone without MPI otherwise; the reading verbs use MPI only
 * with more than one rank. */
typedef struct km_ctx {
    int mpi;  /* MPI is initialised */
    int rank; /* 0 without MPI */
    int size; /* 1 without MPI */
} km_ctx;

#endif
