/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* flashmap-kmer histo: how many k-mers have each count, as `jellyfish
 * histo` 2.3 prints it: base = 0 when inc >= low, else low - inc; ceiling
 * = high + inc; bucket i (labelled base + i*inc) holds the counts in
 * [base + i*inc, base + (i+1)*inc), the last bucket also every count above
 * the ceiling. Buckets with no k-mers are skipped unless -f. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kmer_db.h"
#include "kmer_opts.h"
#include "kmer_out.h"
#include "kmer_verbs.h"

typedef struct histo {
    uint64_t base, ceil, inc, nb;
    uint64_t *bins;
} histo;

static int tally(const void *keys, const uint64_t *counts, size_t n, void *ctx)
{
    (void)keys;
    histo *h = ctx;
    for (size_t i = 0; i < n; i++) {
        const uint64_t v = counts[i];
        if (v < h->base) h->bins[0]++;
        else if (v > h->ceil) h->bins[h->nb - 1]++;
        else h->bins[(v - h->base) / h->inc]++;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: flashmap-kmer histo [options] DB\n"
               "Histogram of k-mer counts (the output of jellyfish histo).\n"
               "  -l, --low N        low count value (default 1)\n"
               "  -h, --high N       high count value (default 10000)\n"
               "  -i, --increment N  bucket width (default 1)\n"
               "  -f, --full         print empty buckets too\n"
               "  -o, --output FILE  write to FILE (default standard output)\n"
               "  -t, --threads N    accepted for Jellyfish compatibility (ignored)\n");
}

int km_histo_main(int argc, char **argv, const km_ctx *ctx)
{
    static const struct option longs[] = {{"low", required_argument, 0, 'l'},  {"high", required_argument, 0, 'h'},
                                          {"increment", required_argument, 0, 'i'}, {"full", no_argument, 0, 'f'},
                                          {"output", required_argument, 0, 'o'},    {"help", no_argument, 0, 'H'},
                                          {"threads", required_argument, 0, 't'},
                                          {0, 0, 0, 0}};
    uint64_t low = 1, high = 10000, inc = 1;
    int full = 0, c;
    const char *output = NULL;
    opterr = ctx->rank == 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "l:h:i:fo:t:", longs, NULL)) != -1) {
        switch (c) {
        case 'l': if (km_parse_option("histo", "-l (low)", optarg, 0, UINT64_MAX / 4, &low) != 0) return 2; break;
        case 'h': if (km_parse_option("histo", "-h (high)", optarg, 1, UINT64_MAX / 4, &high) != 0) return 2; break;
        case 'i': if (km_parse_option("histo", "-i (increment)", optarg, 1, UINT64_MAX / 4, &inc) != 0) return 2; break;
        case 'f': full = 1; break;
        case 't': break; /* Jellyfish's -t: accepted, one thread is plenty */
        case 'o': output = optarg; break;
        case 'H': if (ctx->rank == 0) usage(stdout); return 0;
        default: if (ctx->rank == 0) usage(stderr); return 2;
        }
    }
    if (optind + 1 != argc || high < low) {
        if (ctx->rank == 0) {
            fprintf(stderr, "flashmap-kmer histo: %s\n", high < low ? "the high count must be >= the low count"
                                                                     : "give exactly one database");
            usage(stderr);
        }
        return 2;
    }
    histo h;
    h.base = inc >= low ? 0 : low - inc;
    h.ceil = high + inc;
    h.inc = inc;
    h.nb = (h.ceil + inc - h.base) / inc;
    if (h.nb > ((uint64_t)1 << 32)) {
        if (ctx->rank == 0) fprintf(stderr, "flashmap-kmer histo: too many buckets (%llu)\n", (unsigned long long)h.nb);
        return 2;
    }
    h.bins = calloc((size_t)h.nb, sizeof *h.bins);
    const int mpi = ctx->mpi && ctx->size > 1;
    km_db db;
    km_err err = {""};
    int rc = h.bins ? km_db_open(argv[optind], mpi, &db, &err) : km_fail(&err, "no memory for %llu buckets",
                                                                         (unsigned long long)h.nb);
    if (rc == 0) {
        rc = km_db_foreach(&db, tally, &h, &err);
        km_db_close(&db);
    }
    if (mpi) {
        int any = 0, mine = rc != 0;
        MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (!any) MPI_Reduce(ctx->rank == 0 ? MPI_IN_PLACE : h.bins, h.bins, (int)h.nb, MPI_UINT64_T, MPI_SUM, 0,
                             MPI_COMM_WORLD);
        rc = any ? -1 : 0;
    }
    if (rc == 0 && ctx->rank == 0) {
        km_out out;
        rc = km_out_open(&out, output, &err);
        if (rc == 0) {
            for (uint64_t i = 0, col = h.base; i < h.nb; i++, col += inc) {
                if (!h.bins[i] && !full) continue;
                km_out_u64(&out, col);
                km_out_char(&out, ' ');
                km_out_u64(&out, h.bins[i]);
                km_out_char(&out, '\n');
            }
            rc = km_out_close(&out, &err);
        }
    }
    if (rc != 0 && ctx->rank == 0) km_report("histo: %s", err.msg[0] ? err.msg : "failed on another rank");
    free(h.bins);
    return rc == 0 ? 0 : 1;
}
