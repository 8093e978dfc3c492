/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The collective part of `count`: the counting loop over the ranks, and
 * the -L/-U filter.
 *
 * Every rank reads its share of the input (kmer_split.h) on its reading
 * threads (kmer_batch.h) while the main thread counts the filled batches
 * with one collective fm_bulk_add_u64. Before each batch the ranks agree,
 * with one MPI_Allreduce, on whether anyone still has k-mers and whether
 * anyone's input failed, so every rank makes the same number of collective
 * calls (a rank that is done passes n = 0) and a malformed file stops all
 * of them before anything is written. Alone (no MPI, kmer_comm.h) the
 * agreement is the process's own state. */
#ifndef KMER_COUNTER_H
#define KMER_COUNTER_H

#include <stddef.h>
#include <stdint.h>

#include <flashmap_mpi.h>

#include "kmer_ctx.h"
#include "kmer_error.h"
#include "kmer_split.h"

typedef struct km_counter_opts {
    int k;
    int canonical;
    int combine;  /* sum repeats on the reading thread */
    int progress; /* progress line on rank 0's stderr */
    size_t batch; /* k-mers per rank per collective add */
    int readers;  /* reading threads per rank */
} km_counter_opts;

typedef struct km_counter_totals {
    uint64_t kmers, records; /* all ranks */
    /* This rank's: */
    uint64_t my_kmers;  /* k-mers read */
    uint64_t my_keys;   /* keys handed to fm_bulk_add_u64 (after combining) */
    double parsing;     /* reading threads' seconds reading and parsing, summed */
    double ordering;    /* their seconds ordering and combining, summed */
    double waited;      /* main thread's seconds waiting for a filled batch */
    double adding;      /* its seconds in fm_bulk_add_u64 (exchange and table) */
} km_counter_totals;

/* Counts this rank's share of the input into the map (collective; alone,
 * the whole input into a one-process map):
 * plans[0 .. o->readers), one per reading thread (kmer_batch.h).
 * Returns 0, or 1 after a failure (reported on stderr by the rank that
 * failed, or rank 0 for a failure of the map). */
int km_counter_run(const km_ctx *ctx, const km_plan *plans, const km_counter_opts *o, fm_map *map,
                   km_counter_totals *out);

/* Removes every entry whose count is outside [lower, upper] (collective).
 * Returns 0, or 1 after a failure (reported). */
int km_counter_filter(const km_ctx *ctx, fm_map *map, int k, uint64_t lower, uint64_t upper);

/* Collective: 1 when any rank failed; the lowest failing rank prints its
 * message (the others failed the same way or were stopped by it). */
int km_any_failed(const km_ctx *ctx, int failed, const km_err *err);

/* Monotonic seconds. */
double km_now(void);

#endif
