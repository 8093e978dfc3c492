/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The reading thread of `count` (see kmer_batch.h). */
#include "kmer_batch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kmer_code.h"
#include "kmer_combine.h"
#include "kmer_extract.h"
#include "kmer_input.h"
#include "kmer_parse.h"

#define CHUNK ((size_t)1 << 20) /* input bytes per read */
#define NBATCH 2

struct km_producer {
    const km_plan *plan;
    int k, canonical, combine;
    size_t target;
    uint8_t *chunk;
    void *sort_tmp; /* combining: the radix sort's second buffer */
    km_batch batches[NBATCH];
    pthread_t thread;
    int started;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    km_batch *ready[NBATCH]; /* filled, in order */
    int nready;
    km_batch *free_list[NBATCH];
    int nfree;
    int finished; /* the thread has published its last batch */
    int failed;
    int cancel;
    km_err err;
    uint64_t bytes, records;
};

/* Thread side: a batch to fill, or NULL when cancelled. */
static km_batch *take_free(km_producer *p)
{
    pthread_mutex_lock(&p->mu);
    while (p->nfree == 0 && !p->cancel) pthread_cond_wait(&p->cv, &p->mu);
    km_batch *b = p->cancel ? NULL : p->free_list[--p->nfree];
    pthread_mutex_unlock(&p->mu);
    if (b) b->n = 0;
    return b;
}

static int cancelled(km_producer *p)
{
    pthread_mutex_lock(&p->mu);
    const int c = p->cancel;
    pthread_mutex_unlock(&p->mu);
    return c;
}

static void publish(km_producer *p, km_batch *b, uint64_t bytes, uint64_t records)
{
    b->kmers = b->n;
    if (p->combine) b->n = km_combine(b->keys, p->sort_tmp, b->counts, b->n, p->k);
    pthread_mutex_lock(&p->mu);
    p->ready[p->nready++] = b;
    p->bytes = bytes;
    p->records = records;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void finish(km_producer *p, const km_err *err)
{
    pthread_mutex_lock(&p->mu);
    p->finished = 1;
    if (err) {
        p->failed = 1;
        p->err = *err;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *reader_main(void *arg)
{
    km_producer *p = arg;
    km_err err = {""};
    km_extract x;
    km_extract_init(&x, p->k, p->canonical);
    uint64_t bytes_done = 0, records = 0;
    km_batch *b = take_free(p);
    for (size_t w = 0; b && w < p->plan->n; w++) {
        const km_work *work = &p->plan->items[w];
        km_input in;
        if (km_input_open(&in, work->path, work->start, &err) != 0) goto failed;
        km_parser parser;
        km_parser_init(&parser, work->path, work->format, work->start, work->stop, &x);
        for (;;) {
            if (cancelled(p)) {
                km_input_close(&in);
                finish(p, NULL);
                return NULL;
            }
            const uint64_t offset = in.pos;
            const ptrdiff_t got = km_input_read(&in, p->chunk, CHUNK, &err);
            if (got < 0) goto failed_input;
            if (got == 0) {
                if (km_parser_finish(&parser, &err) != 0) goto failed_input;
                break;
            }
            if (km_parser_feed(&parser, p->chunk, (size_t)got, offset, (uint8_t *)b->keys, &b->n, &err) < 0)
                goto failed_input;
            if (b->n >= p->target) {
                publish(p, b, bytes_done + in.consumed, records + parser.records);
                if (!(b = take_free(p))) break;
            }
            if (parser.done) break;
        }
        bytes_done += in.consumed;
        records += parser.records;
        km_input_close(&in);
        continue;
    failed_input:
        km_input_close(&in);
        goto failed;
    }
    if (b) publish(p, b, bytes_done, records);
    finish(p, NULL);
    return NULL;
failed:
    finish(p, &err);
    return NULL;
}

km_producer *km_producer_start(const km_plan *plan, int k, int canonical, size_t batch_kmers, int combine,
                               km_err *err)
{
    km_producer *p = calloc(1, sizeof *p);
    if (!p) {
        km_fail(err, "no memory for the reader");
        return NULL;
    }
    p->plan = plan;
    p->k = k;
    p->canonical = canonical;
    p->combine = combine;
    p->target = batch_kmers ? batch_kmers : 1;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->chunk = malloc(CHUNK);
    const size_t cap = p->target + CHUNK; /* a chunk adds at most one k-mer per byte */
    int ok = p->chunk != NULL;
    if (combine) ok = ok && (p->sort_tmp = malloc(cap * km_key_size(k))) != NULL;
    for (int i = 0; i < NBATCH && ok; i++) {
        p->batches[i].keys = malloc(cap * km_key_size(k));
        p->batches[i].counts = combine ? malloc(cap * sizeof(uint64_t)) : NULL;
        p->batches[i].cap = cap;
        ok = p->batches[i].keys != NULL && (!combine || p->batches[i].counts != NULL);
        p->free_list[p->nfree++] = &p->batches[i];
    }
    if (!ok) {
        km_fail(err, "no memory for two batches of %zu k-mers", cap);
        km_producer_stop(p);
        return NULL;
    }
    if (pthread_create(&p->thread, NULL, reader_main, p) != 0) {
        km_fail(err, "cannot start the reading thread");
        km_producer_stop(p);
        return NULL;
    }
    p->started = 1;
    return p;
}

int km_producer_next(km_producer *p, km_batch **out, km_err *err)
{
    pthread_mutex_lock(&p->mu);
    while (p->nready == 0 && !p->finished) pthread_cond_wait(&p->cv, &p->mu);
    int rc;
    if (p->failed) {
        if (err) *err = p->err;
        rc = -1;
    } else if (p->nready > 0) {
        *out = p->ready[0];
        memmove(p->ready, p->ready + 1, (size_t)(p->nready - 1) * sizeof p->ready[0]);
        p->nready--;
        rc = 1;
    } else {
        rc = 0;
    }
    pthread_mutex_unlock(&p->mu);
    return rc;
}

void km_producer_release(km_producer *p, km_batch *b)
{
    pthread_mutex_lock(&p->mu);
    p->free_list[p->nfree++] = b;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

uint64_t km_producer_bytes(km_producer *p)
{
    pthread_mutex_lock(&p->mu);
    const uint64_t v = p->bytes;
    pthread_mutex_unlock(&p->mu);
    return v;
}

uint64_t km_producer_records(km_producer *p)
{
    pthread_mutex_lock(&p->mu);
    const uint64_t v = p->records;
    pthread_mutex_unlock(&p->mu);
    return v;
}

void km_producer_stop(km_producer *p)
{
    if (!p) return;
    if (p->started) {
        pthread_mutex_lock(&p->mu);
        p->cancel = 1;
        pthread_cond_broadcast(&p->cv);
        pthread_mutex_unlock(&p->mu);
        pthread_join(p->thread, NULL);
    }
    for (int i = 0; i < NBATCH; i++) {
        free(p->batches[i].keys);
        free(p->batches[i].counts);
    }
    free(p->sort_tmp);
    free(p->chunk);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
