/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* flashmap over MPI: one logical map whose shards live on the ranks of a
 * communicator. Every call below, and every bulk call on the map it makes,
 * is collective over `comm`. */
#ifndef FLASHMAP_MPI_H
#define FLASHMAP_MPI_H

#include <mpi.h>

#include <flashmap.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Collective. Every rank passes the same configuration and gets one shard
 * of the map (cfg.shards must be 0 or 1). The shard is a CPU table, or with
 * a CUDA backend (AUTO: where the rank sees a device) a table on
 * cfg.device, or when that is -1 on device (node-local rank mod the
 * devices the rank sees), node-local rank from MPI_COMM_TYPE_SHARED. Bulk
 * calls take host buffers, or device buffers on a CUDA map (staged through
 * host memory: the exchange packs batches on the host). Errors: FM_ERR_INVALID on all ranks if
 * configurations differ or one is invalid; FM_ERR_UNSUPPORTED (CUDA asked
 * for and not usable, shards > 1), FM_ERR_NOMEM, FM_ERR_COMM; any rank's
 * failure is returned on every rank and no rank keeps a map. */
FM_API fm_status fm_create_mpi(MPI_Comm comm, const fm_config *cfg, fm_map **map_out);

/* Collective. Restores a checkpoint written by fm_save, on an MPI map of
 * any number of ranks or in one process, onto the ranks of `comm`: rank r
 * reads part files r, r + size, ... (rank 0 reads a one-process
 * checkpoint) and fm_bulk_insert sends every entry to its owner. Every rank
 * passes the same path and overrides; overrides work as for fm_load, except
 * that shards defaults to 1 (one shard per rank). Every rank returns the
 * same status; on failure *map_out is NULL on every rank and
 * fm_last_error(NULL) has the message of the lowest failing rank.
 * Errors: as fm_load, plus FM_ERR_COMM. */
FM_API fm_status fm_load_mpi(MPI_Comm comm, const char *path, const fm_config *overrides,
                      fm_map **map_out);

#ifdef __cplusplus
}
#endif

#endif
