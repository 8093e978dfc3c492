/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* NCCL opened at run time (nccl_loader.c): flashmap links no libnccl, so a
 * build with NCCL loads and runs on nodes without it; MPI maps of CUDA
 * shards then stage device batches through the host, as without NCCL.
 * Only nccl.h's types are used at build time. */
#ifndef FM_NCCL_LOADER_H
#define FM_NCCL_LOADER_H

#include <nccl.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The NCCL functions flashmap calls (mpi_nccl.cu, through fm_nccl_calls.h). */
typedef struct fm_nccl_api {
    const char *(*GetErrorString)(ncclResult_t result);
    ncclResult_t (*GetUniqueId)(ncclUniqueId *id);
    ncclResult_t (*CommInitRank)(ncclComm_t *comm, int nranks, ncclUniqueId id, int rank);
    ncclResult_t (*CommFinalize)(ncclComm_t comm);
    ncclResult_t (*CommDestroy)(ncclComm_t comm);
    ncclResult_t (*CommAbort)(ncclComm_t comm);
    ncclResult_t (*CommGetAsyncError)(ncclComm_t comm, ncclResult_t *async_error);
    ncclResult_t (*GroupStart)(void);
    ncclResult_t (*GroupEnd)(void);
    ncclResult_t (*Send)(const void *buf, size_t count, ncclDataType_t type, int peer, ncclComm_t comm,
                         cudaStream_t stream);
    ncclResult_t (*Recv)(void *buf, size_t count, ncclDataType_t type, int peer, ncclComm_t comm,
                         cudaStream_t stream);
} fm_nccl_api;

/* The functions of libnccl.so.2 (or of the library FLASHMAP_NCCL_LIBRARY
 * names), opened at the first call and kept open; NULL when it cannot be
 * opened or lacks one of them (fm_nccl_api_error says which). Thread-safe. */
const fm_nccl_api *fm_nccl_api_get(void);
/* Why fm_nccl_api_get() is NULL ("" when it is not). */
const char *fm_nccl_api_error(void);

#ifdef __cplusplus
}
#endif

#endif
