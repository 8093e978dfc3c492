/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Non-blocking bulk calls: a request is queued on the map and run by the
 * map's worker thread (started at the first request), one at a time, in the
 * order made. fm_wait / fm_test collect the status. */
#include <stdlib.h>

#include "api/fm_alloc.h"
#include "api/fm_shared.h"

extern _Thread_local const struct fm_shared *fm_shared_current_worker;

typedef enum request_kind { REQ_INSERT, REQ_GET, REQ_REMOVE, REQ_ADD } request_kind;

struct fm_request {
    fm_map *map;
    request_kind kind;
    const void *keys, *values;
    const uint64_t *deltas;
    void *values_out;
    uint8_t *flags_out;
    size_t n;
    fm_status status;
    int done; /* atomic: set by the worker last, under mu */
    struct fm_request *next;
};

static fm_status run_request(struct fm_request *r)
{
    switch (r->kind) {
    case REQ_INSERT: return fm_bulk_insert(r->map, r->keys, r->values, r->n);
    case REQ_GET: return fm_bulk_get(r->map, r->keys, r->n, r->values_out, r->flags_out);
    case REQ_REMOVE: return fm_bulk_remove(r->map, r->keys, r->n, r->flags_out);
    case REQ_ADD: return fm_bulk_add_u64(r->map, r->keys, r->deltas, r->n);
    }
    return FM_ERR_INVALID;
}

static void *worker_main(void *arg)
{
    struct fm_shared *s = arg;
    fm_shared_current_worker = s;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        while (!s->head && !s->stopping)
            pthread_cond_wait(&s->changed, &s->mu);
        if (!s->head) break; /* stopping, and nothing left */
        struct fm_request *r = s->head;
        s->head = r->next;
        if (!s->head) s->tail = NULL;
        s->running = 1;
        pthread_mutex_unlock(&s->mu);
        const fm_status st = run_request(r);
        pthread_mutex_lock(&s->mu);
        r->status = st;
        __atomic_store_n(&r->done, 1, __ATOMIC_RELEASE);
        s->running = 0;
        pthread_cond_broadcast(&s->changed);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* Queues r on its map, starting the worker if needed. */
static fm_status submit(struct fm_request *r, fm_request **req_out)
{
    fm_map *map = r->map;
    struct fm_shared *s = map->shared;
    fm_status st = FM_OK;
    if (!s) st = fm_fail(map, FM_ERR_INVALID, "this map handle takes no requests");
    else if (fm_shared_in_worker(map))
        st = fm_fail(map, FM_ERR_INVALID, "a request cannot be made from the map's own worker thread");
    else if (map->ops->async_ready)
        st = map->ops->async_ready(map);
    if (st != FM_OK) {
        free(r);
        return st;
    }
    pthread_mutex_lock(&s->mu);
    if (!s->worker_started) {
        if (pthread_create(&s->worker, NULL, worker_main, s) != 0) {
            pthread_mutex_unlock(&s->mu);
            free(r);
            return fm_fail(map, FM_ERR_NOMEM, "cannot start the map's worker thread");
        }
        s->worker_started = 1;
    }
    if (s->tail) s->tail->next = r;
    else s->head = r;
    s->tail = r;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->mu);
    *req_out = r;
    return FM_OK;
}

/* Makes a request of one of the calls below and queues it. */
static fm_status queue(fm_map *map, fm_request **req_out, const char *func, struct fm_request proto)
{
    if (req_out) *req_out = NULL;
    if (!map) return fm_fail(NULL, FM_ERR_INVALID, "%s: map is NULL", func);
    if (!req_out) return fm_fail(map, FM_ERR_INVALID, "%s: req_out is NULL", func);
    struct fm_request *r = fm_calloc(1, sizeof *r);
    if (!r) return fm_fail(map, FM_ERR_NOMEM, "%s: no memory for the request", func);
    *r = proto;
    r->map = map;
    return submit(r, req_out);
}

fm_status fm_bulk_insert_async(fm_map *map, const void *keys, const void *values, size_t n, fm_request **req_out)
{
    return queue(map, req_out, "fm_bulk_insert_async",
                 (struct fm_request){.kind = REQ_INSERT, .keys = keys, .values = values, .n = n});
}

fm_status fm_bulk_get_async(fm_map *map, const void *keys, size_t n, void *values_out, uint8_t *found_out,
                            fm_request **req_out)
{
    return queue(map, req_out, "fm_bulk_get_async",
                 (struct fm_request){.kind = REQ_GET, .keys = keys, .n = n, .values_out = values_out,
                                     .flags_out = found_out});
}

fm_status fm_bulk_remove_async(fm_map *map, const void *keys, size_t n, uint8_t *removed_out,
                               fm_request **req_out)
{
    return queue(map, req_out, "fm_bulk_remove_async",
                 (struct fm_request){.kind = REQ_REMOVE, .keys = keys, .n = n, .flags_out = removed_out});
}

fm_status fm_bulk_add_u64_async(fm_map *map, const void *keys, const uint64_t *deltas, size_t n,
                                fm_request **req_out)
{
    return queue(map, req_out, "fm_bulk_add_u64_async",
                 (struct fm_request){.kind = REQ_ADD, .keys = keys, .deltas = deltas, .n = n});
}

fm_status fm_wait(fm_request *req)
{
    if (!req) return fm_fail(NULL, FM_ERR_INVALID, "fm_wait: req is NULL");
    /* A finished request never touches its map again: fm_destroy finishes
     * every request before it frees the map. */
    if (!__atomic_load_n(&req->done, __ATOMIC_ACQUIRE)) {
        struct fm_shared *s = req->map->shared;
        pthread_mutex_lock(&s->mu);
        while (!req->done)
            pthread_cond_wait(&s->changed, &s->mu);
        pthread_mutex_unlock(&s->mu);
    }
    const fm_status st = req->status;
    free(req);
    return st;
}

fm_status fm_test(fm_request *req, int *done_out)
{
    if (!req) return fm_fail(NULL, FM_ERR_INVALID, "fm_test: req is NULL");
    if (!done_out) return fm_fail(NULL, FM_ERR_INVALID, "fm_test: done_out is NULL");
    *done_out = __atomic_load_n(&req->done, __ATOMIC_ACQUIRE);
    if (!*done_out) return FM_OK;
    const fm_status st = req->status;
    free(req);
    return st;
}
