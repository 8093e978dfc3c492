/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Fixed capacity of a map made of parts: a sharded map (cfg.shards = S) or,
 * built with FM_TEST_MPI, an MPI map (one part per rank). With
 * FM_FIXED_CAPACITY the map must take exactly `capacity` live entries in
 * all, however they fall on the parts, without growing its memory:
 *   - 20,001 distinct random keys go in (the 20,002nd is FM_ERR_FULL, with
 *     the map unchanged), updates and churn at full capacity keep working,
 *     and the slots never change;
 *   - keys chosen to fall on part 0 only fill its table (its share plus
 *     headroom, owner_model.h), then FM_ERR_FULL says that table is full
 *     while the map has room; a key of part 1 still goes in.
 * In the MPI build every rank draws the same batches and passes its slice.
 *
 * Usage: test_fixed_parts              (shards 2, 3 and 8)
 *        mpiexec -n P test_fixed_parts_mpi
 */
#define _POSIX_C_SOURCE 200809L

#ifdef FM_TEST_MPI
#include <flashmap_mpi.h>
#else
#include <flashmap.h>
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "owner_model.h"
#include "test_check.h"
#include "test_util.h"

#define CAPACITY 20001
#define BATCH 997

static int g_rank, g_ranks = 1;

static fm_map *create(uint64_t capacity, fm_hash hash, int shards)
{
    fm_config cfg = fm_config_default(8, 8, capacity);
    cfg.backend = FM_BACKEND_CPU;
    cfg.hash = hash;
    cfg.flags = FM_FIXED_CAPACITY;
    fm_map *map = NULL;
#ifdef FM_TEST_MPI
    (void)shards;
    const fm_status st = fm_create_mpi(MPI_COMM_WORLD, &cfg, &map);
#else
    cfg.shards = shards;
    const fm_status st = fm_create(&cfg, &map);
#endif
    if (st != FM_OK) {
        fprintf(stderr, "create: %s\n", fm_last_error(NULL));
        exit(2);
    }
    return map;
}

/* Inserts the global batch keys[0..n) (value = key): each rank its slice. */
static fm_status put(fm_map *map, const uint64_t *keys, size_t n)
{
    const size_t from = n * (size_t)g_rank / (size_t)g_ranks, to = n * (size_t)(g_rank + 1) / (size_t)g_ranks;
    return fm_bulk_insert(map, keys + from, keys + from, to - from);
}

static uint64_t slots_of(fm_map *map)
{
    fm_stats s;
    memset(&s, 0, sizeof s);
    CHECK_OK(map, fm_get_stats(map, &s));
    return s.slots;
}

static void expect(fm_map *map, const char *what, fm_status got, fm_status want, const char *text)
{
    if (got != want)
        MISMATCH("%s: returned %s, expected %s: %s", what, fm_status_str(got), fm_status_str(want), fm_last_error(map));
    else if (text && !strstr(fm_last_error(map), text))
        MISMATCH("%s: message \"%s\" lacks \"%s\"", what, fm_last_error(map), text);
}

static void expect_size(fm_map *map, const char *what, uint64_t want)
{
    const uint64_t size = fm_size(map);
    if (size != want) MISMATCH("%s: fm_size is %llu, expected %llu", what, (unsigned long long)size, (unsigned long long)want);
}

/* The whole capacity, then FULL, then updates and churn at capacity. */
static void whole_capacity(fm_hash hash, int parts)
{
    tu_rng rng;
    tu_rng_seed(&rng, 1234 + (uint64_t)parts);
    const size_t pool_n = CAPACITY + 20 * BATCH;
    uint64_t *pool = tu_xmalloc(pool_n * sizeof *pool);
    for (size_t i = 0; i < pool_n; i++) pool[i] = tu_next(&rng) | 1; /* distinct for all practical purposes */
    fm_map *map = create(CAPACITY, hash, parts);
    const uint64_t slots = slots_of(map);
    for (size_t at = 0; at < CAPACITY; at += BATCH) {
        const size_t n = at + BATCH <= CAPACITY ? BATCH : CAPACITY - at;
        expect(map, "filling to capacity", put(map, pool + at, n), FM_OK, NULL);
    }
    expect_size(map, "at capacity", CAPACITY);
    expect(map, "one key past capacity", put(map, pool + CAPACITY, 1), FM_ERR_FULL, "fixed capacity is 20001");
    expect_size(map, "after FM_ERR_FULL", CAPACITY);
    uint64_t value = 0;
    uint8_t found = 1;
    CHECK_OK(map, fm_bulk_get(map, pool + CAPACITY, g_rank == 0, &value, &found));
    if (g_rank == 0 && found) MISMATCH("a rejected key was stored");
    expect(map, "updates at capacity", put(map, pool + 100, BATCH), FM_OK, NULL);
    /* Churn: remove a batch, insert a fresh one, again and again. */
    size_t next = CAPACITY;
    for (size_t round = 0, old = 0; round < 18; round++, old += BATCH, next += BATCH) {
        const size_t from = BATCH * (size_t)g_rank / (size_t)g_ranks, to = BATCH * (size_t)(g_rank + 1) / (size_t)g_ranks;
        CHECK_OK(map, fm_bulk_remove(map, pool + old + from, to - from, NULL));
        expect(map, "churn at capacity", put(map, pool + next, BATCH), FM_OK, NULL);
    }
    expect_size(map, "after churn", CAPACITY);
    if (slots_of(map) != slots)
        MISMATCH("%d parts: the slots changed from %llu to %llu", parts, (unsigned long long)slots,
                 (unsigned long long)slots_of(map));
    if (g_rank == 0)
        printf("fixed_parts: %d parts, %s: capacity %d in %llu slots\n", parts,
               hash == FM_HASH_IDENTITY ? "identity" : "murmur3", CAPACITY, (unsigned long long)slots);
    fm_destroy(map);
    free(pool);
}

/* Keys that all fall on part 0 fill its table alone. */
static void one_part_full(fm_hash hash, int parts)
{
    const uint64_t capacity = 10000, part = tm_shard_capacity(capacity, (uint32_t)parts);
    uint64_t *keys = tu_xmalloc((part + 2) * sizeof *keys);
    uint64_t other = 0;
    tu_rng rng;
    tu_rng_seed(&rng, 99);
    for (size_t got = 0; got < part + 1 || other == 0;) {
        const uint64_t k = tu_next(&rng);
        const uint32_t owner = tm_owner(hash, (const uint8_t *)&k, 8, (uint32_t)parts);
        if (owner == 0 && got < part + 1) keys[got++] = k;
        else if (owner == 1 && other == 0) other = k;
    }
    fm_map *map = create(capacity, hash, parts);
    expect(map, "filling part 0", put(map, keys, (size_t)part), FM_OK, NULL);
    expect(map, "one more key on part 0", put(map, keys + part, 1), FM_ERR_FULL, "table is full");
    expect_size(map, "after part 0 was full", part);
    expect(map, "a key on part 1", put(map, &other, 1), FM_OK, NULL);
    expect_size(map, "after a key on part 1", part + 1);
    fm_destroy(map);
    free(keys);
}

int main(int argc, char **argv)
{
#ifdef FM_TEST_MPI
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_ranks);
    const int counts[] = {g_ranks};
#else
    const int counts[] = {2, 3, 8};
#endif
    (void)argc;
    (void)argv;
    const fm_hash hashes[] = {FM_HASH_MURMUR3, FM_HASH_IDENTITY};
    for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
        for (int h = 0; h < 2; h++) {
            whole_capacity(hashes[h], counts[c]);
            if (counts[c] > 1) one_part_full(hashes[h], counts[c]);
        }
    int failures = g_failures;
#ifdef FM_TEST_MPI
    MPI_Allreduce(&g_failures, &failures, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    MPI_Finalize();
#endif
    if (g_rank == 0) printf("fixed_parts: %d failures\n", failures);
    return failures ? 1 : 0;
}
