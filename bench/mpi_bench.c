/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* flashmap-bench-mpi: bulk operations on an MPI map against, in the same
 * run, what they cannot avoid: a raw MPI_Alltoallv of the same bytes plus
 * the local table operation alone. Efficiency = (exchange + local) /
 * distributed; 1.0 means routing, rounds and agreement cost nothing.
 *
 *   mpirun -np P flashmap-bench-mpi [--keys N] [--reps R] [--threads T] [--op OP] [--json FILE]
 *
 * --keys is per rank (weak scaling); --total N divides N keys over the
 * ranks instead (strong scaling). Times are the slowest rank's, medians of
 * R repetitions, each on a fresh map. */
#include <flashmap_mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct options {
    size_t keys;  /* per rank */
    size_t total; /* if set: keys over all ranks */
    int reps, threads;
    int only; /* one operation (--op), or -1 for all */
    const char *json;
} options;

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void die(const char *what, fm_map *map)
{
    fprintf(stderr, "flashmap-bench-mpi: %s: %s\n", what, fm_last_error(map));
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The slowest rank's time of `seconds`. */
static double slowest(double seconds)
{
    double most = 0;
    MPI_Allreduce(&seconds, &most, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    return most;
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

typedef enum op { OP_INSERT, OP_GET, OP_ADD } op;
static const char *const OP_NAMES[] = {"insert", "get", "add_u64"};

/* One timed bulk call of `o` on a fresh map (gets run on a filled map). */
static double time_map_op(op o, int mpi, const options *opt, size_t n, size_t capacity,
                          const uint64_t *keys, const uint64_t *values, uint64_t *out, uint8_t *found)
{
    fm_config cfg = fm_config_default(8, 8, capacity);
    cfg.threads = opt->threads;
    cfg.backend = FM_BACKEND_CPU;
    fm_map *map = NULL;
    fm_status st = mpi ? fm_create_mpi(MPI_COMM_WORLD, &cfg, &map) : fm_create(&cfg, &map);
    if (st != FM_OK) die("create", NULL);
    if (o == OP_GET && fm_bulk_insert(map, keys, values, n) != FM_OK) die("insert", map);
    /* Steady state, as in a loop over batches: one untimed call of the same
     * operation and size first (it sets up the communicator's collectives
     * and allocates and faults the exchange buffers and the table), then
     * insert and add start again from an empty map. */
    switch (o) {
    case OP_INSERT: st = fm_bulk_insert(map, keys, values, n); break;
    case OP_GET: st = fm_bulk_get(map, keys, n, out, found); break;
    case OP_ADD: st = fm_bulk_add_u64(map, keys, values, n); break;
    }
    if (st != FM_OK || (o != OP_GET && fm_clear(map) != FM_OK)) die("warm-up", map);
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    switch (o) {
    case OP_INSERT: st = fm_bulk_insert(map, keys, values, n); break;
    case OP_GET: st = fm_bulk_get(map, keys, n, out, found); break;
    case OP_ADD: st = fm_bulk_add_u64(map, keys, values, n); break;
    }
    double t = now() - t0;
    if (st != FM_OK) die(OP_NAMES[o], map);
    fm_destroy(map);
    return t;
}

/* The same bytes as the distributed call, spread evenly over the peers:
 * keys and values out (insert, add), keys out and values + flags back (get):
 * 16 bytes a key out for insert and add, 8 out and 9 back for get. */
static double time_exchange(op o, size_t n, int ranks, uint8_t *send, uint8_t *recv)
{
    const size_t out_bytes = n * (o == OP_GET ? 8 : 16), back_bytes = o == OP_GET ? n * 9 : 0;
    int *counts = malloc(4 * sizeof(int) * (size_t)ranks);
    int *displs = counts + ranks, *back = counts + 2 * ranks, *back_displs = counts + 3 * ranks;
    for (int p = 0; p < ranks; p++) {
        counts[p] = (int)(out_bytes / (size_t)ranks);
        displs[p] = p * counts[p];
        back[p] = (int)(back_bytes / (size_t)ranks);
        back_displs[p] = p * back[p];
    }
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = now();
    MPI_Alltoallv(send, counts, displs, MPI_BYTE, recv, counts, displs, MPI_BYTE, MPI_COMM_WORLD);
    if (back_bytes)
        MPI_Alltoallv(recv, back, back_displs, MPI_BYTE, send, back, back_displs, MPI_BYTE,
                      MPI_COMM_WORLD);
    double t = now() - t0;
    free(counts);
    return t;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return v[n / 2];
}

#define USAGE "usage: flashmap-bench-mpi [--keys N | --total N] [--reps R] [--threads T] [--op insert|get|add_u64] " \
              "[--json FILE] [--help] [--version]\n"

/* --help and --version, answered before MPI starts (no launcher needed).
 * 1 when one was given. */
static int help_or_version(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            fputs(USAGE, stdout);
            return 1;
        }
        if (!strcmp(argv[i], "--version")) {
            printf("flashmap-bench-mpi (%s)\n", fm_version_string());
            return 1;
        }
    }
    return 0;
}

/* A whole number in [lo, hi] into *out; 0, or -1 after rank 0 says why. */
static int number(const char *flag, const char *text, unsigned long long lo, unsigned long long hi,
                  unsigned long long *out, int rank)
{
    char *end = NULL;
    *out = strtoull(text, &end, 0);
    if (text[0] == '-' || !end || end == text || *end || *out < lo || *out > hi) {
        if (rank == 0)
            fprintf(stderr, "flashmap-bench-mpi: %s takes a whole number from %llu to %llu, not '%s'\n", flag, lo, hi,
                    text);
        return -1;
    }
    return 0;
}

/* 0, or 2 after rank 0 printed what is wrong (every rank decides alike). */
static int parse(int argc, char **argv, options *opt, int rank)
{
    opt->keys = (size_t)1 << 20;
    opt->total = 0;
    opt->reps = 3;
    opt->threads = 1;
    opt->json = NULL;
    opt->only = -1;
    for (int i = 1; i < argc; i += 2) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned long long n = 0;
        if (!v) {
            if (rank == 0) fprintf(stderr, "flashmap-bench-mpi: %s needs a value\n" USAGE, a);
            return 2;
        }
        if (!strcmp(a, "--json")) {
            opt->json = v;
        } else if (!strcmp(a, "--op")) {
            for (int o = OP_INSERT; o <= OP_ADD; o++)
                if (!strcmp(v, OP_NAMES[o])) opt->only = o;
            if (opt->only < 0) {
                if (rank == 0) fprintf(stderr, "flashmap-bench-mpi: --op takes insert, get or add_u64, not %s\n", v);
                return 2;
            }
        } else if (!strcmp(a, "--keys")) {
            if (number(a, v, 1, (size_t)1 << 40, &n, rank) != 0) return 2;
            opt->keys = (size_t)n;
        } else if (!strcmp(a, "--total")) {
            if (number(a, v, 1, (size_t)1 << 40, &n, rank) != 0) return 2;
            opt->total = (size_t)n;
        } else if (!strcmp(a, "--reps")) {
            if (number(a, v, 1, 15, &n, rank) != 0) return 2;
            opt->reps = (int)n;
        } else if (!strcmp(a, "--threads")) {
            if (number(a, v, 1, 1024, &n, rank) != 0) return 2;
            opt->threads = (int)n;
        } else {
            if (rank == 0) fprintf(stderr, "flashmap-bench-mpi: unknown option %s\n" USAGE, a);
            return 2;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (help_or_version(argc, argv)) return 0;
    MPI_Init(&argc, &argv);
    int rank, ranks;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &ranks);
    options opt;
    if (parse(argc, argv, &opt, rank) != 0) {
        MPI_Finalize();
        return 2;
    }
    const size_t n = opt.total ? opt.total / (size_t)ranks : opt.keys;
    uint64_t seed = 0x5eed0000u + (uint64_t)rank;
    uint64_t *keys = malloc(n * 8), *values = malloc(n * 8), *out = malloc(n * 8);
    uint8_t *found = malloc(n), *send = malloc(n * 16 + 64), *recv = malloc(n * 16 + 64);
    if (!keys || !values || !out || !found || !send || !recv) die("out of memory", NULL);
    for (size_t i = 0; i < n; i++) {
        keys[i] = splitmix(&seed);
        values[i] = 1 + (i & 7);
    }
    memset(send, 1, n * 16 + 64);
    FILE *json = NULL;
    if (rank == 0 && opt.json && !(json = fopen(opt.json, "a"))) die("cannot open the --json file", NULL);
    if (rank == 0) {
        printf("flashmap-bench-mpi: %s\n", fm_version_string());
        printf("%d ranks, %zu keys per rank (8-byte keys and values), %d thread(s) per rank, median of %d\n",
               ranks, n, opt.threads, opt.reps);
        printf("%-8s %12s %12s %12s %12s %10s\n", "op", "distributed", "exchange", "local", "Mkeys/s",
               "efficiency");
    }
    for (int o = OP_INSERT; o <= OP_ADD; o++) {
        if (opt.only >= 0 && o != opt.only) continue;
        double dist[15], xchg[15], local[15];
        for (int r = 0; r < opt.reps; r++) {
            dist[r] = slowest(time_map_op((op)o, 1, &opt, n, n * (size_t)ranks, keys, values, out, found));
            xchg[r] = slowest(time_exchange((op)o, n, ranks, send, recv));
            local[r] = slowest(time_map_op((op)o, 0, &opt, n, n, keys, values, out, found));
        }
        const double d = median(dist, opt.reps), x = median(xchg, opt.reps), l = median(local, opt.reps);
        const double rate = (double)n * ranks / d / 1e6, eff = (x + l) / d;
        if (rank == 0) {
            printf("%-8s %11.4fs %11.4fs %11.4fs %12.2f %10.2f\n", OP_NAMES[o], d, x, l, rate, eff);
            if (json)
                fprintf(json,
                        "{\"bench\":\"mpi\",\"op\":\"%s\",\"ranks\":%d,\"keys_per_rank\":%zu,\"threads\":%d,"
                        "\"distributed_s\":%.6f,\"exchange_s\":%.6f,\"local_s\":%.6f,\"mkeys_per_s\":%.3f,"
                        "\"efficiency\":%.3f,\"scaling\":\"%s\",\"total_keys\":%zu}\n",
                        OP_NAMES[o], ranks, n, opt.threads, d, x, l, rate, eff, opt.total ? "strong" : "weak",
                        n * (size_t)ranks);
        }
    }
    if (json) fclose(json);
    free(keys);
    free(values);
    free(out);
    free(found);
    free(send);
    free(recv);
    MPI_Finalize();
    return 0;
}
