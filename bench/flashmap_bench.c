/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * flashmap-bench: bulk throughput of flashmap against peer hash maps
 * (libcuckoo, TBB concurrent_hash_map, abseil flat_hash_map), and the
 * machine's own limit for random cache-line reads. See bench/README.md.
 *
 * For every key/value shape, table size and thread count: random keys
 * (splitmix64), every table pre-sized for all the keys, and for each
 * contender and each repetition a fresh map that runs, in this order,
 *   insert  (all keys, into the empty map)
 *   get     (all keys, all present)
 *   get_mix (half present, half absent, interleaved at random)
 *   add_u64 (all keys present, one delta each; value_size 8 only)
 *   remove  (all keys, all present)
 * Only the operation itself is timed (CLOCK_MONOTONIC around the one bulk
 * call or the one loop over the batch); allocation, key generation and the
 * correctness checks are not. The median over the repetitions is reported.
 */
#include "bench.h"
#include "peers/peer.h"

#include <flashmap.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifdef _OPENMP
#include <omp.h>
#endif

/* ------------------------------------------------------------------ util */

#define BUSY_OTHER 0.25 /* flag a measurement when others used more CPU than this */

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(const double *v, int n) {
    if (n <= 0) return 0;
    double tmp[BENCH_MAX_REPS];
    if (n > BENCH_MAX_REPS) n = BENCH_MAX_REPS;
    memcpy(tmp, v, (size_t)n * sizeof *v);
    qsort(tmp, (size_t)n, sizeof *tmp, cmp_double);
    return (n & 1) ? tmp[n / 2] : 0.5 * (tmp[n / 2 - 1] + tmp[n / 2]);
}

static void die(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fputs("flashmap-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(2);
}

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) die("out of memory (%zu bytes)", bytes);
    return p;
}

static long minor_faults(void) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_minflt;
}

/* Idle CPUs (in CPUs, from /proc/stat) over `secs` seconds; -1 unknown.
 * Other processes on the machine skew threaded timings. */
static int read_cpu_ticks(unsigned long long *idle, unsigned long long *total) {
    FILE *f = fopen("/proc/stat", "r");
    if (!f) return -1;
    unsigned long long v[10] = {0};
    int got = fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2],
                     &v[3], &v[4], &v[5], &v[6], &v[7], &v[8], &v[9]);
    fclose(f);
    if (got < 5) return -1;
    *idle = v[3] + v[4]; /* idle + iowait */
    *total = 0;
    for (int i = 0; i < 8; i++) *total += v[i]; /* guest time is already in user */
    return 0;
}

/* CPUs used by other processes between two marks: non-idle CPU time of the
 * machine minus this process's own CPU time, over the wall time. */
typedef struct cpu_mark {
    unsigned long long nonidle; /* ticks */
    double own;                 /* seconds of CPU of this process */
    double wall;
    int ok;
} cpu_mark;

double bench_now(void);

static void cpu_mark_now(cpu_mark *m) {
    unsigned long long idle, total;
    struct rusage ru;
    m->ok = read_cpu_ticks(&idle, &total) == 0;
    m->nonidle = m->ok ? total - idle : 0;
    getrusage(RUSAGE_SELF, &ru);
    m->own = (double)ru.ru_utime.tv_sec + 1e-6 * (double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_sec +
             1e-6 * (double)ru.ru_stime.tv_usec;
    m->wall = bench_now();
}

static double other_cpus(const cpu_mark *a, const cpu_mark *b) {
    if (!a->ok || !b->ok || b->wall <= a->wall) return -1;
    double busy = (double)(b->nonidle - a->nonidle) / (double)sysconf(_SC_CLK_TCK);
    double other = (busy - (b->own - a->own)) / (b->wall - a->wall);
    return other < 0 ? 0 : other;
}

static double idle_cpus(double secs) {
    unsigned long long i0, t0, i1, t1;
    if (read_cpu_ticks(&i0, &t0) != 0) return -1;
    struct timespec ts = {(time_t)secs, (long)((secs - (double)(time_t)secs) * 1e9)};
    nanosleep(&ts, NULL);
    if (read_cpu_ticks(&i1, &t1) != 0 || t1 <= t0) return -1;
    return (double)(i1 - i0) / (double)(t1 - t0) * (double)sysconf(_SC_NPROCESSORS_ONLN);
}

/* Wait (up to max_s seconds) until the machine looks idle: two samples in a
 * row with at least all-but-0.25 CPUs idle. Returns 1 when it got idle. */
static int wait_idle(double max_s) {
    const double want = (double)sysconf(_SC_NPROCESSORS_ONLN) - BUSY_OTHER;
    int good = 0;
    for (double waited = 0; waited < max_s; waited += 0.5) {
        double idle = idle_cpus(0.5);
        if (idle < 0) return 0;
        good = idle >= want ? good + 1 : 0;
        if (good >= 2) return 1;
    }
    return 0;
}

static inline uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* n records of `size` bytes from one splitmix64 stream. Records of 8 bytes or
 * more are distinct (the stream never repeats a 64-bit word). */
static void fill_random(uint8_t *dst, size_t n, uint32_t size, uint64_t seed) {
    uint64_t st = seed;
    size_t total = n * (size_t)size, i = 0;
    for (; i + 8 <= total; i += 8) {
        uint64_t w = splitmix64(&st);
        memcpy(dst + i, &w, 8);
    }
    if (i < total) {
        uint64_t w = splitmix64(&st);
        memcpy(dst + i, &w, total - i);
    }
}

static int is_pow2(uint64_t x) { return x && !(x & (x - 1)); }
static int log2u(uint64_t x) {
    int l = 0;
    while (x > 1) x >>= 1, l++;
    return l;
}
static const char *fmt_keys(uint64_t n, char *buf, size_t len) {
    if (is_pow2(n) && n >= 1024)
        snprintf(buf, len, "2^%d", log2u(n));
    else
        snprintf(buf, len, "%" PRIu64, n);
    return buf;
}

/* "16777216", "2^24", "16M" (2^20), "4k", "1G" */
static uint64_t parse_count(const char *s, const char *what) {
    char *end;
    errno = 0;
    if (strncmp(s, "2^", 2) == 0) {
        unsigned long e = strtoul(s + 2, &end, 10);
        if (*end || e > 40) die("bad %s: %s", what, s);
        return (uint64_t)1 << e;
    }
    unsigned long long v = strtoull(s, &end, 10);
    if (end == s || errno) die("bad %s: %s", what, s);
    switch (tolower((unsigned char)*end)) {
    case 0: break;
    case 'k': v <<= 10; end++; break;
    case 'm': v <<= 20; end++; break;
    case 'g': v <<= 30; end++; break;
    default: die("bad %s: %s", what, s);
    }
    if (*end) die("bad %s: %s", what, s);
    return (uint64_t)v;
}

/* --------------------------------------------------------------- options */

/* insert_grow and add_grow: a map created for 1/16 of the keys takes them
 * all in batches of GROW_BATCH (growing 16-fold on the way). insert_sized:
 * the same calls on a map created for all the keys, its creation timed too,
 * so that both pay for first touching their memory and the ratio of the
 * two is what growing costs beyond that. */
enum { OP_INSERT, OP_GET, OP_GETMIX, OP_ADD, OP_REMOVE, OP_INSERT_GROW, OP_ADD_GROW, OP_INSERT_SIZED, OP_COUNT };
static const char *const op_names[OP_COUNT] = {"insert", "get", "get_mix", "add_u64", "remove",
                                               "insert_grow", "add_grow", "insert_sized"};
static const char *const op_fm[OP_COUNT] = {"fm_bulk_insert", "fm_bulk_get", "fm_bulk_get (50% miss)",
                                            "fm_bulk_add_u64", "fm_bulk_remove",
                                            "fm_bulk_insert (growing, 2^20 a call)",
                                            "fm_bulk_add_u64 (growing, 2^20 a call)",
                                            "fm_create + fm_bulk_insert (pre-sized, 2^20 a call)"};
static const char *const op_peer[OP_COUNT] = {"insert", "find", "find (50% miss)", "add (+=)",
                                              "erase", "insert (growing)", "add (growing)",
                                              "create + insert (pre-sized)"};
#define GROW_BATCH ((size_t)1 << 20)

enum { C_FM, C_CUCKOO, C_TBB, C_ABSL, C_COUNT };
static const char *const contender_names[C_COUNT] = {"flashmap", "libcuckoo", "tbb", "absl"};

#define MAX_THREADS_LIST 16
#define MAX_SHAPES 8

typedef struct options {
    int quick;
    uint64_t keys; /* 0: per shape default */
    int threads[MAX_THREADS_LIST];
    int nthreads;
    int reps;
    uint32_t shape_k[MAX_SHAPES], shape_v[MAX_SHAPES];
    int nshapes;
    const char *json;
    unsigned ops;        /* bit per OP_ */
    unsigned contenders; /* bit per C_ */
    fm_backend backend;
    int shards;
    int limit; /* run the limit probe */
    int retry_busy; /* reruns of a measurement that other processes disturbed */
    uint64_t seed;
    const char *date, *host, *commit;
} options;

static void usage(FILE *f) {
    fputs(
        "usage: flashmap-bench [options]\n"
        "  --quick              small run (2^21 keys, 8x8, 2 threads, 1 repetition, no retries)\n"
        "  --keys N             keys per table, all shapes (N, 2^K, or with k/M/G = 2^10/2^20/2^30)\n"
        "                       default: 2^24 for shapes of <= 32 bytes per entry, else 2^22\n"
        "  --threads LIST       thread counts, e.g. 1,2 (default 1,2)\n"
        "  --reps N             repetitions per measurement; the median is reported (default 3)\n"
        "  --shapes LIST        KEYxVALUE byte sizes, e.g. 8x8,32x128 (default 8x8,32x128)\n"
        "  --ops LIST           insert,get,get_mix,add_u64,remove,insert_grow,add_grow,insert_sized\n"
        "                       (default all; --quick: the first five)\n"
        "  --contenders LIST    flashmap,libcuckoo,tbb,absl (default all)\n"
        "  --json FILE          write one JSON object per measurement to FILE\n"
        "  --backend B          cpu (default), auto or cuda for flashmap\n"
        "  --shards N           flashmap shards in this process (default 1)\n"
        "  --no-limit           skip the random-read limit probe\n"
        "  --retry-busy N       rerun a measurement up to N times (after waiting up to 60 s for\n"
        "                       idle CPUs) when other processes used > 0.25 CPUs during it (default 1)\n"
        "  --seed N             key seed (default 1)\n"
        "  --version            the library's version and backends\n"
        "  --date S --host S --commit S   tags for the JSON records\n"
        "                       (or FM_BENCH_DATE / FM_BENCH_HOST / FM_BENCH_COMMIT;\n"
        "                        date and host default to now and gethostname)\n",
        f);
}

static unsigned parse_name_list(const char *s, const char *const *names, int count,
                                const char *what) {
    unsigned mask = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int i = 0; i < count; i++)
            if (strcmp(tok, names[i]) == 0) mask |= 1u << i, found = 1;
        if (!found) die("unknown %s: %s", what, tok);
    }
    return mask;
}

static void parse_threads(options *o, const char *s) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    o->nthreads = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        if (o->nthreads == MAX_THREADS_LIST) die("too many thread counts");
        uint64_t t = parse_count(tok, "thread count");
        if (t < 1 || t > 1024) die("bad thread count: %s", tok);
        o->threads[o->nthreads++] = (int)t;
    }
    if (!o->nthreads) die("empty thread list");
}

static void parse_shapes(options *o, const char *s) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", s);
    o->nshapes = 0;
    for (char *save = NULL, *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        unsigned k, v;
        char extra;
        if (sscanf(tok, "%ux%u%c", &k, &v, &extra) != 2) die("bad shape: %s (want KEYxVALUE)", tok);
        if (k < 8 || k > FM_MAX_KEY_SIZE || v > FM_MAX_VALUE_SIZE)
            die("bad shape: %s (keys of 8..%u bytes, values of 0..%u)", tok, FM_MAX_KEY_SIZE,
                FM_MAX_VALUE_SIZE);
        if (o->nshapes == MAX_SHAPES) die("too many shapes");
        o->shape_k[o->nshapes] = k;
        o->shape_v[o->nshapes] = v;
        o->nshapes++;
    }
    if (!o->nshapes) die("empty shape list");
}

static void parse_options(options *o, int argc, char **argv) {
    memset(o, 0, sizeof *o);
    o->threads[0] = 1, o->threads[1] = 2, o->nthreads = 2;
    o->reps = 3;
    o->shape_k[0] = 8, o->shape_v[0] = 8;
    o->shape_k[1] = 32, o->shape_v[1] = 128;
    o->nshapes = 2;
    o->ops = (1u << OP_COUNT) - 1;
    o->contenders = (1u << C_COUNT) - 1;
    o->backend = FM_BACKEND_CPU;
    o->shards = 1;
    o->limit = 1;
    o->retry_busy = 1;
    o->seed = 1;
    o->date = getenv("FM_BENCH_DATE");
    o->host = getenv("FM_BENCH_HOST");
    o->commit = getenv("FM_BENCH_COMMIT");
    /* --quick first, so that explicit options given with it override it */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            o->quick = 1;
            o->keys = (uint64_t)1 << 21;
            o->threads[0] = 2, o->nthreads = 1;
            o->reps = 1;
            o->nshapes = 1;
            o->retry_busy = 0;
            o->ops = (1u << OP_INSERT_GROW) - 1;
        }
    }
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
#define ARG() (i + 1 < argc ? argv[++i] : (die("%s needs a value", a), (char *)NULL))
        if (strcmp(a, "--quick") == 0) {
        } else if (strcmp(a, "--keys") == 0) {
            o->keys = parse_count(ARG(), "key count");
            if (o->keys < 1) die("--keys must be positive");
        } else if (strcmp(a, "--threads") == 0) {
            parse_threads(o, ARG());
        } else if (strcmp(a, "--reps") == 0) {
            uint64_t r = parse_count(ARG(), "repetitions");
            if (r < 1 || r > BENCH_MAX_REPS) die("--reps must be 1..%d", BENCH_MAX_REPS);
            o->reps = (int)r;
        } else if (strcmp(a, "--shapes") == 0) {
            parse_shapes(o, ARG());
        } else if (strcmp(a, "--ops") == 0) {
            o->ops = parse_name_list(ARG(), op_names, OP_COUNT, "op");
        } else if (strcmp(a, "--contenders") == 0) {
            o->contenders = parse_name_list(ARG(), contender_names, C_COUNT, "contender");
        } else if (strcmp(a, "--json") == 0) {
            o->json = ARG();
        } else if (strcmp(a, "--backend") == 0) {
            const char *b = ARG();
            if (strcmp(b, "cpu") == 0)
                o->backend = FM_BACKEND_CPU;
            else if (strcmp(b, "cuda") == 0)
                o->backend = FM_BACKEND_CUDA;
            else if (strcmp(b, "auto") == 0)
                o->backend = FM_BACKEND_AUTO;
            else
                die("bad backend: %s", b);
        } else if (strcmp(a, "--shards") == 0) {
            uint64_t s = parse_count(ARG(), "shard count");
            if (s < 1 || s > 4096) die("bad shard count");
            o->shards = (int)s;
        } else if (strcmp(a, "--retry-busy") == 0) {
            uint64_t r = parse_count(ARG(), "retry count");
            if (r > 100) die("--retry-busy must be 0..100");
            o->retry_busy = (int)r;
        } else if (strcmp(a, "--no-limit") == 0) {
            o->limit = 0;
        } else if (strcmp(a, "--seed") == 0) {
            o->seed = parse_count(ARG(), "seed");
        } else if (strcmp(a, "--date") == 0) {
            o->date = ARG();
        } else if (strcmp(a, "--host") == 0) {
            o->host = ARG();
        } else if (strcmp(a, "--commit") == 0) {
            o->commit = ARG();
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            exit(0);
        } else if (strcmp(a, "--version") == 0) {
            printf("flashmap-bench (%s)\n", fm_version_string());
            exit(0);
        } else {
            usage(stderr);
            die("unknown option: %s", a);
        }
#undef ARG
    }
}

/* ----------------------------------------------------- flashmap adapter */
/* flashmap behind the same bench_peer table as the peers, so one loop runs
 * every contender the same way. */

static const options *g_opt;

typedef struct fm_wrap {
    fm_map *map;
    fm_status err;
    char msg[512];
} fm_wrap;

static void fm_note(fm_wrap *w, fm_status s, const char *what) {
    if (s == FM_OK || w->err != FM_OK) return;
    w->err = s;
    snprintf(w->msg, sizeof w->msg, "%s: %s (%s)", what, fm_status_str(s), fm_last_error(w->map));
}

static int fmw_supports(uint32_t ks, uint32_t vs) {
    (void)ks, (void)vs;
    return 1;
}

static char g_fm_create_error[512];

static void *fmw_create(uint32_t ks, uint32_t vs, uint64_t capacity, double max_load, int threads) {
    fm_config cfg = fm_config_default(ks, vs, capacity);
    cfg.max_load = max_load;
    cfg.threads = threads;
    cfg.backend = g_opt->backend;
    cfg.shards = g_opt->shards;
    fm_wrap *w = xmalloc(sizeof *w);
    memset(w, 0, sizeof *w);
    fm_status s = fm_create(&cfg, &w->map);
    if (s != FM_OK) {
        snprintf(g_fm_create_error, sizeof g_fm_create_error, "fm_create: %s (%s)", fm_status_str(s),
                 fm_last_error(NULL));
        free(w);
        return NULL;
    }
    return w;
}
static void fmw_destroy(void *p) {
    fm_wrap *w = p;
    fm_destroy(w->map);
    free(w);
}
static void fmw_insert(void *p, const void *k, const void *v, size_t n, int t) {
    (void)t;
    fm_note(p, fm_bulk_insert(((fm_wrap *)p)->map, k, v, n), "fm_bulk_insert");
}
static void fmw_get(void *p, const void *k, size_t n, void *vo, uint8_t *f, int t) {
    (void)t;
    fm_note(p, fm_bulk_get(((fm_wrap *)p)->map, k, n, vo, f), "fm_bulk_get");
}
static void fmw_remove(void *p, const void *k, size_t n, uint8_t *r, int t) {
    (void)t;
    fm_note(p, fm_bulk_remove(((fm_wrap *)p)->map, k, n, r), "fm_bulk_remove");
}
static void fmw_add(void *p, const void *k, const uint64_t *d, size_t n, int t) {
    (void)t;
    fm_note(p, fm_bulk_add_u64(((fm_wrap *)p)->map, k, d, n), "fm_bulk_add_u64");
}
static uint64_t fmw_size(void *p) { return fm_size(((fm_wrap *)p)->map); }

static const bench_peer fm_contender = {
    "flashmap", "flashmap bulk API, cfg.capacity = keys, cfg.threads = threads",
    1,          fmw_supports,
    fmw_create, fmw_destroy,
    fmw_insert, fmw_get,
    fmw_remove, fmw_add,
    fmw_size,
};

/* -------------------------------------------------------------- dataset */

typedef struct dataset {
    uint32_t ks, vs;
    size_t n;
    uint8_t *keys, *vals;    /* n records each */
    uint8_t *mix_keys;       /* n keys: keys[i] or an absent key */
    uint8_t *mix_hit;        /* 1 where mix_keys[i] == keys[i] */
    uint64_t *deltas;        /* n */
    uint8_t *out, *flags;    /* outputs: n values, n bytes */
} dataset;

static void dataset_make(dataset *d, uint32_t ks, uint32_t vs, size_t n, uint64_t seed) {
    memset(d, 0, sizeof *d);
    d->ks = ks, d->vs = vs, d->n = n;
    d->keys = xmalloc(n * ks);
    d->vals = xmalloc(n * vs);
    d->mix_keys = xmalloc(n * ks);
    d->mix_hit = xmalloc(n);
    d->deltas = xmalloc(n * sizeof(uint64_t));
    d->out = xmalloc(n * vs);
    d->flags = xmalloc(n);
    fill_random(d->keys, n, ks, seed * 0x632BE59BD9B4E019ULL + 1);
    fill_random(d->vals, n, vs, seed * 0x632BE59BD9B4E019ULL + 2);
    fill_random(d->mix_keys, n, ks, seed * 0x632BE59BD9B4E019ULL + 3); /* absent keys */
    uint64_t st = seed * 0x632BE59BD9B4E019ULL + 4;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = splitmix64(&st);
        d->mix_hit[i] = (uint8_t)(r & 1);
        if (d->mix_hit[i]) memcpy(d->mix_keys + i * ks, d->keys + i * ks, ks);
        d->deltas[i] = (r >> 1) % 1000 + 1;
    }
    /* touch the output buffers so their page faults stay out of the timings */
    memset(d->out, 0, n * vs);
    memset(d->flags, 0, n);
}

static void dataset_free(dataset *d) {
    free(d->keys), free(d->vals), free(d->mix_keys), free(d->mix_hit);
    free(d->deltas), free(d->out), free(d->flags);
}

static size_t all_flags(const uint8_t *f, size_t n, uint8_t want) {
    size_t bad = 0;
    for (size_t i = 0; i < n; i++) bad += f[i] != want;
    return bad;
}

/* ---------------------------------------------------------- measurement */

typedef struct result {
    int ran;         /* measured */
    double seconds;  /* median */
    double mkeys;    /* n / median / 1e6 */
    long minflt;     /* minor page faults in the timed call (last repetition) */
    int wrong;       /* a check failed */
    int threads;     /* threads it ran on */
    double other;    /* CPUs other processes used during the contender's runs (-1 unknown) */
} result;


static int g_failures;
static int g_busy_warnings;

static void report_wrong(const char *who, const char *op, const char *what, size_t count) {
    fprintf(stderr, "flashmap-bench: %s %s: WRONG RESULT: %s (%zu)\n", who, op, what, count);
    g_failures++;
}

static const char *contender_error(const bench_peer *c, void *map) {
    if (c == &fm_contender) {
        fm_wrap *w = map;
        return w->err != FM_OK ? w->msg : NULL;
    }
    return NULL;
}

/* 1 (message printed, map destroyed) when the contender reports an error
 * after `op`. */
static int op_failed(const bench_peer *c, void *map, int op) {
    const char *err = contender_error(c, map);
    if (!err) return 0;
    fprintf(stderr, "flashmap-bench: %s %s: %s\n", c->name, op_names[op], err);
    g_failures++;
    c->destroy(map);
    return 1;
}

/* Fresh memory costs a different amount from one moment to the next on a
 * VM that hands freed pages back to its host: pages freed a moment ago are
 * still backed, others must be found again. Every growing and pre-sized
 * measurement therefore starts right after touching and freeing as much
 * memory as two final tables hold (untimed), so that each finds the memory
 * alike, whichever op ran before it. */
static void settle_memory(const dataset *d) {
    const size_t bytes = 4 * d->n * (d->ks + d->vs + 4); /* the final table twice */
    unsigned char *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, bytes, MADV_HUGEPAGE); /* as large tables are */
#endif
    for (size_t at = 0; at < bytes; at += 4096) p[at] = 1;
    munmap(p, bytes);
}

/* A growing map: created for n / 16 keys, then all n inserted (or added,
 * every key new) in calls of GROW_BATCH keys; the calls are timed
 * together. insert_sized: created for n keys, creation timed with the
 * calls. Checked (when `check`): every key is in once. */
static int time_growing(const bench_peer *c, const dataset *d, int threads, int op, int check, double *secs,
                        result *res) {
    const size_t n = d->n;
    const int sized = op == OP_INSERT_SIZED;
    settle_memory(d);
    long f0 = minor_faults();
    double t0 = bench_now();
    void *map = c->create(d->ks, d->vs, sized ? n : n / 16 ? n / 16 : 1, 0.5, threads);
    if (!map) {
        fprintf(stderr, "flashmap-bench: %s: create failed\n", c->name);
        g_failures++;
        return -1;
    }
    if (!sized) { /* growing: only the calls are timed */
        f0 = minor_faults();
        t0 = bench_now();
    }
    for (size_t at = 0; at < n; at += GROW_BATCH) {
        const size_t len = n - at < GROW_BATCH ? n - at : GROW_BATCH;
        if (op != OP_ADD_GROW)
            c->insert(map, d->keys + at * d->ks, d->vals + at * d->vs, len, threads);
        else
            c->add_u64(map, d->keys + at * d->ks, d->deltas + at, len, threads);
    }
    double t1 = bench_now();
    res->minflt = minor_faults() - f0;
    if (op_failed(c, map, op)) return -1;
    *secs = t1 - t0;
    if (check && c->size(map) != n)
        report_wrong(c->name, op_names[op], "size after the growing writes != keys", (size_t)c->size(map)), res->wrong = 1;
    c->destroy(map);
    return 0;
}

/* Run every selected op `reps` times on fresh maps; fill res[op]. Returns 0,
 * or -1 when the contender failed (message printed). */
static int run_contender(const bench_peer *c, const dataset *d, int threads, const options *o,
                         result res[OP_COUNT]) {
    const size_t n = d->n, vs = d->vs;
    double secs[OP_COUNT][BENCH_MAX_REPS];
    memset(res, 0, sizeof(result) * OP_COUNT);
    unsigned ops = o->ops;
    if (vs != 8) ops &= ~(1u << OP_ADD | 1u << OP_ADD_GROW);
    const int run_threads = c->concurrent ? threads : 1;
    cpu_mark m0, m1;
    cpu_mark_now(&m0);

    for (int r = 0; r < o->reps; r++) {
        void *map = c->create(d->ks, d->vs, n, 0.5, run_threads);
        if (!map) {
            fprintf(stderr, "flashmap-bench: %s: create failed%s%s\n", c->name,
                    c == &fm_contender ? ": " : "", c == &fm_contender ? g_fm_create_error : "");
            g_failures++;
            return -1;
        }
        const int check = (r == 0);
        for (int op = 0; op < OP_COUNT; op++) {
            /* the insert always runs: everything after it needs the keys */
            if (op != OP_INSERT && !(ops & (1u << op))) continue;
            if (op >= OP_INSERT_GROW) {
                if (time_growing(c, d, run_threads, op, check, &secs[op][r], &res[op]) != 0) {
                    c->destroy(map);
                    return -1;
                }
                continue;
            }
            long f0 = minor_faults();
            double t0 = bench_now();
            switch (op) {
            case OP_INSERT: c->insert(map, d->keys, d->vals, n, run_threads); break;
            case OP_GET: c->get(map, d->keys, n, d->out, d->flags, run_threads); break;
            case OP_GETMIX: c->get(map, d->mix_keys, n, d->out, d->flags, run_threads); break;
            case OP_ADD: c->add_u64(map, d->keys, d->deltas, n, run_threads); break;
            case OP_REMOVE: c->remove(map, d->keys, n, d->flags, run_threads); break;
            }
            double t1 = bench_now();
            long f1 = minor_faults();
            if (op_failed(c, map, op)) return -1;
            secs[op][r] = t1 - t0;
            res[op].minflt = f1 - f0;
            if (!check) continue;
            /* correctness checks, untimed, on the first repetition */
            size_t bad = 0;
            switch (op) {
            case OP_INSERT:
                if (c->size(map) != n) report_wrong(c->name, op_names[op], "size after insert != keys", (size_t)c->size(map)), res[op].wrong = 1;
                break;
            case OP_GET:
                if ((bad = all_flags(d->flags, n, 1)) != 0) report_wrong(c->name, op_names[op], "keys not found", bad), res[op].wrong = 1;
                else if (memcmp(d->out, d->vals, n * vs) != 0) report_wrong(c->name, op_names[op], "values differ", 0), res[op].wrong = 1;
                break;
            case OP_GETMIX:
                for (size_t i = 0; i < n; i++) {
                    if (d->flags[i] != d->mix_hit[i]) {
                        bad++;
                        continue;
                    }
                    const uint8_t *got = d->out + i * vs;
                    if (d->mix_hit[i]) {
                        bad += memcmp(got, d->vals + i * vs, vs) != 0;
                    } else {
                        for (size_t b = 0; b < vs; b++) bad += got[b] != 0;
                    }
                }
                if (bad) report_wrong(c->name, op_names[op], "found flags or values differ", bad), res[op].wrong = 1;
                break;
            case OP_ADD:
                c->get(map, d->keys, n, d->out, d->flags, run_threads);
                for (size_t i = 0; i < n; i++) {
                    uint64_t got, before;
                    memcpy(&got, d->out + i * 8, 8);
                    memcpy(&before, d->vals + i * 8, 8);
                    bad += !d->flags[i] || got != before + d->deltas[i];
                }
                if (bad) report_wrong(c->name, op_names[op], "counters differ", bad), res[op].wrong = 1;
                break;
            case OP_REMOVE:
                if ((bad = all_flags(d->flags, n, 1)) != 0) report_wrong(c->name, op_names[op], "keys not removed", bad), res[op].wrong = 1;
                else if (c->size(map) != 0) report_wrong(c->name, op_names[op], "size after remove != 0", (size_t)c->size(map)), res[op].wrong = 1;
                break;
            }
        }
        c->destroy(map);
    }
    cpu_mark_now(&m1);
    const double other = other_cpus(&m0, &m1);
    for (int op = 0; op < OP_COUNT; op++) {
        if (op != OP_INSERT && !(ops & (1u << op))) continue;
        if (!(o->ops & (1u << op))) continue; /* ran, but not asked for */
        res[op].ran = 1;
        res[op].other = other;
        res[op].threads = run_threads;
        res[op].seconds = bench_median(secs[op], o->reps);
        res[op].mkeys = (double)n / res[op].seconds / 1e6;
    }
    return 0;
}

static double max_other(const result res[OP_COUNT]) {
    double m = -1;
    for (int op = 0; op < OP_COUNT; op++)
        if (res[op].ran && res[op].other > m) m = res[op].other;
    return m;
}

/* run_contender, rerun (after waiting for idle CPUs) while other processes
 * disturbed it, at most o->retry_busy more times */
static int run_contender_retry(const bench_peer *c, const dataset *d, int threads, const options *o,
                               result res[OP_COUNT]) {
    for (int attempt = 0;; attempt++) {
        int rc = run_contender(c, d, threads, o, res);
        double other = max_other(res);
        if (rc != 0 || other <= BUSY_OTHER || attempt >= o->retry_busy) return rc;
        fprintf(stderr, "flashmap-bench: %s (%d threads) disturbed (other processes used %.2f CPUs); "
                        "waiting for idle CPUs and rerunning\n", c->name, threads, other);
        wait_idle(60);
    }
}

/* ----------------------------------------------------------------- JSON */

static FILE *g_json;
static char g_date[64], g_host[256];

static void json_str(FILE *f, const char *key, const char *s) {
    fprintf(f, ",\"%s\":\"", key);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20)
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

static void json_begin(const char *contender, const char *op, const dataset *d, int threads) {
    fprintf(g_json, "{\"contender\":\"%s\",\"op\":\"%s\",\"key_size\":%u,\"value_size\":%u,"
                    "\"keys\":%zu,\"threads\":%d",
            contender, op, d->ks, d->vs, d->n, threads);
}

static double g_block_idle = -1; /* idle CPUs before the current block */

static void json_end(const options *o) {
    if (g_block_idle >= 0) fprintf(g_json, ",\"idle_cpus_before\":%.2f", g_block_idle);
    json_str(g_json, "date", g_date);
    json_str(g_json, "host", g_host);
    if (o->commit && *o->commit) json_str(g_json, "commit", o->commit);
    fputs("}\n", g_json);
    fflush(g_json);
}

/* ----------------------------------------------------------------- main */

typedef struct ratio_line {
    char text[192];
} ratio_line;
static ratio_line *g_ratios;
static size_t g_nratios, g_capratios;

static void add_ratio(const char *fmt, ...) {
    if (g_nratios == g_capratios) {
        g_capratios = g_capratios ? 2 * g_capratios : 64;
        g_ratios = realloc(g_ratios, g_capratios * sizeof *g_ratios);
        if (!g_ratios) die("out of memory");
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_ratios[g_nratios++].text, sizeof g_ratios[0].text, fmt, ap);
    va_end(ap);
}

static size_t table_bytes(const dataset *d, const options *o, int threads) {
    /* the table flashmap makes for these keys: slots * (tag + key + value) */
    uint64_t slots = 0;
    void *m = fmw_create(d->ks, d->vs, d->n, 0.5, threads);
    if (m) {
        fm_stats st;
        if (fm_get_stats(((fm_wrap *)m)->map, &st) == FM_OK) slots = st.slots;
        fmw_destroy(m);
    }
    (void)o;
    if (!slots) { /* estimate: next power of two of keys / 0.5 */
        slots = 1;
        while (slots < 2 * (uint64_t)d->n) slots <<= 1;
    }
    return (size_t)slots * (4 + d->ks + d->vs);
}

static void json_result(const char *name, int op, const dataset *d, const result *r, int reps) {
    json_begin(name, op_names[op], d, r->threads);
    fprintf(g_json, ",\"mkeys_per_s\":%.3f,\"seconds\":%.6f,\"reps\":%d,\"minor_faults\":%ld,\"verified\":%s",
            r->mkeys, r->seconds, reps, r->minflt, r->wrong ? "false" : "true");
    if (r->other >= 0) fprintf(g_json, ",\"other_cpus\":%.2f", r->other);
}

/* a table cell; '*' marks a measurement during which other processes used
 * more than BUSY_OTHER CPUs */
static void print_cell(const result *r, int ran, int width) {
    if (ran) {
        const int busy = r->other > BUSY_OTHER;
        printf(" %*.2f%s", width - 1, r->mkeys, busy ? "*" : " ");
    } else {
        printf(" %*s", width, "- ");
    }
}

int main(int argc, char **argv) {
    options o;
    parse_options(&o, argc, argv);
    g_opt = &o;

    if (o.date && *o.date) {
        snprintf(g_date, sizeof g_date, "%s", o.date);
    } else {
        time_t now = time(NULL);
        struct tm tmv;
        gmtime_r(&now, &tmv);
        strftime(g_date, sizeof g_date, "%Y-%m-%dT%H:%M:%SZ", &tmv);
    }
    if (o.host && *o.host)
        snprintf(g_host, sizeof g_host, "%s", o.host);
    else if (gethostname(g_host, sizeof g_host - 1) != 0)
        snprintf(g_host, sizeof g_host, "unknown");

    if (o.json) {
        g_json = fopen(o.json, "w");
        if (!g_json) die("cannot write %s: %s", o.json, strerror(errno));
    }

    const bench_peer *contenders[C_COUNT] = {&fm_contender, bench_peer_libcuckoo(), bench_peer_tbb(),
                                             bench_peer_absl()};

    char thp[128] = "unknown";
    FILE *tf = fopen("/sys/kernel/mm/transparent_hugepage/enabled", "r");
    if (tf) {
        if (fgets(thp, sizeof thp, tf)) thp[strcspn(thp, "\n")] = 0;
        fclose(tf);
    }
    int max_threads = 1;
#ifdef _OPENMP
    max_threads = omp_get_max_threads();
#endif
    printf("flashmap-bench: %s\n", fm_version_string());
    printf("host %s, %s, %ld online CPUs, OpenMP max threads %d, THP: %s\n", g_host, g_date,
           sysconf(_SC_NPROCESSORS_ONLN), max_threads, thp);
    if (o.commit) printf("commit %s\n", o.commit);
    printf("times: median of %d repetition%s; Mkeys/s = keys / seconds of the one bulk call / 1e6\n",
           o.reps, o.reps == 1 ? "" : "s");
    for (int c = 0; c < C_COUNT; c++) {
        if (!(o.contenders & (1u << c))) continue;
        printf("  %-10s %s\n", contender_names[c],
               contenders[c] ? contenders[c]->detail : "not built (package not found at configure time)");
    }
    fflush(stdout);

    for (int si = 0; si < o.nshapes; si++) {
        const uint32_t ks = o.shape_k[si], vs = o.shape_v[si];
        uint64_t n = o.keys ? o.keys : (ks + vs <= 32 ? (uint64_t)1 << 24 : (uint64_t)1 << 22);
        dataset d;
        dataset_make(&d, ks, vs, (size_t)n, o.seed);
        char kbuf[32];
        fmt_keys(n, kbuf, sizeof kbuf);
        result absl_res[OP_COUNT];
        int absl_done = 0, absl_ok = 0;

        for (int ti = 0; ti < o.nthreads; ti++) {
            const int t = o.threads[ti];
            printf("\n== shape %ux%u (key %u B, value %u B), %s keys, %d thread%s ==\n", ks, vs, ks, vs,
                   kbuf, t, t == 1 ? "" : "s");
            const double idle = idle_cpus(0.25);
            g_block_idle = idle;
            if (idle >= 0) {
                printf("idle CPUs just before: %.2f of %ld", idle, sysconf(_SC_NPROCESSORS_ONLN));
                if (idle < (double)t - 0.25) printf("  (other processes are running)");
                printf("\n");
            }
            fflush(stdout);

            /* the machine's limit */
            limit_result lim[2];
            int have_lim[2] = {0, 0};
            if (o.limit) {
                size_t bytes = table_bytes(&d, &o, t);
                uint64_t reads = 3 * (uint64_t)n;
                if (reads < ((uint64_t)1 << 24)) reads = (uint64_t)1 << 24;
                double lim_other[2] = {-1, -1};
                for (int h = 0; h < 2; h++) {
                    int lrc = 0;
                    for (int attempt = 0;; attempt++) {
                        cpu_mark m0, m1;
                        cpu_mark_now(&m0);
                        lrc = limit_probe(bytes, t, h, reads, o.reps, &lim[h]);
                        cpu_mark_now(&m1);
                        lim_other[h] = other_cpus(&m0, &m1);
                        if (lrc != 0 || lim_other[h] <= BUSY_OTHER || attempt >= o.retry_busy) break;
                        fprintf(stderr, "flashmap-bench: limit probe disturbed (other processes used %.2f CPUs); "
                                        "waiting for idle CPUs and rerunning\n", lim_other[h]);
                        wait_idle(60);
                    }
                    if (lrc != 0) {
                        fprintf(stderr, "flashmap-bench: limit probe could not map %zu bytes\n", bytes);
                        continue;
                    }
                    have_lim[h] = 1;
                    if (g_json) {
                        json_begin("limit", h ? "rand_read8_thp" : "rand_read8_4k", &d, t);
                        fprintf(g_json,
                                ",\"mkeys_per_s\":%.3f,\"seconds\":%.6f,\"reads\":%" PRIu64
                                ",\"bytes\":%zu,\"prefetch_batch\":%d,\"huge_mib\":%.0f,\"reps\":%d",
                                lim[h].reads_per_s / 1e6, lim[h].seconds, lim[h].reads, lim[h].bytes,
                                lim[h].batch, lim[h].huge_mib, o.reps);
                        if (lim_other[h] >= 0) fprintf(g_json, ",\"other_cpus\":%.2f", lim_other[h]);
                        json_end(&o);
                    }
                }
                double stream = 0, stream_other = -1;
                {
                    cpu_mark m0, m1;
                    cpu_mark_now(&m0);
                    if (stream_probe(bytes, t, o.reps, &stream) != 0) stream = 0;
                    cpu_mark_now(&m1);
                    stream_other = other_cpus(&m0, &m1);
                }
                if (stream > 0 && g_json) {
                    json_begin("limit", "stream_rw8", &d, t);
                    fprintf(g_json, ",\"gbytes_per_s\":%.3f,\"bytes\":%zu,\"reps\":%d", stream / 1e9, bytes, o.reps);
                    if (stream_other >= 0) fprintf(g_json, ",\"other_cpus\":%.2f", stream_other);
                    json_end(&o);
                }
                if (have_lim[0] || have_lim[1]) {
                    printf("limit: random prefetched 8-byte reads over %.0f MiB (flashmap's table size), "
                           "%d thread%s:\n",
                           (double)bytes / 1048576.0, t, t == 1 ? "" : "s");
                    for (int h = 0; h < 2; h++) {
                        if (!have_lim[h]) continue;
                        printf("  %-28s %8.1f M lines/s  (prefetch batch %d",
                               h ? "MADV_HUGEPAGE:" : "4 KiB pages (NOHUGEPAGE):", lim[h].reads_per_s / 1e6,
                               lim[h].batch);
                        if (h && lim[h].huge_mib >= 0)
                            printf(", %.0f of %.0f MiB got huge pages", lim[h].huge_mib,
                                   (double)lim[h].bytes / 1048576.0);
                        printf(")");
                        if (lim_other[h] > BUSY_OTHER) {
                            printf("  * other processes used %.2f CPUs", lim_other[h]);
                            g_busy_warnings++;
                        }
                        printf("\n");
                    }
                }
                if (stream > 0) {
                    printf("  %-28s %8.1f GB/s  (every word read and written once, as a dense write sweeps "
                           "its table)", "streaming, MADV_HUGEPAGE:", stream / 1e9);
                    if (stream_other > BUSY_OTHER) {
                        printf("  * other processes used %.2f CPUs", stream_other);
                        g_busy_warnings++;
                    }
                    printf("\n");
                }
                fflush(stdout);
            }

            result res[C_COUNT][OP_COUNT];
            int ok[C_COUNT] = {0};
            memset(res, 0, sizeof res);
            for (int c = 0; c < C_COUNT; c++) {
                if (!(o.contenders & (1u << c)) || !contenders[c]) continue;
                const bench_peer *p = contenders[c];
                if (!p->supports(ks, vs)) continue;
                if (!p->concurrent) {
                    /* one-thread map: measured once per shape */
                    if (!absl_done) {
                        absl_ok = run_contender_retry(p, &d, 1, &o, absl_res) == 0;
                        absl_done = 1;
                        if (absl_ok && g_json) {
                            for (int op = 0; op < OP_COUNT; op++) {
                                if (!absl_res[op].ran) continue;
                                json_result(p->name, op, &d, &absl_res[op], o.reps);
                                json_end(&o);
                            }
                        }
                    }
                    ok[c] = absl_ok;
                    memcpy(res[c], absl_res, sizeof absl_res);
                    continue;
                }
                ok[c] = run_contender_retry(p, &d, t, &o, res[c]) == 0;
                if (!ok[c] || !g_json) continue;
                for (int op = 0; op < OP_COUNT; op++) {
                    if (!res[c][op].ran) continue;
                    json_result(p->name, op, &d, &res[c][op], o.reps);
                    if (c == C_FM && (op == OP_INSERT || op == OP_GET)) {
                        const int lines = 1 + (int)((ks + 63) / 64) + (int)((vs + 63) / 64);
                        const double mlines = res[c][op].mkeys * lines;
                        fprintf(g_json, ",\"lines_per_key\":%d,\"mlines_per_s\":%.3f", lines, mlines);
                        if (have_lim[0])
                            fprintf(g_json, ",\"frac_of_limit_4k\":%.4f", mlines * 1e6 / lim[0].reads_per_s);
                        if (have_lim[1])
                            fprintf(g_json, ",\"frac_of_limit_thp\":%.4f", mlines * 1e6 / lim[1].reads_per_s);
                    }
                    json_end(&o);
                }
            }

            /* the table */
            printf("%-16s %10s", "Mkeys/s", "flashmap");
            for (int c = 1; c < C_COUNT; c++) {
                char head[32];
                const bench_peer *p = contenders[c];
                snprintf(head, sizeof head, "%s%s", contender_names[c], p && !p->concurrent ? "(1t)" : "");
                printf(" %10s", head);
            }
            for (int c = 1; c < C_COUNT; c++) {
                char head[32];
                snprintf(head, sizeof head, "fm/%s", contender_names[c]);
                printf(" %13s", head);
            }
            printf("\n");
            for (int op = 0; op < OP_COUNT; op++) {
                int any = 0;
                for (int c = 0; c < C_COUNT; c++) any |= ok[c] && res[c][op].ran;
                if (!any) continue;
                printf("%-16s", op_names[op]);
                for (int c = 0; c < C_COUNT; c++) print_cell(&res[c][op], ok[c] && res[c][op].ran, 10);
                for (int c = 1; c < C_COUNT; c++) {
                    if (ok[C_FM] && res[C_FM][op].ran && ok[c] && res[c][op].ran)
                        printf(" %12.2fx", res[C_FM][op].mkeys / res[c][op].mkeys);
                    else
                        printf(" %13s", "-");
                }
                for (int c = 0; c < C_COUNT; c++)
                    if (ok[c] && res[c][op].ran && res[c][op].wrong) printf("  WRONG:%s", contender_names[c]);
                for (int c = 0; c < C_COUNT; c++)
                    if (ok[c] && res[c][op].ran && res[c][op].other > BUSY_OTHER && (c != C_ABSL || ti == 0))
                        g_busy_warnings++;
                printf("\n");
                if (ok[C_FM] && res[C_FM][op].ran) {
                    for (int c = 1; c < C_COUNT; c++) {
                        if (!(ok[c] && res[c][op].ran)) continue;
                        add_ratio("%ux%u %s keys %d thr: %s / %s %s%s: %.2fx", ks, vs, kbuf, t, op_fm[op],
                                  contender_names[c], op_peer[op],
                                  contenders[c]->concurrent ? "" : " (1 thread)",
                                  res[C_FM][op].mkeys / res[c][op].mkeys);
                    }
                }
            }
            {
                int busy = 0;
                for (int c = 0; c < C_COUNT; c++)
                    for (int op = 0; op < OP_COUNT; op++) busy |= ok[c] && res[c][op].ran && res[c][op].other > BUSY_OTHER;
                if (busy) printf("  * other processes used more than %.2f CPUs during that contender's runs\n", BUSY_OTHER);
            }
            for (int c = 1; c < C_COUNT; c++) {
                if (!(o.contenders & (1u << c))) continue;
                if (!contenders[c]) printf("  %s: not built\n", contender_names[c]);
                else if (!contenders[c]->supports(ks, vs)) printf("  %s: no implementation for %ux%u\n", contender_names[c], ks, vs);
            }
            /* flashmap's random lines against the limit */
            if (ok[C_FM] && (have_lim[0] || have_lim[1])) {
                const int lines = 1 + (int)((ks + 63) / 64) + (int)((vs + 63) / 64);
                for (int op = OP_INSERT; op <= OP_GET; op++) {
                    if (!res[C_FM][op].ran) continue;
                    const double mlines = res[C_FM][op].mkeys * lines;
                    printf("flashmap %-6s: %d random lines/key -> %7.1f M lines/s =", op_names[op], lines, mlines);
                    if (have_lim[0]) printf(" %5.1f%% of the 4 KiB-page limit", 100 * mlines * 1e6 / lim[0].reads_per_s);
                    if (have_lim[1]) printf("%s %5.1f%% of the huge-page limit", have_lim[0] ? "," : "",
                                            100 * mlines * 1e6 / lim[1].reads_per_s);
                    printf("\n");
                }
            }
            fflush(stdout);
        }
        dataset_free(&d);
    }

    printf("\nratios (flashmap / peer, same keys, same threads unless marked):\n");
    for (size_t i = 0; i < g_nratios; i++) printf("  %s\n", g_ratios[i].text);
    free(g_ratios);
    if (g_busy_warnings)
        printf("WARNING: other processes used more than %.2f CPUs during %d measurement%s (marked * above);\n"
               "         rerun those on a quiet machine\n",
               BUSY_OTHER, g_busy_warnings, g_busy_warnings == 1 ? "" : "s");
    else
        printf("(no other process used more than %.2f CPUs during any measurement)\n", BUSY_OTHER);
    if (g_json) fclose(g_json);
    if (g_failures) {
        fprintf(stderr, "flashmap-bench: %d failure%s (see above)\n", g_failures, g_failures == 1 ? "" : "s");
        return 1;
    }
    return 0;
}
