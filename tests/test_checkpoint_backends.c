/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Checkpoints across backends: a map filled on the CPU is saved, loaded as
 * a CUDA map (fm_load with an overriding backend), changed there, saved
 * from the GPU, and loaded back on the CPU; after every step the map must
 * hold exactly what the reference map holds. Key and value sizes, hashes,
 * fixed capacity and sharded maps vary. Exits 77 where no CUDA device is
 * usable.
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "map_check.h"
#include "reference_map.h"
#include "test_check.h"
#include "test_util.h"

typedef struct conf {
    uint32_t ks, vs;
    fm_hash hash;
    uint32_t flags;
    int shards;
} conf;

static const conf CONFS[] = {
    {8, 8, FM_HASH_MURMUR3, 0, 1},
    {16, 0, FM_HASH_IDENTITY, 0, 1},
    {32, 128, FM_HASH_MURMUR3, FM_FIXED_CAPACITY, 1},
    {3, 40, FM_HASH_MURMUR3, 0, 3},
    {64, 8, FM_HASH_IDENTITY, FM_FIXED_CAPACITY, 2},
};

/* Random inserts and removes on map and ref alike. */
static void churn(tu_rng *r, fm_map *m, ref_map *ref, const conf *c, size_t n, uint64_t span)
{
    uint8_t *keys = tu_xmalloc(n * c->ks), *values = tu_xmalloc(n * (c->vs ? c->vs : 1));
    for (size_t i = 0; i < n; i++) {
        uint64_t k = tu_below(r, span);
        memset(keys + i * c->ks, 0, c->ks);
        memcpy(keys + i * c->ks, &k, c->ks < 8 ? c->ks : 8);
        tu_fill(r, values + i * (c->vs ? c->vs : 0), c->vs);
    }
    CHECK_OK(m, fm_bulk_insert(m, keys, c->vs ? values : NULL, n));
    for (size_t i = 0; i < n; i++)
        ref_put(ref, keys + i * c->ks, c->vs ? values + i * c->vs : NULL);
    const size_t gone = n / 3;
    CHECK_OK(m, fm_bulk_remove(m, keys, gone, NULL));
    for (size_t i = 0; i < gone; i++)
        ref_remove(ref, keys + i * c->ks);
    free(keys);
    free(values);
}

static fm_map *load_on(const char *path, fm_backend backend)
{
    fm_config ov = fm_config_default(0, 0, 0);
    ov.backend = backend;
    fm_map *m = NULL;
    fm_status st = fm_load(path, &ov, &m);
    if (st != FM_OK) {
        fprintf(stderr, "fm_load onto %s: %s\n", backend == FM_BACKEND_CUDA ? "CUDA" : "CPU", fm_last_error(NULL));
        g_failures++;
    }
    return m;
}

int main(void)
{
    fm_config probe = fm_config_default(8, 8, 16);
    probe.backend = FM_BACKEND_CUDA;
    fm_map *gpu_probe = NULL;
    if (fm_create(&probe, &gpu_probe) != FM_OK) {
        printf("test_checkpoint_backends: no usable CUDA device (%s); skipped\n", fm_last_error(NULL));
        return 77;
    }
    fm_destroy(gpu_probe);
    char dir[] = "/tmp/flashmap-ckb-XXXXXX";
    if (!mkdtemp(dir)) return 2;
    char path[200];
    snprintf(path, sizeof path, "%s/map.fmck", dir);
    tu_rng r;
    tu_rng_seed(&r, 7);
    for (size_t i = 0; i < sizeof CONFS / sizeof *CONFS; i++) {
        const conf *c = &CONFS[i];
        char what[120];
        snprintf(what, sizeof what, "%ux%u shards %d%s", c->ks, c->vs, c->shards,
                 c->flags ? " fixed" : "");
        fm_config cfg = fm_config_default(c->ks, c->vs, 60000);
        cfg.backend = FM_BACKEND_CPU;
        cfg.hash = c->hash;
        cfg.flags = c->flags;
        cfg.shards = c->shards;
        fm_map *cpu = NULL;
        if (fm_create(&cfg, &cpu) != FM_OK) return 2;
        ref_map *ref = ref_create(c->ks, c->vs);
        churn(&r, cpu, ref, c, 40000, 50000);
        CHECK_OK(cpu, fm_save(cpu, path));
        fm_destroy(cpu);

        fm_map *gpu = load_on(path, FM_BACKEND_CUDA); /* CPU -> GPU */
        if (!gpu) continue;
        CHECK(fm_map_backend(gpu) == FM_BACKEND_CUDA);
        CHECK(mc_same_contents(gpu, ref, c->ks, c->vs, what));
        churn(&r, gpu, ref, c, 20000, 60000);
        CHECK_OK(gpu, fm_save(gpu, path));
        fm_destroy(gpu);

        fm_map *back = load_on(path, FM_BACKEND_CPU); /* GPU -> CPU */
        if (!back) continue;
        CHECK(fm_map_backend(back) == FM_BACKEND_CPU);
        CHECK(mc_same_contents(back, ref, c->ks, c->vs, what));
        fm_destroy(back);
        ref_destroy(ref);
        printf("  %-24s CPU -> GPU -> CPU: %s\n", what, g_failures ? "FAILED" : "same contents");
    }
    unlink(path);
    rmdir(dir);
    printf("test_checkpoint_backends: %d failures\n", g_failures);
    return g_failures ? 1 : 0;
}
