/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* flashmap-kmer stats: Unique, Distinct, Total and Max_count of the
 * k-mers whose count is in [-L, -U], printed as `jellyfish stats` does. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "kmer_db.h"
#include "kmer_opts.h"
#include "kmer_out.h"
#include "kmer_verbs.h"

typedef struct stats {
    uint64_t lower, upper;
    uint64_t sums[3]; /* unique, distinct, total */
    uint64_t max;
} stats;

static int tally(const void *keys, const uint64_t *counts, size_t n, void *ctx)
{
    (void)keys;
    stats *s = ctx;
    for (size_t i = 0; i < n; i++) {
        const uint64_t v = counts[i];
        if (v < s->lower || v > s->upper) continue;
        s->sums[0] += v == 1;
        s->sums[1]++;
        s->sums[2] += v;
        if (v > s->max) s->max = v;
    }
    return 0;
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: flashmap-kmer stats [options] DB\n"
               "Statistics of a database (the output of jellyfish stats).\n"
               "  -L, --lower-count N  only k-mers seen at least N times\n"
               "  -U, --upper-count N  only k-mers seen at most N times\n"
               "  -o, --output FILE    write to FILE (default standard output)\n");
}

int km_stats_main(int argc, char **argv, const km_ctx *ctx)
{
    static const struct option longs[] = {{"lower-count", required_argument, 0, 'L'},
                                          {"upper-count", required_argument, 0, 'U'},
                                          {"output", required_argument, 0, 'o'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    stats s;
    memset(&s, 0, sizeof s);
    s.upper = UINT64_MAX;
    const char *output = NULL;
    int c;
    opterr = ctx->rank == 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "L:U:o:h", longs, NULL)) != -1) {
        switch (c) {
        case 'L': if (km_parse_option("stats", "-L", optarg, 0, UINT64_MAX, &s.lower) != 0) return 2; break;
        case 'U': if (km_parse_option("stats", "-U", optarg, 0, UINT64_MAX, &s.upper) != 0) return 2; break;
        case 'o': output = optarg; break;
        case 'h': if (ctx->rank == 0) usage(stdout); return 0;
        default: if (ctx->rank == 0) usage(stderr); return 2;
        }
    }
    if (km_check_counts("stats", s.lower, s.upper, ctx->rank) != 0) return 2;
    if (optind + 1 != argc) {
        if (ctx->rank == 0) {
            fprintf(stderr, "flashmap-kmer stats: give exactly one database\n");
            usage(stderr);
        }
        return 2;
    }
    const int mpi = ctx->mpi && ctx->size > 1;
    km_db db;
    km_err err = {""};
    int rc = km_db_open(argv[optind], mpi, &db, &err);
    if (rc == 0) {
        rc = km_db_foreach(&db, tally, &s, &err);
        km_db_close(&db);
    }
    if (mpi) {
        int any = 0, mine = rc != 0;
        MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (!any) {
            MPI_Reduce(ctx->rank == 0 ? MPI_IN_PLACE : s.sums, s.sums, 3, MPI_UINT64_T, MPI_SUM, 0, MPI_COMM_WORLD);
            MPI_Reduce(ctx->rank == 0 ? MPI_IN_PLACE : &s.max, &s.max, 1, MPI_UINT64_T, MPI_MAX, 0, MPI_COMM_WORLD);
        }
        rc = any ? -1 : 0;
    }
    if (rc == 0 && ctx->rank == 0) {
        km_out out;
        rc = km_out_open(&out, output, &err);
        if (rc == 0) {
            static const char *const labels[4] = {"Unique:    ", "Distinct:  ", "Total:     ", "Max_count: "};
            const uint64_t values[4] = {s.sums[0], s.sums[1], s.sums[2], s.max};
            for (int i = 0; i < 4; i++) {
                km_out_str(&out, labels[i]);
                km_out_u64(&out, values[i]);
                km_out_char(&out, '\n');
            }
            rc = km_out_close(&out, &err);
        }
    }
    if (rc != 0 && ctx->rank == 0) km_report("stats: %s", err.msg[0] ? err.msg : "failed on another rank");
    return rc == 0 ? 0 : 1;
}
