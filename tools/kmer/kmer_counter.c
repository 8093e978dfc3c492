/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The collective counting loop and the -L/-U filter (see kmer_counter.h). */
#include "kmer_counter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kmer_batch.h"
#include "kmer_code.h"
#include "kmer_comm.h"

double km_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

int km_any_failed(const km_ctx *ctx, int failed, const km_err *err)
{
    const int first = km_allreduce_int(ctx, failed ? ctx->rank : ctx->size, MPI_MIN);
    if (first < ctx->size && ctx->rank == first) km_report("%s", err->msg);
    return first < ctx->size;
}

/* "\r" on a terminal (the line rewrites itself), one line each time otherwise. */
static void show_progress(const km_ctx *ctx, uint64_t bytes, uint64_t total, uint64_t kmers, double elapsed,
                          int last)
{
    if (ctx->rank != 0) return;
    const int tty = isatty(2);
    fprintf(stderr, "%sflashmap-kmer: %.1f of %.1f MB read (%.0f%%), %.1f M k-mers, %.2f M k-mers/s%s",
            tty ? "\r" : "", (double)bytes / 1e6, (double)total / 1e6,
            total ? 100.0 * (double)bytes / (double)total : 100.0, (double)kmers / 1e6,
            elapsed > 0 ? (double)kmers / elapsed / 1e6 : 0.0, tty && !last ? "" : "\n");
    fflush(stderr);
}

int km_counter_run(const km_ctx *ctx, const km_plan *plans, const km_counter_opts *o, fm_map *map,
                   km_counter_totals *out)
{
    km_err err = {""};
    const km_plan *plan = &plans[0]; /* total_bytes: the same in every plan */
    km_producer *prod = km_producer_start(plans, o->readers, o->k, o->canonical, o->batch, o->combine, &err);
    if (km_any_failed(ctx, prod == NULL, &err)) {
        km_producer_stop(prod);
        return 1;
    }
    const double t0 = km_now();
    double shown = t0, waited = 0, adding = 0;
    uint64_t kmers = 0, keys_added = 0;
    int failed = 0;
    for (;;) {
        km_batch *b = NULL;
        const double t_wait = km_now();
        const int rc = km_producer_next(prod, &b, &err);
        waited += km_now() - t_wait;
        /* [0] ranks with a batch, [1] ranks whose input failed, [2] bytes read, [3] k-mers */
        uint64_t mine[4] = {rc == 1, rc < 0, km_producer_bytes(prod), kmers + (rc == 1 ? b->kmers : 0)}, all[4];
        km_allreduce_u64(ctx, mine, all, 4, MPI_SUM);
        if (all[1]) {
            if (rc < 0) km_report("%s", err.msg);
            failed = 1;
            break;
        }
        if (!all[0]) break;
        static const uint64_t none = 0;
        const void *keys = rc == 1 ? b->keys : &none;
        const size_t n = rc == 1 ? b->n : 0;
        const double t_add = km_now();
        const fm_status st = fm_bulk_add_u64(map, keys, rc == 1 ? b->counts : NULL, n);
        adding += km_now() - t_add;
        kmers += rc == 1 ? b->kmers : 0;
        keys_added += n;
        if (rc == 1) km_producer_release(prod, b);
        if (st != FM_OK) {
            if (ctx->rank == 0) km_report("counting failed: %s", km_user_error(fm_last_error(map)));
            failed = 1;
            break;
        }
        const double t = km_now();
        if (o->progress && t - shown >= 1.0) {
            show_progress(ctx, all[2], plan->total_bytes, all[3], t - t0, 0);
            shown = t;
        }
    }
    const uint64_t records = km_producer_records(prod);
    km_producer_times(prod, &out->parsing, &out->ordering);
    km_producer_stop(prod);
    if (failed) return 1;
    uint64_t local[2] = {kmers, records}, total[2];
    km_allreduce_u64(ctx, local, total, 2, MPI_SUM);
    if (o->progress) show_progress(ctx, plan->total_bytes, plan->total_bytes, total[0], km_now() - t0, 1);
    out->kmers = total[0];
    out->records = total[1];
    out->my_kmers = kmers;
    out->my_keys = keys_added;
    out->waited = waited;
    out->adding = adding;
    return 0;
}

int km_counter_filter(const km_ctx *ctx, fm_map *map, int k, uint64_t lower, uint64_t upper)
{
    /* Each rank holds its own keys (fm_export on an MPI map returns this
     * rank's entries), so every removal goes to the rank that asks. */
    const size_t ks = km_key_size(k), chunk = (size_t)1 << 20;
    uint8_t *keys = malloc(chunk * ks), *drop = NULL;
    uint64_t *counts = malloc(chunk * sizeof *counts);
    size_t ndrop = 0, capdrop = 0;
    int bad = !keys || !counts;
    uint64_t cursor = 0;
    while (!bad) {
        size_t n = 0;
        if (fm_export(map, &cursor, keys, counts, chunk, &n) != FM_OK) {
            bad = 1;
            break;
        }
        for (size_t i = 0; i < n && !bad; i++) {
            if (counts[i] >= lower && counts[i] <= upper) continue;
            if (ndrop == capdrop) {
                capdrop = capdrop ? 2 * capdrop : chunk;
                uint8_t *grown = realloc(drop, capdrop * ks);
                if (!grown) {
                    bad = 1;
                    break;
                }
                drop = grown;
            }
            memcpy(drop + ndrop++ * ks, keys + i * ks, ks);
        }
        if (cursor == 0) break;
    }
    free(keys);
    free(counts);
    km_err err;
    km_fail(&err, "no memory to apply -L/-U");
    if (km_any_failed(ctx, bad, &err)) {
        free(drop);
        return 1;
    }
    static const uint8_t none[16] = {0};
    const fm_status st = fm_bulk_remove(map, drop ? (const void *)drop : none, ndrop, NULL);
    free(drop);
    if (st != FM_OK) {
        if (ctx->rank == 0) km_report("applying -L/-U failed: %s", km_user_error(fm_last_error(map)));
        return 1;
    }
    return 0;
}
