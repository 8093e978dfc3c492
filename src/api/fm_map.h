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
 * are already validated (non-NULL where required, n > 0). */
typedef struct fm_backend_ops {
    const char *name;
    fm_status (*create)(fm_map *map);
    void (*destroy)(fm_map *map);
    fm_status (*insert)(fm_map *map, const void *keys, const void *values, size_t n);
    fm_status (*get)(fm_map *map, const void *keys, size_t n, void *values_out,
                     uint8_t *found_out);
    fm_status (*remove)(fm_map *map, const void *keys, size_t n, uint8_t *removed_out);
    fm_status (*add_u64)(fm_map *map, const void *keys, const uint64_t *deltas, size_t n);
    uint64_t (*size)(fm_map *map);
    fm_status (*clear)(fm_map *map);
    fm_status (*export_entries)(fm_map *map, uint64_t *cursor, void *keys_out,
                                void *values_out, size_t max, size_t *n_out);
    fm_status (*stats)(fm_map *map, fm_stats *out);
} fm_backend_ops;

struct fm_map {
    fm_config cfg;              /* validated: sizes, max_load, hash, threads resolved */
    fm_backend backend;         /* CPU or CUDA, never AUTO */
    const fm_backend_ops *ops;
    void *impl;                 /* the backend's state */
    char error[FM_ERROR_LEN];   /* fm_last_error */
};

extern const fm_backend_ops fm_cpu_backend;
extern const fm_backend_ops fm_cuda_backend;
/* 1 when a CUDA device can be used by this process. */
int fm_cuda_usable(void);

/* Most CPU threads one table runs on. */
#define FM_CONFIG_MAX_THREADS 1024

/* Checks a configuration and fills in defaults (max_load, hash, threads).
 * Chooses no backend. Errors go to fm_last_error(NULL). */
fm_status fm_config_resolve(const fm_config *in, fm_config *out);

#ifdef __cplusplus
}
#endif

#endif
