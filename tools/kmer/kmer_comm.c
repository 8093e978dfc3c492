/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Collectives of count, or their one-process identities (see kmer_comm.h). */
#include "kmer_comm.h"

#include <string.h>

void km_allreduce_u64(const km_ctx *ctx, const uint64_t *in, uint64_t *out, int n, MPI_Op op)
{
    if (ctx->mpi) MPI_Allreduce(in, out, n, MPI_UINT64_T, op, MPI_COMM_WORLD);
    else memmove(out, in, (size_t)n * sizeof *out);
}

int km_allreduce_int(const km_ctx *ctx, int mine, MPI_Op op)
{
    int all = mine;
    if (ctx->mpi) MPI_Allreduce(&mine, &all, 1, MPI_INT, op, MPI_COMM_WORLD);
    return all;
}

int km_bcast_int(const km_ctx *ctx, int v)
{
    if (ctx->mpi) MPI_Bcast(&v, 1, MPI_INT, 0, MPI_COMM_WORLD);
    return v;
}

void km_barrier(const km_ctx *ctx)
{
    if (ctx->mpi) MPI_Barrier(MPI_COMM_WORLD);
}

void km_gather_doubles(const km_ctx *ctx, const double *mine, int n, double *all)
{
    if (ctx->mpi) MPI_Gather(mine, n, MPI_DOUBLE, all, n, MPI_DOUBLE, 0, MPI_COMM_WORLD);
    else memmove(all, mine, (size_t)n * sizeof *all);
}
