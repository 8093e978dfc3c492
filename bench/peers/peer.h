/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * The benchmark's view of a peer hash map: a table of C functions that each
 * peer (a C++ file under bench/peers/) fills in. Every operation takes a
 * whole batch of packed keys, like flashmap's bulk calls, and spreads it over
 * `threads` OpenMP threads when the peer is concurrent (static split of the
 * batch); single-threaded peers ignore `threads`.
 *
 * Keys and values are packed bytes (key_size and value_size bytes each), the
 * same buffers that flashmap gets.
 */
#ifndef FM_BENCH_PEER_H
#define FM_BENCH_PEER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bench_peer {
    const char *name;     /* "libcuckoo", "tbb", "absl" */
    const char *detail;   /* the container and how it is driven */
    int concurrent;       /* 1: uses `threads` threads; 0: one thread only */
    /* 1 when the peer has an implementation for this key/value shape. */
    int (*supports)(uint32_t key_size, uint32_t value_size);
    /* A map pre-sized for `capacity` entries at load <= max_load, so that no
     * growth happens while `capacity` keys are inserted. NULL on failure. */
    void *(*create)(uint32_t key_size, uint32_t value_size, uint64_t capacity,
                    double max_load, int threads);
    void (*destroy)(void *map);
    /* insert or assign (the last value wins, as in fm_bulk_insert) */
    void (*insert)(void *map, const void *keys, const void *values, size_t n, int threads);
    /* values_out[i] = value or zero bytes; found[i] = 1/0 */
    void (*get)(void *map, const void *keys, size_t n, void *values_out, uint8_t *found,
                int threads);
    /* removed[i] = 1 when this call removed the key */
    void (*remove)(void *map, const void *keys, size_t n, uint8_t *removed, int threads);
    /* counter add (value_size 8 only): absent keys get delta, present += delta */
    void (*add_u64)(void *map, const void *keys, const uint64_t *deltas, size_t n, int threads);
    uint64_t (*size)(void *map);
} bench_peer;

/* Each returns NULL when the peer was not built (see bench/CMakeLists.txt). */
const bench_peer *bench_peer_libcuckoo(void);
const bench_peer *bench_peer_tbb(void);
const bench_peer *bench_peer_absl(void);

#ifdef __cplusplus
}
#endif

#endif
