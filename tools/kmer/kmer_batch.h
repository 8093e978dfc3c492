/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The reading side of `count`: threads that each read a share of this
 * rank's input (kmer_split.h: reader r of rank q reads share q * R + r of
 * P * R), parse it and fill batches of k-mer keys, while the caller counts
 * the batches already filled. Each reader has two batches that take turns;
 * the caller takes filled batches in the order they were filled, whatever
 * the reader (counts do not depend on the order). */
#ifndef KMER_BATCH_H
#define KMER_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "kmer_error.h"
#include "kmer_split.h"

typedef struct km_batch {
    void *keys;      /* n keys of km_key_size(k) bytes */
    uint64_t *counts; /* with combining: how often each key occurred; else NULL */
    size_t n;
    size_t kmers; /* k-mers in the batch (n before combining) */
    size_t cap;
    int reader; /* the reading thread it belongs to */
} km_batch;

typedef struct km_producer km_producer;

/* Starts `nreaders` reading threads, reader i over plans[i] (which must
 * outlive the producer). batch_kmers: k-mers per batch (a batch may exceed
 * it by one input chunk). combine: hand out ordered batches of keys with
 * counts in the order of their home slots (kmer_combine.h). */
km_producer *km_producer_start(const km_plan *plans, int nreaders, int k, int canonical, size_t batch_kmers,
                               int combine, km_err *err);

/* Waits for the next batch: 1 with *out set (hand it back with
 * km_producer_release when counted), 0 when every reader is finished, -1
 * with err set (the first failure) when reading or parsing failed. */
int km_producer_next(km_producer *p, km_batch **out, km_err *err);

void km_producer_release(km_producer *p, km_batch *b);

/* Input bytes read so far (compressed bytes for gzip files). */
uint64_t km_producer_bytes(km_producer *p);

/* Records parsed so far. */
uint64_t km_producer_records(km_producer *p);

/* Seconds the reading threads spent, summed over them: reading and
 * parsing input, ordering and combining batches (kmer_combine.h). */
void km_producer_times(km_producer *p, double *parsing, double *ordering);

/* Stops the threads (those still reading) and frees everything. */
void km_producer_stop(km_producer *p);

#endif
