/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* flashmap-kmer count: count the k-mers of FASTA/FASTQ files into an MPI
 * map, or a one-process map when started alone (kmer_counter.h), and save
 * it as a database (kmer_db.h). This file holds the options and the order
 * of the steps. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <flashmap_mpi.h>

#include "kmer_code.h"
#include "kmer_comm.h"
#include "kmer_cores.h"
#include "kmer_counter.h"
#include "kmer_db.h"
#include "kmer_dbpath.h"
#include "kmer_error.h"
#include "kmer_opts.h"
#include "kmer_split.h"
#include "kmer_verbs.h"

typedef struct count_opts {
    km_counter_opts counter; /* k, canonical, combine, progress, batch */
    int threads;
    uint64_t size;  /* -s: distinct k-mers expected (0: guess) */
    uint64_t lower; /* -L */
    uint64_t upper; /* -U */
    const char *output;
    int verbose;
    int batch_given; /* --batch */
    fm_hash hash; /* --hash; DEFAULT: by k */
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
            "  -o, --output DB        database to write (required); also DB.kmer, and DB.rank<r>-of-<P>\n"
            "                         on P ranks under mpirun\n"
            "  -C, --canonical        count each k-mer together with its reverse complement\n"
            "  -t, --threads N        threads per rank for the map (default 1)\n"
            "  -s, --size N           distinct k-mers expected in all, e.g. 100M (default: a guess from the\n"
            "                         input size, 64K to 8M per rank; the map grows as needed)\n"
            "  -L, --lower-count N    do not keep k-mers seen fewer than N times\n"
            "  -U, --upper-count N    do not keep k-mers seen more than N times\n"
            "      --progress         progress on stderr (default when stderr is a terminal)\n"
            "  -v, --verbose          summary on stderr at the end; errors with the library's detail\n"
            "      --batch N          k-mers per rank per collective add (default 2M, less for a small input)\n"
            "      --combine 0|1      order each batch for the map and sum its repeats on the reading\n"
            "                         thread first (default 1)\n"
            "      --readers N        reading threads per rank (default: as many as -t)\n"
            "      --max-load F       map load before it grows, 0.1 to 0.95 (default 0.8)\n"
            "      --hash identity|murmur3  placement of k-mers (default identity for k <= 32, else murmur3)\n");
}

/* Parses the options: 0, 2 for a usage error (printed by rank 0), 3 after --help. */
static int parse(int argc, char **argv, int rank, count_opts *o)
{
    static const struct option longs[] = {
        {"mer-len", required_argument, 0, 'm'},     {"output", required_argument, 0, 'o'},
        {"canonical", no_argument, 0, 'C'},         {"threads", required_argument, 0, 't'},
        {"size", required_argument, 0, 's'},        {"lower-count", required_argument, 0, 'L'},
        {"upper-count", required_argument, 0, 'U'}, {"progress", no_argument, 0, 'P'},
        {"verbose", no_argument, 0, 'v'},           {"batch", required_argument, 0, 'B'},
        {"max-load", required_argument, 0, 'D'},    {"help", no_argument, 0, 'h'},
        {"combine", required_argument, 0, 'K'},     {"hash", required_argument, 0, 'H'},
        {"readers", required_argument, 0, 'R'},
        {0, 0, 0, 0}};
    memset(o, 0, sizeof *o);
    o->counter.batch = (size_t)2 << 20;
    o->counter.combine = 1;
    o->counter.progress = isatty(2);
    o->threads = 1;
    o->lower = 1;
    o->upper = UINT64_MAX;
    o->max_load = 0.8;
    uint64_t v = 0;
    int c;
    opterr = rank == 0;
    optind = 1;
    while ((c = getopt_long(argc, argv, "m:o:Ct:s:L:U:vh", longs, NULL)) != -1) {
        switch (c) {
        case 'm':
            if (km_parse_option("count", "-m (k-mer length)", optarg, 1, KM_MAX_K, &v) != 0) return 2;
            o->counter.k = (int)v;
            break;
        case 'o': o->output = optarg; break;
        case 'C': o->counter.canonical = 1; break;
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
        case 'P': o->counter.progress = 1; break;
        case 'v': o->verbose = 1; km_set_verbose_errors(1); break;
        case 'B':
            if (km_parse_option("count", "--batch", optarg, 1, (uint64_t)1 << 30, &v) != 0) return 2;
            o->counter.batch = (size_t)v;
            o->batch_given = 1;
            break;
        case 'R':
            if (km_parse_option("count", "--readers", optarg, 1, 64, &v) != 0) return 2;
            o->counter.readers = (int)v;
            break;
        case 'K':
            if (km_parse_option("count", "--combine", optarg, 0, 1, &v) != 0) return 2;
            o->counter.combine = (int)v;
            break;
        case 'H':
            if (strcmp(optarg, "identity") != 0 && strcmp(optarg, "murmur3") != 0) {
                if (rank == 0) fprintf(stderr, "flashmap-kmer count: --hash is identity or murmur3\n");
                return 2;
            }
            o->hash = strcmp(optarg, "identity") == 0 ? FM_HASH_IDENTITY : FM_HASH_MURMUR3;
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
    const char *missing = !o->counter.k ? "-m K (the k-mer length)"
                          : !o->output  ? "-o DB (the database to write)"
                          : optind >= argc ? "input files" : NULL;
    if (km_check_counts("count", o->lower, o->upper, rank) != 0) return 2;
    if (missing) {
        if (rank == 0) {
            fprintf(stderr, "flashmap-kmer count: missing %s\n", missing);
            usage(stderr);
        }
        return 2;
    }
    if (!o->counter.readers) o->counter.readers = o->threads;
    o->files = argv + optind;
    o->nfiles = argc - optind;
    return 0;
}

/* Bases in the input, roughly: half of a plain file's bytes (FASTQ carries
 * as many quality bytes), twice a gzip file's. */
static uint64_t estimated_bases(const km_plan *plan)
{
    return (plan->total_bytes - plan->gzip_bytes) / 2 + plan->gzip_bytes * 2;
}

/* The map's starting size when -s is not given: a guess that errs low, so
 * that the map grows at most once or twice (growing an MPI map costs a
 * counting pass per batch near the limit) without holding much memory it
 * will not use. Distinct k-mers: a sixteenth of the bases (real read sets
 * have 1/10 to 1/50 at 10x to 50x coverage); at least 64K and at most 8M
 * per rank. (A floor of 1M per rank gave the 983,141 distinct k-mers of
 * gasic-examples 2^21 slots on each of 2 ranks: 142 MiB in all, against
 * 102 MiB for 2^20 slots each.) */
static uint64_t default_size(const km_plan *plan, int ranks)
{
    const uint64_t bases = estimated_bases(plan);
    const uint64_t lo = (uint64_t)64 << 10, hi = (uint64_t)8 << 20;
    uint64_t per_rank = bases / 16 / (uint64_t)ranks;
    per_rank = per_rank < lo ? lo : per_rank > hi ? hi : per_rank;
    return per_rank * (uint64_t)ranks;
}

/* K-mers per batch when --batch is not given: the default 2M, or a
 * thirty-second of a reading thread's share of the bases when that is
 * less, at least 64K. A small input then fills a few small batches instead of one
 * or two of 2M whose buffers (and the exchange's) it would first-touch
 * whole: the 100,000 reads of gasic-examples peaked at 132 MiB on 1 rank. */
static size_t default_batch(const km_plan *plan, int ranks, int readers, size_t batch)
{
    const uint64_t share = estimated_bases(plan) / (uint64_t)ranks / (uint64_t)readers / 32;
    const uint64_t least = (uint64_t)64 << 10, want = share < least ? least : share;
    return want < batch ? (size_t)want : batch;
}

/* A rank bound to fewer cores than -t asks for runs its threads in turns:
 * mpirun binds each of one or two ranks to one core unless told otherwise
 * (1 rank with -t 2 took 4.4 s instead of 2.7 s on the benchmark's reads).
 * Collective; rank 0 says so once, for the rank with the fewest cores. */
static void warn_if_bound(const km_ctx *ctx, int threads)
{
    const int mine = km_usable_cores();
    const int fewest = km_allreduce_int(ctx, mine > 0 ? mine : INT_MAX, MPI_MIN);
    if (ctx->rank != 0 || fewest >= threads) return;
    if (ctx->mpi)
        km_report("warning: -t %d, but a rank may run on only %d core%s (its CPU affinity): under mpirun give "
                  "each rank its cores (--map-by slot:PE=%d, or --bind-to none), under srun -c %d",
                  threads, fewest, fewest > 1 ? "s" : "", threads, threads);
    else
        km_report("warning: -t %d, but this process may run on only %d core%s (its CPU affinity): its threads "
                  "will take turns", threads, fewest, fewest > 1 ? "s" : "");
}

/* The map's statistics, all ranks (collective); zeros when it fails. */
static fm_stats map_stats(fm_map *map)
{
    fm_stats st;
    if (fm_get_stats(map, &st) != FM_OK) memset(&st, 0, sizeof st);
    return st;
}

static void free_plans(km_plan *plans, int n)
{
    for (int i = 0; plans && i < n; i++) km_plan_free(&plans[i]);
    free(plans);
}

/* This process's peak resident memory in bytes (VmHWM), 0 where unknown. */
static uint64_t peak_rss(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %llu kB", &kb) == 1) break;
    fclose(f);
    return (uint64_t)kb * 1024u;
}

/* Per rank, for -v: the stages' seconds and what went to the map. */
enum { ST_PARSE, ST_ORDER, ST_WAIT, ST_ADD, ST_SAVE, ST_KMERS, ST_KEYS, ST_COUNT };

/* -v, one line per rank: where its time went (the reading threads' stages
 * overlap the main thread's, so they need not sum to the wall time) and
 * the keys it handed to the map per k-mer read (repeats summed). */
static void stage_lines(const km_ctx *ctx, const km_counter_totals *t, int readers, double saving)
{
    const double mine[ST_COUNT] = {t->parsing, t->ordering, t->waited, t->adding, saving,
                                   (double)t->my_kmers, (double)t->my_keys};
    double *all = ctx->rank == 0 ? malloc(sizeof mine * (size_t)ctx->size) : NULL;
    int have = all != NULL; /* rank 0's buffer, which every rank must know of before the gather */
    if (!km_bcast_int(ctx, have)) return; /* no memory on rank 0: no stage lines */
    km_gather_doubles(ctx, mine, ST_COUNT, all);
    if (ctx->rank != 0) return;
    for (int r = 0; r < ctx->size; r++) {
        const double *s = all + (size_t)r * ST_COUNT;
        fprintf(stderr,
                "flashmap-kmer: rank %d: reading and parsing %.2f s, ordering %.2f s (%d reading thread%s, "
                "summed); waiting for batches %.2f s, adds %.2f s, saving %.2f s; %.0f keys for %.0f k-mers "
                "(%.2f a k-mer)\n",
                r, s[ST_PARSE], s[ST_ORDER], readers, readers > 1 ? "s" : "", s[ST_WAIT], s[ST_ADD], s[ST_SAVE],
                s[ST_KEYS], s[ST_KMERS], s[ST_KMERS] > 0 ? s[ST_KEYS] / s[ST_KMERS] : 0.0);
    }
    free(all);
}

/* -v: what was counted, how fast, and the memory of every rank (collective). */
static void summary(const km_ctx *ctx, const km_counter_totals *t, uint64_t distinct, uint64_t sent, double t_count,
                    double t_all)
{
    const uint64_t mine = peak_rss();
    uint64_t sum = 0, most = 0;
    km_allreduce_u64(ctx, &mine, &sum, 1, MPI_SUM);
    km_allreduce_u64(ctx, &mine, &most, 1, MPI_MAX);
    if (ctx->rank != 0) return;
    fprintf(stderr,
            "flashmap-kmer: %llu records, %llu k-mers, %llu distinct kept; counted in %.2f s "
            "(%.2f M k-mers/s per rank on %d rank%s; rank 0 waited %.2f s for input and %.2f s in adds), "
            "total %.2f s; peak memory %.0f MiB per rank at most, %.0f MiB in all; the ranks sent each other "
            "%llu bytes (%.2f a k-mer)\n",
            (unsigned long long)t->records, (unsigned long long)t->kmers, (unsigned long long)distinct, t_count,
            t_count > 0 ? (double)t->kmers / t_count / 1e6 / ctx->size : 0.0, ctx->size, ctx->size > 1 ? "s" : "",
            t->waited, t->adding, t_all, (double)most / 1048576.0, (double)sum / 1048576.0, (unsigned long long)sent,
            t->kmers ? (double)sent / (double)t->kmers : 0.0);
}

int km_count_main(int argc, char **argv, const km_ctx *ctx)
{
    count_opts o;
    const int usage_rc = parse(argc, argv, ctx->rank, &o);
    if (usage_rc) return usage_rc == 3 ? 0 : usage_rc;
    const double t0 = km_now();
    const int k = o.counter.k;

    /* Before any reading: a count that cannot be saved is not started. */
    if (km_dbpath_check_writable(ctx, o.output)) return 1;
    if (o.threads > 1) warn_if_bound(ctx, o.threads);

    /* One plan per reading thread: reader r of rank q reads share
     * q * R + r of P * R (kmer_batch.h). */
    const int readers = o.counter.readers;
    km_plan *plans = calloc((size_t)readers, sizeof *plans);
    km_err err = {""};
    int plan_rc = plans ? 0 : km_fail(&err, "no memory to plan the input");
    int built = 0;
    for (; built < readers && plan_rc == 0; built++)
        plan_rc = km_plan_build(o.files, o.nfiles, ctx->rank * readers + built, ctx->size * readers, readers,
                                &plans[built], &err);
    if (km_any_failed(ctx, plan_rc != 0, &err)) {
        free_plans(plans, built);
        return 1;
    }
    const km_plan *plan = &plans[0];
    if (!o.batch_given) o.counter.batch = default_batch(plan, ctx->size, readers, o.counter.batch);

    fm_config cfg = fm_config_default(km_key_size(k), 8, o.size ? o.size : default_size(plan, ctx->size));
    cfg.threads = o.threads;
    cfg.max_load = o.max_load;
    /* Identity placement for one-word codes (the map spreads them with its
     * Fibonacci multiply); murmur3 for two words, whose first word holds
     * only the first 2k - 64 bits. */
    cfg.hash = o.hash ? o.hash : k <= 32 ? FM_HASH_IDENTITY : FM_HASH_MURMUR3;
    fm_map *map = NULL;
    /* Alone, a one-process map: the same tables without an exchange. */
    const fm_status made = ctx->mpi ? fm_create_mpi(MPI_COMM_WORLD, &cfg, &map) : fm_create(&cfg, &map);
    if (made != FM_OK) {
        if (ctx->rank == 0) km_report("cannot create the counting map: %s", km_user_error(fm_last_error(NULL)));
        free_plans(plans, readers);
        return 1;
    }
    uint64_t slots_at_start = 0;
    if (o.verbose) slots_at_start = map_stats(map).slots;
    km_counter_totals totals;
    memset(&totals, 0, sizeof totals);
    int rc = km_counter_run(ctx, plans, &o.counter, map, &totals);
    free_plans(plans, readers);
    /* One scan of the table (fm_get_stats finds its longest probe): the
     * bytes sent by the count alone, and the slots, which -L/-U's removals
     * below do not change. */
    const fm_stats counted = rc == 0 && o.verbose ? map_stats(map) : (fm_stats){0};
    const uint64_t sent = counted.sent_bytes, slots_at_end = counted.slots;
    if (rc == 0 && (o.lower > 1 || o.upper < UINT64_MAX)) rc = km_counter_filter(ctx, map, k, o.lower, o.upper);
    const double t_count = km_now() - t0;
    const uint64_t distinct = rc == 0 ? fm_size(map) : 0;
    double saving = 0;
    if (rc == 0) {
        const km_dbinfo info = {k, o.counter.canonical, 0, 0, o.lower, o.upper};
        const double t_save = km_now();
        rc = km_db_save(ctx, map, o.output, &info);
        saving = km_now() - t_save;
    }
    fm_destroy(map);
    if (rc == 0 && o.verbose) {
        stage_lines(ctx, &totals, readers, saving);
        if (ctx->rank == 0) {
            if (slots_at_end > slots_at_start)
                fprintf(stderr, "flashmap-kmer: the map grew from %llu to %llu slots (-s %llu would have sized it)\n",
                        (unsigned long long)slots_at_start, (unsigned long long)slots_at_end,
                        (unsigned long long)distinct);
            else
                fprintf(stderr, "flashmap-kmer: the map kept its %llu slots (sized %s)\n",
                        (unsigned long long)slots_at_start, o.size ? "by -s" : "from the input size");
        }
        summary(ctx, &totals, distinct, sent, t_count, km_now() - t0);
    }
    return rc;
}
