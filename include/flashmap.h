/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * flashmap — a bulk-only hash map for HPC programs.
 *
 * A map holds fixed-size keys (1..256 bytes) and fixed-size values (0..4096
 * bytes; 0 makes a set). Every operation takes a whole batch of keys in one
 * call. Storage is one or more open-addressing tables ("shards") on CPU cores
 * (OpenMP) or CUDA devices, in one process or across the ranks of an MPI job
 * (see flashmap_mpi.h).
 *
 * Conventions for every function below:
 *   - Not collective unless the map was made by fm_create_mpi / fm_load_mpi;
 *     then every bulk call, fm_size, fm_clear, fm_get_stats, fm_save and
 *     fm_destroy is collective over the map's communicator (fm_export is
 *     not). Every rank must make these calls in the same order; before any
 *     data moves, the first collective of each call checks that all ranks
 *     are making the same call (and the same number of calls on the map).
 *     If not, every rank returns FM_ERR_INVALID with a message naming both
 *     calls ("rank 1 called fm_bulk_insert where rank 0 called
 *     fm_bulk_get, call 12 on this map"), nothing changes, and the map
 *     takes the next calls as usual. Where a rank called fm_destroy, its
 *     map is freed and the other ranks' map is closed: every later call on
 *     it returns FM_ERR_INVALID at once, and fm_destroy frees it there.
 *   - Blocking: the call returns when the work is done and the caller's
 *     buffers may be reused.
 *   - Memory: key, value and output buffers are host memory; on a CUDA map
 *     (fm_map_backend() == FM_BACKEND_CUDA) each may also be device or
 *     managed memory of the map's device (found with
 *     cudaPointerGetAttributes; memory of another device is FM_ERR_INVALID).
 *     Sharded and MPI maps of CUDA shards route batches on the host and
 *     stage device buffers through host memory.
 *   - Errors: a failing call returns a negative fm_status, leaves the map
 *     exactly as it was before the call, and records a detail message that
 *     fm_last_error(map) returns.
 *   - Threads: a handle may be shared by any number of threads. Calls that
 *     change the map (insert, remove, add, clear) run one at a time; on a
 *     CPU map (one table or CPU shards), gets, exports, fm_size, stats and
 *     saves run concurrently with each other (on other maps they take
 *     turns). A call
 *     first waits for the non-blocking requests already queued on the map
 *     (see fm_bulk_insert_async), so one thread's calls take effect in the
 *     order it made them. fm_last_error(map) is the last failure on the map
 *     from any thread. fm_destroy must not race with other calls on the map.
 *     On an MPI map every rank must make the collective calls in the same
 *     order, so share its handle only where that order is fixed.
 */
#ifndef FLASHMAP_H
#define FLASHMAP_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Marks the functions a shared libflashmap exports. */
#if defined(__GNUC__)
#define FM_API __attribute__((visibility("default")))
#else
#define FM_API
#endif

#define FLASHMAP_VERSION_MAJOR 0
#define FLASHMAP_VERSION_MINOR 1
#define FLASHMAP_VERSION_PATCH 0

#define FM_MAX_KEY_SIZE 256u
#define FM_MAX_VALUE_SIZE 4096u

typedef struct fm_map fm_map; /* opaque */

/* Status codes and their messages: one list, expanded twice. */
#define FM_STATUS_MAP(X)                                                        \
    X(FM_OK, 0, "success")                                                      \
    X(FM_ERR_INVALID, -1, "invalid argument")                                   \
    X(FM_ERR_NOMEM, -2, "out of memory")                                        \
    X(FM_ERR_FULL, -3, "fixed-capacity map cannot take the batch")              \
    X(FM_ERR_UNSUPPORTED, -4, "backend or feature not built or not present")    \
    X(FM_ERR_DEVICE, -5, "CUDA or NCCL failure")                                \
    X(FM_ERR_COMM, -6, "MPI failure")                                           \
    X(FM_ERR_IO, -7, "file could not be opened, read or written")               \
    X(FM_ERR_CORRUPT, -8, "checkpoint or input file failed validation")

typedef enum fm_status {
#define FM_STATUS_ENUM_(name, code, msg) name = code,
    FM_STATUS_MAP(FM_STATUS_ENUM_)
#undef FM_STATUS_ENUM_
} fm_status;

/* The fixed message of a status ("unknown status" for other values). */
FM_API const char *fm_status_str(fm_status s);

/* Detail of the last failed call on this map: what failed and where. With
 * map == NULL: the last failure of fm_create / fm_load in this thread.
 * Returns "" when nothing has failed. The string stays valid until the next
 * call on the same map (or, for NULL, the next create/load in this thread). */
FM_API const char *fm_last_error(const fm_map *map);

typedef enum fm_backend { FM_BACKEND_AUTO = 0, FM_BACKEND_CPU, FM_BACKEND_CUDA } fm_backend;
typedef enum fm_hash { FM_HASH_DEFAULT = 0, FM_HASH_MURMUR3, FM_HASH_IDENTITY } fm_hash;

enum {
    /* The map's memory never grows. It takes up to `capacity` live entries
     * in total, also when it is sharded (cfg.shards > 1) or an MPI map,
     * however the keys fall on the shards or ranks; a batch that would need
     * more returns FM_ERR_FULL with the map unchanged. Tombstones left by
     * removals are cleared by rehashing in place. Each shard's (or rank's)
     * table is sized at creation for its share of the capacity plus
     * headroom for keys that hash unevenly (6 sqrt(share) + 16 entries, in
     * the slots of an even share where its load stays at most 0.9): only
     * keys that fall on one shard beyond that headroom, which hashed keys
     * all but never do, fill its table first, and the batch then returns
     * FM_ERR_FULL saying so. */
    FM_FIXED_CAPACITY = 1u << 0
};

typedef struct fm_config {
    uint32_t key_size;       /* bytes, 1..256 */
    uint32_t value_size;     /* bytes, 0..4096; 0 makes a set */
    uint64_t capacity;       /* entries expected (the table sizes itself for max_load) */
    double max_load;         /* (live + tombstones) / slots before growth; 0 means 0.5 */
    fm_hash hash;            /* DEFAULT is MURMUR3; IDENTITY = first 8 key bytes (zero-padded),
                                spread over slots by a Fibonacci multiply */
    fm_backend backend;      /* AUTO: CUDA when a device is usable, else CPU */
    int device;              /* CUDA device; -1 = the current one (MPI maps: node-local rank
                                mod devices; sharded maps: round robin from device 0) */
    int threads;             /* CPU threads; 0 = OpenMP default */
    int shards;              /* shards in this process; 0 or 1 = one table */
    const int *devices;      /* sharded CUDA maps: the device of each shard (cfg.shards
                                entries), or NULL for round robin from cfg.device */
    uint64_t exchange_bytes; /* cap on bytes in flight per exchange round; 0 = default
                                (MPI maps: 1/16 of a rank's share of its node's or cgroup's
                                available memory, 4 to 256 MiB, the least over the ranks) */
    uint32_t flags;          /* FM_FIXED_CAPACITY, ... */
    uint32_t version;        /* FM_CONFIG_VERSION, set by fm_config_default: the fields the
                                program knows; leave it as fm_config_default set it */
    uint64_t reserved[7];    /* room for later fields; zero (fm_config_default zeroes it) */
} fm_config;

/* fm_config can grow without breaking the ABI: later fields take the room
 * of `reserved`, so sizeof(fm_config) stays 128 bytes, and each new field
 * raises FM_CONFIG_VERSION. The library reads only the fields of the
 * version a configuration carries and gives later fields their defaults,
 * so a program built against an older flashmap keeps working with a newer
 * library. Make every configuration with fm_config_default: fm_create
 * refuses version 0 (a configuration not made by it) and versions newer
 * than the library's (FM_ERR_INVALID). */
#define FM_CONFIG_VERSION 1u

/* A configuration with defaults for everything but the sizes, and
 * version = FM_CONFIG_VERSION. Never fails; fm_create validates. */
FM_API fm_config fm_config_default(uint32_t key_size, uint32_t value_size, uint64_t capacity);

/* Make a map. On success *map_out is the new map; on failure *map_out is set
 * to NULL (when map_out is not NULL) and fm_last_error(NULL) says why.
 * Errors: FM_ERR_INVALID (sizes, max_load outside (0, 1), NULL arguments),
 * FM_ERR_NOMEM, FM_ERR_UNSUPPORTED (backend, shards or devices not available). */
FM_API fm_status fm_create(const fm_config *cfg, fm_map **map_out);

/* Free the map and everything it holds. NULL is fine. Collective on an MPI
 * map (see the conventions above for a rank that calls it alone). */
FM_API void fm_destroy(fm_map *map);

/* Insert or update n entries. keys: n * key_size packed bytes; values:
 * n * value_size bytes (may be NULL only when value_size is 0). When a key
 * occurs several times in the batch, the LAST occurrence wins. The table
 * grows first if the batch would push it past max_load.
 * Errors: FM_ERR_INVALID, FM_ERR_NOMEM (growth failed), FM_ERR_FULL
 * (fixed capacity). n == 0 is a no-op. */
FM_API fm_status fm_bulk_insert(fm_map *map, const void *keys, const void *values, size_t n);

/* Look up n keys. values_out: n * value_size bytes (may be NULL when
 * value_size is 0); the value of a missing key is written as zero bytes.
 * found_out: n bytes, 1 = present, 0 = missing; may be NULL. */
FM_API fm_status fm_bulk_get(fm_map *map, const void *keys, size_t n, void *values_out,
                      uint8_t *found_out);

/* Remove n keys. removed_out (may be NULL): n bytes, 1 where this occurrence
 * removed the key (a key repeated in the batch is removed by its first
 * occurrence; later ones report 0). */
FM_API fm_status fm_bulk_remove(fm_map *map, const void *keys, size_t n, uint8_t *removed_out);

/* Counters: the map's value_size must be 8. An absent key is inserted with
 * its delta, a present one gets value += delta (wrapping mod 2^64).
 * Duplicates in a batch all add up. deltas NULL means +1 for every key.
 * Errors as fm_bulk_insert, plus FM_ERR_INVALID when value_size != 8. */
FM_API fm_status fm_bulk_add_u64(fm_map *map, const void *keys, const uint64_t *deltas, size_t n);

/* Live entries (global on an MPI map). 0 for a NULL map. On an MPI map,
 * UINT64_MAX when the call fails (the ranks' calls differ, the map is
 * closed, MPI fails) and fm_last_error(map) says why: never a wrong count. */
FM_API uint64_t fm_size(fm_map *map);

/* Remove every entry; the table keeps its size. */
FM_API fm_status fm_clear(fm_map *map);

/* Copy entries out. Start with *cursor = 0; each call copies up to max
 * entries (keys_out: max * key_size bytes; values_out: max * value_size
 * bytes, or NULL to skip values) and sets *n_out to the number copied.
 * *cursor becomes 0 when every entry has been returned. A map changed
 * between calls may return entries twice or miss some. On an MPI map this
 * call is not collective and returns the entries this rank holds; the
 * union over all ranks is the whole map. */
FM_API fm_status fm_export(fm_map *map, uint64_t *cursor, void *keys_out, void *values_out,
                    size_t max, size_t *n_out);

/* Write every entry of the map and its settings (key_size, value_size, hash,
 * capacity, max_load, flags, shards) to `path`, in the versioned format of
 * docs/checkpoint-format.md (every byte under an XXH3-64 checksum).
 * The data goes to path + ".tmp.<pid>" first, is fsynced and renamed over
 * path (then the directory is fsynced): a failed save removes the temporary
 * file and leaves a file already at `path` as it was. The map never changes.
 * Collective on an MPI map: every rank writes its own part,
 * path + ".rank<r>-of-<P>", the same way; once every part is in place,
 * rank 0 writes `path` itself, a manifest of the parts.
 * Errors: FM_ERR_INVALID (NULL map or path), FM_ERR_IO (the file could not
 * be created, written, synced or renamed; fm_last_error says which and the
 * system's reason), FM_ERR_NOMEM, FM_ERR_COMM (MPI). */
FM_API fm_status fm_save(fm_map *map, const char *path);

/* Rebuild a map from a checkpoint written by fm_save: a one-process map,
 * or a whole MPI checkpoint (path = its manifest; every part is read) into
 * this one process. Not collective.
 * overrides (may be NULL; made by fm_config_default, or zeroed and set
 * field by field: version 0 means only version-1 fields) says how the new
 * map runs: backend, device,
 * devices, threads and exchange_bytes are taken from it as they are (NULL
 * overrides: AUTO backend, default threads); shards, capacity and max_load
 * replace the checkpoint's when non-zero (note fm_config_default sets
 * max_load 0.5). key_size, value_size, hash and flags always come from the
 * checkpoint: a non-zero override that differs is FM_ERR_INVALID. A growing
 * map is created with room for every entry of the checkpoint.
 * On success *map_out holds every entry; on failure *map_out is NULL,
 * nothing is left allocated, and fm_last_error(NULL) says exactly what is
 * wrong (the file, the block, expected and found values).
 * Errors: FM_ERR_INVALID (NULL path or map_out; overrides that change
 * key_size, value_size, hash or flags; a part file given instead of its
 * manifest), FM_ERR_IO (missing or unreadable file), FM_ERR_CORRUPT (not a
 * checkpoint, unknown format version, truncated, checksum mismatch, counts
 * that do not add up, duplicate keys), FM_ERR_FULL (a fixed capacity too
 * small for the entries), and the errors of fm_create. */
FM_API fm_status fm_load(const char *path, const fm_config *overrides, fm_map **map_out);

/* ---- Non-blocking calls ------------------------------------------------
 * Each *_async call checks its map handle, queues the bulk call and returns
 * at once with a request in *req_out (NULL on failure). The map's worker
 * thread (started at the first request; a CUDA map will run requests on a
 * stream) runs the requests of one map one at a time, in the order they
 * were made, with the same semantics, checks and errors as the blocking
 * call. The caller's buffers must stay valid and unchanged until the
 * request is complete. Every request must be completed exactly once by
 * fm_wait, or by fm_test reporting done; that also frees it.
 * On an MPI map the calls stay collective (each rank makes the same
 * requests in the same order) and need MPI_THREAD_MULTIPLE; otherwise they
 * return FM_ERR_UNSUPPORTED.
 * Errors of the *_async calls themselves: FM_ERR_INVALID (NULL map or
 * req_out; a call from the map's own worker), FM_ERR_NOMEM (no request or
 * worker thread), FM_ERR_UNSUPPORTED. */
typedef struct fm_request fm_request; /* opaque */

FM_API fm_status fm_bulk_insert_async(fm_map *map, const void *keys, const void *values, size_t n,
                                      fm_request **req_out);
FM_API fm_status fm_bulk_get_async(fm_map *map, const void *keys, size_t n, void *values_out,
                                   uint8_t *found_out, fm_request **req_out);
FM_API fm_status fm_bulk_remove_async(fm_map *map, const void *keys, size_t n, uint8_t *removed_out,
                                      fm_request **req_out);
FM_API fm_status fm_bulk_add_u64_async(fm_map *map, const void *keys, const uint64_t *deltas, size_t n,
                                       fm_request **req_out);

/* Blocks until the request is complete; returns the bulk call's status
 * (its detail in fm_last_error(map)) and frees the request. */
FM_API fm_status fm_wait(fm_request *req);

/* Does not block. *done_out = 0: still running (returns FM_OK; call again).
 * *done_out = 1: complete; returns the bulk call's status and frees the
 * request, like fm_wait. */
FM_API fm_status fm_test(fm_request *req, int *done_out);

/* The backend the map runs on (CPU or CUDA; never AUTO). AUTO for NULL. */
FM_API fm_backend fm_map_backend(const fm_map *map);

/* "flashmap X.Y.Z (backends: cpu[, cuda][, mpi])". */
FM_API const char *fm_version_string(void);

typedef struct fm_stats {
    uint64_t size;          /* live entries */
    uint64_t slots;         /* table slots (all shards) */
    uint64_t tombstones;    /* removed-entry markers not yet cleared */
    uint64_t longest_probe; /* largest distance of an entry from its home slot */
    uint64_t sent_bytes;    /* MPI maps: bytes all ranks' bulk calls sent to other ranks through
                             * MPI since creation (keys, values or deltas, replies; not yet the
                             * NCCL path of device batches); 0 on other maps */
    double load_factor;     /* size / slots */
    int shards;
    fm_backend backend;
} fm_stats;

/* Statistics of the whole map (global on an MPI map). Scans the table for
 * longest_probe: O(slots). */
FM_API fm_status fm_get_stats(fm_map *map, fm_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* FLASHMAP_H */
