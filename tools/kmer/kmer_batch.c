/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The reading thread of `count` (see kmer_batch.h). */
#include "kmer_batch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "kmer_code.h"
#include "kmer_combine.h"
#include "kmer_counter.h"
#include "kmer_extract.h"
#include "kmer_input.h"
#include "kmer_parse.h"

#define CHUNK ((size_t)1 << 20) /* input bytes per read, at most */
#define MIN_CHUNK ((size_t)64 << 10)
#define NBATCH 2                /* batches per reading thread, taking turns */

/* One reading thread: its share of the rank's input and its own batches. */
typedef struct km_reader {
    km_producer *p;
    const km_plan *plan;
    uint8_t *chunk;
    void *sort_tmp; /* combining: the radix sort's second buffer */
    km_batch batches[NBATCH];
    km_batch *free_list[NBATCH]; /* under p->mu */
    int nfree;
    uint64_t bytes, records; /* published so far, under p->mu */
    double parsing, ordering; /* seconds reading and parsing, ordering and combining, published (under p->mu) */
    pthread_t thread;
    int started;
} km_reader;

struct km_producer {
    int k, canonical, combine;
    size_t target;
    size_t chunk; /* input bytes per read */
    int nreaders;
    km_reader *readers;

    pthread_mutex_t mu;
    pthread_cond_t cv;
    km_batch **ready; /* filled batches of every reader, oldest first */
    int nready;
    int finished; /* readers that have published their last batch */
    int failed;
    int cancel;
    km_err err; /* the first failure */
};

/* Thread side: a batch of this reader's to fill, or NULL when cancelled. */
static km_batch *take_free(km_reader *r)
{
    km_producer *p = r->p;
    pthread_mutex_lock(&p->mu);
    while (r->nfree == 0 && !p->cancel) pthread_cond_wait(&p->cv, &p->mu);
    km_batch *b = p->cancel ? NULL : r->free_list[--r->nfree];
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

/* Hands a filled batch to the main thread, with the reader's progress and
 * its seconds of reading and parsing so far. */
static void publish(km_reader *r, km_batch *b, uint64_t bytes, uint64_t records, double parsing)
{
    km_producer *p = r->p;
    b->kmers = b->n;
    const double t0 = km_now();
    if (p->combine) b->n = km_combine(b->keys, r->sort_tmp, b->counts, b->n, p->k);
    const double spent = km_now() - t0;
    pthread_mutex_lock(&p->mu);
    r->ordering += spent;
    p->ready[p->nready++] = b;
    r->bytes = bytes;
    r->records = records;
    r->parsing = parsing;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void finish(km_reader *r, const km_err *err)
{
    km_producer *p = r->p;
    pthread_mutex_lock(&p->mu);
    p->finished++;
    if (err && !p->failed) {
        p->failed = 1;
        p->err = *err;
    }
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

static void *reader_main(void *arg)
{
    km_reader *r = arg;
    km_producer *p = r->p;
    km_err err = {""};
    km_extract x;
    km_extract_init(&x, p->k, p->canonical);
    uint64_t bytes_done = 0, records = 0;
    double parsing = 0;
    km_batch *b = take_free(r);
    for (size_t w = 0; b && w < r->plan->n; w++) {
        const km_work *work = &r->plan->items[w];
        km_input in;
        if (km_input_open(&in, work->path, work->start, &err) != 0) goto failed;
        km_parser parser;
        km_parser_init(&parser, work->path, work->format, work->start, work->stop, &x);
        km_parser_stripe(&parser, work->stripe, work->stripes);
        /* Progress: a stripe counts its share of the compressed bytes it reads. */
        for (;;) {
            if (cancelled(p)) {
                km_input_close(&in);
                finish(r, NULL);
                return NULL;
            }
            const uint64_t offset = in.pos;
            const double t0 = km_now();
            const ptrdiff_t got = km_input_read(&in, r->chunk, p->chunk, &err);
            if (got < 0) goto failed_input;
            if (got == 0) {
                if (km_parser_finish(&parser, &err) != 0) goto failed_input;
                break;
            }
            if (km_parser_feed(&parser, r->chunk, (size_t)got, offset, (uint8_t *)b->keys, &b->n, &err) < 0)
                goto failed_input;
            parsing += km_now() - t0;
            if (b->n >= p->target) {
                publish(r, b, bytes_done + in.consumed / work->stripes, records + parser.kept, parsing);
                if (!(b = take_free(r))) break;
            }
            if (parser.done) break;
        }
        bytes_done += in.consumed / work->stripes;
        records += parser.kept;
        km_input_close(&in);
        continue;
    failed_input:
        km_input_close(&in);
        goto failed;
    }
    if (b) publish(r, b, bytes_done, records, parsing);
    finish(r, NULL);
    return NULL;
failed:
    finish(r, &err);
    return NULL;
}

/* A batch-sized buffer, on transparent huge pages where the system has
 * them once it spans 8 of them: the ordering passes scatter over all of
 * it. A smaller one keeps small pages, which a batch that fills part of
 * its buffer touches only as far as it fills it. */
static void *big_buffer(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    void *p = NULL;
    if (posix_memalign(&p, huge, bytes ? bytes : 1) != 0) return NULL;
#ifdef MADV_HUGEPAGE
    if (bytes >= 8 * huge) (void)madvise(p, bytes, MADV_HUGEPAGE);
#endif
    return p;
}

/* Allocates a reader's buffers: 0, or -1 when memory is short. */
static int reader_init(km_producer *p, km_reader *r, const km_plan *plan)
{
    r->p = p;
    r->plan = plan;
    r->chunk = malloc(p->chunk);
    const size_t cap = p->target + p->chunk; /* a chunk adds at most one k-mer per byte */
    int ok = r->chunk != NULL;
    if (p->combine) ok = ok && (r->sort_tmp = big_buffer(cap * km_key_size(p->k))) != NULL;
    for (int i = 0; i < NBATCH && ok; i++) {
        km_batch *b = &r->batches[i];
        b->keys = big_buffer(cap * km_key_size(p->k));
        b->counts = p->combine ? big_buffer(cap * sizeof(uint64_t)) : NULL;
        b->cap = cap;
        b->reader = (int)(r - p->readers);
        ok = b->keys != NULL && (!p->combine || b->counts != NULL);
        r->free_list[r->nfree++] = b;
    }
    return ok ? 0 : -1;
}

static void reader_free(km_reader *r)
{
    for (int i = 0; i < NBATCH; i++) {
        free(r->batches[i].keys);
        free(r->batches[i].counts);
    }
    free(r->sort_tmp);
    free(r->chunk);
}

km_producer *km_producer_start(const km_plan *plans, int nreaders, int k, int canonical, size_t batch_kmers,
                               int combine, km_err *err)
{
    km_producer *p = calloc(1, sizeof *p);
    if (!p) {
        km_fail(err, "no memory for the reader");
        return NULL;
    }
    p->k = k;
    p->canonical = canonical;
    p->combine = combine;
    p->target = batch_kmers ? batch_kmers : 1;
    /* A batch overshoots its target by at most one chunk's k-mers: a small
     * batch reads small chunks, so its buffers (and the map's exchange of
     * it) stay near the target instead of 1M k-mers above it. */
    p->chunk = p->target < MIN_CHUNK ? MIN_CHUNK : p->target > CHUNK ? CHUNK : p->target;
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->cv, NULL);
    p->readers = calloc((size_t)nreaders, sizeof *p->readers);
    p->ready = calloc((size_t)nreaders * NBATCH, sizeof *p->ready);
    int ok = p->readers != NULL && p->ready != NULL;
    if (ok) p->nreaders = nreaders;
    for (int i = 0; i < p->nreaders && ok; i++) ok = reader_init(p, &p->readers[i], &plans[i]) == 0;
    if (!ok) {
        km_fail(err, "no memory for %d reading thread(s) with two batches of %zu k-mers each", nreaders,
                p->target + p->chunk);
        km_producer_stop(p);
        return NULL;
    }
    for (int i = 0; i < p->nreaders; i++) {
        if (pthread_create(&p->readers[i].thread, NULL, reader_main, &p->readers[i]) != 0) {
            km_fail(err, "cannot start a reading thread");
            km_producer_stop(p);
            return NULL;
        }
        p->readers[i].started = 1;
    }
    return p;
}

int km_producer_next(km_producer *p, km_batch **out, km_err *err)
{
    pthread_mutex_lock(&p->mu);
    while (p->nready == 0 && p->finished < p->nreaders && !p->failed) pthread_cond_wait(&p->cv, &p->mu);
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
    km_reader *r = &p->readers[b->reader];
    pthread_mutex_lock(&p->mu);
    r->free_list[r->nfree++] = b;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
}

uint64_t km_producer_bytes(km_producer *p)
{
    uint64_t v = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->nreaders; i++) v += p->readers[i].bytes;
    pthread_mutex_unlock(&p->mu);
    return v;
}

uint64_t km_producer_records(km_producer *p)
{
    uint64_t v = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->nreaders; i++) v += p->readers[i].records;
    pthread_mutex_unlock(&p->mu);
    return v;
}

void km_producer_times(km_producer *p, double *parsing, double *ordering)
{
    *parsing = *ordering = 0;
    pthread_mutex_lock(&p->mu);
    for (int i = 0; i < p->nreaders; i++) {
        *parsing += p->readers[i].parsing;
        *ordering += p->readers[i].ordering;
    }
    pthread_mutex_unlock(&p->mu);
}

void km_producer_stop(km_producer *p)
{
    if (!p) return;
    pthread_mutex_lock(&p->mu);
    p->cancel = 1;
    pthread_cond_broadcast(&p->cv);
    pthread_mutex_unlock(&p->mu);
    for (int i = 0; i < p->nreaders; i++)
        if (p->readers[i].started) pthread_join(p->readers[i].thread, NULL);
    for (int i = 0; i < p->nreaders; i++) reader_free(&p->readers[i]);
    free(p->readers);
    free(p->ready);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->cv);
    free(p);
}
