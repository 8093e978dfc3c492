/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* flashmap-kmer query: the counts of the k-mers given on the command line,
 * one "KMER COUNT" line each, in the order given (as `jellyfish query`
 * prints them: on a canonical database the canonical form is printed).
 * A k-mer that is not in the database has count 0. A k-mer of the wrong
 * length or with bases other than ACGT is an error (nothing is printed). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmer_code.h"
#include "kmer_db.h"
#include "kmer_out.h"
#include "kmer_verbs.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: flashmap-kmer query [-o FILE] DB KMER...\n"
               "Print 'KMER COUNT' for each k-mer (the output of jellyfish query).\n");
}

int km_query_main(int argc, char **argv, const km_ctx *ctx)
{
    static const struct option longs[] = {
        {"output", required_argument, 0, 'o'}, {"help", no_argument, 0, 'h'}, {0, 0, 0, 0}};
    const char *output = NULL;
    int c;
    opterr = ctx->rank == 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", longs, NULL)) != -1) {
        switch (c) {
        case 'o': output = optarg; break;
        case 'h': if (ctx->rank == 0) usage(stdout); return 0;
        default: if (ctx->rank == 0) usage(stderr); return 2;
        }
    }
    if (optind + 1 >= argc) {
        if (ctx->rank == 0) {
            fprintf(stderr, "flashmap-kmer query: give a database and at least one k-mer\n");
            usage(stderr);
        }
        return 2;
    }
    const char *path = argv[optind];
    char **mers = argv + optind + 1;
    const size_t n = (size_t)(argc - optind - 1);
    km_dbinfo info;
    km_err err = {""};
    if (km_db_read_info(path, &info, &err) != 0) {
        if (ctx->rank == 0) km_report("query: %s", err.msg);
        return 1;
    }
    const size_t ks = km_key_size(info.k);
    for (size_t i = 0; i < n; i++) {
        uint8_t key[16];
        if (strlen(mers[i]) != (size_t)info.k || km_encode(mers[i], info.k, key) != 0) {
            if (ctx->rank == 0)
                km_report("query: invalid k-mer '%s': the database holds %d-mers of A, C, G and T", mers[i], info.k);
            return 1;
        }
    }
    const int mpi = ctx->mpi && ctx->size > 1;
    const int asking = ctx->rank == 0;
    uint8_t *keys = malloc((n ? n : 1) * ks);
    uint64_t *counts = calloc(n ? n : 1, sizeof *counts);
    km_db db;
    int rc = keys && counts ? 0 : km_fail(&err, "no memory for %zu k-mers", n);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        km_encode(mers[i], info.k, keys + i * ks);
        if (info.canonical) km_canonicalize(keys + i * ks, info.k);
    }
    if (mpi) {
        int any = 0, mine = rc != 0;
        MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (any && rc == 0) rc = km_fail(&err, "failed on another rank");
    }
    if (rc == 0) rc = km_db_open(path, mpi, &db, &err);
    if (rc == 0) {
        /* Collective on an MPI database: only rank 0 asks. */
        const fm_status st = fm_bulk_get(db.map, keys, asking ? n : 0, counts, NULL);
        if (st != FM_OK) rc = km_fail(&err, "lookup failed: %s", km_user_error(fm_last_error(db.map)));
        km_db_close(&db);
    }
    if (rc == 0 && asking) {
        km_out out;
        rc = km_out_open(&out, output, &err);
        if (rc == 0) {
            for (size_t i = 0; i < n; i++) {
                const uint64_t v = counts[i] >= info.lower_count && counts[i] <= info.upper_count ? counts[i] : 0;
                km_decode(keys + i * ks, info.k, km_out_space(&out, (size_t)info.k + 1));
                out.len += (size_t)info.k;
                km_out_char(&out, ' ');
                km_out_u64(&out, v);
                km_out_char(&out, '\n');
            }
            rc = km_out_close(&out, &err);
        }
    }
    if (rc != 0 && ctx->rank == 0) km_report("query: %s", err.msg);
    free(keys);
    free(counts);
    return rc == 0 ? 0 : 1;
}
