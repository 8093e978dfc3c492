/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The NCCL exchange of MPI maps whose shards are CUDA tables (mpi_nccl.cu;
 * mpi_nccl_absent.c in builds without NCCL), and what it needs from
 * mpi_map.c. C linkage; includes mpi.h but not nccl.h. */
#ifndef FM_MPI_NCCL_H
#define FM_MPI_NCCL_H

#include <mpi.h>
#include <stddef.h>
#include <stdint.h>

#include "api/fm_map.h"
#include "shard/fm_device_route.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum mpi_op { OP_COUNT_NEW, OP_INSERT, OP_ADD, OP_GET, OP_REMOVE } mpi_op;

/* mpi_map.c: the agreements of an MPI map (every rank gets the worst
 * status, with the message of the lowest rank that had it; agree_max also
 * the largest of `count` (at most 3) values). Collective. */
fm_status fm_mpi_agree(fm_map *map, fm_status mine);
fm_status fm_mpi_agree_max(fm_map *map, fm_status mine, uint64_t *values, int count);
/* mpi_room.c: room on every rank for an insert's or add's new keys, on
 * the host path and the NCCL path alike. room_check agrees on the status
 * so far and on whether the new keys must be counted first (`writes`: an
 * insert or add; `received`: the keys this rank will receive) and, unless
 * `tentative` is NULL, whether every rank's table may write tentatively
 * instead (never on a fixed map); after that counting pass found `fresh`
 * new keys here, room_make makes room in the local table and, on a fixed
 * map, checks the ranks' total against the capacity. One collective each;
 * every rank returns the same status. */
fm_status fm_mpi_room_check(fm_map *map, fm_map *local, fm_status mine, int writes, uint64_t received,
                            int *count_first, int *tentative);
fm_status fm_mpi_room_make(fm_map *map, fm_map *local, uint64_t fresh);
/* "nccl" when the map's device batches exchange through NCCL, else "host". */
const char *fm_mpi_exchange_path(fm_map *map);

typedef struct fm_mpi_nccl fm_mpi_nccl;

/* Collective over comm: an NCCL communicator over its ranks, on the device
 * of `local` (this rank's shard), when every rank's shard is a CUDA table,
 * no rank has FLASHMAP_NCCL=0 in its environment and NCCL starts on every
 * rank. Otherwise NULL on every rank, with the reason in why (never an
 * error: the map then stages device batches through the host). */
fm_mpi_nccl *fm_mpi_nccl_open(fm_map *local, MPI_Comm comm, char *why, size_t why_len);
/* Collective with the other ranks' closes (NULL is fine). */
void fm_mpi_nccl_close(fm_mpi_nccl *nc);
/* The same after an error of the communicator (ncclCommAbort). */
void fm_mpi_nccl_abort(fm_mpi_nccl *nc);
/* The CUDA device the communicator runs on. */
int fm_mpi_nccl_device(const fm_mpi_nccl *nc);

/* One bulk call whose batch b is in device memory of the communicator's
 * device on every rank (agreed by the caller, who also agreed on `rounds`
 * from the ranks' bytes and cfg.exchange_bytes). Routes on the device,
 * exchanges counts with MPI_Alltoall and records with grouped
 * ncclSend/ncclRecv, runs op on `local` in rank order then batch order,
 * sends replies back and writes them in batch order. Collective; every
 * rank returns the same status, and a failed insert or add changes
 * nothing. */
fm_status fm_mpi_nccl_bulk(fm_map *map, fm_mpi_nccl *nc, fm_map *local, MPI_Comm comm, mpi_op op,
                           const fm_device_batch *b, uint32_t rounds);

#ifdef __cplusplus
}
#endif

#endif
