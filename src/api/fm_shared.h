/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Handles shared by threads: a read/write lock per user-visible map, and the
 * queue of its non-blocking requests (src/api/async.c).
 *
 * Every public call on a map brackets its work with fm_access_begin/end.
 * A call from a user thread first waits until the map's queued requests have
 * run (so a thread's calls take effect in the order it made them), then
 * takes the lock: shared for reads on a backend whose reads are reentrant,
 * exclusive otherwise. The map's worker thread runs queued requests through
 * the same public calls and skips the waiting. */
#ifndef FM_SHARED_H
#define FM_SHARED_H

#include <pthread.h>

#include "api/fm_map.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum fm_access { FM_ACCESS_READ, FM_ACCESS_WRITE } fm_access;

struct fm_request;
struct fm_shared {
    pthread_rwlock_t rw;
    pthread_mutex_t mu;     /* guards everything below */
    pthread_cond_t changed; /* a request was queued or finished, or stop */
    struct fm_request *head, *tail;
    int running;            /* the worker is running a request */
    int worker_started, stopping;
    pthread_t worker;
};

/* Gives a map made for a user its lock (fm_create, fm_create_mpi). */
fm_status fm_shared_attach(fm_map *map);
/* Waits for queued requests, stops the worker and frees the lock. */
void fm_shared_detach(fm_map *map);

void fm_access_begin(fm_map *map, fm_access access);
void fm_access_end(fm_map *map, fm_access access);

/* 1 when the calling thread is this map's worker. */
int fm_shared_in_worker(const fm_map *map);
/* Blocks until the map's queue is empty and nothing runs (mu not held). */
void fm_shared_drain(fm_map *map);

#ifdef __cplusplus
}
#endif

#endif
