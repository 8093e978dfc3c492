/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Included by mpi_nccl.cu after nccl.h: its NCCL calls go through the
 * functions opened at run time (fm_nccl_loader.h). Only valid once
 * fm_nccl_api_get() returned non-NULL, which fm_mpi_nccl_open checks on
 * every rank before any NCCL call. */
#ifndef FM_NCCL_CALLS_H
#define FM_NCCL_CALLS_H

#include "mpi/fm_nccl_loader.h"

#define ncclGetErrorString(...) (fm_nccl_api_get()->GetErrorString(__VA_ARGS__))
#define ncclGetUniqueId(...) (fm_nccl_api_get()->GetUniqueId(__VA_ARGS__))
#define ncclCommInitRank(...) (fm_nccl_api_get()->CommInitRank(__VA_ARGS__))
#define ncclCommFinalize(...) (fm_nccl_api_get()->CommFinalize(__VA_ARGS__))
#define ncclCommDestroy(...) (fm_nccl_api_get()->CommDestroy(__VA_ARGS__))
#define ncclCommAbort(...) (fm_nccl_api_get()->CommAbort(__VA_ARGS__))
#define ncclCommGetAsyncError(...) (fm_nccl_api_get()->CommGetAsyncError(__VA_ARGS__))
#define ncclGroupStart() (fm_nccl_api_get()->GroupStart())
#define ncclGroupEnd() (fm_nccl_api_get()->GroupEnd())
#define ncclSend(...) (fm_nccl_api_get()->Send(__VA_ARGS__))
#define ncclRecv(...) (fm_nccl_api_get()->Recv(__VA_ARGS__))

#endif
