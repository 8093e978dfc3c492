/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* What MPI maps send between ranks, counted exactly (fm_stats.sent_bytes),
 * and the narrowed deltas of adds: a round's deltas travel in the fewest
 * bytes (1, 2, 4 or 8) that hold the largest delta of any rank, summed
 * repeats included, so every value must come back whole. Deltas are
 * narrowed where the ranks span several nodes or FLASHMAP_MPI_NARROW=1
 * (CTest runs both ways); otherwise they travel in 8 bytes.
 *
 * Each rank adds, inserts and gets its own distinct keys (repeats where a
 * case asks for them); the bytes expected are the model's: every key a
 * rank sends to another owner (tm_owner) costs its key and payload, and a
 * get's reply a value and a flag.
 *
 *   mpirun -np P test_mpi_sent_bytes [--seed N] */
#include <flashmap_mpi.h>

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "owner_model.h"
#include "test_check.h"
#include "test_util.h"

#define KEYS 6000 /* distinct keys per rank */

static int g_rank, g_ranks, g_narrow;

/* Whether the map narrows deltas: FLASHMAP_MPI_NARROW=1 or 0, else when
 * the ranks are on more than one node (the library's rule, found here on
 * the test's own). */
static int narrowing(void)
{
    const char *env = getenv("FLASHMAP_MPI_NARROW");
    if (env && strcmp(env, "1") == 0) return 1;
    if (env && strcmp(env, "0") == 0) return 0;
    MPI_Comm node;
    int local = g_ranks;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node);
    MPI_Comm_size(node, &local);
    MPI_Comm_free(&node);
    return local < g_ranks;
}

static uint64_t sum_all(uint64_t mine)
{
    uint64_t all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    return all;
}

static uint64_t sent_now(fm_map *m)
{
    fm_stats s;
    CHECK_OK(m, fm_get_stats(m, &s));
    return s.sent_bytes;
}

/* Keys of this rank: distinct on every rank (a bijective mix of
 * i * ranks + rank), in random order. */
static void make_keys(uint64_t *keys, size_t n, tu_rng *rng)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t state = (uint64_t)i * (uint64_t)g_ranks + (uint64_t)g_rank;
        keys[i] = tu_splitmix64(&state);
    }
    for (size_t i = n; i > 1; i--) {
        const size_t j = tu_below(rng, i);
        const uint64_t t = keys[i - 1];
        keys[i - 1] = keys[j];
        keys[j] = t;
    }
}

/* The keys of this rank that another rank owns. */
static uint64_t foreign(const fm_config *cfg, const uint64_t *keys, size_t n)
{
    uint64_t f = 0;
    for (size_t i = 0; i < n; i++)
        f += tm_owner(cfg->hash, (const uint8_t *)&keys[i], 8, (uint32_t)g_ranks) != (uint32_t)g_rank;
    return f;
}

/* The largest delta of a case that travels in `width` bytes: the top of
 * its range (the previous width's top + 1 just below it). */
static uint64_t top_of(uint32_t width) { return width == 8 ? UINT64_MAX : ((uint64_t)1 << (8 * width)) - 1; }

/* One case: adds of deltas up to top_of(width) (only on rank `loud`; the
 * others stay below 256), each key twice when `repeats` (each half of the
 * delta, so the sums reach the top), then gets that must see them whole.
 * `rounds_forced`: an exchange_bytes so small that a call takes several
 * rounds, whose deltas go at 8 bytes. */
static void one_case(const fm_config *base, uint32_t width, int loud, int repeats, int rounds_forced, tu_rng *rng)
{
    fm_config cfg = *base;
    if (rounds_forced) cfg.exchange_bytes = 4096;
    fm_map *m = NULL;
    CHECK_OK(NULL, fm_create_mpi(MPI_COMM_WORLD, &cfg, &m));
    if (!m) return;
    const size_t n = KEYS, calls = repeats ? 2 * n : n;
    uint64_t *keys = tu_xmalloc(calls * sizeof *keys), *deltas = tu_xmalloc(calls * sizeof *deltas);
    uint64_t *want = tu_xmalloc(n * sizeof *want), *got = tu_xmalloc(n * sizeof *got);
    uint8_t *found = tu_xmalloc(n);
    make_keys(keys, n, rng);
    const uint64_t top = g_rank == loud ? top_of(width) : 255;
    for (size_t i = 0; i < n; i++) {
        want[i] = i == n / 2 ? top : top == 255 ? tu_below(rng, 256) : tu_range(rng, top / 2, top);
        if (width > 1 && g_rank == loud && i == n / 3) want[i] = top_of(width / 2) + 1; /* just past the smaller width */
    }
    if (repeats) { /* key i as keys[i] and keys[n + i], its delta split in two */
        for (size_t i = 0; i < n; i++) {
            keys[n + i] = keys[i];
            deltas[i] = want[i] / 2;
            deltas[n + i] = want[i] - want[i] / 2;
        }
    } else {
        memcpy(deltas, want, n * sizeof *deltas);
    }
    const uint64_t f = sum_all(foreign(&cfg, keys, n));
    const uint32_t travels = rounds_forced || g_ranks == 1 || !g_narrow ? 8 : width;

    uint64_t before = sent_now(m);
    CHECK(before == 0);
    CHECK_OK(m, fm_bulk_add_u64(m, keys, deltas, calls));
    uint64_t after = sent_now(m);
    if (after - before != f * (8 + travels)) {
        fprintf(stderr, "rank %d: add (width %u, repeats %d, rounds %d): sent %llu bytes, expected %llu\n", g_rank,
                width, repeats, rounds_forced, (unsigned long long)(after - before),
                (unsigned long long)(f * (8 + travels)));
        g_failures++;
    }
    before = after;
    CHECK_OK(m, fm_bulk_get(m, keys, n, got, found));
    after = sent_now(m);
    CHECK(after - before == f * 8 + f * (8 + 1));
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) wrong += !found[i] || got[i] != want[i];
    if (wrong) {
        fprintf(stderr, "rank %d: %zu sums wrong after adds of width %u (repeats %d, rounds %d)\n", g_rank, wrong,
                width, repeats, rounds_forced);
        g_failures++;
    }
    before = after;
    CHECK_OK(m, fm_bulk_insert(m, keys, want, n));
    CHECK(sent_now(m) - before == f * (8 + 8));
    free(keys);
    free(deltas);
    free(want);
    free(got);
    free(found);
    fm_destroy(m);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_ranks);
    g_narrow = narrowing();
    uint64_t seed = 1;
    for (int i = 1; i + 1 < argc; i++)
        if (strcmp(argv[i], "--seed") == 0) seed = strtoull(argv[i + 1], NULL, 0);
    tu_rng rng;
    tu_rng_seed(&rng, seed * 7919 + (uint64_t)g_rank);

    /* Room to spare: no call needs a counting pass, which sends keys too. */
    fm_config cfg = fm_config_default(8, 8, 4 * (uint64_t)KEYS * (uint64_t)g_ranks);
    cfg.threads = 2;
    static const uint32_t widths[] = {1, 2, 4, 8};
    for (int hash = 0; hash < 2; hash++) {
        cfg.hash = hash ? FM_HASH_IDENTITY : FM_HASH_MURMUR3;
        for (size_t w = 0; w < 4; w++)
            for (int repeats = 0; repeats < 2; repeats++)
                one_case(&cfg, widths[w], (int)(w + (size_t)repeats) % g_ranks, repeats, 0, &rng);
        one_case(&cfg, 2, g_ranks - 1, 1, 1, &rng);
    }

    /* A map on one rank sends nothing. */
    if (g_ranks == 1) {
        fm_map *m = NULL;
        CHECK_OK(NULL, fm_create_mpi(MPI_COMM_WORLD, &cfg, &m));
        uint64_t k = 7, d = 3;
        CHECK_OK(m, fm_bulk_add_u64(m, &k, &d, 1));
        CHECK(sent_now(m) == 0);
        fm_destroy(m);
    }
    /* Maps without ranks report 0. */
    fm_map *plain = NULL;
    fm_config pc = fm_config_default(8, 8, 1024);
    CHECK_OK(NULL, fm_create(&pc, &plain));
    uint64_t k = 7, d = 3;
    CHECK_OK(plain, fm_bulk_add_u64(plain, &k, &d, 1));
    CHECK(sent_now(plain) == 0);
    fm_destroy(plain);

    int failures = g_failures, all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    if (g_rank == 0) printf("test_mpi_sent_bytes: %d rank(s), deltas %s, seed %llu, %d failures\n", g_ranks,
                            g_narrow ? "narrowed" : "in 8 bytes", (unsigned long long)seed, all);
    MPI_Finalize();
    return all ? 1 : 0;
}
