/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * A small MPI job for the kill-and-restart test (run_restart_test.sh):
 * counts keys batch by batch into an MPI map, checkpoints every few batches,
 * and can kill one of its own ranks mid-job or resume from the last
 * checkpoint, on any number of ranks. Prints a digest of the final map.
 *
 *   restart_job --dir D --batches B [--every C] [--kill-rank R --kill-at K] [--resume]
 *
 * Batch b is split into SUBS sub-batches; rank r runs sub-batches r, r + P,
 * ... Each sub-batch adds to counters over a shared key range (adds commute,
 * so the result does not depend on the rank count) and inserts keys only it
 * has. After every C batches the map is saved to D/map.fmck and rank 0 then
 * records the batch number in D/progress (written to a temporary name and
 * renamed, like the checkpoint). With --resume the job loads D/map.fmck and
 * goes on after the recorded batch.
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap_mpi.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUBS 6
#define KEYS_PER_SUB 20000

static int g_rank, g_size;

static void die(const char *what, fm_status st, const char *detail)
{
    fprintf(stderr, "restart_job rank %d: %s: %s: %s\n", g_rank, what, fm_status_str(st), detail);
    MPI_Abort(MPI_COMM_WORLD, 1);
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    return x ^ (x >> 33);
}

/* One sub-batch: counters on keys [0, 50000) and fresh keys of its own. */
static void run_sub(fm_map *m, uint64_t batch, uint64_t sub)
{
    enum { FRESH = KEYS_PER_SUB / 4 };
    static uint64_t keys[KEYS_PER_SUB], deltas[KEYS_PER_SUB], fresh[FRESH], fresh_values[FRESH];
    const uint64_t seed = batch * SUBS + sub;
    for (uint64_t i = 0; i < KEYS_PER_SUB; i++) {
        keys[i] = mix(seed * KEYS_PER_SUB + i) % 50000;
        deltas[i] = 1 + (mix(seed ^ i) & 7);
    }
    for (uint64_t i = 0; i < FRESH; i++) {
        fresh[i] = (1ull << 40) + seed * KEYS_PER_SUB + i; /* no other sub-batch has it */
        fresh_values[i] = mix(fresh[i]);
    }
    fm_status st = fm_bulk_add_u64(m, keys, deltas, KEYS_PER_SUB);
    if (st != FM_OK) die("fm_bulk_add_u64", st, fm_last_error(m));
    st = fm_bulk_insert(m, fresh, fresh_values, FRESH);
    if (st != FM_OK) die("fm_bulk_insert", st, fm_last_error(m));
}

/* Every bulk call is collective: ranks with fewer sub-batches still enter
 * each call, with an empty batch. */
static void run_batch(fm_map *m, uint64_t batch)
{
    for (int round = 0; round * g_size < SUBS; round++) {
        const int sub = round * g_size + g_rank;
        if (sub < SUBS) {
            run_sub(m, batch, (uint64_t)sub);
        } else {
            fm_status st = fm_bulk_add_u64(m, NULL, NULL, 0);
            if (st == FM_OK) st = fm_bulk_insert(m, NULL, NULL, 0);
            if (st != FM_OK) die("empty batch", st, fm_last_error(m));
        }
    }
}

static long read_progress(const char *dir)
{
    char path[512];
    snprintf(path, sizeof path, "%s/progress", dir);
    FILE *f = fopen(path, "r");
    long done = 0;
    if (!f) return 0;
    if (fscanf(f, "%ld", &done) != 1) done = -1;
    fclose(f);
    return done;
}

static void write_progress(const char *dir, long done)
{
    char path[512], tmp[520];
    snprintf(path, sizeof path, "%s/progress", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%ld\n", done) < 0 || fclose(f) != 0 || rename(tmp, path) != 0) {
        perror(tmp);
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

/* Order-free digest of the whole map: sum and xor of mixed (key, value)
 * over every rank's entries, and their count. */
static void print_digest(fm_map *m)
{
    uint64_t keys[4096], values[4096], acc[3] = {0, 0, 0}, cursor = 0;
    do {
        size_t n = 0;
        fm_status st = fm_export(m, &cursor, keys, values, 4096, &n);
        if (st != FM_OK) die("fm_export", st, fm_last_error(m));
        for (size_t i = 0; i < n; i++) {
            const uint64_t h = mix(keys[i] * 0x9e3779b97f4a7c15ull ^ mix(values[i]));
            acc[0] += h;
            acc[1] ^= h;
            acc[2]++;
        }
    } while (cursor != 0);
    uint64_t sum[2];
    MPI_Allreduce(&acc[0], &sum[0], 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    MPI_Allreduce(&acc[2], &sum[1], 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    uint64_t x = acc[1];
    MPI_Allreduce(MPI_IN_PLACE, &x, 1, MPI_UINT64_T, MPI_BXOR, MPI_COMM_WORLD);
    if (sum[1] != fm_size(m)) die("digest", FM_ERR_CORRUPT, "exported entries differ from fm_size");
    if (g_rank == 0)
        printf("digest %016llx%016llx entries %llu\n", (unsigned long long)sum[0], (unsigned long long)x,
               (unsigned long long)sum[1]);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    const char *dir = NULL;
    long batches = 0, every = 0, kill_at = -1;
    int kill_rank = -1, resume = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--resume") == 0) resume = 1;
        else if (v && strcmp(a, "--dir") == 0) dir = argv[++i];
        else if (v && strcmp(a, "--batches") == 0) batches = atol(argv[++i]);
        else if (v && strcmp(a, "--every") == 0) every = atol(argv[++i]);
        else if (v && strcmp(a, "--kill-rank") == 0) kill_rank = atoi(argv[++i]);
        else if (v && strcmp(a, "--kill-at") == 0) kill_at = atol(argv[++i]);
        else {
            if (g_rank == 0) fprintf(stderr, "restart_job: unknown or incomplete option %s\n", a);
            MPI_Abort(MPI_COMM_WORLD, 2);
        }
    }
    if (!dir || batches <= 0) {
        if (g_rank == 0) fprintf(stderr, "restart_job: --dir and --batches are required\n");
        MPI_Abort(MPI_COMM_WORLD, 2);
    }
    char ck[512];
    snprintf(ck, sizeof ck, "%s/map.fmck", dir);

    fm_config cfg = fm_config_default(8, 8, 1024);
    cfg.backend = FM_BACKEND_CPU;
    cfg.threads = 1;
    fm_map *m = NULL;
    long done = 0;
    fm_status st;
    if (resume && (done = read_progress(dir)) > 0) {
        st = fm_load_mpi(MPI_COMM_WORLD, ck, &cfg, &m);
        if (st != FM_OK) die("fm_load_mpi", st, fm_last_error(NULL));
        if (g_rank == 0) printf("resumed after batch %ld on %d ranks\n", done, g_size);
    } else {
        if (done < 0) die("progress file", FM_ERR_CORRUPT, dir);
        st = fm_create_mpi(MPI_COMM_WORLD, &cfg, &m);
        if (st != FM_OK) die("fm_create_mpi", st, fm_last_error(NULL));
    }
    for (long b = done + 1; b <= batches; b++) {
        if (b == kill_at && g_rank == kill_rank) {
            fprintf(stderr, "restart_job: rank %d kills itself in batch %ld\n", g_rank, b);
            fflush(stderr);
            raise(SIGKILL);
        }
        run_batch(m, (uint64_t)b);
        if (every > 0 && b % every == 0) {
            st = fm_save(m, ck);
            if (st != FM_OK) die("fm_save", st, fm_last_error(m));
            if (g_rank == 0) write_progress(dir, b); /* after every part and the manifest are in place */
        }
    }
    print_digest(m);
    fm_destroy(m);
    MPI_Finalize();
    return 0;
}
