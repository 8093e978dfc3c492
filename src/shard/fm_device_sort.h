/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* A device batch sorted by routing bucket, and records moved through the
 * sorted order (device_route.cu). CUDA C++ only. The device route of
 * sharded maps and the NCCL exchange of MPI maps (mpi/mpi_nccl.cu) both
 * route with these, so both agree with the host's routing. */
#ifndef FM_DEVICE_SORT_H
#define FM_DEVICE_SORT_H

#include <cuda_runtime.h>

#include "api/fm_map.h"

/* Sorts the n keys at `keys` (memory of the current device) stably by
 * fm_bucket_of(hash * spread of map, owners, rounds) (shard/fm_owner.h), on `stream`, and
 * blocks until done. *order gets a new device array (scratch ordered on
 * `stream`: free it with fm_cuda_scratch_free on that stream): the batch
 * index at each sorted position. start (host,
 * owners * rounds + 1 entries) gets the offsets of the buckets. Errors
 * (FM_ERR_NOMEM, FM_ERR_DEVICE, FM_ERR_INVALID for more buckets than 2^31)
 * are recorded on map and leave nothing allocated. */
fm_status fm_device_sort(fm_map *map, cudaStream_t stream, const void *keys, size_t n, uint32_t owners,
                         uint32_t rounds, uint64_t **order, uint64_t *start);

/* Enqueues on `stream` the move of n records of `size` bytes through
 * order: dst[j] = src[order[j]] (gather into sorted order) or, with
 * scatter, dst[order[j]] = src[j] (back to batch order). */
fm_status fm_device_permute(fm_map *map, cudaStream_t stream, void *dst, const void *src, const uint64_t *order,
                            size_t n, size_t size, int scatter);

#endif
