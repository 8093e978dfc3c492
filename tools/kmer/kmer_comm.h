/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The few collectives of `count`, over MPI_COMM_WORLD when MPI is
 * initialised (km_ctx.mpi) and the identity when the process runs alone:
 * a count started without a launcher never starts MPI (kmer_main.c). */
#ifndef KMER_COMM_H
#define KMER_COMM_H

#include <stdint.h>

#include <mpi.h>

#include "kmer_ctx.h"

/* out[i] = op over the ranks of in[i] (MPI_SUM, MPI_MAX, MPI_MIN). */
void km_allreduce_u64(const km_ctx *ctx, const uint64_t *in, uint64_t *out, int n, MPI_Op op);
int km_allreduce_int(const km_ctx *ctx, int mine, MPI_Op op);

/* Rank 0's value of v, on every rank. */
int km_bcast_int(const km_ctx *ctx, int v);

void km_barrier(const km_ctx *ctx);

/* Rank 0 gets every rank's n doubles in rank order in all (size * n). */
void km_gather_doubles(const km_ctx *ctx, const double *mine, int n, double *all);

#endif
