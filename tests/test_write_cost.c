/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* What one bulk call of a CUDA map asks of the CUDA runtime, counted by the
 * host emulation (tests/cuda_emu: fm_emu_counts): kernel launches, memsets
 * and bytes memset, device allocations and frees, host waits. Printed per
 * call for warm maps (the second call of each kind), 8-byte keys and
 * values in device memory, on one table and on 2 shards of one device
 * (the device route); every result is checked against what was written.
 *
 *   test_write_cost [--keys N] [--check]
 *
 * --check also holds every call to the budget of the lean write path
 * (issue 14; the budgets are in run_map): no memset beyond the counters
 * (and, where repeats need it, the distinct count's set; for inserts, the
 * single pass's bit a slot), no device allocation and no new pool memory
 * once warm, one kernel a chunk for an insert of distinct keys (three when
 * they repeat), two for remove, one for get and add_u64, one host wait; a
 * call over budget is a failure.
 * Prints "test_write_cost: N failures". */
#include <flashmap.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cuda_runtime.h>

#include "cuda_emu/emu_expect.h"

typedef struct budget {
    unsigned long long launches, memset_bytes, mallocs, host_waits;
} budget;

static fm_emu_counts counts_now(void)
{
    fm_emu_counts c;
    fm_emu_counts_get(&c);
    return c;
}

/* Prints what happened between a and b for one call; with a budget,
 * checks it. */
static void report(const char *what, const fm_emu_counts *a, const fm_emu_counts *b, const budget *most)
{
    const unsigned long long launches = b->launches - a->launches, memsets = b->memsets - a->memsets,
                             mbytes = b->memset_bytes - a->memset_bytes, mallocs = b->mallocs - a->mallocs,
                             frees = b->frees - a->frees, waits = b->host_waits - a->host_waits;
    printf("COST %-34s launches %3llu  memsets %3llu  memset_bytes %10llu  mallocs %2llu  frees %2llu  "
           "host_waits %2llu  pool_grows %2llu\n",
           what, launches, memsets, mbytes, mallocs, frees, waits, b->pool_grows - a->pool_grows);
    if (!most) return;
    EXPECT(launches <= most->launches, "%s: %llu launches, budget %llu", what, launches, most->launches);
    EXPECT(mbytes <= most->memset_bytes, "%s: %llu bytes memset, budget %llu", what, mbytes, most->memset_bytes);
    EXPECT(mallocs <= most->mallocs, "%s: %llu device allocations, budget %llu", what, mallocs, most->mallocs);
    EXPECT(b->pool_grows == a->pool_grows, "%s: %llu new blocks from a memory pool (warm calls reuse theirs)", what,
           b->pool_grows - a->pool_grows);
    EXPECT(waits <= most->host_waits, "%s: %llu host waits, budget %llu", what, waits, most->host_waits);
}

static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void *device_copy(const void *host, size_t bytes)
{
    void *d = NULL;
    if (cudaMalloc(&d, bytes) != cudaSuccess || cudaMemcpy(d, host, bytes, cudaMemcpyHostToDevice) != cudaSuccess) {
        printf("FAIL cudaMalloc/cudaMemcpy of %zu bytes\n", bytes);
        exit(1);
    }
    return d;
}

#define CALL(map, expr)                                                        \
    do {                                                                       \
        fm_status s_ = (expr);                                                 \
        EXPECT(s_ == FM_OK, "%s: %s", #expr, fm_last_error(map));              \
    } while (0)

/* expr on map, counted and reported as "<name> <label>" against *most. */
#define COSTED(map, name, label, most, expr)                                   \
    do {                                                                       \
        char what_[64];                                                        \
        const fm_emu_counts a_ = counts_now();                                 \
        CALL(map, expr);                                                       \
        const fm_emu_counts b_ = counts_now();                                 \
        snprintf(what_, sizeof what_, "%s %s", name, label);                   \
        report(what_, &a_, &b_, most);                                         \
    } while (0)

/* The values of keys dk[0, count) (device memory) into out, through dout. */
static void values_of(fm_map *map, const uint64_t *dk, size_t count, uint64_t *dout, uint64_t *out)
{
    CALL(map, fm_bulk_get(map, dk, count, dout, NULL));
    if (cudaMemcpy(out, dout, count * 8, cudaMemcpyDeviceToHost) != cudaSuccess) exit(1);
}

/* One map: warm calls of every kind, each counted, results checked. */
static void run_map(const char *name, int shards, size_t n, int check)
{
    static const int on_device_0[2] = {0, 0};
    uint64_t *hk = malloc(n * 8), *hv = malloc(n * 8), *out = malloc(n * 8);
    uint8_t *found = malloc(n);
    for (size_t i = 0; i < n; i++) {
        hk[i] = mix(i + 1); /* distinct: mix is a bijection */
        hv[i] = mix(i + 7777);
    }
    uint64_t *dk = device_copy(hk, n * 8), *dv = device_copy(hv, n * 8), *dout = NULL;
    uint8_t *dfound = NULL;
    if (cudaMalloc((void **)&dout, n * 8) != cudaSuccess || cudaMalloc((void **)&dfound, n) != cudaSuccess) exit(1);
    fm_config cfg = fm_config_default(8, 8, n);
    cfg.backend = FM_BACKEND_CUDA;
    cfg.device = 0;
    cfg.shards = shards;
    cfg.devices = shards > 1 ? on_device_0 : NULL;
    fm_map *map = NULL;
    if (fm_create(&cfg, &map) != FM_OK) {
        printf("FAIL fm_create: %s\n", fm_last_error(NULL));
        failures++;
        return;
    }
    /* Budgets per call, one chunk per table (n is far below a chunk): a
     * table's counters (at most 64 bytes) may be zeroed; a write groups
     * and writes (2 kernels), an add and a get take 1; one host wait for
     * the counters. The device route of a sharded map adds its own kernels
     * (owners, sort, gathers, scatters), its bucket counts (64 bytes) and
     * waits, and its shards reserve room before any shard writes: a count
     * pass each (1 kernel, counters) for add_u64. An add whose repeats take
     * it past the headroom counts distinct keys in a set of at most 16
     * bytes an occurrence (the CPU backend counts them too). */
    const unsigned long long k = shards > 1 ? (unsigned long long)shards : 1;
    const unsigned long long rl = shards > 1 ? 12 : 0, rm = shards > 1 ? 64 : 0, rw = shards > 1 ? 6 : 0;
    const budget write = {2 * k + rl, 64 * k + rm, 0, k + rw};
    /* An insert of distinct keys is one pass (1 kernel) that clears a bit
     * a table slot first (at most 4 slots a key: n / 2 bytes); one whose
     * keys repeat is then written again grouped (2 kernels more). */
    const budget insert = {1 * k + rl, 64 * k + rm + n / 2, 0, k + rw};
    const budget insert_repeats = {3 * k + rl, 2 * 64 * k + rm + n, 0, 2 * k + rw};
    const budget read = {1 * k + rl, rm, 0, 1 + rw};
    const budget add = {(shards > 1 ? 2 : 1) * k + rl, (shards > 1 ? 128 : 64) * k + rm, 0, 2 * k + rw};
    const budget add_repeats = {7 * k + rl, 64 * 4 * k + rm + 16 * 2 * n, 0, 5 * k + rw};
    char what[64];
    fm_emu_counts a, b;

    CALL(map, fm_bulk_insert(map, dk, dv, n)); /* cold: allocates what it keeps */
    CALL(map, fm_clear(map));
    a = counts_now();
    CALL(map, fm_bulk_insert(map, dk, dv, n));
    b = counts_now();
    snprintf(what, sizeof what, "%s insert", name);
    report(what, &a, &b, check ? &insert : NULL);
    EXPECT(fm_size(map) == n, "%s: size %llu after insert, expected %zu", name, (unsigned long long)fm_size(map), n);

    CALL(map, fm_bulk_get(map, dk, n, dout, dfound));
    a = counts_now();
    CALL(map, fm_bulk_get(map, dk, n, dout, dfound));
    b = counts_now();
    snprintf(what, sizeof what, "%s get", name);
    report(what, &a, &b, check ? &read : NULL);
    if (cudaMemcpy(out, dout, n * 8, cudaMemcpyDeviceToHost) != cudaSuccess ||
        cudaMemcpy(found, dfound, n, cudaMemcpyDeviceToHost) != cudaSuccess)
        exit(1);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) wrong += !found[i] || out[i] != hv[i];
    EXPECT(wrong == 0, "%s get: %zu of %zu keys wrong", name, wrong, n);

    /* add_u64 of keys present (+1 each), warm, twice: counters at v + 2. */
    CALL(map, fm_bulk_add_u64(map, dk, NULL, n));
    a = counts_now();
    CALL(map, fm_bulk_add_u64(map, dk, NULL, n));
    b = counts_now();
    snprintf(what, sizeof what, "%s add_u64 (present)", name);
    report(what, &a, &b, check ? &add : NULL);
    values_of(map, dk, n, dout, out);
    wrong = 0;
    for (size_t i = 0; i < n; i++) wrong += out[i] != hv[i] + 2;
    EXPECT(wrong == 0, "%s add_u64: %zu of %zu counters wrong", name, wrong, n);

    /* add_u64 of fresh keys into the cleared map (each key twice in the batch). */
    uint64_t *twice = malloc(2 * n * 8);
    for (size_t i = 0; i < n; i++) twice[i] = twice[n + i] = hk[i];
    uint64_t *dtwice = device_copy(twice, 2 * n * 8);
    CALL(map, fm_clear(map));
    CALL(map, fm_bulk_add_u64(map, dtwice, NULL, 2 * n));
    CALL(map, fm_clear(map));
    a = counts_now();
    CALL(map, fm_bulk_add_u64(map, dtwice, NULL, 2 * n));
    b = counts_now();
    snprintf(what, sizeof what, "%s add_u64 (fresh, x2)", name);
    report(what, &a, &b, check ? &add_repeats : NULL);
    EXPECT(fm_size(map) == n, "%s: size %llu after add_u64, expected %zu", name, (unsigned long long)fm_size(map), n);
    values_of(map, dk, n, dout, out);
    wrong = 0;
    for (size_t i = 0; i < n; i++) wrong += out[i] != 2;
    EXPECT(wrong == 0, "%s add_u64 fresh: %zu of %zu counters wrong", name, wrong, n);

    /* Into the cleared map (room for all, no counting): an insert whose
     * keys repeat (n / 2 keys twice; the later value must win), then the
     * n / 2 distinct keys twice: the first of those groups (the map saw
     * repeats last), the second is one pass again. */
    const size_t half = n / 2;
    uint64_t *rep_k = malloc(n * 8), *rep_v = malloc(n * 8);
    for (size_t i = 0; i < n; i++) {
        rep_k[i] = hk[i % half];
        rep_v[i] = i < half ? hv[i] : hv[i - half] ^ 1;
    }
    uint64_t *drep_k = device_copy(rep_k, n * 8), *drep_v = device_copy(rep_v, n * 8);
    CALL(map, fm_clear(map));
    COSTED(map, name, "insert (repeats, x2)", check ? &insert_repeats : NULL, fm_bulk_insert(map, drep_k, drep_v, n));
    EXPECT(fm_size(map) == half, "%s: size %llu after an insert with repeats, expected %zu", name,
           (unsigned long long)fm_size(map), half);
    values_of(map, dk, half, dout, out);
    wrong = 0;
    for (size_t i = 0; i < half; i++) wrong += out[i] != (hv[i] ^ 1);
    EXPECT(wrong == 0, "%s insert with repeats: %zu of %zu values not the later one", name, wrong, half);
    COSTED(map, name, "insert (after repeats)", check ? &write : NULL, fm_bulk_insert(map, dk, dv, half));
    COSTED(map, name, "insert (distinct again)", check ? &insert : NULL, fm_bulk_insert(map, dk, dv, half));
    values_of(map, dk, half, dout, out);
    wrong = 0;
    for (size_t i = 0; i < half; i++) wrong += out[i] != hv[i];
    EXPECT(wrong == 0, "%s insert after repeats: %zu of %zu values wrong", name, wrong, half);
    cudaFree(drep_k);
    cudaFree(drep_v);
    free(rep_k);
    free(rep_v);
    CALL(map, fm_bulk_insert(map, dk, dv, n)); /* all n keys again, for the removes */

    CALL(map, fm_bulk_remove(map, dk, n / 2, dfound));
    CALL(map, fm_bulk_insert(map, dk, dv, n / 2));
    a = counts_now();
    CALL(map, fm_bulk_remove(map, dk, n / 2, dfound));
    b = counts_now();
    snprintf(what, sizeof what, "%s remove", name);
    report(what, &a, &b, check ? &write : NULL);
    EXPECT(fm_size(map) == n - n / 2, "%s: size %llu after remove, expected %zu", name,
           (unsigned long long)fm_size(map), n - n / 2);

    fm_destroy(map);
    cudaFree(dk);
    cudaFree(dv);
    cudaFree(dout);
    cudaFree(dfound);
    cudaFree(dtwice);
    free(hk);
    free(hv);
    free(out);
    free(found);
    free(twice);
}

/* An insert of fresh keys into a growing map 1/16 of their number: a
 * sample of the batch says most keys are new, so the table grows for the
 * whole batch at once and no pass over the batch counts new keys (with
 * --check: the launches of the sample and its count, the growth and the
 * write, against the budget). Then an insert whose keys are all present
 * again, past the headroom: the sample says none is new, the exact count
 * finds none, and the table keeps its size. */
static void growing_insert(size_t n, int check)
{
    uint64_t *hk = malloc(n * 8), *out = malloc(n * 8);
    for (size_t i = 0; i < n; i++) hk[i] = mix(i + 99);
    uint64_t *dk = device_copy(hk, n * 8), *dout = NULL;
    if (cudaMalloc((void **)&dout, n * 8) != cudaSuccess) exit(1);
    fm_config cfg = fm_config_default(8, 8, n / 16);
    cfg.backend = FM_BACKEND_CUDA;
    cfg.device = 0;
    fm_map *map = NULL;
    if (fm_create(&cfg, &map) != FM_OK) exit(1);
    const fm_emu_counts a = counts_now();
    CALL(map, fm_bulk_insert(map, dk, dk, n));
    const fm_emu_counts b = counts_now();
    /* The sample and its count (2 launches, 2 waits), the rehash into the
     * grown table (1), group and write (2, 1 wait); counting the batch's
     * new keys first costs a launch and a wait more (6 and 4 measured). */
    const budget grow = {5, 1u << 30, 16, 3};
    report("8x8 insert growing 16x", &a, &b, check ? &grow : NULL);
    EXPECT(fm_size(map) == n, "growing insert: size %llu, expected %zu", (unsigned long long)fm_size(map), n);
    values_of(map, dk, n, dout, out);
    size_t wrong = 0;
    for (size_t i = 0; i < n; i++) wrong += out[i] != hk[i];
    EXPECT(wrong == 0, "growing insert: %zu of %zu values wrong", wrong, n);
    /* The same keys again, past the headroom: all present, nothing grows. */
    fm_stats before, after;
    CALL(map, fm_get_stats(map, &before));
    CALL(map, fm_bulk_insert(map, dk, dk, n));
    CALL(map, fm_get_stats(map, &after));
    EXPECT(after.slots == before.slots && fm_size(map) == n, "insert of present keys grew the table %llu -> %llu",
           (unsigned long long)before.slots, (unsigned long long)after.slots);
    fm_destroy(map);
    cudaFree(dk);
    cudaFree(dout);
    free(hk);
    free(out);
}

/* Memory a pool keeps is given back when an allocation needs it: after a
 * sharded device-resident batch (its routing scratch stays in flashmap's
 * pool), nearly all the rest of device memory is taken, and a new map's
 * table fits only in what the pool holds. */
static void pool_gives_back(void)
{
    const size_t n = (size_t)1 << 18;
    static const int on_device_0[2] = {0, 0};
    uint64_t *hk = malloc(n * 8);
    for (size_t i = 0; i < n; i++) hk[i] = mix(i + 3);
    uint64_t *dk = device_copy(hk, n * 8);
    fm_config cfg = fm_config_default(8, 8, n);
    cfg.backend = FM_BACKEND_CUDA;
    cfg.device = 0;
    cfg.shards = 2;
    cfg.devices = on_device_0;
    fm_map *sharded = NULL, *next = NULL;
    if (fm_create(&cfg, &sharded) != FM_OK) exit(1);
    CALL(sharded, fm_bulk_insert(sharded, dk, dk, n)); /* routing scratch: >= 24 bytes a key, kept */
    size_t free_b = 0, total_b = 0;
    void *filler = NULL;
    if (cudaMemGetInfo(&free_b, &total_b) != cudaSuccess || cudaMalloc(&filler, free_b - (2u << 20)) != cudaSuccess)
        exit(1);
    fm_config one = fm_config_default(8, 8, n / 2); /* 2^18 slots of 20 bytes: 5 MiB */
    one.backend = FM_BACKEND_CUDA;
    one.device = 0;
    const fm_status st = fm_create(&one, &next);
    EXPECT(st == FM_OK, "a 5 MiB table with 2 MiB free and the pool's scratch unused: %s", fm_last_error(NULL));
    printf("POOL a table that fits only in memory the pool gave back: %s\n", st == FM_OK ? "created" : "FAILED");
    fm_destroy(next);
    cudaFree(filler);
    fm_destroy(sharded);
    cudaFree(dk);
    free(hk);
}

int main(int argc, char **argv)
{
    size_t n = 1 << 14;
    int check = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--keys") == 0 && i + 1 < argc) n = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--check") == 0) check = 1;
        else {
            fprintf(stderr, "usage: test_write_cost [--keys N] [--check]\n");
            return 2;
        }
    }
    run_map("8x8", 1, n, check);
    run_map("8x8 shards 2", 2, n, check);
    growing_insert(n, check);
    pool_gives_back();
    printf("test_write_cost: %d failures\n", failures);
    return failures != 0;
}
