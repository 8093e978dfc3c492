/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "api/fm_shared.h"

#include <stdlib.h>

#include "api/fm_alloc.h"

/* The shared state whose worker is the calling thread (set by async.c). */
_Thread_local const struct fm_shared *fm_shared_current_worker;

fm_status fm_shared_attach(fm_map *map)
{
    struct fm_shared *s = fm_calloc(1, sizeof *s);
    if (!s) return fm_fail(map, FM_ERR_NOMEM, "no memory for the map's lock");
    if (pthread_rwlock_init(&s->rw, NULL) != 0) {
        free(s);
        return fm_fail(map, FM_ERR_NOMEM, "cannot create the map's read/write lock");
    }
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        pthread_rwlock_destroy(&s->rw);
        free(s);
        return fm_fail(map, FM_ERR_NOMEM, "cannot create the map's request mutex");
    }
    if (pthread_cond_init(&s->changed, NULL) != 0) {
        pthread_mutex_destroy(&s->mu);
        pthread_rwlock_destroy(&s->rw);
        free(s);
        return fm_fail(map, FM_ERR_NOMEM, "cannot create the map's request condition");
    }
    map->shared = s;
    return FM_OK;
}

void fm_shared_detach(fm_map *map)
{
    struct fm_shared *s = map->shared;
    if (!s) return;
    fm_shared_drain(map);
    pthread_mutex_lock(&s->mu);
    const int started = s->worker_started;
    s->stopping = 1;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->mu);
    if (started) pthread_join(s->worker, NULL);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->mu);
    pthread_rwlock_destroy(&s->rw);
    free(s);
    map->shared = NULL;
}

int fm_shared_in_worker(const fm_map *map)
{
    return map->shared && fm_shared_current_worker == map->shared;
}

void fm_shared_drain(fm_map *map)
{
    struct fm_shared *s = map->shared;
    pthread_mutex_lock(&s->mu);
    while (s->head || s->running)
        pthread_cond_wait(&s->changed, &s->mu);
    pthread_mutex_unlock(&s->mu);
}

static int shared_read(const fm_map *map, fm_access access)
{
    /* A sharded map of CUDA shards shares their streams, like a CUDA map. */
    return access == FM_ACCESS_READ && map->ops->concurrent_reads && map->backend != FM_BACKEND_CUDA;
}

void fm_access_begin(fm_map *map, fm_access access)
{
    struct fm_shared *s = map->shared;
    if (!s) return;
    if (!fm_shared_in_worker(map)) fm_shared_drain(map);
    if (shared_read(map, access))
        pthread_rwlock_rdlock(&s->rw);
    else
        pthread_rwlock_wrlock(&s->rw);
}

void fm_access_end(fm_map *map, fm_access access)
{
    (void)access;
    if (map->shared) pthread_rwlock_unlock(&map->shared->rw);
}
