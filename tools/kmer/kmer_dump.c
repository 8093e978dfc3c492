/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* flashmap-kmer dump: every k-mer and its count, as `jellyfish dump`
 * prints them: ">COUNT\nKMER\n" by default, "KMER COUNT\n" with -c ("KMER\tCOUNT" with
 * -c -t), only counts in [-L, -U]. The order is the map's (as Jellyfish's
 * is its hash order): sort the output to compare.
 *
 * On an MPI database every rank formats its own entries; rank 0 prints its
 * own, then those of rank 1, 2, ... as they arrive (one stream, no
 * interleaving). */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "kmer_code.h"
#include "kmer_db.h"
#include "kmer_opts.h"
#include "kmer_out.h"
#include "kmer_verbs.h"

#define TAG_TEXT 7101

typedef struct dump {
    int k;
    int column;
    char spacer;
    uint64_t lower, upper;
    km_out *out;
} dump;

static int emit(const void *keys, const uint64_t *counts, size_t n, void *ctx)
{
    dump *d = ctx;
    const size_t ks = km_key_size(d->k);
    const uint8_t *key = keys;
    for (size_t i = 0; i < n; i++, key += ks) {
        const uint64_t v = counts[i];
        if (v < d->lower || v > d->upper) continue;
        if (d->column) {
            km_decode(key, d->k, km_out_space(d->out, (size_t)d->k + 1));
            d->out->len += (size_t)d->k;
            km_out_char(d->out, d->spacer);
            km_out_u64(d->out, v);
            km_out_char(d->out, '\n');
        } else {
            km_out_char(d->out, '>');
            km_out_u64(d->out, v);
            km_out_char(d->out, '\n');
            km_decode(key, d->k, km_out_space(d->out, (size_t)d->k + 1));
            d->out->len += (size_t)d->k;
            km_out_char(d->out, '\n');
        }
    }
    return d->out->failed ? -1 : 0;
}

/* Rank r > 0: full buffers go to rank 0. */
static int send_to_root(const char *buf, size_t len, void *ctx)
{
    (void)ctx;
    return MPI_Send(buf, (int)len, MPI_CHAR, 0, TAG_TEXT, MPI_COMM_WORLD) == MPI_SUCCESS ? 0 : -1;
}

/* Rank 0: copies the text of rank r to out until its empty message. */
static void relay_from(int r, km_out *out)
{
    km_out_flush(out);
    for (;;) {
        MPI_Status status;
        int len = 0;
        MPI_Probe(r, TAG_TEXT, MPI_COMM_WORLD, &status);
        MPI_Get_count(&status, MPI_CHAR, &len);
        char *space = km_out_space(out, (size_t)len); /* the buffer is flushed: len <= its size */
        MPI_Recv(space, len, MPI_CHAR, r, TAG_TEXT, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (len == 0) break;
        out->len += (size_t)len;
        km_out_flush(out);
    }
}

static void usage(FILE *f)
{
    fprintf(f, "Usage: flashmap-kmer dump [options] DB\n"
               "Print the k-mers and counts of a database (the output of jellyfish dump).\n"
               "  -c, --column         one 'KMER COUNT' line per k-mer (default: '>COUNT' then 'KMER')\n"
               "  -t, --tab            with -c, a tab instead of the space\n"
               "  -L, --lower-count N  only k-mers seen at least N times\n"
               "  -U, --upper-count N  only k-mers seen at most N times\n"
               "  -o, --output FILE    write to FILE (default standard output)\n");
}

int km_dump_main(int argc, char **argv, const km_ctx *ctx)
{
    static const struct option longs[] = {{"column", no_argument, 0, 'c'},
                                          {"tab", no_argument, 0, 't'},
                                          {"lower-count", required_argument, 0, 'L'},
                                          {"upper-count", required_argument, 0, 'U'},
                                          {"output", required_argument, 0, 'o'},
                                          {"help", no_argument, 0, 'h'},
                                          {0, 0, 0, 0}};
    dump d;
    memset(&d, 0, sizeof d);
    d.spacer = ' ';
    d.upper = UINT64_MAX;
    const char *output = NULL;
    int c;
    opterr = ctx->rank == 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ctL:U:o:h", longs, NULL)) != -1) {
        switch (c) {
        case 'c': d.column = 1; break;
        case 't': d.spacer = '\t'; break;
        case 'L': if (km_parse_option("dump", "-L", optarg, 0, UINT64_MAX, &d.lower) != 0) return 2; break;
        case 'U': if (km_parse_option("dump", "-U", optarg, 0, UINT64_MAX, &d.upper) != 0) return 2; break;
        case 'o': output = optarg; break;
        case 'h': if (ctx->rank == 0) usage(stdout); return 0;
        default: if (ctx->rank == 0) usage(stderr); return 2;
        }
    }
    if (km_check_counts("dump", d.lower, d.upper, ctx->rank) != 0) return 2;
    if (optind + 1 != argc) {
        if (ctx->rank == 0) {
            fprintf(stderr, "flashmap-kmer dump: give exactly one database\n");
            usage(stderr);
        }
        return 2;
    }
    const int mpi = ctx->mpi && ctx->size > 1;
    km_db db;
    km_err err = {""};
    int rc = km_db_open(argv[optind], mpi, &db, &err);
    km_out out;
    int opened = 0;
    if (rc == 0) {
        d.k = db.info.k;
        rc = ctx->rank == 0 ? km_out_open(&out, output, &err) : km_out_open_sink(&out, send_to_root, NULL, &err);
        opened = rc == 0;
    }
    if (mpi) { /* everyone must be ready before rank 0 waits for text */
        int any = 0, mine = rc != 0;
        MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (any && rc == 0) rc = km_fail(&err, "failed on another rank");
    }
    if (rc == 0) {
        d.out = &out;
        rc = km_db_foreach(&db, emit, &d, &err);
        if (mpi && ctx->rank > 0) {
            km_out_flush(&out);
            send_to_root("", 0, NULL); /* end of this rank's text */
        }
        if (mpi && ctx->rank == 0)
            for (int r = 1; r < ctx->size; r++) relay_from(r, &out);
    }
    if (opened && km_out_close(&out, rc == 0 ? &err : NULL) != 0) rc = -1;
    if (db.map) km_db_close(&db);
    if (rc != 0 && ctx->rank == 0) km_report("dump: %s", err.msg);
    return rc == 0 ? 0 : 1;
}
