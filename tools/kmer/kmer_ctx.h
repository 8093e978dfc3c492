/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* How the process runs: alone or as one rank of an MPI job. */
#ifndef KMER_CTX_H
#define KMER_CTX_H

/* count always runs over MPI_COMM_WORLD (one rank when started without
 * mpirun); the reading verbs use MPI only when started by a launcher with
 * more than one rank. */
typedef struct km_ctx {
    int mpi;  /* MPI is initialised */
    int rank; /* 0 without MPI */
    int size; /* 1 without MPI */
} km_ctx;

#endif
