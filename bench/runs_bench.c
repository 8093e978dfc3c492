/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* flashmap-bench-runs: what a batch that comes as R runs in home-slot order
 * costs to add, against the same keys as one run. An MPI map's owner
 * receives one such run from each rank whose batch was in hash order (a
 * k-mer counter's, for one), so R is the number of ranks.
 *
 *   flashmap-bench-runs [--runs 1,2,3,4] [--threads T] [--keys N] [--calls C] [--reps N]
 *
 * One CPU map, 8-byte keys and values, identity hash, sized for the calls'
 * distinct keys at load 0.8; every call adds N keys drawn from 3.5 N
 * distinct ones (about the mix of new and present keys of a k-mer count),
 * cut into R equal parts, each sorted by placement. Prints ns a key per
 * call and the ratio to one run (medians of N maps, each R-run map timed
 * right after a one-run map). */
#include <flashmap.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PLACE 0x9e3779b97f4a7c15ull /* the identity hash's placement multiply (include/flashmap.h) */
#define MAX_REPS 31

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static int by_placement(const void *a, const void *b)
{
    const uint64_t x = *(const uint64_t *)a * PLACE, y = *(const uint64_t *)b * PLACE;
    return x < y ? -1 : x > y;
}

static int by_value(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* ns a key over `calls` adds of n keys in `runs` runs into a fresh map. */
static double one_map(int runs, int threads, size_t n, size_t calls, uint64_t *keys, const uint64_t *deltas)
{
    const uint64_t pool = (uint64_t)n * 7 / 2;
    fm_config cfg = fm_config_default(8, 8, pool);
    cfg.hash = FM_HASH_IDENTITY;
    cfg.backend = FM_BACKEND_CPU;
    cfg.threads = threads;
    cfg.max_load = 0.8;
    fm_map *map = NULL;
    if (fm_create(&cfg, &map) != FM_OK) {
        fprintf(stderr, "flashmap-bench-runs: fm_create failed\n");
        exit(1);
    }
    uint64_t s = 0x243f6a8885a308d3ull;
    double spent = 0;
    for (size_t c = 0; c < calls; c++) {
        for (size_t i = 0; i < n; i++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            keys[i] = s % pool + 1;
        }
        const size_t part = n / (size_t)runs;
        for (int r = 0; r < runs; r++)
            qsort(keys + part * (size_t)r, r == runs - 1 ? n - part * (size_t)r : part, 8, by_placement);
        const double t0 = now();
        const fm_status st = fm_bulk_add_u64(map, keys, deltas, n);
        spent += now() - t0;
        if (st != FM_OK) {
            fprintf(stderr, "flashmap-bench-runs: fm_bulk_add_u64: %s\n", fm_last_error(map));
            exit(1);
        }
    }
    fm_destroy(map);
    return spent / (double)(calls * n) * 1e9;
}

int main(int argc, char **argv)
{
    const char *runs_list = "1,2,3,4";
    int threads = 1, reps = 5;
    size_t n = 1700000, calls = 10;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--runs")) runs_list = argv[i + 1];
        else if (!strcmp(argv[i], "--threads")) threads = atoi(argv[i + 1]);
        else if (!strcmp(argv[i], "--keys")) n = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--calls")) calls = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--reps")) reps = atoi(argv[i + 1]);
        else {
            fprintf(stderr, "flashmap-bench-runs: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    if (threads < 1 || n < 8 || calls < 1 || reps < 1 || reps > MAX_REPS) {
        fprintf(stderr, "flashmap-bench-runs: --threads, --keys (>= 8), --calls and --reps (<= %d) must be positive\n",
                MAX_REPS);
        return 2;
    }
    uint64_t *keys = malloc(n * 8), *deltas = malloc(n * 8);
    if (!keys || !deltas) return 1;
    for (size_t i = 0; i < n; i++) deltas[i] = 1;
    for (const char *p = runs_list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL)
        if (atoi(p) < 1 || atoi(p) > 64) {
            fprintf(stderr, "flashmap-bench-runs: --runs takes numbers 1 to 64\n");
            return 2;
        }
    printf("| runs | ns a key (median of %d maps) | vs 1 run (median of %d pairs) |\n|---:|---:|---:|\n", reps, reps);
    for (const char *p = runs_list; p; p = strchr(p, ',') ? strchr(p, ',') + 1 : NULL) {
        const int runs = atoi(p);
        /* Pairs, one run then R runs, back to back: this machine's speed
         * wanders more between minutes than within a pair. */
        double t[MAX_REPS], ratio[MAX_REPS];
        for (int rep = 0; rep < reps; rep++) {
            const double one = one_map(1, threads, n, calls, keys, deltas);
            t[rep] = runs == 1 ? one : one_map(runs, threads, n, calls, keys, deltas);
            ratio[rep] = t[rep] / one;
        }
        qsort(t, (size_t)reps, sizeof *t, by_value);
        qsort(ratio, (size_t)reps, sizeof *ratio, by_value);
        printf("| %d | %.2f | %.2fx |\n", runs, t[reps / 2], ratio[reps / 2]);
        fflush(stdout);
    }
    free(keys);
    free(deltas);
    return 0;
}
