/* The verbs of flashmap-kmer, each in its own file. */
#ifndef KMER_VERBS_H
#define KMER_VERBS_H

/* How the process runs. count always runs over MPI_COMM_WORLD (one rank
 * when started without mpirun); the reading verbs use MPI only when
 * started by a launcher with more than one rank. */
typedef struct km_ctx {
    int mpi;  /* MPI is initialised */
    int rank; /* 0 without MPI */
    int size; /* 1 without MPI */
} km_ctx;

/* Each returns the process exit status: 0 success, 1 failure, 2 usage. */
int km_count_main(int argc, char **argv, const km_ctx *ctx);
int km_histo_main(int argc, char **argv, const km_ctx *ctx);
int km_dump_main(int argc, char **argv, const km_ctx *ctx);
int km_query_main(int argc, char **argv, const km_ctx *ctx);
int km_stats_main(int argc, char **argv, const km_ctx *ctx);

#endif
