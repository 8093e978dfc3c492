/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* flashmap_cuda.h: CUDA streams for flashmap's CUDA maps. No CUDA header is
 * needed: a stream is passed as void * (a cudaStream_t converts to it).
 *
 * By default a CUDA map runs its work on a blocking stream of its own and
 * every bulk call returns only when that work is done. It is then ordered
 * with the caller's work on the legacy default stream only. A caller whose
 * device data comes from other streams (non-blocking streams, the
 * per-thread default stream of `--default-stream per-thread`, a
 * framework's streams) gives the map its stream instead: */
#ifndef FLASHMAP_CUDA_H
#define FLASHMAP_CUDA_H

#include <flashmap.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Makes every later call on `map` (a one-table CUDA map) run its device
 * work on `stream`, after the work the caller queued there before the
 * call; NULL gives the map back its own stream (the legacy default stream
 * itself is cudaStreamLegacy, the per-thread one cudaStreamPerThread). The
 * stream must belong to the map's device and outlive its use (set NULL
 * before destroying it).
 *
 * On the caller's stream, with keys and outputs all in device memory:
 * - fm_bulk_get returns as soon as its kernels are queued, with no host
 *   wait; its outputs are ready in stream order (a kernel queued on the
 *   stream after the call sees them; the host must synchronize the stream
 *   first);
 * - writes (insert, add_u64, remove) queue their kernels after the caller's
 *   earlier work and return when they are done (the map's size must be
 *   known before the next call), so their outputs are ready on return.
 * Host-memory batches, fm_clear, fm_export, fm_get_stats and table growth
 * run on the same stream and wait for it, as without a stream.
 *
 * Not collective; not for sharded or MPI maps (FM_ERR_UNSUPPORTED: their
 * shards may live on several devices). FM_ERR_INVALID when map is NULL or
 * not a CUDA map; FM_ERR_UNSUPPORTED in a build without CUDA. The map is
 * unchanged on error. Calls already returned are not affected; a get still
 * running on the previous stream is waited for before the switch. */
FM_API fm_status fm_cuda_set_stream(fm_map *map, void *stream);

/* The stream the map's work runs on now (the map's own when none was
 * set); NULL for a map that is not a one-table CUDA map. */
FM_API void *fm_cuda_get_stream(const fm_map *map);

#ifdef __cplusplus
}
#endif

#endif
