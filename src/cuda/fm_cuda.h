/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The CUDA backend's private interface (CUDA C++ only).
 *
 * One map is one table in the memory of one device, with the layout and
 * the probing code of table/fm_probe.h. Everything a map does on its
 * device runs on one stream, in call order: the map's own, or the caller's
 * (fm_cuda_set_stream). A batch runs in chunks, in batch order; removes,
 * and inserts whose keys repeat, first group a chunk's keys in a small
 * device set ("dedup") so that exactly one thread acts for each distinct
 * key, which is the probing header's concurrency contract and gives the
 * CPU backend's results to the byte: the last insert wins, the first
 * remove reports the removal; inserts of distinct keys (cuda_insert.cu)
 * and adds run without grouping (the per-key steps are in cuda/fm_cuda_keys.h,
 * tested on CPU threads by tests/test_cuda_logic.c). Host batches stream
 * through pinned staging buffers on two copy streams (cuda_stream.cu). */
#ifndef FM_CUDA_H
#define FM_CUDA_H

#include <cuda_runtime.h>

#include "api/fm_map.h"
#include "cuda/fm_host_copy.h"
#include "cuda/fm_launch.h"
#include "cuda/fm_cuda_keys.h"
#include "table/fm_probe.h"

/* Turns a failed CUDA call into a status with the CUDA message and
 * file:line (FM_ERR_NOMEM for an allocation failure, else FM_ERR_DEVICE)
 * and jumps to `label`, the cleanup that undoes what came before. Needs
 * `fm_map *map` and `fm_status st` in scope. */
#define FM_CUDA(expr, label)                                                   \
    do {                                                                       \
        cudaError_t fm_cuda_e_ = (expr);                                       \
        if (fm_cuda_e_ != cudaSuccess) {                                       \
            st = fm_cuda_fail_at(map, fm_cuda_e_, #expr, __FILE__, __LINE__);  \
            goto label;                                                        \
        }                                                                      \
    } while (0)

/* The status for a CUDA error, with its message recorded on the map. The
 * error is also cleared from the thread's CUDA state. */
fm_status fm_cuda_fail_at(fm_map *map, cudaError_t e, const char *what, const char *file, int line);

/* Threads per block of every kernel. */
#define FM_CUDA_BLOCK 256
/* Most keys of one chunk (the dedup set is sized for a chunk). */
#define FM_CUDA_CHUNK_KEYS ((size_t)1 << 25)
/* Most and fewest bytes of one staging buffer (two per direction). */
#define FM_CUDA_STAGE_BYTES ((size_t)16 << 20)
#define FM_CUDA_STAGE_MIN ((size_t)1 << 20)

static inline unsigned fm_cuda_grid(size_t n)
{
    return (unsigned)((n + FM_CUDA_BLOCK - 1) / FM_CUDA_BLOCK);
}

typedef struct fm_cuda_table {
    fm_table_view v; /* device memory */
    uint64_t live;
    uint64_t tombstones;
    int hash_kind;
} fm_cuda_table;

/* Pinned host and device buffers, two of each per direction, and the two
 * copy streams with their events (cuda_stream.cu). */
typedef struct fm_cuda_stage {
    uint8_t *host_in[2], *dev_in[2], *host_out[2], *dev_out[2];
    size_t dev_bytes[2], host_bytes[2]; /* per buffer, [0] inputs, [1] outputs */
    cudaStream_t copy[2];
    cudaEvent_t ready[2]; /* inputs of the buffer's chunk are on the device */
    cudaEvent_t done[2];  /* the chunk's kernels are done */
    cudaEvent_t freed[2]; /* ... and its outputs are back: the buffer is free */
} fm_cuda_stage;

/* Scratch of fm_export's slot-ordered gather (cuda_table.cu). */
typedef struct fm_cuda_gather {
    unsigned *flags, *pos;
    void *scan_tmp;
    size_t scan_tmp_bytes;
    unsigned long long *result; /* [0] = FULL slots in the window, [1] = next slot */
} fm_cuda_gather;

typedef struct fm_cuda_map {
    int device;
    int threads; /* host threads for staging copies */
    fm_cuda_table t;
    cudaStream_t stream;     /* where the map's work runs: own_stream or the caller's */
    cudaStream_t own_stream; /* a blocking stream the map created */
    fm_cuda_counts *counts;  /* device */
    fm_cuda_counts *counts_host; /* pinned: where a write's counters come back */
    fm_cuda_dedup dd;
    unsigned *marks;     /* the single-pass insert's bit a slot (cuda_insert.cu) */
    uint64_t mark_words; /* allocated */
    int insert_repeats;  /* the last insert had repeated keys: the next one groups */
    fm_cuda_stage stage;
    fm_cuda_gather gather;
} fm_cuda_map;

static inline fm_cuda_map *fm_cuda_of(fm_map *map) { return (fm_cuda_map *)map->impl; }

/* ---- cuda_device.cu ---------------------------------------------------- */
/* Why fm_cuda_usable() is 0: the CUDA error of cudaGetDeviceCount or "no
 * device". */
const char *fm_cuda_unusable_reason(void);
/* Makes the map's device current for this thread; *prev is restored by
 * fm_cuda_leave. */
fm_status fm_cuda_enter(fm_map *map, int *prev);
void fm_cuda_leave(int prev);
/* Allocates device memory; FM_ERR_NOMEM with a message naming `what`. */
fm_status fm_cuda_alloc(fm_map *map, void **p, size_t bytes, const char *what);
void fm_cuda_free(void *p);
/* Scratch device memory of the current device for one call, from
 * flashmap's stream-ordered pool on that device (kept warm: a call that
 * needs what an earlier one freed allocates nothing new), ready in the
 * order of `stream`; freed in that order by fm_cuda_scratch_free. */
fm_status fm_cuda_scratch(fm_map *map, void **p, size_t bytes, const char *what, cudaStream_t stream);
void fm_cuda_scratch_free(void *p, cudaStream_t stream);
/* Copies `bytes` of device memory to the host after the map's queued work,
 * and waits for it. */
fm_status fm_cuda_copy_back(fm_map *map, void *host, const void *dev, size_t bytes);

/* ---- cuda_table.cu ----------------------------------------------------- */
fm_status fm_cuda_table_init(fm_map *map, fm_cuda_table *t, uint64_t slots);
void fm_cuda_table_release(fm_cuda_table *t);
/* Moves every entry into a new table of new_slots (FM_ERR_NOMEM: unchanged). */
fm_status fm_cuda_table_resize(fm_map *map, uint64_t new_slots);
/* Clears tombstones in the same slots, through a packed copy of the
 * entries (FM_ERR_NOMEM when it cannot be allocated: unchanged). */
fm_status fm_cuda_table_rehash_in_place(fm_map *map);
fm_status fm_cuda_table_clear(fm_map *map);
fm_status fm_cuda_table_longest_probe(fm_map *map, uint64_t *out);
/* fm_export into device memory: up to max FULL entries from slot *cursor
 * on, in slot order; *cursor becomes the next FULL slot or 0 when none. */
fm_status fm_cuda_table_export(fm_map *map, uint64_t *cursor, uint8_t *keys_out,
                               uint8_t *values_out, size_t max, size_t *n_out);
void fm_cuda_gather_release(fm_cuda_gather *g);

/* ---- cuda_stream.cu ---------------------------------------------------- */
/* One array of a batch: n * elem bytes at `user` (host or device memory;
 * NULL or elem 0: not there), read by the operation or written (out). */
typedef struct fm_cuda_array {
    const void *user;
    size_t elem;
    int out;
} fm_cuda_array;
#define FM_CUDA_MAX_ARRAYS 4

/* Enqueues one chunk's work on the map's stream: keys [first, first +
 * count) of the batch, with dev[a] the chunk's part of array a in device
 * memory (NULL where the array is not there). */
typedef fm_status (*fm_cuda_chunk_fn)(fm_map *map, void *ctx, uint8_t *const *dev, size_t first,
                                      size_t count);

/* A batch's arrays, resolved: where each lives and how many keys a chunk
 * holds. */
typedef struct fm_cuda_plan {
    fm_cuda_array a[FM_CUDA_MAX_ARRAYS];
    int where[FM_CUDA_MAX_ARRAYS]; /* FM_CUDA_MEM_* */
    int count;
    size_t n, chunk;
} fm_cuda_plan;
enum { FM_CUDA_MEM_PAGEABLE = 0, FM_CUDA_MEM_PINNED, FM_CUDA_MEM_DEVICE };

/* Finds where every array lives and the chunk size, and allocates the
 * staging buffers the batch needs (kept for later batches). */
fm_status fm_cuda_plan_batch(fm_map *map, fm_cuda_plan *p, const fm_cuda_array *arrays, int count,
                             size_t n);
/* Runs fn over the batch chunk by chunk, in order, and waits for the end.
 * With every array in device memory it does not wait when the caller will
 * (caller_waits), nor on the caller's stream (the work is then ordered on
 * that stream, and the caller's memory read and written in stream order). */
fm_status fm_cuda_stream_batch(fm_map *map, const fm_cuda_plan *p, fm_cuda_chunk_fn fn, void *ctx,
                               int caller_waits);
/* 1 when the map's work runs on a stream the caller gave (fm_cuda_set_stream). */
static inline int fm_cuda_on_caller_stream(const fm_cuda_map *m) { return m->stream != m->own_stream; }
fm_status fm_cuda_stage_init(fm_map *map);
/* The two device output buffers hold at least `want` bytes each (at most
 * FM_CUDA_STAGE_BYTES); *got is their size. */
fm_status fm_cuda_stage_out_buffers(fm_map *map, size_t want, size_t *got);
void fm_cuda_stage_release(fm_cuda_stage *s);
/* Where p lives, for the map's device: FM_CUDA_MEM_*, or FM_ERR_INVALID
 * for memory of another device. */
fm_status fm_cuda_where(fm_map *map, const void *p, int *where);

/* ---- cuda_batch.cu ----------------------------------------------------- */
fm_status fm_cuda_batch_get(fm_map *map, const void *keys, size_t n, void *values_out,
                            uint8_t *found_out);
/* Allocates what fm_cuda_batch_write of at most n keys from these buffers
 * needs (the backend's prepare_write). */
fm_status fm_cuda_batch_prepare(fm_map *map, fm_write_kind kind, const void *keys, const void *data, size_t n);
/* keys + values (insert), deltas (add; NULL = +1) or removed_out (remove). */
fm_status fm_cuda_batch_write(fm_map *map, fm_write_kind kind, const void *keys, const void *data,
                              size_t n, unsigned write_flags);
fm_status fm_cuda_batch_count_new(fm_map *map, const void *keys, size_t n, uint64_t headroom,
                                  uint64_t *new_out);
/* The exact number of distinct keys among n that hold `absent`
 * occurrences of keys the table lacks (above the headroom: the second
 * step of fm_cuda_batch_count_new). */
fm_status fm_cuda_count_distinct(fm_map *map, const void *keys, size_t n, uint64_t absent, uint64_t *new_out);
void fm_cuda_dedup_release(fm_cuda_dedup *d);

/* ---- cuda_insert.cu ------------------------------------------------------ */
/* 1 when an insert of n keys, after its room is made, runs in a single
 * pass (fm_cuda_insert_once_chunk over every chunk): allowed, the map's
 * last insert had no repeats, the marks are cheap beside the chunk and
 * there is memory for them (allocated here). */
int fm_cuda_insert_once_ready(fm_map *map, size_t n);
/* A chunk of the single-pass insert (an fm_cuda_chunk_fn); repeats count
 * in the map's counters (fm_cuda_counts.repeated). */
fm_status fm_cuda_insert_once_chunk(fm_map *map, void *ctx, uint8_t *const *dev, size_t first, size_t n);
void fm_cuda_marks_release(fm_cuda_map *m);

/* ---- cuda_phases.cu ------------------------------------------------------ */
/* FLASHMAP_CUDA_PHASES=1: write chunks timed by phase (0: grouping starts,
 * 1: the write kernel starts, 2: the chunk ends), reported per call. */
int fm_cuda_phases_on(void);
void fm_cuda_phase(fm_map *map, int phase);
void fm_cuda_phases_report(const char *op, size_t n);

/* ---- cuda_add.cu --------------------------------------------------------- */
/* add_u64 of a batch that may pass the headroom, with keys and deltas in
 * device memory: adds to the keys present in one pass and reserves room
 * only for the others; *done = 0 (nothing happened) for other batches.
 * Needs fm_cuda_batch_prepare for the batch first. */
fm_status fm_cuda_add_found_first(fm_map *map, const void *keys, const void *deltas, size_t n, int *done);


#endif
