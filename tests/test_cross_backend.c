/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Cross-backend test: the same random batches go to a CPU map and a CUDA
 * map; every status, every output byte, fm_size and, at the end of each
 * configuration, the full exports (sorted) must be identical.
 *
 * The CUDA map's batches and outputs are put at random in pageable host
 * memory, pinned host memory (cudaMallocHost) or device memory
 * (cudaMalloc), so every path of the backend's staging is taken. Some
 * batches are larger than a staging buffer (several chunks, overlapped
 * copies). Fixed-capacity configurations check that FM_ERR_FULL comes on
 * the same batches and leaves both maps unchanged.
 *
 * Exits 77 (CTest: skipped) when no CUDA device is usable.
 * Usage: test_cross_backend [--seed S] [--scale X] [--both-cpu]
 *   --both-cpu  checks this test itself where there is no GPU: the second
 *               map is a CPU map too and every buffer is pageable host memory
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap.h>

#include <cuda_runtime_api.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test_check.h"
#include "test_util.h"

static int g_both_cpu; /* --both-cpu: no CUDA call at all */


#define CUDA_OK(expr)                                                          \
    do {                                                                       \
        cudaError_t e_ = (expr);                                               \
        if (e_ != cudaSuccess) {                                               \
            fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #expr,     \
                    cudaGetErrorString(e_));                                   \
            exit(1);                                                           \
        }                                                                      \
    } while (0)

/* ---- buffers in one of three kinds of memory ----------------------------- */

enum { MEM_PAGEABLE, MEM_PINNED, MEM_DEVICE };
static const char *const MEM_NAMES[] = {"pageable", "pinned", "device"};

typedef struct buf {
    void *p; /* where the CUDA map reads or writes */
    int kind;
    size_t bytes;
} buf;

static buf buf_alloc(size_t bytes, int kind)
{
    if (g_both_cpu) kind = MEM_PAGEABLE;
    buf b = {NULL, kind, bytes};
    if (kind == MEM_PINNED) CUDA_OK(cudaMallocHost(&b.p, bytes ? bytes : 1));
    else if (kind == MEM_DEVICE) CUDA_OK(cudaMalloc(&b.p, bytes ? bytes : 1));
    else b.p = tu_xmalloc(bytes);
    return b;
}

static void buf_free(buf *b)
{
    if (b->kind == MEM_PINNED) cudaFreeHost(b->p);
    else if (b->kind == MEM_DEVICE) cudaFree(b->p);
    else free(b->p);
    b->p = NULL;
}

/* A copy of host bytes in memory of `kind`. */
static buf buf_from(const void *host, size_t bytes, int kind)
{
    buf b = buf_alloc(bytes, kind);
    if (b.kind == MEM_PAGEABLE) memcpy(b.p, host, bytes);
    else CUDA_OK(cudaMemcpy(b.p, host, bytes, cudaMemcpyDefault));
    return b;
}

/* Output buffer filled with a poison byte, so unwritten bytes show. */
static buf buf_poisoned(size_t bytes, int kind)
{
    buf b = buf_alloc(bytes, kind);
    if (b.kind != MEM_DEVICE) memset(b.p, 0xA5, bytes ? bytes : 1); /* pinned memory is host memory */
    else CUDA_OK(cudaMemset(b.p, 0xA5, bytes ? bytes : 1));
    return b;
}

static void buf_read(void *host, const buf *b, size_t bytes)
{
    if (b->kind == MEM_PAGEABLE) memcpy(host, b->p, bytes);
    else CUDA_OK(cudaMemcpy(host, b->p, bytes, cudaMemcpyDefault));
}

/* ---- one configuration --------------------------------------------------- */

typedef struct conf {
    uint32_t ks, vs;
    fm_hash hash;
    int fixed;
    uint64_t capacity;
    double max_load;
    int shards; /* 0 or 1: one table; more: CUDA shards, device buffers staged */
} conf;

typedef struct state {
    conf c;
    tu_rng rng;
    fm_map *cpu, *gpu;
    uint8_t *pool;
    size_t pool_n;
    int batch;
} state;

static int pick_kind(state *s) { return (int)tu_below(&s->rng, 3); }

static void pick_keys(state *s, uint8_t *keys, size_t n)
{
    size_t w = (size_t)tu_log_range(&s->rng, s->pool_n);
    size_t a = (size_t)tu_below(&s->rng, s->pool_n - w + 1);
    for (size_t i = 0; i < n; i++) {
        if (tu_chance(&s->rng, 5))
            tu_fill(&s->rng, keys + i * s->c.ks, s->c.ks);
        else
            memcpy(keys + i * s->c.ks, s->pool + (a + tu_below(&s->rng, w)) * s->c.ks, s->c.ks);
    }
}

#define MAX_BATCH ((size_t)1200000)
#define MAX_BATCH_BYTES ((size_t)256 << 20)

static size_t pick_n(state *s)
{
    uint64_t u = tu_below(&s->rng, 100);
    size_t n;
    if (u < 5) n = 0;
    else if (u < 40) n = (size_t)tu_range(&s->rng, 1, 64);
    else if (u < 80) n = (size_t)tu_range(&s->rng, 65, 5000);
    else if (u < 97) n = (size_t)tu_range(&s->rng, 5001, 100000);
    else n = (size_t)tu_range(&s->rng, 300000, MAX_BATCH); /* several staging chunks */
    const size_t most = MAX_BATCH_BYTES / (s->c.ks + s->c.vs + 8);
    return n < most ? n : most;
}

static void same_status(state *s, const char *op, fm_status a, fm_status b)
{
    if (a != b)
        MISMATCH("batch %d %s: cpu returned %d (%s), cuda %d (%s): %s", s->batch, op, a, fm_status_str(a),
             b, fm_status_str(b), fm_last_error(s->gpu));
}

static void same_bytes(state *s, const char *op, const char *what, const uint8_t *a, const uint8_t *b,
                       size_t n, size_t elem)
{
    for (size_t i = 0; i < n; i++) {
        if (memcmp(a + i * elem, b + i * elem, elem) != 0) {
            MISMATCH("batch %d %s: %s of key #%zu of %zu differ", s->batch, op, what, i, n);
            return;
        }
    }
}

static void do_get(state *s, const uint8_t *keys, size_t n)
{
    const size_t ks = s->c.ks, vs = s->c.vs;
    const int kk = pick_kind(s), vk = pick_kind(s), fk = pick_kind(s);
    buf k = buf_from(keys, n * ks, kk), v = buf_poisoned(n * vs, vk), f = buf_poisoned(n, fk);
    uint8_t *cv = (uint8_t *)tu_xmalloc(n * vs), *cf = (uint8_t *)tu_xmalloc(n);
    uint8_t *gv = (uint8_t *)tu_xmalloc(n * vs), *gf = (uint8_t *)tu_xmalloc(n);
    fm_status a = fm_bulk_get(s->cpu, keys, n, cv, cf);
    fm_status b = fm_bulk_get(s->gpu, k.p, n, vs ? v.p : NULL, f.p);
    same_status(s, "get", a, b);
    buf_read(gv, &v, n * vs);
    buf_read(gf, &f, n);
    char what[96];
    snprintf(what, sizeof what, "get (keys %s, values %s, found %s)", MEM_NAMES[kk], MEM_NAMES[vk], MEM_NAMES[fk]);
    same_bytes(s, what, "value", cv, gv, n, vs);
    same_bytes(s, what, "found flag", cf, gf, n, 1);
    buf_free(&k);
    buf_free(&v);
    buf_free(&f);
    free(cv);
    free(cf);
    free(gv);
    free(gf);
}

static void do_insert(state *s, const uint8_t *keys, size_t n)
{
    const size_t ks = s->c.ks, vs = s->c.vs;
    uint8_t *vals = (uint8_t *)tu_xmalloc(n * vs);
    tu_fill(&s->rng, vals, n * vs);
    buf k = buf_from(keys, n * ks, pick_kind(s)), v = buf_from(vals, n * vs, pick_kind(s));
    fm_status a = fm_bulk_insert(s->cpu, keys, vals, n);
    fm_status b = fm_bulk_insert(s->gpu, k.p, v.p, n);
    same_status(s, "insert", a, b);
    buf_free(&k);
    buf_free(&v);
    free(vals);
}

static void do_add(state *s, const uint8_t *keys, size_t n)
{
    uint64_t *d = (uint64_t *)tu_xmalloc(n * 8);
    for (size_t i = 0; i < n; i++) d[i] = tu_chance(&s->rng, 20) ? UINT64_MAX - tu_below(&s->rng, 3) : tu_below(&s->rng, 10);
    const int with_deltas = !tu_chance(&s->rng, 25);
    buf k = buf_from(keys, n * s->c.ks, pick_kind(s)), v = buf_from(d, n * 8, pick_kind(s));
    fm_status a = fm_bulk_add_u64(s->cpu, keys, with_deltas ? d : NULL, n);
    fm_status b = fm_bulk_add_u64(s->gpu, k.p, with_deltas ? (const uint64_t *)v.p : NULL, n);
    same_status(s, "add_u64", a, b);
    buf_free(&k);
    buf_free(&v);
    free(d);
}

static void do_remove(state *s, const uint8_t *keys, size_t n)
{
    const int rk = pick_kind(s);
    buf k = buf_from(keys, n * s->c.ks, pick_kind(s)), r = buf_poisoned(n, rk);
    uint8_t *cr = (uint8_t *)tu_xmalloc(n), *gr = (uint8_t *)tu_xmalloc(n);
    const int with_flags = !tu_chance(&s->rng, 20);
    fm_status a = fm_bulk_remove(s->cpu, keys, n, cr);
    fm_status b = fm_bulk_remove(s->gpu, k.p, n, with_flags ? (uint8_t *)r.p : NULL);
    same_status(s, "remove", a, b);
    if (with_flags) {
        buf_read(gr, &r, n);
        same_bytes(s, rk == MEM_DEVICE ? "remove (flags on device)" : "remove", "removed flag", cr, gr, n, 1);
    }
    buf_free(&k);
    buf_free(&r);
    free(cr);
    free(gr);
}

/* Every entry, exported in pages of random size (for the CUDA map into
 * memory of a random kind), as sorted key || value records. */
static size_t g_record;
static int cmp_record(const void *a, const void *b) { return memcmp(a, b, g_record); }

static uint8_t *export_sorted(state *s, fm_map *m, int cuda, size_t *count)
{
    const size_t ks = s->c.ks, vs = s->c.vs, rec = ks + vs;
    const size_t size = (size_t)fm_size(m);
    uint8_t *out = (uint8_t *)tu_xmalloc((size + 1) * rec);
    const size_t page = (size_t)tu_range(&s->rng, 1, 70000);
    buf kb = buf_alloc(page * ks, cuda ? pick_kind(s) : MEM_PAGEABLE);
    buf vb = buf_alloc(page * vs, cuda ? pick_kind(s) : MEM_PAGEABLE);
    uint8_t *hk = (uint8_t *)tu_xmalloc(page * ks), *hv = (uint8_t *)tu_xmalloc(page * vs);
    uint64_t cursor = 0;
    size_t total = 0;
    do {
        size_t n = 0;
        fm_status st = fm_export(m, &cursor, kb.p, vs ? vb.p : NULL, page, &n);
        if (st != FM_OK || total + n > size) {
            MISMATCH("export: status %d, %zu + %zu entries of %zu: %s", st, total, n, size, fm_last_error(m));
            break;
        }
        buf_read(hk, &kb, n * ks);
        buf_read(hv, &vb, n * vs);
        for (size_t i = 0; i < n; i++) {
            memcpy(out + (total + i) * rec, hk + i * ks, ks);
            memcpy(out + (total + i) * rec + ks, hv + i * vs, vs);
        }
        total += n;
    } while (cursor != 0);
    buf_free(&kb);
    buf_free(&vb);
    free(hk);
    free(hv);
    g_record = rec;
    qsort(out, total, rec, cmp_record);
    *count = total;
    return out;
}

static void compare_exports(state *s)
{
    size_t na = 0, nb = 0;
    uint8_t *a = export_sorted(s, s->cpu, 0, &na);
    uint8_t *b = export_sorted(s, s->gpu, 1, &nb);
    if (na != nb)
        MISMATCH("batch %d: cpu exported %zu entries, cuda %zu", s->batch, na, nb);
    else if (memcmp(a, b, na * (s->c.ks + s->c.vs)) != 0)
        MISMATCH("batch %d: exports of %zu entries differ", s->batch, na);
    free(a);
    free(b);
}

static void run_conf(const conf *c, uint64_t seed, double scale)
{
    state s;
    memset(&s, 0, sizeof s);
    s.c = *c;
    tu_rng_seed(&s.rng, seed);
    fm_config cfg = fm_config_default(c->ks, c->vs, c->capacity);
    cfg.hash = c->hash;
    cfg.max_load = c->max_load;
    cfg.flags = c->fixed ? FM_FIXED_CAPACITY : 0;
    cfg.shards = c->shards;
    cfg.backend = FM_BACKEND_CPU;
    fm_status st = fm_create(&cfg, &s.cpu);
    cfg.backend = g_both_cpu ? FM_BACKEND_CPU : FM_BACKEND_CUDA;
    if (st == FM_OK) st = fm_create(&cfg, &s.gpu);
    if (st != FM_OK) {
        MISMATCH("fm_create: %s", fm_last_error(NULL));
        fm_destroy(s.cpu);
        return;
    }
    s.pool_n = c->fixed ? (size_t)(2 * c->capacity + 64) : 400000;
    s.pool = (uint8_t *)tu_xmalloc(s.pool_n * c->ks);
    tu_fill(&s.rng, s.pool, s.pool_n * c->ks);
    const int batches = (int)(60 * scale) + 1;
    uint8_t *keys = (uint8_t *)tu_xmalloc(MAX_BATCH * c->ks);
    for (s.batch = 0; s.batch < batches && g_failures == 0; s.batch++) {
        const size_t n = pick_n(&s);
        pick_keys(&s, keys, n);
        const uint64_t u = tu_below(&s.rng, 100);
        if (u < 2) same_status(&s, "clear", fm_clear(s.cpu), fm_clear(s.gpu));
        else if (u < 40) do_insert(&s, keys, n);
        else if (u < 60) do_get(&s, keys, n);
        else if (u < 80) do_remove(&s, keys, n);
        else if (c->vs == 8) do_add(&s, keys, n);
        else do_insert(&s, keys, n);
        if (fm_size(s.cpu) != fm_size(s.gpu))
            MISMATCH("batch %d: fm_size cpu %llu, cuda %llu", s.batch, (unsigned long long)fm_size(s.cpu),
                 (unsigned long long)fm_size(s.gpu));
        if (s.batch % 15 == 14) compare_exports(&s);
    }
    compare_exports(&s);
    fm_stats st_gpu;
    if (fm_get_stats(s.gpu, &st_gpu) != FM_OK || st_gpu.backend != cfg.backend ||
        st_gpu.size != fm_size(s.cpu) || st_gpu.longest_probe >= st_gpu.slots)
        MISMATCH("fm_get_stats on the CUDA map: %s", fm_last_error(s.gpu));
    printf("cross_backend: ks=%u vs=%u %s %s capacity=%llu shards=%d: %d batches, %llu entries, %s\n", c->ks,
           c->vs, c->hash == FM_HASH_IDENTITY ? "identity" : "murmur3", c->fixed ? "fixed" : "growing",
           (unsigned long long)c->capacity, c->shards > 1 ? c->shards : 1, s.batch, (unsigned long long)fm_size(s.cpu),
           g_failures ? "MISMATCH" : "same");
    free(keys);
    free(s.pool);
    fm_destroy(s.cpu);
    fm_destroy(s.gpu);
}

int main(int argc, char **argv)
{
    uint64_t seed = 1;
    double scale = 1.0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) seed = strtoull(argv[++i], NULL, 0);
        else if (strcmp(argv[i], "--scale") == 0 && i + 1 < argc) scale = strtod(argv[++i], NULL);
        else if (strcmp(argv[i], "--both-cpu") == 0) g_both_cpu = 1;
        else {
            fprintf(stderr, "usage: test_cross_backend [--seed S] [--scale X] [--both-cpu]\n");
            return 2;
        }
    }
    fm_config probe = fm_config_default(8, 8, 16);
    probe.backend = FM_BACKEND_CUDA;
    fm_map *m = NULL;
    if (!g_both_cpu && fm_create(&probe, &m) == FM_ERR_UNSUPPORTED) {
        printf("cross_backend: no usable CUDA device (%s): skipped\n", fm_last_error(NULL));
        return 77;
    }
    fm_destroy(m);
    const conf confs[] = {
        {8, 8, FM_HASH_MURMUR3, 0, 0, 0.5, 1},
        {32, 128, FM_HASH_MURMUR3, 0, 1000, 0.5, 1},
        {3, 0, FM_HASH_IDENTITY, 0, 10, 0.75, 1},
        {16, 8, FM_HASH_IDENTITY, 1, 5000, 0.9, 1},
        {64, 4096, FM_HASH_MURMUR3, 1, 300, 0.5, 1},
        {13, 24, FM_HASH_MURMUR3, 0, 1, 0.25, 1},
        {16, 8, FM_HASH_MURMUR3, 0, 0, 0.5, 3},
        {32, 128, FM_HASH_IDENTITY, 1, 5000, 0.5, 2},
    };
    for (size_t i = 0; i < sizeof confs / sizeof confs[0] && g_failures == 0; i++)
        run_conf(&confs[i], seed + i, scale);
    printf("cross_backend: %d mismatches\n", g_failures);
    return g_failures ? 1 : 0;
}
