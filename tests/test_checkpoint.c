/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Checkpoints of one-process maps: fm_save / fm_load.
 *
 *   round trips  random maps (key and value size classes, both hashes, one
 *                table or several shards, growing or fixed capacity, with
 *                removals and re-inserts before the save), saved with small
 *                and default block sizes, loaded with and without overrides,
 *                compared entry by entry with a reference map, then used,
 *                saved and loaded again;
 *   overrides    what may change (threads, shards, capacity, max_load) and
 *                what may not (key_size, value_size, hash, flags);
 *   corruption   truncation at every header byte and a sweep through the
 *                blocks and footer, random bit flips, every byte of the
 *                header, a block header and the footer flipped, wrong magic
 *                and version, empty and missing files, and hand-made files
 *                whose checksums are right but whose counts lie (2^60
 *                entries, duplicate keys, blocks out of order, ...): always
 *                FM_ERR_CORRUPT (or FM_ERR_IO), never a map;
 *   save errors  missing directory, a directory in the way, a name too
 *                long, a file-size limit hit in the middle of a save, a
 *                read-only directory (as user "nobody" in a child process
 *                when run as root): FM_ERR_IO with the
 *                system's reason, no temporary file left, the previous
 *                checkpoint intact.
 *
 * Usage: test_checkpoint [--seeds N] [--seed S] [--verbose]
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap.h>

#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "io/fm_checkpoint.h" /* the format's offsets and fm_ck_block_bytes */
#include "map_check.h"
#include "reference_map.h"
#include "test_check.h"
#include "test_util.h"

static char g_dir[256]; /* this run's scratch directory */
static uint64_t g_loads, g_corrupt_loads;
static int g_verbose;

static char *path_in_dir(const char *name)
{
    const size_t len = strlen(g_dir) + strlen(name) + 2;
    char *p = tu_xmalloc(len);
    snprintf(p, len, "%s/%s", g_dir, name);
    return p;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "cannot open %s: %s\n", path, strerror(errno));
        exit(2);
    }
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = tu_xmalloc((size_t)size);
    if (fread(buf, 1, (size_t)size, f) != (size_t)size) {
        fprintf(stderr, "cannot read %s\n", path);
        exit(2);
    }
    fclose(f);
    *len = (size_t)size;
    return buf;
}

static void write_file(const char *path, const void *buf, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(buf, 1, len, f) != len) || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

/* ---- comparing a map with the reference ------------------------------------- */

/* The map holds exactly the reference's entries; counts a failure if not. */
static int same_contents(fm_map *m, const ref_map *ref, uint32_t ks, uint32_t vs, const char *what)
{
    if (mc_same_contents(m, ref, ks, vs, what)) return 1;
    g_failures++;
    return 0;
}

/* ---- round trips ------------------------------------------------------------ */

typedef struct rt_config {
    uint32_t ks, vs;
    fm_hash hash;
    int shards, fixed, threads;
    uint64_t capacity, entries;
    double max_load;
} rt_config;

static void describe(const rt_config *c, uint64_t seed, char *out, size_t len)
{
    snprintf(out, len, "seed %llu: key_size %u value_size %u %s shards %d %s capacity %llu max_load %g entries %llu",
             (unsigned long long)seed, c->ks, c->vs, c->hash == FM_HASH_IDENTITY ? "identity" : "murmur3",
             c->shards, c->fixed ? "fixed" : "growing", (unsigned long long)c->capacity, c->max_load,
             (unsigned long long)c->entries);
}

/* Fills map and ref with random entries, then churns: updates, removals,
 * re-inserts (tombstones), counter adds when value_size is 8. */
static void fill_and_churn(tu_rng *rng, fm_map *m, ref_map *ref, const rt_config *c)
{
    const uint32_t ks = c->ks, vs = c->vs;
    const size_t batch = 512;
    uint8_t *keys = tu_xmalloc(batch * ks), *values = tu_xmalloc(batch * (vs ? vs : 1));
    uint64_t *deltas = tu_xmalloc(batch * sizeof *deltas);
    uint8_t *removed = tu_xmalloc(batch);
    const int rounds = 3 + (int)tu_below(rng, 4);
    for (int round = 0; round < rounds; round++) {
        /* Inserts: fresh keys and updates of present ones. */
        while (c->entries > 0 && ref_size(ref) < c->entries * (uint64_t)(round + 1) / (uint64_t)rounds + 1) {
            size_t n = (size_t)tu_range(rng, 1, batch);
            for (size_t i = 0; i < n; i++) {
                const size_t lim = ref_id_limit(ref);
                const size_t id = lim ? (size_t)tu_below(rng, lim) : 0;
                if (lim && tu_chance(rng, 20) && ref_key(ref, id) && ref_find(ref, ref_key(ref, id)) == id)
                    memcpy(keys + i * ks, ref_key(ref, id), ks);
                else
                    tu_fill(rng, keys + i * ks, ks);
            }
            tu_fill(rng, values, n * vs);
            fm_status st = fm_bulk_insert(m, keys, values, n);
            if (st == FM_ERR_FULL) break; /* a fixed map: nothing changed */
            CHECK_OK(m, st);
            for (size_t i = 0; i < n; i++) ref_put(ref, keys + i * ks, vs ? values + i * vs : NULL);
            if (ks <= 2 && ref_size(ref) + 8 >= ((size_t)1 << (8 * ks))) break; /* key space used up */
        }
        /* Removals of a third of some present keys, and of absent keys. */
        size_t n = 0;
        for (size_t id = 0; id < ref_id_limit(ref) && n < batch; id++) {
            if (ref_key(ref, id) && ref_find(ref, ref_key(ref, id)) == id && tu_chance(rng, 33))
                memcpy(keys + n++ * ks, ref_key(ref, id), ks);
        }
        for (int i = 0; i < 8 && n < batch; i++) tu_fill(rng, keys + n++ * ks, ks);
        CHECK_OK(m, fm_bulk_remove(m, keys, n, removed));
        for (size_t i = 0; i < n; i++) CHECK(removed[i] == (uint8_t)ref_remove(ref, keys + i * ks));
        /* Counters. */
        if (vs == 8 && ref_size(ref) > 0) {
            n = (size_t)tu_range(rng, 1, batch);
            for (size_t i = 0; i < n; i++) {
                const size_t id = (size_t)tu_below(rng, ref_id_limit(ref));
                if (ref_key(ref, id) && ref_find(ref, ref_key(ref, id)) == id)
                    memcpy(keys + i * ks, ref_key(ref, id), ks);
                else
                    tu_fill(rng, keys + i * ks, ks);
                deltas[i] = tu_next(rng) >> (tu_below(rng, 60));
            }
            fm_status st = fm_bulk_add_u64(m, keys, deltas, n);
            if (st != FM_ERR_FULL) {
                CHECK_OK(m, st);
                for (size_t i = 0; i < n; i++) ref_add_u64(ref, keys + i * ks, deltas[i]);
            }
        }
    }
    free(keys);
    free(values);
    free(deltas);
    free(removed);
}

static fm_map *load_or_report(const char *path, const fm_config *ov, const char *what)
{
    fm_map *m = NULL;
    fm_status st = fm_load(path, ov, &m);
    g_loads++;
    if (st != FM_OK) {
        fprintf(stderr, "%s: fm_load returned %d (%s): %s\n", what, st, fm_status_str(st), fm_last_error(NULL));
        g_failures++;
        return NULL;
    }
    return m;
}

static void round_trip(uint64_t seed)
{
    tu_rng rng;
    tu_rng_seed(&rng, seed * 0x9e3779b97f4a7c15ull + 17);
    static const uint32_t key_sizes[] = {1, 2, 4, 8, 8, 12, 16, 33, 64, 256};
    static const uint32_t value_sizes[] = {0, 0, 1, 8, 8, 8, 24, 100, 4096};
    rt_config c;
    memset(&c, 0, sizeof c);
    c.ks = key_sizes[tu_below(&rng, sizeof key_sizes / sizeof key_sizes[0])];
    c.vs = value_sizes[tu_below(&rng, sizeof value_sizes / sizeof value_sizes[0])];
    c.hash = tu_chance(&rng, 50) ? FM_HASH_IDENTITY : FM_HASH_MURMUR3;
    static const int shard_counts[] = {1, 1, 1, 2, 3, 5};
    c.shards = shard_counts[tu_below(&rng, 6)];
    c.fixed = tu_chance(&rng, 35);
    c.threads = (int)tu_range(&rng, 1, 2);
    c.max_load = tu_chance(&rng, 50) ? 0.5 : 0.3 + 0.6 * (double)tu_below(&rng, 100) / 100.0;
    uint64_t most = (uint64_t)(2 << 20) / (c.ks + c.vs + 8);
    if (most > 6000) most = 6000;
    if (c.ks == 1) most = 200;
    if (c.ks == 2 && most > 3000) most = 3000;
    c.entries = seed % 11 == 0 ? 0 /* an empty map */
                : tu_chance(&rng, 50) ? tu_log_range(&rng, most) : tu_range(&rng, most / 4, most);
    c.capacity = c.fixed ? c.entries + tu_below(&rng, c.entries + 2) + 1 : tu_below(&rng, c.entries / 4 + 2);
    char what[256];
    describe(&c, seed, what, sizeof what);
    if (g_verbose) printf("%s\n", what);

    fm_config cfg = fm_config_default(c.ks, c.vs, c.capacity);
    cfg.backend = FM_BACKEND_CPU;
    cfg.hash = c.hash;
    cfg.shards = c.shards;
    cfg.threads = c.threads;
    cfg.max_load = c.max_load;
    cfg.flags = c.fixed ? FM_FIXED_CAPACITY : 0;
    fm_map *m = NULL;
    if (fm_create(&cfg, &m) != FM_OK) {
        fprintf(stderr, "%s: fm_create: %s\n", what, fm_last_error(NULL));
        g_failures++;
        return;
    }
    ref_map *ref = ref_create(c.ks, c.vs);
    fill_and_churn(&rng, m, ref, &c);
    fm_stats before;
    CHECK_OK(m, fm_get_stats(m, &before));

    /* Small blocks (many of them), or the default. */
    static const uint64_t block_bytes[] = {1, 100, 4096, 65536, (uint64_t)1 << 20};
    const uint64_t saved_block_bytes = fm_ck_block_bytes, saved_writeback = fm_ck_writeback_bytes;
    fm_ck_block_bytes = block_bytes[tu_below(&rng, 5)];
    /* Writeback handed every block, every few, or at the default 8 MiB. */
    static const uint64_t writeback_bytes[] = {1, 4096, (uint64_t)8 << 20};
    fm_ck_writeback_bytes = writeback_bytes[tu_below(&rng, 3)];
    char *path = path_in_dir("round_trip.fmcp");
    fm_status st = fm_save(m, path);
    fm_ck_block_bytes = saved_block_bytes;
    fm_ck_writeback_bytes = saved_writeback;
    if (st != FM_OK) {
        fprintf(stderr, "%s: fm_save returned %s: %s\n", what, fm_status_str(st), fm_last_error(m));
        g_failures++;
        goto out;
    }
    CHECK(mc_count_temp_files(g_dir) == 0);
    CHECK(same_contents(m, ref, c.ks, c.vs, what)); /* saving changes nothing */

    /* Plain load: same contents, same settings, no tombstones. */
    fm_map *l = load_or_report(path, NULL, what);
    if (l) {
        same_contents(l, ref, c.ks, c.vs, what);
        fm_stats s;
        CHECK_OK(l, fm_get_stats(l, &s));
        CHECK(s.shards == c.shards);
        CHECK(s.tombstones == 0);
        if (c.fixed) CHECK(s.slots == before.slots); /* same capacity, max_load, shards */
        /* The loaded map works: one more batch, then save and load it again. */
        uint8_t key[256], value[4096];
        tu_fill(&rng, key, c.ks);
        tu_fill(&rng, value, c.vs);
        st = fm_bulk_insert(l, key, value, 1);
        if (st == FM_OK) ref_put(ref, key, c.vs ? value : NULL);
        else CHECK(st == FM_ERR_FULL && c.fixed);
        CHECK_OK(l, fm_save(l, path));
        fm_destroy(l);
        l = load_or_report(path, NULL, what);
        if (l) same_contents(l, ref, c.ks, c.vs, what);
        fm_destroy(l);
    }

    /* Load with overrides: threads, shards, capacity, max_load. */
    fm_config ov;
    memset(&ov, 0, sizeof ov);
    ov.threads = (int)tu_range(&rng, 1, 3);
    ov.shards = (int)tu_range(&rng, 1, 4);
    ov.device = -1;
    if (!c.fixed) {
        ov.capacity = tu_below(&rng, 3) == 0 ? 0 : tu_range(&rng, 1, 2 * c.entries + 2);
        ov.max_load = tu_chance(&rng, 50) ? 0.0 : 0.25 + 0.5 * (double)tu_below(&rng, 100) / 100.0;
    } else {
        /* Room for every entry in every shard, however they fall. */
        ov.capacity = (ref_size(ref) + 1) * (uint64_t)ov.shards;
    }
    if (tu_chance(&rng, 50)) {
        ov.key_size = c.ks; /* equal sizes and hash may be given */
        ov.value_size = c.vs;
        ov.hash = c.hash;
    }
    l = load_or_report(path, &ov, what);
    if (l) {
        same_contents(l, ref, c.ks, c.vs, what);
        fm_stats s;
        CHECK_OK(l, fm_get_stats(l, &s));
        CHECK(s.shards == ov.shards);
        fm_destroy(l);
    }
out:
    unlink(path);
    free(path);
    fm_destroy(m);
    ref_destroy(ref);
}

/* ---- overrides ---------------------------------------------------------------- */

static int mentions(const char *msg, const char *word) { return msg && strstr(msg, word) != NULL; }

#define EXPECT_LOAD_FAILS(path, ov, want, word)                                                   \
    do {                                                                                          \
        fm_map *m_ = (fm_map *)&g_failures; /* garbage: must become NULL */                       \
        fm_status st_ = fm_load((path), (ov), &m_);                                               \
        g_loads++;                                                                                \
        if (st_ != (want) || m_ != NULL || !mentions(fm_last_error(NULL), (word))) {              \
            fprintf(stderr, "%s:%d: fm_load returned %d (%s), expected %s naming \"%s\": %s\n",    \
                    __FILE__, __LINE__, st_, fm_status_str(st_), #want, (word),                   \
                    fm_last_error(NULL));                                                         \
            g_failures++;                                                                         \
            if (st_ == FM_OK) fm_destroy(m_);                                                     \
        }                                                                                         \
    } while (0)

static fm_map *small_map(uint32_t ks, uint32_t vs, uint64_t n, uint32_t flags, uint64_t capacity, ref_map *ref,
                         uint64_t seed)
{
    fm_config cfg = fm_config_default(ks, vs, capacity);
    cfg.backend = FM_BACKEND_CPU;
    cfg.flags = flags;
    cfg.threads = 2;
    fm_map *m = NULL;
    if (fm_create(&cfg, &m) != FM_OK) {
        fprintf(stderr, "fm_create: %s\n", fm_last_error(NULL));
        exit(1);
    }
    tu_rng rng;
    tu_rng_seed(&rng, seed);
    uint8_t *keys = tu_xmalloc(n * ks), *values = tu_xmalloc(n * (vs ? vs : 1));
    tu_fill(&rng, keys, n * ks);
    tu_fill(&rng, values, n * vs);
    CHECK_OK(m, fm_bulk_insert(m, keys, values, n));
    if (ref)
        for (uint64_t i = 0; i < n; i++) ref_put(ref, keys + i * ks, vs ? values + i * vs : NULL);
    free(keys);
    free(values);
    return m;
}

static void test_overrides(void)
{
    ref_map *ref = ref_create(8, 8);
    fm_map *m = small_map(8, 8, 1000, FM_FIXED_CAPACITY, 1200, ref, 5);
    char *path = path_in_dir("overrides.fmcp");
    CHECK_OK(m, fm_save(m, path));

    fm_config ov;
    memset(&ov, 0, sizeof ov);
    ov.key_size = 16;
    EXPECT_LOAD_FAILS(path, &ov, FM_ERR_INVALID, "key_size");
    memset(&ov, 0, sizeof ov);
    ov.value_size = 4;
    EXPECT_LOAD_FAILS(path, &ov, FM_ERR_INVALID, "value_size");
    memset(&ov, 0, sizeof ov);
    ov.version = FM_CONFIG_VERSION + 1; /* from a newer flashmap */
    EXPECT_LOAD_FAILS(path, &ov, FM_ERR_INVALID, "version");
    memset(&ov, 0, sizeof ov);
    ov.hash = FM_HASH_IDENTITY;
    EXPECT_LOAD_FAILS(path, &ov, FM_ERR_INVALID, "hash");
    memset(&ov, 0, sizeof ov);
    ov.hash = (fm_hash)7;
    EXPECT_LOAD_FAILS(path, &ov, FM_ERR_INVALID, "hash");
    /* Bad values of what may change are fm_create's to reject. */
    memset(&ov, 0, sizeof ov);
    ov.threads = -1;
    EXPECT_LOAD_FAILS(path, &ov, FM_ERR_INVALID, "threads");
    memset(&ov, 0, sizeof ov);
    ov.max_load = 1.5;
    EXPECT_LOAD_FAILS(path, &ov, FM_ERR_INVALID, "max_load");
    /* A fixed map too small for the checkpoint: full, and no map. */
    memset(&ov, 0, sizeof ov);
    ov.capacity = 999;
    EXPECT_LOAD_FAILS(path, &ov, FM_ERR_FULL, "insert");
    /* The same settings spelled out, fm_config_default's too, are fine. */
    memset(&ov, 0, sizeof ov);
    ov.key_size = 8;
    ov.value_size = 8;
    ov.hash = FM_HASH_MURMUR3;
    ov.flags = FM_FIXED_CAPACITY;
    fm_map *l = load_or_report(path, &ov, "overrides equal to the file's");
    if (l) same_contents(l, ref, 8, 8, "overrides equal to the file's");
    fm_destroy(l);
    ov = fm_config_default(0, 0, 0);
    ov.threads = 1;
    l = load_or_report(path, &ov, "fm_config_default overrides");
    if (l) {
        same_contents(l, ref, 8, 8, "fm_config_default overrides");
        /* Still fixed at 1200: 201 more fresh keys do not fit. */
        uint64_t k[201], v[201];
        for (int i = 0; i < 201; i++) k[i] = v[i] = 0xabcdef0000ull + (uint64_t)i;
        CHECK(fm_bulk_insert(l, k, v, 201) == FM_ERR_FULL);
        CHECK(fm_bulk_insert(l, k, v, 200) == FM_OK);
    }
    fm_destroy(l);
    unlink(path);

    /* A growing map cannot become fixed on load. */
    fm_map *g = small_map(8, 8, 100, 0, 0, NULL, 6);
    CHECK_OK(g, fm_save(g, path));
    memset(&ov, 0, sizeof ov);
    ov.flags = FM_FIXED_CAPACITY;
    EXPECT_LOAD_FAILS(path, &ov, FM_ERR_INVALID, "flags");
    /* A CUDA map where there is none. */
    if (!strstr(fm_version_string(), "cuda") || access("/dev/nvidia0", F_OK) != 0) {
        memset(&ov, 0, sizeof ov);
        ov.backend = FM_BACKEND_CUDA;
        EXPECT_LOAD_FAILS(path, &ov, FM_ERR_UNSUPPORTED, "fm_load");
    }
    fm_destroy(g);
    unlink(path);
    free(path);
    fm_destroy(m);
    ref_destroy(ref);
}

/* ---- corruption --------------------------------------------------------------- */

/* fm_load of these bytes must fail with `want` (CORRUPT unless told) and
 * give no map. Returns 1 when it did. */
/* fm_load of the file at path must fail with `want` and give no map. */
static int expect_load_rejected(const char *path, fm_status want, const char *word, const char *what)
{
    fm_map *m = (fm_map *)&g_failures;
    fm_status st = fm_load(path, NULL, &m);
    g_loads++;
    if (st == FM_ERR_CORRUPT) g_corrupt_loads++;
    if (st != want || m != NULL || (word && !mentions(fm_last_error(NULL), word))) {
        fprintf(stderr, "%s: fm_load returned %d (%s), expected %s%s%s: %s\n", what, st, fm_status_str(st),
                fm_status_str(want), word ? " naming " : "", word ? word : "", fm_last_error(NULL));
        g_failures++;
        if (st == FM_OK) fm_destroy(m);
        return 0;
    }
    return 1;
}

/* The same for a file of these bytes. */
static int expect_rejected(const char *path, const uint8_t *bytes, size_t len, fm_status want, const char *word,
                           const char *what)
{
    write_file(path, bytes, len);
    return expect_load_rejected(path, want, word, what);
}

/* Overwrites one byte of a file in place. */
static void patch_byte(const char *path, size_t offset, uint8_t value)
{
    FILE *f = fopen(path, "r+b");
    if (!f || fseek(f, (long)offset, SEEK_SET) != 0 || fputc(value, f) == EOF || fclose(f) != 0) {
        fprintf(stderr, "cannot patch %s: %s\n", path, strerror(errno));
        exit(2);
    }
}

static void test_truncation_and_flips(void)
{
    /* ~40 blocks of 64 entries: 5-byte keys, 11-byte values. */
    ref_map *ref = ref_create(5, 11);
    fm_map *m = small_map(5, 11, 2500, 0, 0, ref, 7);
    char *good_path = path_in_dir("good.fmcp"), *bad_path = path_in_dir("bad.fmcp");
    const uint64_t saved = fm_ck_block_bytes;
    fm_ck_block_bytes = 64 * 16;
    CHECK_OK(m, fm_save(m, good_path));
    fm_ck_block_bytes = saved;
    size_t len = 0;
    uint8_t *good = read_file(good_path, &len);
    uint8_t *copy = tu_xmalloc(len);
    const size_t block = FM_CK_BLOCK_HEADER_SIZE + 64 * 16;
    CHECK(len == FM_CK_HEADER_SIZE + FM_CK_FOOTER_SIZE + 40 * FM_CK_BLOCK_HEADER_SIZE + 2500 * 16);
    fm_map *l = load_or_report(good_path, NULL, "the good file");
    if (l) same_contents(l, ref, 5, 11, "the good file");
    fm_destroy(l);

    /* Truncation: every header byte, the first two blocks byte by byte, a
     * sweep through the rest, and the whole footer. */
    char what[96];
    write_file(bad_path, good, len); /* then cut shorter and shorter */
    for (size_t cut = len; cut-- > 0;) {
        const int dense = cut < FM_CK_HEADER_SIZE + 2 * block || cut + 2 * FM_CK_FOOTER_SIZE >= len ||
                          (cut - FM_CK_HEADER_SIZE) % block < 3 || (cut - FM_CK_HEADER_SIZE) % block + 3 > block;
        if (!dense && cut % 61 != 0) continue;
        if (truncate(bad_path, (off_t)cut) != 0) {
            fprintf(stderr, "cannot truncate %s: %s\n", bad_path, strerror(errno));
            exit(2);
        }
        snprintf(what, sizeof what, "truncated to %zu of %zu bytes", cut, len);
        expect_load_rejected(bad_path, FM_ERR_CORRUPT, cut == 0 ? "empty" : "truncated", what);
    }
    /* Bytes appended: junk, or a second footer. */
    memcpy(copy, good, len);
    uint8_t *longer = tu_xmalloc(len + FM_CK_FOOTER_SIZE);
    memcpy(longer, good, len);
    memset(longer + len, 0, 10);
    expect_rejected(bad_path, longer, len + 10, FM_ERR_CORRUPT, "footer", "10 zero bytes appended");
    memcpy(longer + len, good + len - FM_CK_FOOTER_SIZE, FM_CK_FOOTER_SIZE);
    expect_rejected(bad_path, longer, len + FM_CK_FOOTER_SIZE, FM_ERR_CORRUPT, "appended", "footer appended twice");
    free(longer);

    /* Bit flips: every byte of the header, the first block header and the
     * footer, then random offsets anywhere. */
    tu_rng rng;
    tu_rng_seed(&rng, 99);
    write_file(bad_path, good, len); /* one byte changed, then restored */
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < len; i++) {
            const int structural = i < FM_CK_HEADER_SIZE + FM_CK_BLOCK_HEADER_SIZE || i + FM_CK_FOOTER_SIZE >= len;
            if (round == 0 ? !structural : !tu_chance(&rng, 1)) continue;
            const int bit = (int)tu_below(&rng, 8);
            patch_byte(bad_path, i, (uint8_t)(good[i] ^ (1u << bit)));
            snprintf(what, sizeof what, "bit %d of byte %zu flipped", bit, i);
            expect_load_rejected(bad_path, FM_ERR_CORRUPT, NULL, what);
            patch_byte(bad_path, i, good[i]);
        }
    }
    /* Several random bytes overwritten at once. */
    for (int i = 0; i < 50; i++) {
        memcpy(copy, good, len);
        for (int j = 0; j < 1 + i % 5; j++) copy[tu_below(&rng, len)] ^= (uint8_t)tu_range(&rng, 1, 255);
        snprintf(what, sizeof what, "random bytes changed (%d)", i);
        expect_rejected(bad_path, copy, len, FM_ERR_CORRUPT, NULL, what);
    }
    /* The messages say what is wrong. */
    memcpy(copy, good, len);
    copy[FM_CK_HEADER_SIZE + 2 * block + FM_CK_BLOCK_HEADER_SIZE + 7] ^= 4;
    expect_rejected(bad_path, copy, len, FM_ERR_CORRUPT, "block 2 (entries 128..191", "payload of block 2");
    memcpy(copy, good, len);
    copy[FM_CK_HEADER_SIZE + 3 * block + 5] ^= 1;
    expect_rejected(bad_path, copy, len, FM_ERR_CORRUPT, "block 3 at offset", "header of block 3");
    memcpy(copy, good, len);
    copy[0] = 'G';
    expect_rejected(bad_path, copy, len, FM_ERR_CORRUPT, "magic", "wrong magic");
    memcpy(copy, good, len);
    fm_ck_put32(copy + FM_CK_OFF_VERSION, 2);
    expect_rejected(bad_path, copy, len, FM_ERR_CORRUPT, "version 2", "version 2");
    fm_ck_put64(copy + FM_CK_OFF_HEADER_CHECKSUM, fm_ck_checksum(copy, FM_CK_OFF_HEADER_CHECKSUM));
    expect_rejected(bad_path, copy, len, FM_ERR_CORRUPT, "version 2", "version 2, checksum fixed");
    memcpy(copy, good, len);
    copy[FM_CK_OFF_ENTRIES] ^= 1;
    expect_rejected(bad_path, copy, len, FM_ERR_CORRUPT, "header checksum", "entry count changed");
    memcpy(copy, good, len);
    copy[len - 1] ^= 0x80;
    expect_rejected(bad_path, copy, len, FM_ERR_CORRUPT, "footer checksum", "footer checksum changed");

    /* Not a checkpoint at all; empty; missing; a directory. */
    expect_rejected(bad_path, (const uint8_t *)"hello, world\n", 13, FM_ERR_CORRUPT, "magic", "a text file");
    expect_rejected(bad_path, good, 0, FM_ERR_CORRUPT, "empty", "an empty file");
    unlink(bad_path);
    EXPECT_LOAD_FAILS(bad_path, NULL, FM_ERR_IO, "No such file");
    EXPECT_LOAD_FAILS(g_dir, NULL, FM_ERR_IO, "directory");

    /* The good file is still good. */
    l = load_or_report(good_path, NULL, "the good file, again");
    if (l) same_contents(l, ref, 5, 11, "the good file, again");
    fm_destroy(l);
    unlink(good_path);
    unlink(bad_path);
    free(good);
    free(copy);
    free(good_path);
    free(bad_path);
    fm_destroy(m);
    ref_destroy(ref);
}

/* ---- hand-made files: right checksums, wrong contents --------------------------- */

typedef struct craft {
    uint8_t *buf;
    size_t len, cap;
    fm_ck_header h;
    uint64_t blocks, entries;
    uint8_t *payload; /* every payload, for the content digest */
    size_t payload_len;
} craft;

static void craft_bytes(craft *c, const void *p, size_t n)
{
    if (c->len + n > c->cap) {
        c->cap = (c->len + n) * 2;
        c->buf = realloc(c->buf, c->cap);
        if (!c->buf) exit(2);
    }
    memcpy(c->buf + c->len, p, n);
    c->len += n;
}

static void craft_start(craft *c, uint32_t ks, uint32_t vs)
{
    memset(c, 0, sizeof *c);
    c->h.version = FM_CK_VERSION;
    c->h.kind = FM_CK_KIND_DATA;
    c->h.key_size = ks;
    c->h.value_size = vs;
    c->h.hash = FM_HASH_MURMUR3;
    c->h.capacity = 16;
    c->h.max_load = 0.5;
    c->h.shards = 1;
    c->h.part_count = 1;
    c->h.block_entries = 4;
    c->h.checkpoint_id = 42;
    uint8_t hb[FM_CK_HEADER_SIZE];
    memset(hb, 0, sizeof hb);
    craft_bytes(c, hb, sizeof hb); /* written last */
}

/* A block of n entries whose keys are base, base+1, ... (8-byte keys,
 * values = key * 3), claiming to start at entry `first`. */
static void craft_block(craft *c, uint32_t n, uint64_t first, uint64_t base)
{
    const uint32_t ks = c->h.key_size, vs = c->h.value_size;
    uint8_t payload[64 * 16];
    for (uint32_t i = 0; i < n; i++) {
        memset(payload + (size_t)i * ks, 0, ks);
        fm_ck_put64(payload + (size_t)i * ks, base + i);
        memset(payload + (size_t)n * ks + (size_t)i * vs, 0, vs);
        if (vs >= 8) fm_ck_put64(payload + (size_t)n * ks + (size_t)i * vs, 3 * (base + i));
    }
    const size_t plen = (size_t)n * (ks + vs);
    uint8_t bh[FM_CK_BLOCK_HEADER_SIZE];
    memcpy(bh, FM_CK_BLOCK_MAGIC, 4);
    fm_ck_put32(bh + 4, n);
    fm_ck_put64(bh + 8, first);
    fm_ck_put64(bh + 16, fm_ck_checksum(payload, plen));
    fm_ck_put64(bh + 24, fm_ck_checksum(bh, 24));
    craft_bytes(c, bh, sizeof bh);
    craft_bytes(c, payload, plen);
    c->payload = realloc(c->payload, c->payload_len + plen);
    memcpy(c->payload + c->payload_len, payload, plen);
    c->payload_len += plen;
    c->blocks++;
    c->entries += n;
}

/* Header (entries from the blocks unless header_entries != ~0) and footer. */
static void craft_finish(craft *c, uint64_t header_entries, uint64_t footer_blocks, uint64_t footer_entries)
{
    c->h.entries = header_entries != UINT64_MAX ? header_entries : c->entries;
    fm_ck_header_encode(&c->h, c->buf);
    uint8_t fb[FM_CK_FOOTER_SIZE];
    memset(fb, 0, sizeof fb);
    memcpy(fb, FM_CK_FOOTER_MAGIC, 8);
    fm_ck_put64(fb + FM_CK_FOFF_BLOCKS, footer_blocks != UINT64_MAX ? footer_blocks : c->blocks);
    fm_ck_put64(fb + FM_CK_FOFF_ENTRIES, footer_entries != UINT64_MAX ? footer_entries : c->h.entries);
    fm_ck_put64(fb + FM_CK_FOFF_DIGEST, fm_ck_checksum(c->payload ? (const void *)c->payload : "", c->payload_len));
    fm_ck_put64(fb + FM_CK_FOFF_CHECKPOINT_ID, c->h.checkpoint_id);
    fm_ck_put64(fb + FM_CK_FOFF_FILE_SIZE, c->len + FM_CK_FOOTER_SIZE);
    fm_ck_put64(fb + FM_CK_FOFF_CHECKSUM, fm_ck_checksum(fb, FM_CK_FOFF_CHECKSUM));
    craft_bytes(c, fb, sizeof fb);
}

static void craft_free(craft *c)
{
    free(c->buf);
    free(c->payload);
}

static void test_crafted(void)
{
    char *path = path_in_dir("crafted.fmcp");
    craft c;
    const uint64_t ANY = UINT64_MAX;

    /* A correct hand-made file loads: the format is what the doc says. */
    craft_start(&c, 8, 8);
    craft_block(&c, 4, 0, 100);
    craft_block(&c, 3, 4, 104);
    craft_finish(&c, ANY, ANY, ANY);
    write_file(path, c.buf, c.len);
    fm_map *m = load_or_report(path, NULL, "a hand-made file");
    if (m) {
        CHECK(fm_size(m) == 7);
        uint64_t k = 106, v = 0;
        uint8_t found = 0;
        CHECK(fm_bulk_get(m, &k, 1, &v, &found) == FM_OK && found && v == 318);
    }
    fm_destroy(m);
    craft_free(&c);

    /* An empty map: no blocks. */
    craft_start(&c, 8, 0);
    craft_finish(&c, ANY, ANY, ANY);
    write_file(path, c.buf, c.len);
    m = load_or_report(path, NULL, "an empty hand-made file");
    if (m) CHECK(fm_size(m) == 0);
    fm_destroy(m);
    craft_free(&c);

    /* 2^60 entries claimed in header and footer: rejected without trying. */
    craft_start(&c, 8, 8);
    craft_block(&c, 4, 0, 100);
    craft_finish(&c, (uint64_t)1 << 60, ANY, ANY);
    expect_rejected(path, c.buf, c.len, FM_ERR_CORRUPT, "more than the file", "2^60 entries");
    craft_free(&c);

    /* Header and footer disagree. */
    craft_start(&c, 8, 8);
    craft_block(&c, 4, 0, 100);
    craft_finish(&c, ANY, ANY, 5);
    expect_rejected(path, c.buf, c.len, FM_ERR_CORRUPT, "footer counts 5 entries, the header 4", "footer count");
    craft_free(&c);

    /* Footer counts too many blocks. */
    craft_start(&c, 8, 8);
    craft_block(&c, 4, 0, 100);
    craft_block(&c, 2, 4, 200);
    craft_finish(&c, ANY, 3, ANY);
    expect_rejected(path, c.buf, c.len, FM_ERR_CORRUPT, "add up", "block count");
    craft_free(&c);

    /* Duplicate keys in two blocks. */
    craft_start(&c, 8, 8);
    craft_block(&c, 4, 0, 100);
    craft_block(&c, 2, 4, 102);
    craft_finish(&c, ANY, ANY, ANY);
    expect_rejected(path, c.buf, c.len, FM_ERR_CORRUPT, "duplicate", "duplicate keys");
    craft_free(&c);

    /* A block that says it starts elsewhere. */
    craft_start(&c, 8, 8);
    craft_block(&c, 4, 0, 100);
    craft_block(&c, 2, 3, 200);
    craft_finish(&c, ANY, ANY, ANY);
    expect_rejected(path, c.buf, c.len, FM_ERR_CORRUPT, "starts at entry 3", "block order");
    craft_free(&c);

    /* A block larger than block_entries, and an empty block. */
    craft_start(&c, 8, 8);
    craft_block(&c, 5, 0, 100);
    craft_block(&c, 1, 5, 200);
    craft_finish(&c, ANY, ANY, ANY);
    expect_rejected(path, c.buf, c.len, FM_ERR_CORRUPT, "holds 5 entries", "oversized block");
    craft_free(&c);
    craft_start(&c, 8, 8);
    craft_block(&c, 3, 0, 100);
    craft_block(&c, 0, 3, 200);
    craft_block(&c, 1, 3, 300);
    craft_finish(&c, ANY, ANY, ANY);
    expect_rejected(path, c.buf, c.len, FM_ERR_CORRUPT, "holds 0 entries", "empty block");
    craft_free(&c);

    /* A block with more entries than remain, in a file whose sizes add up:
     * two blocks of 4 entries (2 x 32 + 8 x 16 bytes) described as 3
     * blocks of 6 entries (3 x 32 + 6 x 16 bytes). */
    craft_start(&c, 8, 8);
    craft_block(&c, 4, 0, 100);
    craft_block(&c, 4, 4, 200);
    craft_finish(&c, 6, 3, ANY);
    expect_rejected(path, c.buf, c.len, FM_ERR_CORRUPT, "only 2 of the header's 6 remain", "more than remain");
    craft_free(&c);

    /* Wrong content digest in an otherwise right footer. */
    craft_start(&c, 8, 8);
    craft_block(&c, 4, 0, 100);
    craft_finish(&c, ANY, ANY, ANY);
    {
        uint8_t *fb = c.buf + c.len - FM_CK_FOOTER_SIZE;
        fb[FM_CK_FOFF_DIGEST] ^= 1;
        fm_ck_put64(fb + FM_CK_FOFF_CHECKSUM, fm_ck_checksum(fb, FM_CK_FOFF_CHECKSUM));
    }
    expect_rejected(path, c.buf, c.len, FM_ERR_CORRUPT, "content digest", "content digest");
    craft_free(&c);

    /* Header fields out of range, with right checksums. */
    struct {
        const char *word;
        uint32_t ks, vs, hash, kind, be, shards;
        double max_load;
        fm_status want;
    } bad[] = {
        {"key_size", 0, 8, 1, 1, 4, 1, 0.5, FM_ERR_CORRUPT},
        {"key_size", 300, 8, 1, 1, 4, 1, 0.5, FM_ERR_CORRUPT},
        {"value_size", 8, 5000, 1, 1, 4, 1, 0.5, FM_ERR_CORRUPT},
        {"hash", 8, 8, 0, 1, 4, 1, 0.5, FM_ERR_CORRUPT},
        {"hash", 8, 8, 9, 1, 4, 1, 0.5, FM_ERR_CORRUPT},
        {"kind", 8, 8, 1, 7, 4, 1, 0.5, FM_ERR_CORRUPT},
        {"block_entries", 8, 8, 1, 1, 0, 1, 0.5, FM_ERR_CORRUPT},
        {"block_entries", 8, 8, 1, 1, 1u << 30, 1, 0.5, FM_ERR_CORRUPT},
        {"block_entries", 8, 4096, 1, 1, 1u << 16, 1, 0.5, FM_ERR_CORRUPT},
        {"shards", 8, 8, 1, 1, 4, 0, 0.5, FM_ERR_CORRUPT},
        {"max_load", 8, 8, 1, 1, 4, 1, 1.0, FM_ERR_CORRUPT},
        {"part", 8, 8, 1, 2, 4, 1, 0.5, FM_ERR_INVALID}, /* a part file is not a checkpoint */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        craft_start(&c, 8, 8);
        craft_block(&c, 4, 0, 100);
        c.h.key_size = bad[i].ks;
        c.h.value_size = bad[i].vs;
        c.h.hash = bad[i].hash;
        c.h.kind = bad[i].kind;
        c.h.block_entries = bad[i].be;
        c.h.shards = bad[i].shards;
        c.h.max_load = bad[i].max_load;
        craft_finish(&c, ANY, ANY, ANY);
        char what[64];
        snprintf(what, sizeof what, "bad header field %zu (%s)", i, bad[i].word);
        expect_rejected(path, c.buf, c.len, bad[i].want, bad[i].word, what);
        craft_free(&c);
    }
    unlink(path);
    free(path);
}

/* ---- failing saves ------------------------------------------------------------- */

static void expect_save_fails(fm_map *m, const char *path, const char *word, const char *what)
{
    fm_status st = fm_save(m, path);
    if (st != FM_ERR_IO || !mentions(fm_last_error(m), word)) {
        fprintf(stderr, "%s: fm_save returned %d (%s), expected FM_ERR_IO naming \"%s\": %s\n", what, st,
                fm_status_str(st), word, fm_last_error(m));
        g_failures++;
    }
    if (mc_count_temp_files(g_dir) != 0) {
        fprintf(stderr, "%s: a temporary file was left behind\n", what);
        g_failures++;
    }
}

/* fm_save into the read-only directory ro: FM_ERR_IO, no temporary file. */
static int readonly_case(const char *ro)
{
    /* One thread: this may run in a child forked from an OpenMP program. */
    fm_config cfg = fm_config_default(8, 8, 100);
    cfg.backend = FM_BACKEND_CPU;
    cfg.threads = 1;
    fm_map *m = NULL;
    uint64_t keys[100];
    for (int i = 0; i < 100; i++) keys[i] = 1000 + (uint64_t)i;
    CHECK_OK(NULL, fm_create(&cfg, &m));
    if (!m) return 1;
    CHECK_OK(m, fm_bulk_insert(m, keys, keys, 100));
    char *inside = tu_xmalloc(strlen(ro) + 16);
    sprintf(inside, "%s/x.fmcp", ro);
    expect_save_fails(m, inside, "Permission denied", "a read-only directory");
    CHECK(mc_count_temp_files(ro) == 0);
    free(inside);
    fm_destroy(m);
    return 1;
}

static void test_save_failures(void)
{
    ref_map *ref_small = ref_create(8, 64), *ref_big = ref_create(8, 64);
    fm_map *small = small_map(8, 64, 200, 0, 0, ref_small, 11);
    fm_map *big = small_map(8, 64, 20000, 0, 0, ref_big, 12);
    char *path = path_in_dir("keep.fmcp");

    /* A directory that does not exist. */
    char *missing = path_in_dir("no/such/dir/x.fmcp");
    expect_save_fails(small, missing, "No such file or directory", "missing directory");
    free(missing);
    /* A directory where the file should go: written, then not renamed. */
    char *sub = path_in_dir("subdir");
    mkdir(sub, 0755);
    expect_save_fails(small, sub, "rename", "a directory in the way");
    struct stat sb;
    CHECK(stat(sub, &sb) == 0 && S_ISDIR(sb.st_mode));
    /* A name too long for the file system. */
    char longname[600];
    memset(longname, 'x', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    char *too_long = path_in_dir(longname);
    expect_save_fails(small, too_long, "too long", "a name too long");
    free(too_long);

    /* A good checkpoint, then a save that fails half-way (file size limit):
     * the good one stays, the map is unchanged, no temporary file. */
    CHECK_OK(small, fm_save(small, path));
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    lim = old;
    lim.rlim_cur = 64 * 1024; /* the big map needs ~1.4 MB */
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    if (setrlimit(RLIMIT_FSIZE, &lim) == 0) {
        fm_status st = fm_save(big, path);
        setrlimit(RLIMIT_FSIZE, &old);
        if (st != FM_ERR_IO || !mentions(fm_last_error(big), "too large")) {
            fprintf(stderr, "save over the file size limit returned %d: %s\n", st, fm_last_error(big));
            g_failures++;
        }
        CHECK(mc_count_temp_files(g_dir) == 0);
    } else {
        printf("test_checkpoint: cannot lower RLIMIT_FSIZE; skipping the half-written save\n");
    }
    signal(SIGXFSZ, old_handler);
    same_contents(big, ref_big, 8, 64, "the map after a failed save");
    fm_map *l = load_or_report(path, NULL, "the checkpoint kept after a failed save");
    if (l) same_contents(l, ref_small, 8, 64, "the checkpoint kept after a failed save");
    fm_destroy(l);

    /* A directory we may not write to. Root writes anywhere, so as root the
     * case runs in a child process that has become user "nobody". */
    char *ro = path_in_dir("readonly");
    mkdir(ro, 0755);
    chmod(ro, 0555);
    chmod(g_dir, 0755); /* "nobody" may look in, not write */
    int ran = 0;
    if (geteuid() != 0) {
        ran = readonly_case(ro);
    } else {
        fflush(NULL);
        pid_t pid = fork();
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0) _exit(77);
            const int before = g_failures;
            readonly_case(ro);
            fflush(NULL);
            _exit(g_failures != before ? 1 : 0);
        }
        int status = 0;
        if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) {
            fprintf(stderr, "the read-only directory case did not finish\n");
            g_failures++;
        } else if (WEXITSTATUS(status) == 77) {
            printf("test_checkpoint: cannot become another user; skipping the read-only directory case\n");
        } else {
            ran = 1;
            if (WEXITSTATUS(status) != 0) g_failures++;
        }
    }
    if (ran) CHECK(mc_count_temp_files(ro) == 0);
    chmod(ro, 0755);
    rmdir(ro);
    free(ro);
    /* The successful save replaces the file. */
    CHECK_OK(big, fm_save(big, path));
    l = load_or_report(path, NULL, "a replaced checkpoint");
    if (l) same_contents(l, ref_big, 8, 64, "a replaced checkpoint");
    fm_destroy(l);
    CHECK(mc_count_temp_files(g_dir) == 0);

    unlink(path);
    rmdir(sub);
    free(sub);
    free(path);
    fm_destroy(small);
    fm_destroy(big);
    ref_destroy(ref_small);
    ref_destroy(ref_big);
}

int main(int argc, char **argv)
{
    uint64_t first = 1, seeds = 80;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seeds") == 0 && i + 1 < argc) {
            seeds = strtoull(argv[++i], NULL, 0);
        } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
            first = strtoull(argv[++i], NULL, 0);
            seeds = 1;
        } else if (strcmp(argv[i], "--verbose") == 0) {
            g_verbose = 1;
        } else {
            fprintf(stderr, "usage: test_checkpoint [--seeds N] [--seed S] [--verbose]\n");
            return 2;
        }
    }
    unsetenv("FLASHMAP_BACKEND");
    snprintf(g_dir, sizeof g_dir, "test_checkpoint.XXXXXX");
    if (!mkdtemp(g_dir)) {
        fprintf(stderr, "cannot make a scratch directory: %s\n", strerror(errno));
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
#define FM_TIMED(call)                                                                      \
    do {                                                                                    \
        call;                                                                               \
        clock_gettime(CLOCK_MONOTONIC, &t1);                                                \
        if (g_verbose)                                                                      \
            printf("%-28s %.3f s\n", #call,                                                 \
                   (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec)); \
        t0 = t1;                                                                            \
    } while (0)
    FM_TIMED(for (uint64_t s = first; s < first + seeds; s++) round_trip(s));
    FM_TIMED(test_overrides());
    FM_TIMED(test_truncation_and_flips());
    FM_TIMED(test_crafted());
    FM_TIMED(test_save_failures());
    mc_remove_tree(g_dir);
    printf("test_checkpoint: %llu round trips, %llu loads (%llu rejected as corrupt)\n",
           (unsigned long long)seeds, (unsigned long long)g_loads, (unsigned long long)g_corrupt_loads);
    if (g_failures) {
        fprintf(stderr, "test_checkpoint: %d failures\n", g_failures);
        return 1;
    }
    printf("test_checkpoint: all checks passed\n");
    return 0;
}
