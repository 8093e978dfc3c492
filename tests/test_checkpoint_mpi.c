/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Checkpoints of MPI maps: fm_save on an MPI map (part files and a
 * manifest), fm_load_mpi onto any number of ranks, fm_load of an MPI
 * checkpoint in one process and fm_load_mpi of a one-process checkpoint.
 *
 * On P ranks (mpiexec -n P): for every M in 1..P the first M ranks build a
 * map (inserts spread over their ranks, updates, removals that leave
 * tombstones) and save it; then every M' in 1..P loads every one of those
 * checkpoints on its first M' ranks and checks every key (present with its
 * value, or absent), and rank 0 loads each in one process. Then the error
 * cases, each of which must give the same status on every rank: missing
 * checkpoint, missing part, corrupt part, parts of two saves mixed, a
 * manifest that cannot be renamed into place, overrides that change the key
 * size, a path NULL on one rank only.
 *
 * Usage: mpiexec -n P test_checkpoint_mpi [--entries N] [--verbose]
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap_mpi.h>

#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

static int g_rank, g_nranks, g_failures;
static char g_dir[256];
static uint64_t g_entries = 20000;
static int g_verbose;

#define CHECK(cond)                                                                         \
    do {                                                                                    \
        if (!(cond)) {                                                                      \
            fprintf(stderr, "rank %d: %s:%d: CHECK failed: %s\n", g_rank, __FILE__, __LINE__, \
                    #cond);                                                                 \
            g_failures++;                                                                   \
        }                                                                                   \
    } while (0)

typedef struct shape {
    uint32_t ks, vs;
    fm_hash hash;
} shape;

/* Entry i: its key, its value (updated for i % 5 == 0), present unless
 * i % 7 == 0. */
static void key_of(const shape *s, uint64_t i, uint8_t *out)
{
    uint64_t st = i * 0x632be59bd9b4e019ull + s->ks;
    for (uint32_t b = 0; b < s->ks; b += 8) {
        uint64_t x = tu_splitmix64(&st);
        memcpy(out + b, &x, s->ks - b < 8 ? s->ks - b : 8);
    }
    memcpy(out, &i, s->ks < 4 ? s->ks : 4); /* distinct keys */
}

static void value_of(const shape *s, uint64_t i, int version, uint8_t *out)
{
    uint64_t st = i * 31 + (uint64_t)version * 0x9e3779b97f4a7c15ull;
    for (uint32_t b = 0; b < s->vs; b += 8) {
        uint64_t x = tu_splitmix64(&st);
        memcpy(out + b, &x, s->vs - b < 8 ? s->vs - b : 8);
    }
}

static int present(uint64_t i) { return i % 7 != 0; }
static int version_of(uint64_t i) { return i % 5 == 0 ? 2 : 1; }
static uint64_t expected_size(void)
{
    uint64_t n = 0;
    for (uint64_t i = 0; i < g_entries; i++) n += present(i);
    return n;
}

/* Collective on comm: every rank inserts entries i = rank (mod size), updates
 * some, removes some. */
static fm_map *build(MPI_Comm comm, const shape *s)
{
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    fm_config cfg = fm_config_default(s->ks, s->vs, 64);
    cfg.hash = s->hash;
    cfg.threads = 1;
    cfg.exchange_bytes = 64 << 10; /* a few exchange rounds */
    fm_map *m = NULL;
    if (fm_create_mpi(comm, &cfg, &m) != FM_OK) {
        fprintf(stderr, "rank %d: fm_create_mpi: %s\n", g_rank, fm_last_error(NULL));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    const uint64_t mine = g_entries / (uint64_t)n + 1;
    uint8_t *keys = tu_xmalloc(mine * s->ks), *values = tu_xmalloc(mine * (s->vs ? s->vs : 1));
    for (int pass = 0; pass < 3; pass++) {
        size_t k = 0;
        for (uint64_t i = (uint64_t)r; i < g_entries; i += (uint64_t)n) {
            if (pass == 1 && version_of(i) != 2) continue; /* updates */
            if (pass == 2 && present(i)) continue;         /* removals */
            key_of(s, i, keys + k * s->ks);
            value_of(s, i, pass == 1 ? 2 : 1, values + k * s->vs);
            k++;
        }
        fm_status st = pass < 2 ? fm_bulk_insert(m, keys, values, k) : fm_bulk_remove(m, keys, k, NULL);
        if (st != FM_OK) {
            fprintf(stderr, "rank %d: building the map: %s\n", g_rank, fm_last_error(m));
            MPI_Abort(MPI_COMM_WORLD, 1);
        }
    }
    free(keys);
    free(values);
    return m;
}

/* Checks keys i = first (mod step) of the map: one fm_bulk_get (collective
 * when the map is). Returns the number of wrong answers. */
static uint64_t check_keys(fm_map *m, const shape *s, uint64_t first, uint64_t step, const char *what)
{
    const uint64_t count = first < g_entries ? (g_entries - first + step - 1) / step : 0;
    uint8_t *keys = tu_xmalloc(count * s->ks), *values = tu_xmalloc(count * (s->vs ? s->vs : 1));
    uint8_t *found = tu_xmalloc(count), want[4096];
    size_t k = 0;
    for (uint64_t i = first; i < g_entries; i += step) key_of(s, i, keys + k++ * s->ks);
    uint64_t bad = 0;
    if (fm_bulk_get(m, keys, k, s->vs ? values : NULL, found) != FM_OK) {
        fprintf(stderr, "rank %d: %s: fm_bulk_get: %s\n", g_rank, what, fm_last_error(m));
        bad++;
    } else {
        k = 0;
        for (uint64_t i = first; i < g_entries; i += step, k++) {
            value_of(s, i, version_of(i), want);
            if (found[k] != present(i) || (found[k] && memcmp(values + k * s->vs, want, s->vs) != 0)) {
                if (bad++ < 5)
                    fprintf(stderr, "rank %d: %s: entry %llu: found %d (expected %d) or wrong value\n", g_rank,
                            what, (unsigned long long)i, found[k], present(i));
            }
        }
    }
    free(keys);
    free(values);
    free(found);
    return bad;
}

/* Collective on comm: the MPI map holds exactly the expected entries. */
static void verify_mpi(fm_map *m, MPI_Comm comm, const shape *s, const char *what)
{
    int r, n;
    MPI_Comm_rank(comm, &r);
    MPI_Comm_size(comm, &n);
    uint64_t bad = check_keys(m, s, (uint64_t)r, (uint64_t)n, what), total = 0;
    MPI_Allreduce(&bad, &total, 1, MPI_UINT64_T, MPI_SUM, comm);
    const uint64_t size = fm_size(m);
    if (size != expected_size()) {
        fprintf(stderr, "rank %d: %s: fm_size %llu, expected %llu\n", g_rank, what, (unsigned long long)size,
                (unsigned long long)expected_size());
        g_failures++;
    }
    if (bad) g_failures++;
}

static void verify_local(fm_map *m, const shape *s, const char *what)
{
    if (check_keys(m, s, 0, 1, what)) g_failures++;
    if (fm_size(m) != expected_size()) {
        fprintf(stderr, "rank %d: %s: fm_size %llu, expected %llu\n", g_rank, what,
                (unsigned long long)fm_size(m), (unsigned long long)expected_size());
        g_failures++;
    }
}

static int count_temp_files(void)
{
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".tmp.")) n++;
    if (d) closedir(d);
    return n;
}

/* The first m ranks of the world (MPI_COMM_NULL on the others). */
static MPI_Comm first_ranks(int m)
{
    MPI_Comm c;
    MPI_Comm_split(MPI_COMM_WORLD, g_rank < m ? 0 : MPI_UNDEFINED, g_rank, &c);
    return c;
}

static void path_for(char *out, size_t len, const char *name, int m)
{
    snprintf(out, len, "%s/%s-%d.fmcp", g_dir, name, m);
}

/* Every rank of comm must get `want` with `word` in the message, no map. */
static void expect_load_mpi_fails(MPI_Comm comm, const char *path, const fm_config *ov, fm_status want,
                                  const char *word, const char *what)
{
    fm_map *m = (fm_map *)&g_failures;
    fm_status st = fm_load_mpi(comm, path, ov, &m);
    if (st != want || m != NULL || (word && !strstr(fm_last_error(NULL), word))) {
        fprintf(stderr, "rank %d: %s: fm_load_mpi returned %d (%s), expected %s naming \"%s\": %s\n", g_rank, what,
                st, fm_status_str(st), fm_status_str(want), word ? word : "", fm_last_error(NULL));
        g_failures++;
        if (st == FM_OK) fm_destroy(m);
    } else if (g_verbose) {
        printf("rank %d: %s: %s\n", g_rank, what, fm_last_error(NULL));
    }
}

static void round_trips(const shape *s)
{
    char path[512], what[160];
    /* Saves by 1..P ranks. */
    for (int m = 1; m <= g_nranks; m++) {
        MPI_Comm c = first_ranks(m);
        if (c != MPI_COMM_NULL) {
            fm_map *map = build(c, s);
            path_for(path, sizeof path, "saved", m);
            fm_status st = fm_save(map, path);
            if (st != FM_OK) {
                fprintf(stderr, "rank %d: fm_save by %d ranks: %s\n", g_rank, m, fm_last_error(map));
                g_failures++;
            }
            snprintf(what, sizeof what, "the saved map (%d ranks)", m);
            verify_mpi(map, c, s, what); /* saving changes nothing */
            fm_destroy(map);
            MPI_Comm_free(&c);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        CHECK(count_temp_files() == 0);
        if (g_rank == 0) {
            /* The manifest and one part per rank. */
            struct stat sb;
            CHECK(stat(path, &sb) == 0 && sb.st_size == 128 + 32 * m + 8);
            for (int r = 0; r < m; r++) {
                char part[600];
                snprintf(part, sizeof part, "%s.rank%d-of-%d", path, r, m);
                CHECK(stat(part, &sb) == 0);
            }
        }
    }
    /* Every checkpoint onto 1..P ranks, and in one process. */
    for (int m = 1; m <= g_nranks; m++) {
        path_for(path, sizeof path, "saved", m);
        for (int to = 1; to <= g_nranks; to++) {
            MPI_Comm c = first_ranks(to);
            if (c == MPI_COMM_NULL) continue;
            fm_map *map = NULL;
            fm_config ov;
            memset(&ov, 0, sizeof ov);
            ov.threads = 1;
            ov.exchange_bytes = (uint64_t)(4096 << to); /* several exchange rounds */
            fm_status st = fm_load_mpi(c, path, &ov, &map);
            snprintf(what, sizeof what, "%s: saved by %d ranks, loaded on %d", s->hash == FM_HASH_IDENTITY ?
                     "identity" : "murmur3", m, to);
            if (st != FM_OK) {
                fprintf(stderr, "rank %d: %s: fm_load_mpi: %s\n", g_rank, what, fm_last_error(NULL));
                g_failures++;
            } else {
                verify_mpi(map, c, s, what);
                fm_stats stats;
                CHECK(fm_get_stats(map, &stats) == FM_OK && stats.shards == to && stats.tombstones == 0);
            }
            fm_destroy(map);
            MPI_Comm_free(&c);
        }
        if (g_rank == 0) {
            fm_map *one = NULL;
            snprintf(what, sizeof what, "saved by %d ranks, loaded in one process", m);
            if (fm_load(path, NULL, &one) != FM_OK) {
                fprintf(stderr, "rank 0: %s: fm_load: %s\n", what, fm_last_error(NULL));
                g_failures++;
            } else {
                verify_local(one, s, what);
                /* ... and saved again as a one-process checkpoint. */
                path_for(path, sizeof path, "single", m);
                if (fm_save(one, path) != FM_OK) {
                    fprintf(stderr, "rank 0: fm_save: %s\n", fm_last_error(one));
                    g_failures++;
                }
            }
            fm_destroy(one);
        }
        MPI_Barrier(MPI_COMM_WORLD);
        /* A one-process checkpoint onto every rank. */
        path_for(path, sizeof path, "single", m);
        fm_map *map = NULL;
        snprintf(what, sizeof what, "one-process checkpoint loaded on %d ranks", g_nranks);
        if (fm_load_mpi(MPI_COMM_WORLD, path, NULL, &map) != FM_OK) {
            fprintf(stderr, "rank %d: %s: %s\n", g_rank, what, fm_last_error(NULL));
            g_failures++;
        } else {
            verify_mpi(map, MPI_COMM_WORLD, s, what);
        }
        fm_destroy(map);
    }
}

static void copy_file(const char *from, const char *to)
{
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    char buf[65536];
    size_t n;
    while (a && b && (n = fread(buf, 1, sizeof buf, a)) > 0) fwrite(buf, 1, n, b);
    if (a) fclose(a);
    if (b) fclose(b);
}

static void error_cases(const shape *s)
{
    char path[512], part[600], aside[620];
    const int P = g_nranks, last = P - 1;
    path_for(path, sizeof path, "saved", P);
    snprintf(part, sizeof part, "%s.rank%d-of-%d", path, last, P);
    snprintf(aside, sizeof aside, "%s.aside", part);

    expect_load_mpi_fails(MPI_COMM_WORLD, "/nonexistent/checkpoint.fmcp", NULL, FM_ERR_IO, "No such file",
                          "missing checkpoint");
    fm_config ov;
    memset(&ov, 0, sizeof ov);
    ov.key_size = s->ks + 1;
    expect_load_mpi_fails(MPI_COMM_WORLD, path, &ov, FM_ERR_INVALID, "key_size", "key_size override");

    /* A missing part: every rank fails, and so does a one-process load. */
    if (g_rank == 0) rename(part, aside);
    MPI_Barrier(MPI_COMM_WORLD);
    expect_load_mpi_fails(MPI_COMM_WORLD, path, NULL, FM_ERR_IO, "No such file", "missing part");
    if (g_rank == 0) {
        fm_map *m = NULL;
        CHECK(fm_load(path, NULL, &m) == FM_ERR_IO && m == NULL);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    /* A corrupt part. */
    if (g_rank == 0) {
        copy_file(aside, part);
        FILE *f = fopen(part, "r+b");
        fseek(f, 1000, SEEK_SET);
        int c = fgetc(f);
        fseek(f, 1000, SEEK_SET);
        fputc(c ^ 0x10, f);
        fclose(f);
    }
    MPI_Barrier(MPI_COMM_WORLD);
    expect_load_mpi_fails(MPI_COMM_WORLD, path, NULL, FM_ERR_CORRUPT, "checksum mismatch", "corrupt part");
    if (g_rank == 0) rename(aside, part);
    MPI_Barrier(MPI_COMM_WORLD);

    /* Parts of two saves mixed: save again, put an old part back. */
    if (g_rank == 0) copy_file(part, aside);
    MPI_Barrier(MPI_COMM_WORLD);
    fm_map *map = build(MPI_COMM_WORLD, s);
    if (fm_save(map, path) != FM_OK) {
        fprintf(stderr, "rank %d: fm_save: %s\n", g_rank, fm_last_error(map));
        g_failures++;
    }
    if (g_rank == 0) rename(aside, part);
    MPI_Barrier(MPI_COMM_WORLD);
    expect_load_mpi_fails(MPI_COMM_WORLD, path, NULL, FM_ERR_CORRUPT, "mixed", "parts of two saves");

    /* fm_save with path NULL on rank 0 only: FM_ERR_INVALID everywhere. */
    fm_status st = fm_save(map, g_rank == 0 ? NULL : path);
    if (st != FM_ERR_INVALID || !strstr(fm_last_error(map), "path")) {
        fprintf(stderr, "rank %d: fm_save with path NULL on rank 0 returned %d: %s\n", g_rank, st,
                fm_last_error(map));
        g_failures++;
    }
    /* A save whose manifest cannot be renamed into place (a directory is in
     * the way): FM_ERR_IO on every rank, no temporary file left. */
    path_for(path, sizeof path, "blocked", P);
    if (g_rank == 0) mkdir(path, 0755);
    MPI_Barrier(MPI_COMM_WORLD);
    st = fm_save(map, path);
    if (g_verbose) printf("rank %d: manifest blocked: %s\n", g_rank, fm_last_error(map));
    if (st != FM_ERR_IO || !strstr(fm_last_error(map), "rename")) {
        fprintf(stderr, "rank %d: fm_save over a directory returned %d: %s\n", g_rank, st, fm_last_error(map));
        g_failures++;
    }
    MPI_Barrier(MPI_COMM_WORLD);
    CHECK(count_temp_files() == 0);
    /* A directory that does not exist: nothing is written anywhere. */
    st = fm_save(map, "/nonexistent/dir/checkpoint.fmcp");
    if (st != FM_ERR_IO) {
        fprintf(stderr, "rank %d: fm_save into a missing directory returned %d: %s\n", g_rank, st,
                fm_last_error(map));
        g_failures++;
    }
    fm_destroy(map);
    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) rmdir(path);
}

static void remove_all(void)
{
    DIR *d = opendir(g_dir);
    struct dirent *e;
    char p[800];
    while (d && (e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        snprintf(p, sizeof p, "%s/%s", g_dir, e->d_name);
        if (unlink(p) != 0) rmdir(p);
    }
    if (d) closedir(d);
    rmdir(g_dir);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_nranks);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--entries") == 0 && i + 1 < argc) {
            g_entries = strtoull(argv[++i], NULL, 0);
        } else if (strcmp(argv[i], "--verbose") == 0) {
            g_verbose = 1;
        } else {
            if (g_rank == 0) fprintf(stderr, "usage: test_checkpoint_mpi [--entries N] [--verbose]\n");
            MPI_Finalize();
            return 2;
        }
    }
    unsetenv("FLASHMAP_BACKEND");
    if (g_rank == 0) {
        snprintf(g_dir, sizeof g_dir, "test_checkpoint_mpi.XXXXXX");
        if (!mkdtemp(g_dir)) {
            fprintf(stderr, "cannot make a scratch directory: %s\n", strerror(errno));
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
    }
    MPI_Bcast(g_dir, (int)sizeof g_dir, MPI_CHAR, 0, MPI_COMM_WORLD);

    const shape shapes[] = {{8, 8, FM_HASH_MURMUR3}, {12, 20, FM_HASH_IDENTITY}, {5, 0, FM_HASH_MURMUR3}};
    for (size_t i = 0; i < sizeof shapes / sizeof shapes[0]; i++) round_trips(&shapes[i]);
    error_cases(&shapes[2]); /* on the checkpoints of the last shape */

    MPI_Barrier(MPI_COMM_WORLD);
    if (g_rank == 0) remove_all();
    int failures = g_failures, total = 0;
    MPI_Allreduce(&failures, &total, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (g_rank == 0) {
        if (total) fprintf(stderr, "test_checkpoint_mpi: %d failures on %d ranks\n", total, g_nranks);
        else printf("test_checkpoint_mpi: all checks passed on %d ranks\n", g_nranks);
    }
    MPI_Finalize();
    return total ? 1 : 0;
}
