/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Shared handles and non-blocking calls.
 *
 *  (a) Many threads hammer one map: writers insert, update and remove keys
 *      of their own ranges while readers get keys of every range; a value
 *      found must be one that key's writer stored at some time, and the
 *      final map must equal the reference built from the writers' logs.
 *  (b) Non-blocking calls: random sequences of insert/get/remove/add
 *      requests, completed by fm_wait or by polling fm_test, give the same
 *      results and contents as the same calls made blocking on a second
 *      map; a blocking call made while requests are queued sees them.
 *  (c) Requests still queued when fm_destroy is called are finished first;
 *      errors of a request come back from fm_wait; bad arguments.
 *
 * Run under ThreadSanitizer by the "tsan" preset (tools/test.sh).
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "map_check.h"
#include "reference_map.h"
#include "test_util.h"

static int g_failures;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
            __atomic_add_fetch(&g_failures, 1, __ATOMIC_RELAXED);                       \
        }                                                                               \
    } while (0)

static fm_map *create(uint32_t ks, uint32_t vs, int threads, int shards)
{
    fm_config cfg = fm_config_default(ks, vs, 1024);
    cfg.backend = FM_BACKEND_CPU;
    cfg.threads = threads;
    cfg.shards = shards;
    fm_map *m = NULL;
    if (fm_create(&cfg, &m) != FM_OK) {
        fprintf(stderr, "fm_create: %s\n", fm_last_error(NULL));
        exit(1);
    }
    return m;
}

/* ---- (a) one handle, many threads ------------------------------------------- */

enum { WRITERS = 3, READERS = 3, RANGE = 4000, ROUNDS = 40, BATCH = 500 };

/* A value tells which key and which version it was stored for. */
static uint64_t value_for(uint64_t key, uint64_t version) { return (key << 20) | version; }

typedef struct worker {
    fm_map *map;
    int id;
    ref_map *final; /* writers: what their range holds at the end */
} worker;

static void *writer_main(void *arg)
{
    worker *w = arg;
    tu_rng r;
    tu_rng_seed(&r, 100 + (uint64_t)w->id);
    uint64_t keys[BATCH], values[BATCH];
    uint8_t removed[BATCH];
    for (int round = 1; round <= ROUNDS; round++) {
        for (int i = 0; i < BATCH; i++) {
            keys[i] = (uint64_t)w->id * RANGE + tu_below(&r, RANGE) + 1;
            values[i] = value_for(keys[i], (uint64_t)round);
        }
        if (round % 5 == 0) {
            CHECK(fm_bulk_remove(w->map, keys, BATCH / 4, removed) == FM_OK);
            for (int i = 0; i < BATCH / 4; i++)
                CHECK(removed[i] == ref_remove(w->final, &keys[i]));
        } else {
            CHECK(fm_bulk_insert(w->map, keys, values, BATCH) == FM_OK);
            for (int i = 0; i < BATCH; i++)
                ref_put(w->final, &keys[i], &values[i]);
        }
    }
    return NULL;
}

static void *reader_main(void *arg)
{
    worker *w = arg;
    tu_rng r;
    tu_rng_seed(&r, 200 + (uint64_t)w->id);
    uint64_t keys[BATCH], values[BATCH];
    uint8_t found[BATCH];
    for (int round = 0; round < ROUNDS * 2; round++) {
        for (int i = 0; i < BATCH; i++)
            keys[i] = tu_below(&r, (uint64_t)WRITERS * RANGE) + 1;
        CHECK(fm_bulk_get(w->map, keys, BATCH, values, found) == FM_OK);
        for (int i = 0; i < BATCH; i++) {
            if (!found[i]) continue;
            const uint64_t version = values[i] & ((1u << 20) - 1);
            CHECK((values[i] >> 20) == keys[i] && version >= 1 && version <= ROUNDS);
        }
        if (round % 16 == 0) {
            fm_stats st;
            CHECK(fm_get_stats(w->map, &st) == FM_OK);
            CHECK(st.size <= (uint64_t)WRITERS * RANGE);
        }
    }
    return NULL;
}

static void test_shared_handle(int threads, int shards)
{
    fm_map *m = create(8, 8, threads, shards);
    pthread_t tid[WRITERS + READERS];
    worker w[WRITERS + READERS];
    for (int i = 0; i < WRITERS + READERS; i++) {
        w[i].map = m;
        w[i].id = i < WRITERS ? i : i - WRITERS;
        w[i].final = i < WRITERS ? ref_create(8, 8) : NULL;
        if (pthread_create(&tid[i], NULL, i < WRITERS ? writer_main : reader_main, &w[i]) != 0) {
            perror("pthread_create");
            exit(2);
        }
    }
    for (int i = 0; i < WRITERS + READERS; i++)
        pthread_join(tid[i], NULL);
    /* The writers' ranges are disjoint: their logs add up to the map. */
    ref_map *all = ref_create(8, 8);
    for (int i = 0; i < WRITERS; i++) {
        for (size_t id = 0; id < ref_id_limit(w[i].final); id++) {
            const uint8_t *k = ref_key(w[i].final, id);
            if (k && ref_find(w[i].final, k) == id) ref_put(all, k, ref_value(w[i].final, id));
        }
        ref_destroy(w[i].final);
    }
    CHECK(mc_same_contents(m, all, 8, 8, "shared handle"));
    ref_destroy(all);
    fm_destroy(m);
}

/* ---- (b) non-blocking calls ------------------------------------------------- */

enum { KS = 12, SEQ = 300, MAXN = 700 };

typedef struct call {
    int kind; /* 0 insert, 1 get, 2 remove, 3 add */
    size_t n;
    uint8_t keys[MAXN * KS];
    uint64_t values[MAXN], deltas[MAXN], out[MAXN];
    uint8_t flags[MAXN];
    fm_request *req;
} call;

static void make_call(tu_rng *r, call *c)
{
    c->kind = (int)tu_below(r, 4);
    c->n = (size_t)tu_range(r, 0, MAXN);
    for (size_t i = 0; i < c->n; i++) {
        uint64_t k = tu_below(r, 3000);
        memset(c->keys + i * KS, 0, KS);
        memcpy(c->keys + i * KS, &k, 8);
        c->values[i] = tu_next(r);
        c->deltas[i] = tu_below(r, 100);
    }
    memset(c->out, 0xee, sizeof c->out);
    memset(c->flags, 0xee, sizeof c->flags);
}

static fm_status run_blocking(fm_map *m, call *c)
{
    switch (c->kind) {
    case 0: return fm_bulk_insert(m, c->keys, c->values, c->n);
    case 1: return fm_bulk_get(m, c->keys, c->n, c->out, c->flags);
    case 2: return fm_bulk_remove(m, c->keys, c->n, c->flags);
    default: return fm_bulk_add_u64(m, c->keys, c->deltas, c->n);
    }
}

static fm_status submit(fm_map *m, call *c)
{
    switch (c->kind) {
    case 0: return fm_bulk_insert_async(m, c->keys, c->values, c->n, &c->req);
    case 1: return fm_bulk_get_async(m, c->keys, c->n, c->out, c->flags, &c->req);
    case 2: return fm_bulk_remove_async(m, c->keys, c->n, c->flags, &c->req);
    default: return fm_bulk_add_u64_async(m, c->keys, c->deltas, c->n, &c->req);
    }
}

/* Completes a request by polling fm_test (poll = 1) or by fm_wait. */
static fm_status complete(fm_request *req, int poll)
{
    if (!poll) return fm_wait(req);
    for (;;) {
        int done = 0;
        fm_status st = fm_test(req, &done);
        if (done) return st;
        CHECK(st == FM_OK);
    }
}

static void test_async(uint64_t seed, int threads, int shards)
{
    tu_rng r;
    tu_rng_seed(&r, seed);
    fm_map *async_map = create(KS, 8, threads, shards), *sync_map = create(KS, 8, threads, shards);
    call *calls = calloc(SEQ, sizeof *calls), want;
    if (!calls) exit(2);
    size_t next_done = 0;
    for (size_t i = 0; i < SEQ; i++) {
        make_call(&r, &calls[i]);
        CHECK(submit(async_map, &calls[i]) == FM_OK);
        /* Complete some, in order, now and then: up to 8 stay in flight. */
        while (next_done < i && (i - next_done > 8 || tu_chance(&r, 30))) {
            call *c = &calls[next_done++];
            CHECK(complete(c->req, tu_chance(&r, 50)) == FM_OK);
        }
        if (tu_chance(&r, 3)) { /* a blocking call waits for every queued request */
            (void)fm_size(async_map);
            for (; next_done <= i; next_done++) {
                int done = 0;
                CHECK(fm_test(calls[next_done].req, &done) == FM_OK);
                if (!done) {
                    fprintf(stderr, "request %zu still running after a blocking call\n", next_done);
                    exit(1);
                }
            }
        }
    }
    while (next_done < SEQ)
        CHECK(complete(calls[next_done++].req, 0) == FM_OK);
    /* The same calls, blocking, on the other map: same outputs. */
    for (size_t i = 0; i < SEQ; i++) {
        want = calls[i];
        CHECK(run_blocking(sync_map, &want) == FM_OK);
        if (want.kind == 1) {
            CHECK(memcmp(want.flags, calls[i].flags, want.n) == 0);
            for (size_t k = 0; k < want.n; k++)
                CHECK(!want.flags[k] || want.out[k] == calls[i].out[k]);
        } else if (want.kind == 2) {
            CHECK(memcmp(want.flags, calls[i].flags, want.n) == 0);
        }
    }
    CHECK(fm_size(async_map) == fm_size(sync_map));
    /* Both maps hold the same: export one into a reference, compare. */
    ref_map *ref = ref_create(KS, 8);
    uint64_t cursor = 0;
    uint8_t keys[256 * KS];
    uint64_t values[256];
    do {
        size_t n = 0;
        CHECK(fm_export(sync_map, &cursor, keys, values, 256, &n) == FM_OK);
        for (size_t i = 0; i < n; i++)
            ref_put(ref, keys + i * KS, &values[i]);
    } while (cursor != 0);
    CHECK(mc_same_contents(async_map, ref, KS, 8, "async map"));
    ref_destroy(ref);
    free(calls);
    fm_destroy(async_map);
    fm_destroy(sync_map);
}

/* A thread's blocking call waits for its queued requests. */
static void test_order(void)
{
    fm_map *m = create(8, 8, 1, 1);
    enum { N = 50000 };
    uint64_t *keys = malloc(N * 8), *values = malloc(N * 8);
    uint8_t *found = malloc(N);
    for (uint64_t i = 0; i < N; i++) {
        keys[i] = i * 7 + 1;
        values[i] = i;
    }
    fm_request *ins = NULL, *rem = NULL;
    CHECK(fm_bulk_insert_async(m, keys, values, N, &ins) == FM_OK);
    CHECK(fm_bulk_remove_async(m, keys, N / 2, NULL, &rem) == FM_OK);
    CHECK(fm_size(m) == N - N / 2); /* both requests ran before fm_size */
    CHECK(fm_bulk_get(m, keys, N, values, found) == FM_OK);
    for (uint64_t i = 0; i < N; i++)
        CHECK(found[i] == (i >= N / 2) && (!found[i] || values[i] == i));
    CHECK(fm_wait(ins) == FM_OK);
    CHECK(fm_wait(rem) == FM_OK);
    free(keys);
    free(values);
    free(found);
    fm_destroy(m);
}

/* ---- (c) destroy with requests queued, errors ------------------------------- */

static void test_destroy_and_errors(void)
{
    fm_map *m = create(8, 8, 1, 1);
    enum { N = 20000 };
    uint64_t *keys = malloc(N * 8);
    for (uint64_t i = 0; i < N; i++)
        keys[i] = i + 1;
    fm_request *req[6];
    for (int i = 0; i < 6; i++)
        CHECK(fm_bulk_add_u64_async(m, keys, NULL, N, &req[i]) == FM_OK);
    fm_destroy(m); /* finishes the six adds first */
    for (int i = 0; i < 6; i++)
        CHECK(fm_wait(req[i]) == FM_OK);

    fm_map *set = create(8, 0, 1, 1);
    fm_request *bad = NULL;
    CHECK(fm_bulk_add_u64_async(set, keys, NULL, N, &bad) == FM_OK);
    CHECK(fm_wait(bad) == FM_ERR_INVALID); /* value_size 0: counters need 8 */
    CHECK(strstr(fm_last_error(set), "value_size") != NULL);
    CHECK(fm_bulk_insert_async(set, NULL, NULL, 5, &bad) == FM_OK);
    CHECK(fm_wait(bad) == FM_ERR_INVALID); /* keys NULL with n = 5 */
    CHECK(fm_bulk_insert_async(set, keys, NULL, N, NULL) == FM_ERR_INVALID);
    CHECK(fm_bulk_get_async(NULL, keys, 1, NULL, NULL, &bad) == FM_ERR_INVALID && bad == NULL);
    CHECK(fm_wait(NULL) == FM_ERR_INVALID);
    int done = 0;
    CHECK(fm_test(NULL, &done) == FM_ERR_INVALID);
    CHECK(fm_bulk_insert_async(set, keys, NULL, N, &bad) == FM_OK);
    CHECK(fm_test(bad, NULL) == FM_ERR_INVALID);
    CHECK(fm_wait(bad) == FM_OK);
    CHECK(fm_size(set) == N);
    fm_destroy(set);
    free(keys);
}

int main(void)
{
    test_shared_handle(1, 1);
    test_shared_handle(2, 1);
    test_shared_handle(1, 3);
    for (uint64_t seed = 1; seed <= 4; seed++)
        test_async(seed, seed % 2 ? 1 : 2, seed > 2 ? 2 : 1);
    test_order();
    test_destroy_and_errors();
    printf("test_threads: %d failures\n", g_failures);
    return g_failures ? 1 : 0;
}
