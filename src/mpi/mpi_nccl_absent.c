/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Built without NCCL: MPI maps stage device batches through the host. */
#include <stdio.h>

#include "mpi/fm_mpi_nccl.h"

fm_mpi_nccl *fm_mpi_nccl_open(fm_map *local, MPI_Comm comm, char *why, size_t why_len)
{
    (void)local;
    (void)comm;
    snprintf(why, why_len, "flashmap was built without NCCL");
    return NULL;
}

void fm_mpi_nccl_close(fm_mpi_nccl *nc) { (void)nc; }
void fm_mpi_nccl_abort(fm_mpi_nccl *nc) { (void)nc; }

int fm_mpi_nccl_device(const fm_mpi_nccl *nc)
{
    (void)nc;
    return -1;
}

fm_status fm_mpi_nccl_bulk(fm_map *map, fm_mpi_nccl *nc, fm_map *local, MPI_Comm comm, mpi_op op,
                           const fm_device_batch *b, uint32_t rounds)
{
    (void)nc, (void)local, (void)comm, (void)op, (void)b, (void)rounds;
    return fm_fail(map, FM_ERR_UNSUPPORTED, "flashmap was built without NCCL");
}
