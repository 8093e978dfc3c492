/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * flashmap-bench-gpu: the CUDA backend against the device's own limits.
 *
 * Device-resident batches (keys, values and outputs in device memory):
 *   8-byte keys -> 8-byte values and 32-byte keys -> 128-byte values,
 *   2^27 keys (--keys) in a table at load 0.5: fm_bulk_insert into an empty
 *   pre-sized map, fm_bulk_get of every key, and (8x8) fm_bulk_add_u64 of
 *   +1 into the cleared map and again onto the keys present. Reference limits in the same
 *   run: a device-to-device cudaMemcpy and a random 32-byte gather over a
 *   buffer as large as the table; each operation's caller bytes per second
 *   are reported as a fraction of the copy, its keys per second as a
 *   fraction of the gathers per second (one random table access a key).
 * Sharded device-resident batches: 2^24 8-byte keys -> 8-byte values into
 *   1 and into 4 CUDA shards on device 0 (routed on the device), insert and
 *   get, keys per second.
 * Host-resident batches (the headline case): 1,000,000 (--host-keys) keys of
 *   32 bytes -> 128-byte values from pageable malloc memory, fm_bulk_insert
 *   and fm_bulk_get end to end, against plain cudaMemcpy of the same bytes
 *   from and to the same pageable buffers.
 *
 * Micro-probes (--shape probes): dependent chains of 1-3 random loads a
 *   thread, plain and with a volatile load + __threadfence() each (the
 *   probing code's acquire), loads per second.
 * --shape runs one of these alone (bench/gpu/run.sh: one process each).
 *
 * Times: CUDA events on the default stream around each call (the library
 * waits for its own streams before it returns), median of --reps runs after
 * one untimed warm-up. Every timed result is checked once (found flags and
 * values). Lines starting with "RESULT" are for scripts:
 *   RESULT <name> <value> <unit> [target <op> <value>] [<met|MISSED>]
 * Exit status 1 when a check failed or an operation returned an error.
 */
#include <flashmap.h>

#include <cuda_runtime.h>

#include "cuda/fm_launch.h" /* FM_LAUNCH: <<<>>> with nvcc, the host emulation's launcher in tests */

#include <algorithm>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <vector>

static int g_failed;

#define CHECK_CUDA(expr)                                                       \
    do {                                                                       \
        cudaError_t e_ = (expr);                                               \
        if (e_ != cudaSuccess) {                                               \
            printf("FAILED %s:%d: %s: %s\n", __FILE__, __LINE__, #expr,       \
                   cudaGetErrorString(e_));                                    \
            g_failed = 1;                                                      \
            return;                                                            \
        }                                                                      \
    } while (0)

#define CHECK_FM(map, expr)                                                    \
    do {                                                                       \
        fm_status s_ = (expr);                                                 \
        if (s_ != FM_OK) {                                                     \
            printf("FAILED %s:%d: %s: %s\n", __FILE__, __LINE__, #expr,       \
                   fm_last_error(map));                                        \
            g_failed = 1;                                                      \
            return;                                                            \
        }                                                                      \
    } while (0)

typedef struct options {
    uint64_t keys, host_keys;
    int reps;
} options;

/* ---- what a call asks of the runtime (the host emulation only) ------------------ */

/* On the host emulation of CUDA (tests/cuda_emu, CTest gpu_bench_emu) the
 * last repetition of every operation prints "COST <name> ..." lines:
 * launches, memsets, bytes memset, device allocations and host waits of
 * one call (bench/RESULTS.md). With nvcc, nothing. */
struct cost_count {
#ifdef FM_CUDA_EMULATION
    fm_emu_counts a;
    void start() { fm_emu_counts_get(&a); }
    void report(const char *name)
    {
        fm_emu_counts b;
        fm_emu_counts_get(&b);
        printf("COST %-28s launches %llu  memsets %llu  memset_bytes %llu  mallocs %llu  host_waits %llu\n", name,
               b.launches - a.launches, b.memsets - a.memsets, b.memset_bytes - a.memset_bytes,
               b.mallocs - a.mallocs, b.host_waits - a.host_waits);
    }
#else
    void start() {}
    void report(const char *) {}
#endif
};

/* ---- timing ----------------------------------------------------------------- */

static double median(std::vector<double> v)
{
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

struct timer {
    cudaEvent_t a, b;
    timer() { cudaEventCreate(&a); cudaEventCreate(&b); }
    ~timer() { cudaEventDestroy(a); cudaEventDestroy(b); }
    void start() { cudaEventRecord(a, 0); }
    double stop() /* seconds */
    {
        float ms = 0;
        cudaEventRecord(b, 0);
        cudaEventSynchronize(b);
        cudaEventElapsedTime(&ms, a, b);
        return ms / 1e3;
    }
};

static void result(const char *name, double value, const char *unit)
{
    printf("RESULT %s %.4g %s\n", name, value, unit);
}

/* value against a target: at least (min) or at most (max). */
static void result_target(const char *name, double value, const char *unit, const char *op, double target)
{
    const int met = strcmp(op, "min") == 0 ? value >= target : value <= target;
    printf("RESULT %s %.4g %s target %s %.4g %s\n", name, value, unit, op, target, met ? "met" : "MISSED");
}

/* ---- device data ------------------------------------------------------------ */

__device__ static uint64_t mix(uint64_t z)
{
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

/* Key i: 8-byte words mix(seed + i * words + w); word 0 alone makes keys
 * distinct (mix is a bijection). Values: other words of the same stream. */
__global__ static void fill_words(uint64_t *out, uint64_t n, uint32_t words, uint64_t seed)
{
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    for (uint32_t w = 0; w < words; w++) out[i * words + w] = mix(seed + i * words + w);
}

/* Counts found flags that are not 1 and values that differ from expected. */
__global__ static void check_get(const uint64_t *values, const uint64_t *expected, const uint8_t *found,
                                 uint64_t n, uint32_t words, unsigned long long *bad)
{
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    int wrong = found[i] != 1;
    for (uint32_t w = 0; w < words && !wrong; w++) wrong = values[i * words + w] != expected[i * words + w];
    if (wrong) atomicAdd(bad, 1ull);
}

__global__ static void fill_const(uint64_t *out, uint64_t n, uint64_t v)
{
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i < n) out[i] = v;
}

/* Thread i reads the 32 bytes at a random 32-byte-aligned place of buf. */
__global__ static void gather32(const uint4 *buf, uint64_t sectors, uint4 *out, uint64_t n)
{
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    const uint64_t s = mix(i) % sectors;
    out[2 * i] = buf[2 * s];
    out[2 * i + 1] = buf[2 * s + 1];
}

static unsigned grid(uint64_t n) { return (unsigned)((n + 255) / 256); }

static void fill(void *p, uint64_t n, uint32_t bytes, uint64_t seed)
{
    FM_LAUNCH(fill_words, grid(n), 256, 0, 0)((uint64_t *)p, n, bytes / 8, seed);
}

/* n keys and values in device memory, filled from seed (keys distinct),
 * and n found flags. */
static void device_batch(uint64_t n, uint32_t ks, uint32_t vs, uint64_t seed, uint8_t **keys, uint8_t **values,
                         uint8_t **found)
{
    CHECK_CUDA(cudaMalloc(keys, n * ks));
    CHECK_CUDA(cudaMalloc(values, n * vs));
    CHECK_CUDA(cudaMalloc(found, n));
    fill(*keys, n, ks, seed);
    fill(*values, n, vs, seed << 40);
    CHECK_CUDA(cudaDeviceSynchronize());
}

/* ---- reference limits ---------------------------------------------------------- */

typedef struct limits {
    double copy_Bps;   /* device-to-device copy: bytes read + written per second */
    double gather_ps;  /* random 32-byte gathers per second */
} limits;

static void measure_limits(const options *o, uint64_t table_bytes, limits *out)
{
    memset(out, 0, sizeof *out);
    size_t free_b = 0, total_b = 0;
    CHECK_CUDA(cudaMemGetInfo(&free_b, &total_b));
    /* A table-sized buffer, within what is free. */
    uint64_t bytes = table_bytes;
    if (bytes > free_b / 2) bytes = (free_b / 2) & ~(uint64_t)31;
    const uint64_t n_gather = o->keys < (1ull << 26) ? o->keys : 1ull << 26;
    void *a = NULL, *b = NULL;
    CHECK_CUDA(cudaMalloc(&a, bytes));
    CHECK_CUDA(cudaMalloc(&b, n_gather * 32 > bytes / 4 ? n_gather * 32 : bytes / 4));
    CHECK_CUDA(cudaMemset(a, 1, bytes));
    timer t;
    std::vector<double> copy, gather;
    const uint64_t copy_bytes = bytes / 4; /* b is at least this large */
    for (int r = 0; r <= o->reps; r++) {
        t.start();
        CHECK_CUDA(cudaMemcpy(b, a, copy_bytes, cudaMemcpyDeviceToDevice));
        double s = t.stop();
        if (r) copy.push_back(s);
        t.start();
        FM_LAUNCH(gather32, grid(n_gather), 256, 0, 0)((const uint4 *)a, bytes / 32, (uint4 *)b, n_gather);
        s = t.stop();
        CHECK_CUDA(cudaGetLastError());
        if (r) gather.push_back(s);
    }
    out->copy_Bps = 2.0 * (double)copy_bytes / median(copy);
    out->gather_ps = (double)n_gather / median(gather);
    printf("limits: device copy %.1f GB/s (read + write, %.2f GB), random 32-byte gather %.2f G/s "
           "over %.2f GB\n", out->copy_Bps / 1e9, copy_bytes / 1e9, out->gather_ps / 1e9, bytes / 1e9);
    result("device_copy_GBps", out->copy_Bps / 1e9, "GB/s");
    result("random_gather32_Gps", out->gather_ps / 1e9, "G/s");
    cudaFree(a);
    cudaFree(b);
}

/* ---- micro-probes: what one probe step of a table costs ------------------------- */

/* Thread i follows `depth` dependent random 8-byte loads through buf (each
 * address comes from the value loaded before it), as a get does through
 * tags, keys and values; with `fenced`, each load is volatile and followed
 * by __threadfence(), as the probing code's acquire loads are. */
__global__ static void gather_chain(const uint64_t *buf, uint64_t words, int depth, int fenced, uint64_t *out,
                                    uint64_t n)
{
    const uint64_t i = (uint64_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= n) return;
    uint64_t at = mix(i) % words, acc = 0;
    for (int d = 0; d < depth; d++) {
        uint64_t v;
        if (fenced) {
            v = *(const volatile uint64_t *)&buf[at];
            __threadfence();
        } else {
            v = buf[at];
        }
        acc += v;
        at = mix(v + d) % words;
    }
    out[i] = acc;
}

/* Dependent random loads per second, 1 to 3 deep, plain and fenced, over a
 * 2 GB buffer (--probes): the floor under a get and the fences' cost. */
static void probes(const options *o)
{
    size_t free_b = 0, total_b = 0;
    CHECK_CUDA(cudaMemGetInfo(&free_b, &total_b));
    uint64_t bytes = 2ull << 30;
    if (bytes > free_b / 2) bytes = free_b / 2;
    if (bytes > o->keys * 64) bytes = o->keys * 64; /* 2 GB from --keys 2^25 up */
    const uint64_t words = bytes / 8, n = o->keys < (1ull << 26) ? o->keys : 1ull << 26;
    uint64_t *buf = NULL, *out = NULL;
    CHECK_CUDA(cudaMalloc(&buf, bytes));
    CHECK_CUDA(cudaMalloc(&out, n * 8));
    fill(buf, words, 8, 99);
    CHECK_CUDA(cudaDeviceSynchronize());
    printf("\nmicro-probes: %llu threads, dependent random 8-byte loads over %.2f GB\n", (unsigned long long)n,
           bytes / 1e9);
    timer t;
    for (int fenced = 0; fenced <= 1; fenced++)
        for (int depth = 1; depth <= 3; depth++) {
            std::vector<double> v;
            for (int r = 0; r <= o->reps; r++) {
                t.start();
                FM_LAUNCH(gather_chain, grid(n), 256, 0, 0)(buf, words, depth, fenced, out, n);
                const double sec = t.stop();
                CHECK_CUDA(cudaGetLastError());
                if (r) v.push_back(sec);
            }
            const double s = median(v);
            char name[64];
            snprintf(name, sizeof name, "probe_chain%d%s_Gloads", depth, fenced ? "_fenced" : "");
            printf("%-28s %8.3f ms  %7.2f G loads/s  %7.2f G chains/s\n", name, s * 1e3, n * depth / s / 1e9,
                   n / s / 1e9);
            result(name, n * depth / s / 1e9, "Gloads/s");
        }
    cudaFree(buf);
    cudaFree(out);
}

/* ---- device-resident batches --------------------------------------------------- */

static void report_device_op(const char *name, uint64_t n, uint32_t io_bytes, double seconds,
                             const limits *lim, double target_keys)
{
    const double kps = n / seconds;
    const double Bps = kps * io_bytes;
    printf("%-28s %8.3f ms  %7.2f G keys/s  %7.1f GB/s  %5.1f%% of copy  %5.1f%% of gather\n", name,
           seconds * 1e3, kps / 1e9, Bps / 1e9, lim->copy_Bps ? 100 * Bps / lim->copy_Bps : 0,
           lim->gather_ps ? 100 * kps / lim->gather_ps : 0);
    char label[96];
    snprintf(label, sizeof label, "%s_Gkeys", name);
    if (target_keys > 0)
        result_target(label, kps / 1e9, "Gkeys/s", "min", target_keys / 1e9);
    else
        result(label, kps / 1e9, "Gkeys/s");
    snprintf(label, sizeof label, "%s_frac_copy", name);
    result(label, lim->copy_Bps ? Bps / lim->copy_Bps : 0, "fraction");
    snprintf(label, sizeof label, "%s_frac_gather", name);
    result(label, lim->gather_ps ? kps / lim->gather_ps : 0, "fraction");
}

/* Medians of fm_bulk_insert of n device keys into the cleared map, and of
 * fm_bulk_get of them into out (and found); the map's size and the got
 * values (when out is not values itself) are checked. */
static void time_insert_get(const options *o, fm_map *map, const char *what, const uint8_t *keys,
                            const uint8_t *values, uint8_t *out, uint8_t *found, uint64_t n, uint32_t vs,
                            double *insert_s, double *get_s)
{
    timer t;
    std::vector<double> ins, get;
    cost_count cost;
    char label[96];
    for (int r = 0; r <= o->reps; r++) {
        CHECK_FM(map, fm_clear(map));
        CHECK_CUDA(cudaDeviceSynchronize());
        if (r == o->reps) cost.start();
        t.start();
        CHECK_FM(map, fm_bulk_insert(map, keys, values, n));
        const double sec = t.stop();
        if (r) ins.push_back(sec);
    }
    snprintf(label, sizeof label, "%s_insert", what);
    cost.report(label);
    if (fm_size(map) != n) {
        printf("FAILED: %s size after insert %llu, expected %llu\n", what, (unsigned long long)fm_size(map),
               (unsigned long long)n);
        g_failed = 1;
    }
    for (int r = 0; r <= o->reps; r++) {
        if (r == o->reps) cost.start();
        t.start();
        CHECK_FM(map, fm_bulk_get(map, keys, n, out, found));
        const double sec = t.stop();
        if (r) get.push_back(sec);
    }
    snprintf(label, sizeof label, "%s_get", what);
    cost.report(label);
    unsigned long long *bad = NULL, wrong = 0;
    CHECK_CUDA(cudaMalloc(&bad, sizeof *bad));
    CHECK_CUDA(cudaMemset(bad, 0, sizeof *bad));
    /* Without a separate output the values cannot be compared: flags only. */
    FM_LAUNCH(check_get, grid(n), 256, 0, 0)((const uint64_t *)out, (const uint64_t *)values, found, n,
                                out != values ? vs / 8 : 0, bad);
    CHECK_CUDA(cudaMemcpy(&wrong, bad, sizeof wrong, cudaMemcpyDeviceToHost));
    cudaFree(bad);
    if (wrong) {
        printf("FAILED: %s get: %llu of %llu keys missing or with wrong values\n", what, wrong,
               (unsigned long long)n);
        g_failed = 1;
    }
    *insert_s = median(ins);
    *get_s = median(get);
}

/* Medians of fm_bulk_add_u64 (+1 each) of n device keys: into the cleared
 * map (every key new) and then onto the keys present; counters checked. */
static void time_add(const options *o, fm_map *map, const uint8_t *keys, uint8_t *out, uint8_t *found,
                     uint64_t n, double *fresh_s, double *present_s)
{
    timer t;
    std::vector<double> fresh, present;
    cost_count cost_fresh, cost_present;
    for (int r = 0; r <= o->reps; r++) {
        CHECK_FM(map, fm_clear(map));
        CHECK_CUDA(cudaDeviceSynchronize());
        if (r == o->reps) cost_fresh.start();
        t.start();
        CHECK_FM(map, fm_bulk_add_u64(map, keys, NULL, n));
        double sec = t.stop();
        if (r) fresh.push_back(sec);
        if (r == o->reps) {
            cost_fresh.report("add_fresh");
            cost_present.start();
        }
        t.start();
        CHECK_FM(map, fm_bulk_add_u64(map, keys, NULL, n));
        sec = t.stop();
        if (r) present.push_back(sec);
    }
    cost_present.report("add_present");
    /* Every counter is 2 now: compare with a buffer of twos. */
    uint64_t *twos = NULL;
    unsigned long long *bad = NULL, wrong = 0;
    CHECK_CUDA(cudaMalloc(&twos, n * 8));
    CHECK_CUDA(cudaMalloc(&bad, sizeof *bad));
    CHECK_CUDA(cudaMemset(bad, 0, sizeof *bad));
    FM_LAUNCH(fill_const, grid(n), 256, 0, 0)(twos, n, 2);
    CHECK_FM(map, fm_bulk_get(map, keys, n, out, found));
    FM_LAUNCH(check_get, grid(n), 256, 0, 0)((const uint64_t *)out, twos, found, n, 1, bad);
    CHECK_CUDA(cudaMemcpy(&wrong, bad, sizeof wrong, cudaMemcpyDeviceToHost));
    cudaFree(bad);
    cudaFree(twos);
    if (wrong) {
        printf("FAILED: add_u64: %llu of %llu counters wrong\n", wrong, (unsigned long long)n);
        g_failed = 1;
    }
    *fresh_s = median(fresh);
    *present_s = median(present);
}

static void device_shape(const options *o, uint32_t ks, uint32_t vs, double insert_target,
                         double get_target, double add_target)
{
    uint64_t n = o->keys;
    fm_config cfg = fm_config_default(ks, vs, n);
    cfg.backend = FM_BACKEND_CUDA;
    cfg.max_load = 0.5;
    fm_map *map = NULL;
    /* Table + keys + values + (later) outputs must fit: halve n until they do. */
    size_t free_b = 0, total_b = 0;
    CHECK_CUDA(cudaMemGetInfo(&free_b, &total_b));
    for (;;) {
        uint64_t slots = 16;
        while (slots / 2 < n) slots <<= 1;
        const double need = (double)slots * (4 + ks + vs) + (double)n * (ks + vs + 1) + (double)n * 24 + 2e9;
        if (need < (double)free_b || n <= (1u << 20)) break;
        n /= 2;
    }
    if (n != o->keys) printf("note: %ux%u uses %llu keys (2^27 does not fit in %.1f GB free)\n", ks, vs,
                             (unsigned long long)n, free_b / 1e9);
    cfg.capacity = n;
    uint64_t slots = 16;
    while (slots / 2 < n) slots <<= 1;
    const uint64_t table_bytes = slots * (4 + ks + vs);
    printf("\ndevice-resident %ux%u: %llu keys, %llu slots (load %.2f after insert), table %.2f GB\n", ks,
           vs, (unsigned long long)n, (unsigned long long)slots, (double)n / slots, table_bytes / 1e9);
    limits lim;
    measure_limits(o, table_bytes, &lim);
    CHECK_FM(NULL, fm_create(&cfg, &map));
    uint8_t *keys = NULL, *values = NULL, *found = NULL;
    device_batch(n, ks, vs, 1, &keys, &values, &found);
    fm_stats s;
    CHECK_FM(map, fm_get_stats(map, &s));
    if (s.slots != slots) printf("note: the map has %llu slots\n", (unsigned long long)s.slots);

    /* The inserted values are the reference for the check; outputs go to a
     * second buffer of the same size. */
    uint8_t *out = NULL;
    if (cudaMalloc(&out, n * vs) != cudaSuccess) {
        (void)cudaGetLastError();
        printf("note: no room for a separate output buffer; get writes over the input values\n");
        out = values;
    }
    char name[64];
    double ins = 0, get = 0;
    snprintf(name, sizeof name, "%ux%u", ks, vs);
    time_insert_get(o, map, name, keys, values, out, found, n, vs, &ins, &get);
    snprintf(name, sizeof name, "dev_%ux%u_insert", ks, vs);
    report_device_op(name, n, ks + vs, ins, &lim, insert_target);
    snprintf(name, sizeof name, "dev_%ux%u_get", ks, vs);
    report_device_op(name, n, ks + vs + 1, get, &lim, get_target);
    if (vs == 8 && out != values) {
        double fresh = 0, present = 0;
        time_add(o, map, keys, out, found, n, &fresh, &present);
        snprintf(name, sizeof name, "dev_%ux%u_add_fresh", ks, vs);
        report_device_op(name, n, ks, fresh, &lim, add_target);
        snprintf(name, sizeof name, "dev_%ux%u_add_present", ks, vs);
        report_device_op(name, n, ks, present, &lim, 0);
    }
    if (out != values) cudaFree(out);
    cudaFree(keys);
    cudaFree(values);
    cudaFree(found);
    fm_destroy(map);
}

/* ---- sharded maps on device buffers ---------------------------------------------- */

/* 2^24 (at most --keys) 8-byte keys -> 8-byte values in device memory,
 * into one table and into 4 shards that share device 0: the sharded map
 * routes the batch on the device (owners, stable sort, results put back in
 * batch order), so 4 shards against 1 is what the routing costs. */
static void sharded_device(const options *o)
{
    const uint64_t n = o->keys < (1ull << 24) ? o->keys : 1ull << 24;
    const uint32_t ks = 8, vs = 8;
    printf("\nsharded device-resident %ux%u: %llu keys, 1 and 4 shards on device 0\n", ks, vs,
           (unsigned long long)n);
    uint8_t *keys = NULL, *values = NULL, *out = NULL, *found = NULL;
    device_batch(n, ks, vs, 7, &keys, &values, &found);
    CHECK_CUDA(cudaMalloc(&out, n * vs));
    static const int on_device_0[4] = {0, 0, 0, 0};
    for (int shards = 1; shards <= 4; shards += 3) {
        fm_config cfg = fm_config_default(ks, vs, n);
        cfg.backend = FM_BACKEND_CUDA;
        cfg.shards = shards;
        cfg.devices = shards > 1 ? on_device_0 : NULL;
        cfg.device = 0;
        fm_map *map = NULL;
        CHECK_FM(NULL, fm_create(&cfg, &map));
        char name[64];
        double ins = 0, get = 0;
        snprintf(name, sizeof name, "shards_%d_%ux%u", shards, ks, vs);
        time_insert_get(o, map, name, keys, values, out, found, n, vs, &ins, &get);
        fm_destroy(map);
        if (!(ins > 0 && get > 0)) continue; /* failed, said above */
        printf("%-28s insert %8.3f ms  %7.3f G keys/s   get %8.3f ms  %7.3f G keys/s\n", name, ins * 1e3,
               n / ins / 1e9, get * 1e3, n / get / 1e9);
        snprintf(name, sizeof name, "dev_shards%d_%ux%u_insert_Gkeys", shards, ks, vs);
        result(name, n / ins / 1e9, "Gkeys/s");
        snprintf(name, sizeof name, "dev_shards%d_%ux%u_get_Gkeys", shards, ks, vs);
        result(name, n / get / 1e9, "Gkeys/s");
    }
    cudaFree(keys);
    cudaFree(values);
    cudaFree(out);
    cudaFree(found);
}

/* ---- host-resident batches ------------------------------------------------------ */

static void host_resident(const options *o)
{
    const uint32_t ks = 32, vs = 128;
    const uint64_t n = o->host_keys;
    printf("\nhost-resident %ux%u: %llu keys from pageable memory, end to end\n", ks, vs,
           (unsigned long long)n);
    uint8_t *keys = (uint8_t *)malloc(n * ks), *values = (uint8_t *)malloc(n * vs);
    uint8_t *out = (uint8_t *)malloc(n * vs), *found = (uint8_t *)malloc(n);
    if (!keys || !values || !out || !found) {
        printf("FAILED: no host memory\n");
        g_failed = 1;
        return;
    }
    uint64_t x = 12345;
    for (uint64_t i = 0; i < n * ks / 8; i++) ((uint64_t *)keys)[i] = x = x * 6364136223846793005ull + 1442695040888963407ull;
    for (uint64_t i = 0; i < n * vs / 8; i++) ((uint64_t *)values)[i] = x = x * 6364136223846793005ull + 1442695040888963407ull;
    memset(out, 0, n * vs);
    memset(found, 0, n);
    fm_config cfg = fm_config_default(ks, vs, n);
    cfg.backend = FM_BACKEND_CUDA;
    fm_map *map = NULL;
    CHECK_FM(NULL, fm_create(&cfg, &map));
    uint8_t *dk = NULL, *dv = NULL, *df = NULL;
    CHECK_CUDA(cudaMalloc(&dk, n * ks));
    CHECK_CUDA(cudaMalloc(&dv, n * vs));
    CHECK_CUDA(cudaMalloc(&df, n));
    timer t;
    std::vector<double> ins, get, copy_in, copy_get;
    for (int r = 0; r <= o->reps; r++) {
        /* Plain cudaMemcpy of the same bytes, same pageable buffers. */
        t.start();
        CHECK_CUDA(cudaMemcpy(dk, keys, n * ks, cudaMemcpyHostToDevice));
        CHECK_CUDA(cudaMemcpy(dv, values, n * vs, cudaMemcpyHostToDevice));
        double s = t.stop();
        if (r) copy_in.push_back(s);
        t.start();
        CHECK_CUDA(cudaMemcpy(dk, keys, n * ks, cudaMemcpyHostToDevice));
        CHECK_CUDA(cudaMemcpy(out, dv, n * vs, cudaMemcpyDeviceToHost));
        CHECK_CUDA(cudaMemcpy(found, df, n, cudaMemcpyDeviceToHost));
        s = t.stop();
        if (r) copy_get.push_back(s);

        CHECK_FM(map, fm_clear(map));
        CHECK_CUDA(cudaDeviceSynchronize());
        t.start();
        CHECK_FM(map, fm_bulk_insert(map, keys, values, n));
        s = t.stop();
        if (r) ins.push_back(s);
        memset(found, 0, n);
        t.start();
        CHECK_FM(map, fm_bulk_get(map, keys, n, out, found));
        s = t.stop();
        if (r) get.push_back(s);
    }
    uint64_t wrong = 0;
    for (uint64_t i = 0; i < n; i++) wrong += found[i] != 1 || memcmp(out + i * vs, values + i * vs, vs) != 0;
    if (wrong || fm_size(map) != n) {
        printf("FAILED: host-resident get: %llu wrong of %llu, size %llu\n", (unsigned long long)wrong,
               (unsigned long long)n, (unsigned long long)fm_size(map));
        g_failed = 1;
    }
    const double ti = median(ins), tg = median(get), ci = median(copy_in), cg = median(copy_get);
    printf("%-28s %8.3f ms   cudaMemcpy of the same bytes %8.3f ms   ratio %.2f\n", "host_32x128_insert",
           ti * 1e3, ci * 1e3, ti / ci);
    printf("%-28s %8.3f ms   cudaMemcpy of the same bytes %8.3f ms   ratio %.2f\n", "host_32x128_get",
           tg * 1e3, cg * 1e3, tg / cg);
    result("host_32x128_insert_ms", ti * 1e3, "ms");
    result("host_32x128_insert_memcpy_ms", ci * 1e3, "ms");
    result_target("host_32x128_insert_ratio", ti / ci, "x", "max", 1.3);
    result("host_32x128_get_ms", tg * 1e3, "ms");
    result("host_32x128_get_memcpy_ms", cg * 1e3, "ms");
    result_target("host_32x128_get_ratio", tg / cg, "x", "max", 1.3);
    cudaFree(dk);
    cudaFree(dv);
    cudaFree(df);
    fm_destroy(map);
    free(keys);
    free(values);
    free(out);
    free(found);
}

static uint64_t parse_count(const char *s)
{
    if (strncmp(s, "2^", 2) == 0) return 1ull << atoi(s + 2);
    return strtoull(s, NULL, 0);
}

int main(int argc, char **argv)
{
    options o = {1ull << 27, 1000000, 5};
    int dev_only = 0, host_only = 0;
    const char *shape = "all";
    static const char usage[] = "usage: flashmap-bench-gpu [--keys N|2^K] [--host-keys N] [--reps R] "
                                "[--device-only|--host-only] [--shape all|8x8|32x128|sharded|host|probes]\n";
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        }
        if (strcmp(a, "--version") == 0) {
            printf("flashmap-bench-gpu: %s\n", fm_version_string());
            return 0;
        }
        if (strcmp(a, "--keys") == 0 && i + 1 < argc) o.keys = parse_count(argv[++i]);
        else if (strcmp(a, "--host-keys") == 0 && i + 1 < argc) o.host_keys = parse_count(argv[++i]);
        else if (strcmp(a, "--reps") == 0 && i + 1 < argc) o.reps = atoi(argv[++i]);
        else if (strcmp(a, "--device-only") == 0) dev_only = 1;
        else if (strcmp(a, "--host-only") == 0) host_only = 1;
        else if (strcmp(a, "--shape") == 0 && i + 1 < argc) shape = argv[++i];
        else {
            fputs(usage, stderr);
            return 2;
        }
    }
    /* One shape per process (bench/gpu/run.sh): a sticky CUDA fault in one
     * loses no other shape's numbers. */
    const int all = strcmp(shape, "all") == 0;
    if (!all && strcmp(shape, "8x8") && strcmp(shape, "32x128") && strcmp(shape, "sharded") &&
        strcmp(shape, "host") && strcmp(shape, "probes")) {
        fprintf(stderr, "flashmap-bench-gpu: unknown --shape %s\n", shape);
        return 2;
    }
    if (o.reps < 1) o.reps = 1;
    int count = 0;
    if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
        printf("flashmap-bench-gpu: no CUDA device: skipped\n");
        return 77;
    }
    cudaDeviceProp p;
    cudaGetDeviceProperties(&p, 0);
    int driver = 0, runtime = 0;
    cudaDriverGetVersion(&driver);
    cudaRuntimeGetVersion(&runtime);
    printf("%s\ndevice: %s, %d SMs, %.1f GB, CUDA driver %d, runtime %d; %d reps, medians\n",
           fm_version_string(), p.name, p.multiProcessorCount, p.totalGlobalMem / 1e9, driver, runtime, o.reps);
    if (!host_only) {
        if (all || !strcmp(shape, "8x8")) device_shape(&o, 8, 8, 4e9, 6e9, 3e9);
        if (all || !strcmp(shape, "32x128")) device_shape(&o, 32, 128, 0, 2e9, 0);
        if (all || !strcmp(shape, "sharded")) sharded_device(&o);
    }
    if (!dev_only && (all || !strcmp(shape, "host"))) host_resident(&o);
    if (all || !strcmp(shape, "probes")) probes(&o);
    printf("\nflashmap-bench-gpu: %s\n", g_failed ? "FAILED" : "done");
    return g_failed;
}
