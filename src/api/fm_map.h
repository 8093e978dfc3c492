/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The map handle and the backend interface behind it. */
#ifndef FM_MAP_H
#define FM_MAP_H

#include <flashmap.h>

#include "api/fm_error.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A backend fills this table with designated initializers; an operation it
 * lacks stays NULL and the API layer answers FM_ERR_UNSUPPORTED. Arguments
 * are already validated (non-NULL where required, n > 0).
 *
 * Room for new keys is made in steps a distributed map can take on every
 * shard before it writes to any (so a failed batch changes nothing):
 * headroom is how many new keys fit now; count_new counts a batch's absent
 * keys (exactly, repeats once, when they exceed `headroom`); make_room_for
 * grows or rehashes for that many new keys, or fails (FM_ERR_FULL,
 * FM_ERR_NOMEM) leaving the table as it was. insert and add_u64 with
 * FM_WRITE_ROOM_MADE then skip those steps.
 *
 * Or in one probe per key: insert and add_u64 with FM_WRITE_TENTATIVE
 * (only where fm_write_tentative_ok) write at once, as far as the table has
 * room, and keep what they need to undo it: FM_OK when the whole batch was
 * written, FM_ERR_FULL (the write already undone) when room ran out, and
 * then the caller makes room in the three steps above. After FM_OK, every
 * shard or rank either keeps its write (keep_write) or, when another one
 * failed, undoes it (undo_write); nothing else may run on the table in
 * between, and the batch's buffers must stay as they were. */
enum { FM_WRITE_ROOM_MADE = 1, FM_WRITE_TENTATIVE = 2 };
/* The calls that every rank of a collective map makes together, in the
 * same order; the first collective of each says which it is, so that ranks
 * whose calls differ all fail instead of hanging (mpi/mpi_agree.c). */
typedef enum fm_call {
    FM_CALL_INSERT, FM_CALL_GET, FM_CALL_REMOVE, FM_CALL_ADD, FM_CALL_SIZE, FM_CALL_STATS, FM_CALL_CLEAR,
    FM_CALL_SAVE, FM_CALL_DESTROY, FM_CALL_COUNT
} fm_call;
/* The kinds of write (prepare_write; the CUDA backend's write path). */
typedef enum fm_write_kind { FM_WRITE_INSERT, FM_WRITE_ADD, FM_WRITE_REMOVE } fm_write_kind;
typedef struct fm_backend_ops {
    const char *name;
    /* Collective maps (MPI): every rank enters every bulk call, even with
     * n == 0, and a failure found on one rank before the collective part
     * (a bad argument) is passed to agree with the call it was found in;
     * agree is that call's first collective, which every other rank meets
     * at the start of its own call, so all ranks return the failure (or,
     * when their calls differ, FM_ERR_INVALID naming both). */
    int collective;
    /* 1 when get, export, size and stats may run on several threads at once
     * (they then share the map's lock; see api/fm_shared.h). */
    int concurrent_reads;
    fm_status (*agree)(fm_map *map, fm_call call, fm_status mine);
    /* FM_OK when non-blocking requests may run on a worker thread (NULL:
     * always); an MPI map needs MPI_THREAD_MULTIPLE. */
    fm_status (*async_ready)(fm_map *map);
    fm_status (*create)(fm_map *map);
    void (*destroy)(fm_map *map);
    uint64_t (*headroom)(fm_map *map);
    fm_status (*count_new)(fm_map *map, const void *keys, size_t n, uint64_t headroom,
                           uint64_t *new_out);
    fm_status (*make_room_for)(fm_map *map, uint64_t new_keys);
    /* Allocates now whatever a write of n keys from these same buffers
     * (data: values, deltas or removed_out) will need, so that several
     * tables (the shards of a map, the ranks of an MPI map) can all be
     * readied before any of them changes: a write of at most n keys from
     * them then fails only on a device error. NULL: writes with room made
     * allocate nothing. */
    fm_status (*prepare_write)(fm_map *map, fm_write_kind kind, const void *keys, const void *data, size_t n);
    fm_status (*insert)(fm_map *map, const void *keys, const void *values, size_t n,
                        unsigned write_flags);
    fm_status (*get)(fm_map *map, const void *keys, size_t n, void *values_out,
                     uint8_t *found_out);
    fm_status (*remove)(fm_map *map, const void *keys, size_t n, uint8_t *removed_out);
    fm_status (*add_u64)(fm_map *map, const void *keys, const uint64_t *deltas, size_t n,
                         unsigned write_flags);
    uint64_t (*size)(fm_map *map);
    fm_status (*clear)(fm_map *map);
    fm_status (*export_entries)(fm_map *map, uint64_t *cursor, void *keys_out,
                                void *values_out, size_t max, size_t *n_out);
    fm_status (*stats)(fm_map *map, fm_stats *out);
    /* The end of an FM_WRITE_TENTATIVE write that returned FM_OK. keep_write
     * may grow the table afterwards; it cannot fail (a table that cannot
     * grow keeps its entries past max_load, below the physical limit). */
    void (*keep_write)(fm_map *map);
    void (*undo_write)(fm_map *map);
    /* 1 when writes that may not fit should probe once (tentatively)
     * rather than count first (NULL: never). */
    int (*probes_once)(const fm_map *map);
} fm_backend_ops;

struct fm_map {
    fm_config cfg;              /* validated: sizes, max_load, hash, threads resolved */
    fm_backend backend;         /* CPU or CUDA, never AUTO */
    const fm_backend_ops *ops;
    void *impl;                 /* the backend's state */
    char error[FM_ERROR_LEN];   /* fm_last_error */
    struct fm_shared *shared;   /* lock and request queue; NULL on internal maps */
    /* The product of the owners every level of routing above this map
     * spreads keys over (MPI ranks, shards); 0 or 1 on a map of its own.
     * Its tables place keys by hash * spread (fm_table_hash). */
    uint64_t spread;
};

/* A map's spread, at least 1. */
static inline uint64_t fm_map_spread(const fm_map *map) { return map->spread > 1 ? map->spread : 1; }

extern const fm_backend_ops fm_cpu_backend;
extern const fm_backend_ops fm_sharded_backend;
extern const fm_backend_ops fm_cuda_backend;
/* 1 when a CUDA device can be used by this process. */
int fm_cuda_usable(void);
/* The CUDA devices this process sees (0 without CUDA, driver or device). */
int fm_cuda_device_count(void);
/* 1 when the host cannot read p: device memory (0 without CUDA). */
int fm_cuda_is_device_pointer(const void *p);
/* The CUDA device whose memory p is, or -1 for host, managed or unknown
 * memory (always -1 without CUDA). */
int fm_cuda_device_of(const void *p);
/* cudaMemcpy in whichever direction the pointers say; FM_ERR_DEVICE (with
 * the CUDA message on `report`) on failure, FM_ERR_UNSUPPORTED without CUDA. */
fm_status fm_cuda_memcpy(fm_map *report, void *dst, const void *src, size_t bytes);
/* Makes `device` the calling thread's current CUDA device (an MPI rank
 * binds its GPU); FM_ERR_DEVICE with the CUDA message on `report`. */
fm_status fm_cuda_bind(fm_map *report, int device);

/* 1 when the map's insert and add_u64 should take FM_WRITE_TENTATIVE (a CPU
 * table that may grow and is large enough for one pass to pay). */
int fm_write_tentative_ok(const fm_map *map);

/* Makes room on a one-table map for the new keys of this batch, with the
 * three steps above. */
fm_status fm_reserve_batch(fm_map *map, const void *keys, size_t n);

/* The backend a map asking for `asked` runs on: FLASHMAP_BACKEND=cpu|cuda
 * in the environment overrides FM_BACKEND_AUTO, and AUTO is CUDA when a
 * device is usable, else the CPU. Errors go to fm_last_error(NULL). */
fm_status fm_backend_choose(fm_backend asked, fm_backend *out);

/* Most CPU threads one table runs on. */
#define FM_CONFIG_MAX_THREADS 1024
/* Most shards one process holds. */
#define FM_CONFIG_MAX_SHARDS 4096

/* Checks a configuration and fills in defaults (max_load, hash, threads).
 * Chooses no backend. Errors go to fm_last_error(NULL). */
fm_status fm_config_resolve(const fm_config *in, fm_config *out);
/* FM_ERR_INVALID (fm_last_error(NULL) naming `name`) unless c->version is
 * 1..FM_CONFIG_VERSION, or 0 where allow_zero (overrides set field by
 * field: their version-1 fields only). */
fm_status fm_config_check_version(const fm_config *c, const char *name, int allow_zero);

#ifdef __cplusplus
}
#endif

#endif
