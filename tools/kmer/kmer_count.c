/* flashmap-kmer count: count the k-mers of FASTA/FASTQ files into an MPI
 * map and save it as a database.
 *
 * Every rank reads its share of the input (kmer_split.h) on a reading
 * thread (kmer_batch.h) while the main thread counts the previous batch
 * with one collective fm_bulk_add_u64. Before each batch the ranks agree,
 * with one MPI_Allreduce, on whether anyone still has k-mers and whether
 * anyone's input failed, so every rank makes the same number of collective
 * calls (a rank that is done passes n = 0) and a malformed file stops all
 * of them before anything is written. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <flashmap_mpi.h>

#include "kmer_batch.h"
#include "kmer_code.h"
#include "kmer_db.h"
#include "kmer_error.h"
#include "kmer_opts.h"
#include "kmer_split.h"
#include "kmer_verbs.h"

typedef struct count_opts {
    int k;
    int canonical;
    int threads;
    uint64_t size;  /* -s: distinct k-mers expected (0: start small and grow) */
    uint64_t lower; /* -L */
    uint64_t upper; /* -U */
    const char *output;
    int progress;
    int verbose;
    uint64_t batch;
    double max_load;
    char **files;
    int nfiles;
} count_opts;

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: flashmap-kmer count -m K -o DB [options] FILE...\n"
            "Count the k-mers of FASTA/FASTQ files (plain or gzip). Runs the same alone or under mpirun.\n"
            "  -m, --mer-len K        k-mer length, 1 to 64 (required)\n"
            "  -o, --output DB        database to write (required); also DB.rank<r>-of-<P> and DB.kmer\n"
            "  -C, --canonical        count each k-mer together with its reverse complement\n"
            "  -t, --threads N        threads per rank for the map (default 1)\n"
            "  -s, --size N           distinct k-mers expected in all, e.g. 100M (default: grow as needed)\n"
            "  -L, --lower-count N    do not keep k-mers seen fewer than N times\n"
            "  -U, --upper-count N    do not keep k-mers seen more than N times\n"
            "      --progress         progress on stderr (default when stderr is a terminal)\n"
            "  -v, --verbose          summary on stderr at the end\n"
            "      --batch N          k-mers per rank per collective add (default 4M)\n"
            "      --max-load F       map load before it grows, 0.1 to 0.95 (default 0.5)\n");
}

/* Parses the options; 0, or 2 for a usage error (printed by rank 0). */
static int parse(int argc, char **argv, int rank, count_opts *o)
{
    static const struct option longs[] = {
        {"mer-len", required_argument, 0, 'm'},     {"output", required_argument, 0, 'o'},
        {"canonical", no_argument, 0, 'C'},         {"threads", required_argument, 0, 't'},
        {"size", required_argument, 0, 's'},        {"lower-count", required_argument, 0, 'L'},
        {"upper-count", required_argument, 0, 'U'}, {"progress", no_argument, 0, 'P'},
        {"verbose", no_argument, 0, 'v'},           {"batch", required_argument, 0, 'B'},
        {"max-load", required_argument, 0, 'D'},    {"help", no_argument, 0, 'h'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->threads = 1;
    o->lower = 1;
    o->upper = UINT64_MAX;
    o->batch = 4000000;
    o->progress = isatty(2);
    uint64_t v = 0;
    int c;
    opterr = rank == 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:Ct:s:L:U:vh", longs, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (km_parse_option("count", "-m (k-mer length)", optarg, 1, KM_MAX_K, &v) != 0) return 2;
            o->k = (int)v;
            break;
        case 'o': o->output = optarg; break;
        case 'C': o->canonical = 1; break;
        case 't':
            if (km_parse_option("count", "-t (threads)", optarg, 1, 1024, &v) != 0) return 2;
            o->threads = (int)v;
            break;
        case 's':
            if (km_parse_option("count", "-s (size)", optarg, 1, (uint64_t)1 << 48, &o->size) != 0) return 2;
            break;
        case 'L':
            if (km_parse_option("count", "-L (lower count)", optarg, 0, UINT64_MAX, &o->lower) != 0) return 2;
            break;
        case 'U':
            if (km_parse_option("count", "-U (upper count)", optarg, 0, UINT64_MAX, &o->upper) != 0) return 2;
            break;
        case 'P': o->progress = 1; break;
        case 'v': o->verbose = 1; break;
        case 'B':
            if (km_parse_option("count", "--batch", optarg, 1, (uint64_t)1 << 30, &o->batch) != 0) return 2;
            break;
        case 'D': {
            char *end = NULL;
            o->max_load = strtod(optarg, &end);
            if (!end || *end || !(o->max_load >= 0.1 && o->max_load <= 0.95)) {
                if (rank == 0) fprintf(stderr, "flashmap-kmer count: --max-load must be 0.1 to 0.95\n");
                return 2;
            }
            break;
        }
        case 'h':
            if (rank == 0) usage(stdout);
            return 3;
        default:
            if (rank == 0) usage(stderr);
            return 2;
        }
    }
    const char *missing = !o->k ? "-m K (the k-mer length)" : !o->output ? "-o DB (the database to write)"
                          : optind >= argc ? "input files" : NULL;
    if (missing) {
        if (rank == 0) {
            fprintf(stderr, "flashmap-kmer count: missing %s\n", missing);
            usage(stderr);
        }
        return 2;
    }
    o->files = argv + optind;
    o->nfiles = argc - optind;
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Every rank learns whether any failed; the lowest failing rank prints its
 * message (the others failed the same way or were stopped by it). Returns
 * 1 when some rank failed. */
static int any_failed(const km_ctx *ctx, int failed, const km_err *err)
{
    int mine = failed ? ctx->rank : ctx->size, first = ctx->size;
    MPI_Allreduce(&mine, &first, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
    if (first < ctx->size && ctx->rank == first) km_report("%s", err->msg);
    return first < ctx->size;
}

static void show_progress(const count_opts *o, const km_ctx *ctx, uint64_t bytes, uint64_t total, uint64_t kmers,
                          double elapsed, int last)
{
    if (!o->progress || ctx->rank != 0) return;
    const int tty = isatty(2);
    fprintf(stderr, "%sflashmap-kmer: %.1f of %.1f MB read (%.0f%%), %.1f M k-mers, %.2f M k-mers/s%s",
            tty ? "\r" : "", (double)bytes / 1e6, (double)total / 1e6,
            total ? 100.0 * (double)bytes / (double)total : 100.0, (double)kmers / 1e6,
            elapsed > 0 ? (double)kmers / elapsed / 1e6 : 0.0, tty && !last ? "" : "\n");
    fflush(stderr);
}

/* The counting loop. Returns 0, or 1 after a failure (already reported). */
static int count_all(const count_opts *o, const km_ctx *ctx, const km_plan *plan, fm_map *map, uint64_t *kmers_out,
                     uint64_t *records_out)
{
    km_err err = {""};
    km_producer *prod = km_producer_start(plan, o->k, o->canonical, (size_t)o->batch, &err);
    if (any_failed(ctx, prod == NULL, &err)) {
        km_producer_stop(prod);
        return 1;
    }
    const double t0 = now();
    double shown = t0;
    uint64_t kmers = 0, all_kmers = 0;
    int failed = 0;
    for (;;) {
        km_batch *b = NULL;
        const int rc = km_producer_next(prod, &b, &err);
        /* [0] ranks with a batch, [1] ranks whose input failed, [2] bytes read, [3] k-mers */
        uint64_t mine[4] = {rc == 1, rc < 0, km_producer_bytes(prod), kmers + (rc == 1 ? b->n : 0)}, all[4];
        MPI_Allreduce(mine, all, 4, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
        if (all[1]) {
            if (rc < 0) km_report("%s", err.msg);
            failed = 1;
            break;
        }
        if (!all[0]) break;
        static const uint64_t none = 0;
        const void *keys = rc == 1 ? b->keys : &none;
        const size_t n = rc == 1 ? b->n : 0;
        const fm_status st = fm_bulk_add_u64(map, keys, NULL, n);
        kmers += n;
        all_kmers = all[3];
        if (rc == 1) km_producer_release(prod, b);
        if (st != FM_OK) {
            if (ctx->rank == 0) km_report("counting failed: %s", fm_last_error(map));
            failed = 1;
            break;
        }
        const double t = now();
        if (t - shown >= 1.0) {
            show_progress(o, ctx, all[2], plan->total_bytes, all_kmers, t - t0, 0);
            shown = t;
        }
    }
    const uint64_t records = km_producer_records(prod);
    km_producer_stop(prod);
    if (failed) return 1;
    uint64_t local[2] = {kmers, records}, total[2];
    MPI_Allreduce(local, total, 2, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    show_progress(o, ctx, plan->total_bytes, plan->total_bytes, total[0], now() - t0, 1);
    *kmers_out = total[0];
    *records_out = total[1];
    return 0;
}

/* -L / -U: removes this rank's entries outside [lower, upper] (each rank
 * holds its own keys, so every removal goes to the rank that asks). */
static int filter_counts(const count_opts *o, const km_ctx *ctx, fm_map *map)
{
    const size_t ks = km_key_size(o->k), chunk = (size_t)1 << 20;
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
            if (counts[i] >= o->lower && counts[i] <= o->upper) continue;
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
    if (any_failed(ctx, bad, &err)) {
        free(drop);
        return 1;
    }
    static const uint8_t none[16] = {0};
    const fm_status st = fm_bulk_remove(map, drop ? (const void *)drop : none, ndrop, NULL);
    free(drop);
    if (st != FM_OK) {
        if (ctx->rank == 0) km_report("applying -L/-U failed: %s", fm_last_error(map));
        return 1;
    }
    return 0;
}

/* Removes the checkpoint count just wrote (its sidecar could not be written). */
static void remove_checkpoint(const char *db, const km_ctx *ctx)
{
    char part[4200];
    snprintf(part, sizeof part, "%s.rank%d-of-%d", db, ctx->rank, ctx->size);
    unlink(part);
    if (ctx->rank == 0) unlink(db);
}

/* fm_save, then the sidecar (rank 0). Returns 0 or 1 (reported). */
static int save(const count_opts *o, const km_ctx *ctx, fm_map *map)
{
    const fm_status st = fm_save(map, o->output);
    if (st != FM_OK) {
        if (ctx->rank == 0) km_report("cannot write the database %s: %s", o->output, fm_last_error(map));
        return 1;
    }
    km_err err = {""};
    int failed = 0;
    if (ctx->rank == 0) {
        km_dbinfo info = {o->k, o->canonical, 0, 0, o->lower, o->upper};
        failed = km_db_read_header(o->output, km_key_size(o->k), &info.checkpoint_id, &info.entries, &err) != 0 ||
                 km_db_write_sidecar(o->output, &info, &err) != 0;
    }
    MPI_Bcast(&failed, 1, MPI_INT, 0, MPI_COMM_WORLD);
    if (failed) {
        if (ctx->rank == 0) km_report("%s", err.msg);
        MPI_Barrier(MPI_COMM_WORLD);
        remove_checkpoint(o->output, ctx);
        return 1;
    }
    return 0;
}

int km_count_main(int argc, char **argv, const km_ctx *ctx)
{
    count_opts o;
    const int usage_rc = parse(argc, argv, ctx->rank, &o);
    if (usage_rc) return usage_rc == 3 ? 0 : usage_rc;
    const double t0 = now();

    km_plan plan;
    km_err err = {""};
    const int plan_rc = km_plan_build(o.files, o.nfiles, ctx->rank, ctx->size, &plan, &err);
    if (any_failed(ctx, plan_rc != 0, &err)) return 1;

    fm_config cfg = fm_config_default(km_key_size(o.k), 8, o.size ? o.size : (uint64_t)1 << 20);
    cfg.threads = o.threads;
    cfg.max_load = o.max_load;
    fm_map *map = NULL;
    const fm_status st = fm_create_mpi(MPI_COMM_WORLD, &cfg, &map);
    if (st != FM_OK) {
        if (ctx->rank == 0) km_report("cannot create the counting map: %s", fm_last_error(NULL));
        km_plan_free(&plan);
        return 1;
    }
    uint64_t kmers = 0, records = 0;
    int rc = count_all(&o, ctx, &plan, map, &kmers, &records);
    km_plan_free(&plan);
    if (rc == 0 && (o.lower > 1 || o.upper < UINT64_MAX)) rc = filter_counts(&o, ctx, map);
    const double t_count = now() - t0;
    const uint64_t distinct = rc == 0 ? fm_size(map) : 0;
    if (rc == 0) rc = save(&o, ctx, map);
    fm_destroy(map);
    if (rc == 0 && o.verbose && ctx->rank == 0)
        fprintf(stderr,
                "flashmap-kmer: %llu records, %llu k-mers, %llu distinct kept; counted in %.2f s "
                "(%.2f M k-mers/s per rank on %d rank%s), total %.2f s\n",
                (unsigned long long)records, (unsigned long long)kmers, (unsigned long long)distinct, t_count,
                t_count > 0 ? (double)kmers / t_count / 1e6 / ctx->size : 0.0, ctx->size, ctx->size > 1 ? "s" : "",
                now() - t0);
    return rc;
}
