/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Every public function with bad arguments.
 *
 * Each bad call must return FM_ERR_INVALID (or the documented status), record
 * a message that names the offending argument, and leave the map exactly as
 * it was. Valid corner cases (n == 0 with NULL pointers, optional outputs)
 * must succeed. Also: status strings, version string, backend selection
 * through FLASHMAP_BACKEND, and the checkpoint functions' arguments.
 */
#define _POSIX_C_SOURCE 200809L

#include <flashmap.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "test_check.h"

/* fm_save / fm_load are built (tests/test_checkpoint.c tests them in
 * depth): the argument checks and the round trip in test_checkpoints(). */
static const int checkpoints_supported = 1;


/* Does msg contain `word` as a whole identifier (so "keys" does not match
 * inside "keys_out", and "n" does not match inside "invalid")? */
static int mentions(const char *msg, const char *word)
{
    size_t len = strlen(word);
    for (const char *p = msg; (p = strstr(p, word)) != NULL; p++) {
        int ident_before = p > msg && (p[-1] == '_' || (p[-1] >= 'a' && p[-1] <= 'z') ||
                                       (p[-1] >= 'A' && p[-1] <= 'Z') ||
                                       (p[-1] >= '0' && p[-1] <= '9'));
        char c = p[len];
        int ident_after = c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9');
        if (!ident_before && !ident_after)
            return 1;
    }
    return 0;
}

/* status must be `want`; the map's (or, for map == NULL, the thread's create)
 * last error must name `arg`. */
static void expect_error_at(const char *file, int line, const char *what, fm_status st,
                            fm_status want, const fm_map *map, const char *arg)
{
    if (st != want) {
        fprintf(stderr, "%s:%d: %s returned %d (%s), expected %d (%s)\n", file, line, what, st,
                fm_status_str(st), want, fm_status_str(want));
        g_failures++;
        return;
    }
    const char *msg = fm_last_error(map);
    if (!msg || !*msg) {
        fprintf(stderr, "%s:%d: %s: fm_last_error is empty\n", file, line, what);
        g_failures++;
    } else if (arg && !mentions(msg, arg)) {
        fprintf(stderr, "%s:%d: %s: fm_last_error \"%s\" does not name \"%s\"\n", file, line,
                what, msg, arg);
        g_failures++;
    }
}

#define EXPECT_INVALID(call, map, arg) \
    expect_error_at(__FILE__, __LINE__, #call, (call), FM_ERR_INVALID, (map), (arg))
#define EXPECT_STATUS(call, want)                                                       \
    do {                                                                                \
        fm_status st_ = (call);                                                         \
        if (st_ != (want)) {                                                            \
            fprintf(stderr, "%s:%d: %s returned %d (%s), expected %s\n", __FILE__,      \
                    __LINE__, #call, st_, fm_status_str(st_), #want);                   \
            g_failures++;                                                               \
        }                                                                               \
    } while (0)

/* ---- a small map with known contents ---------------------------------------- */

#define N_FIXTURE 100
static uint64_t fixture_key(int i) { return 0x9e3779b97f4a7c15ull * (uint64_t)(i + 1); }
static uint64_t fixture_value(int i) { return 1000u + (uint64_t)i; }

static fm_map *make_fixture(void)
{
    fm_config cfg = fm_config_default(8, 8, 16);
    cfg.backend = FM_BACKEND_CPU;
    fm_map *m = NULL;
    if (fm_create(&cfg, &m) != FM_OK) {
        fprintf(stderr, "cannot create the fixture map: %s\n", fm_last_error(NULL));
        exit(1);
    }
    uint64_t keys[N_FIXTURE], values[N_FIXTURE];
    for (int i = 0; i < N_FIXTURE; i++) {
        keys[i] = fixture_key(i);
        values[i] = fixture_value(i);
    }
    if (fm_bulk_insert(m, keys, values, N_FIXTURE) != FM_OK) {
        fprintf(stderr, "cannot fill the fixture map: %s\n", fm_last_error(m));
        exit(1);
    }
    return m;
}

/* The fixture still holds exactly its N_FIXTURE entries. */
static void check_fixture_at(int line, fm_map *m)
{
    int bad = 0;
    if (fm_size(m) != N_FIXTURE)
        bad = 1;
    uint64_t keys[N_FIXTURE], values[N_FIXTURE];
    uint8_t found[N_FIXTURE];
    for (int i = 0; i < N_FIXTURE; i++)
        keys[i] = fixture_key(i);
    if (fm_bulk_get(m, keys, N_FIXTURE, values, found) != FM_OK)
        bad = 1;
    for (int i = 0; i < N_FIXTURE && !bad; i++)
        if (!found[i] || values[i] != fixture_value(i))
            bad = 1;
    /* And nothing else: the export holds exactly N_FIXTURE entries. */
    uint64_t cursor = 0, total = 0, ek[16];
    int calls = 0;
    do {
        size_t n = 0;
        if (fm_export(m, &cursor, ek, NULL, 16, &n) != FM_OK || ++calls > 100000) {
            bad = 1;
            break;
        }
        total += n;
    } while (cursor != 0);
    if (total != N_FIXTURE)
        bad = 1;
    if (bad) {
        fprintf(stderr, "%s:%d: the map changed after a failed call (size %llu)\n", __FILE__,
                line, (unsigned long long)fm_size(m));
        g_failures++;
    }
}
#define CHECK_FIXTURE(m) check_fixture_at(__LINE__, (m))

static fm_map *make_map(uint32_t ks, uint32_t vs)
{
    fm_config cfg = fm_config_default(ks, vs, 16);
    cfg.backend = FM_BACKEND_CPU;
    fm_map *m = NULL;
    if (fm_create(&cfg, &m) != FM_OK) {
        fprintf(stderr, "cannot create a %u/%u map: %s\n", ks, vs, fm_last_error(NULL));
        exit(1);
    }
    return m;
}

/* ---- fm_create -------------------------------------------------------------- */

/* fm_create must fail with `want`, set *map_out to NULL and name `arg`. */
static void expect_create_fails(int line, const fm_config *cfg, fm_status want, const char *arg)
{
    fm_map *m = (fm_map *)&m; /* any non-NULL garbage: must be reset to NULL */
    fm_status st = fm_create(cfg, &m);
    char what[64];
    snprintf(what, sizeof what, "fm_create (line %d)", line);
    expect_error_at(__FILE__, line, what, st, want, NULL, arg);
    if (st != FM_OK && m != NULL) {
        fprintf(stderr, "%s:%d: fm_create failed but did not set *map_out to NULL\n", __FILE__,
                line);
        g_failures++;
    }
    if (st == FM_OK)
        fm_destroy(m);
}

static void expect_create_ok(int line, const fm_config *cfg)
{
    fm_map *m = NULL;
    fm_status st = fm_create(cfg, &m);
    if (st != FM_OK || !m) {
        fprintf(stderr, "%s:%d: fm_create returned %d (%s): %s\n", __FILE__, line, st,
                fm_status_str(st), fm_last_error(NULL));
        g_failures++;
    }
    fm_destroy(m);
}

static void test_create(void)
{
    const fm_config good = fm_config_default(8, 8, 100);
    fm_config c;

    expect_create_fails(__LINE__, NULL, FM_ERR_INVALID, "cfg");
    EXPECT_INVALID(fm_create(&good, NULL), NULL, "map_out");

    c = good; c.key_size = 0;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "key_size");
    c = good; c.key_size = FM_MAX_KEY_SIZE + 1;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "key_size");
    c = good; c.value_size = FM_MAX_VALUE_SIZE + 1;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "value_size");
    c = good; c.max_load = -0.25;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "max_load");
    c = good; c.max_load = 1.0;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "max_load");
    c = good; c.max_load = 1.5;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "max_load");
    c = good; c.max_load = NAN;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "max_load");
    c = good; c.hash = (fm_hash)3;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "hash");
    c = good; c.hash = (fm_hash)-1;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "hash");
    c = good; c.backend = (fm_backend)3;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "backend");
    c = good; c.backend = (fm_backend)-1;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "backend");
    c = good; c.threads = -1;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "threads");
    c = good; c.shards = -1;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "shards");
    c = good; c.flags = FM_FIXED_CAPACITY; c.capacity = 0;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "capacity");
    /* fm_config's version: set by fm_config_default; a hand-made (0) or
     * newer one is refused. */
    CHECK(good.version == FM_CONFIG_VERSION && good.reserved[0] == 0 && good.reserved[6] == 0);
    c = good; c.version = 0;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "version");
    c = good; c.version = FM_CONFIG_VERSION + 1;
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "version");

    /* The edges of the valid ranges. */
    expect_create_ok(__LINE__, &good);
    c = good; c.backend = FM_BACKEND_CPU;
    expect_create_ok(__LINE__, &c);
    c.max_load = 0.0; /* 0 means the default 0.5 */
    expect_create_ok(__LINE__, &c);
    c.max_load = 0.99;
    expect_create_ok(__LINE__, &c);
    c = good; c.backend = FM_BACKEND_CPU; c.key_size = 1; c.value_size = 0;
    expect_create_ok(__LINE__, &c);
    c.key_size = FM_MAX_KEY_SIZE; c.value_size = FM_MAX_VALUE_SIZE;
    expect_create_ok(__LINE__, &c);
    c = good; c.backend = FM_BACKEND_CPU; c.capacity = 0; /* growing map: 0 is fine */
    expect_create_ok(__LINE__, &c);
    c.hash = FM_HASH_IDENTITY; c.threads = 2; c.shards = 1;
    expect_create_ok(__LINE__, &c);
    c.flags = FM_FIXED_CAPACITY; c.capacity = 1;
    expect_create_ok(__LINE__, &c);
}

/* ---- bulk calls --------------------------------------------------------------- */

static void test_bulk(void)
{
    fm_map *m = make_fixture();
    CHECK(fm_last_error(m) != NULL && fm_last_error(m)[0] == '\0'); /* nothing failed yet */

    uint64_t keys[4] = {1, 2, 3, fixture_key(0)}, vals[4] = {0}, deltas[4] = {1, 1, 1, 1};
    uint8_t flags[4];
    const size_t huge = SIZE_MAX / 8 + 1; /* huge * key_size overflows size_t */

    /* fm_bulk_insert */
    EXPECT_STATUS(fm_bulk_insert(NULL, keys, vals, 1), FM_ERR_INVALID);
    EXPECT_INVALID(fm_bulk_insert(m, NULL, vals, 1), m, "keys");
    CHECK_FIXTURE(m);
    EXPECT_INVALID(fm_bulk_insert(m, keys, NULL, 1), m, "values");
    CHECK_FIXTURE(m);
    EXPECT_INVALID(fm_bulk_insert(m, keys, vals, huge), m, "n");
    CHECK_FIXTURE(m);
    EXPECT_STATUS(fm_bulk_insert(m, NULL, NULL, 0), FM_OK);
    CHECK_FIXTURE(m);

    /* fm_bulk_get */
    EXPECT_STATUS(fm_bulk_get(NULL, keys, 1, vals, flags), FM_ERR_INVALID);
    EXPECT_INVALID(fm_bulk_get(m, NULL, 1, vals, flags), m, "keys");
    CHECK_FIXTURE(m);
    EXPECT_INVALID(fm_bulk_get(m, keys, 1, NULL, flags), m, "values_out");
    CHECK_FIXTURE(m);
    EXPECT_INVALID(fm_bulk_get(m, keys, huge, vals, flags), m, "n");
    CHECK_FIXTURE(m);
    EXPECT_STATUS(fm_bulk_get(m, NULL, 0, NULL, NULL), FM_OK);
    vals[3] = 0;
    EXPECT_STATUS(fm_bulk_get(m, keys, 4, vals, NULL), FM_OK); /* found_out is optional */
    CHECK(vals[3] == fixture_value(0));
    CHECK_FIXTURE(m);

    /* fm_bulk_remove */
    EXPECT_STATUS(fm_bulk_remove(NULL, keys, 1, flags), FM_ERR_INVALID);
    EXPECT_INVALID(fm_bulk_remove(m, NULL, 1, flags), m, "keys");
    CHECK_FIXTURE(m);
    EXPECT_INVALID(fm_bulk_remove(m, keys, huge, flags), m, "n");
    CHECK_FIXTURE(m);
    EXPECT_STATUS(fm_bulk_remove(m, NULL, 0, NULL), FM_OK);
    EXPECT_STATUS(fm_bulk_remove(m, keys, 3, NULL), FM_OK); /* absent keys, no output */
    CHECK_FIXTURE(m);

    /* fm_bulk_add_u64 */
    EXPECT_STATUS(fm_bulk_add_u64(NULL, keys, deltas, 1), FM_ERR_INVALID);
    EXPECT_INVALID(fm_bulk_add_u64(m, NULL, deltas, 1), m, "keys");
    CHECK_FIXTURE(m);
    EXPECT_INVALID(fm_bulk_add_u64(m, keys, deltas, huge), m, "n");
    CHECK_FIXTURE(m);
    EXPECT_STATUS(fm_bulk_add_u64(m, NULL, NULL, 0), FM_OK);
    CHECK_FIXTURE(m);

    /* fm_clear, fm_get_stats, fm_size, fm_map_backend */
    EXPECT_STATUS(fm_clear(NULL), FM_ERR_INVALID);
    fm_stats s;
    EXPECT_STATUS(fm_get_stats(NULL, &s), FM_ERR_INVALID);
    EXPECT_INVALID(fm_get_stats(m, NULL), m, "out");
    CHECK_FIXTURE(m);
    CHECK(fm_size(NULL) == 0);
    CHECK(fm_map_backend(m) == FM_BACKEND_CPU);
    CHECK(fm_map_backend(NULL) == FM_BACKEND_AUTO);

    /* fm_export */
    uint64_t cursor = 0, ek[8], ev[8];
    size_t n_out = 0;
    EXPECT_STATUS(fm_export(NULL, &cursor, ek, ev, 8, &n_out), FM_ERR_INVALID);
    EXPECT_INVALID(fm_export(m, NULL, ek, ev, 8, &n_out), m, "cursor");
    CHECK_FIXTURE(m);
    EXPECT_INVALID(fm_export(m, &cursor, ek, ev, 8, NULL), m, "n_out");
    CHECK_FIXTURE(m);
    EXPECT_INVALID(fm_export(m, &cursor, NULL, ev, 8, &n_out), m, "keys_out");
    CHECK_FIXTURE(m);
    CHECK(fm_get_stats(m, &s) == FM_OK);
    cursor = s.slots + 1;
    EXPECT_INVALID(fm_export(m, &cursor, ek, ev, 8, &n_out), m, "cursor");
    CHECK_FIXTURE(m);
    cursor = UINT64_MAX;
    EXPECT_INVALID(fm_export(m, &cursor, ek, ev, 8, &n_out), m, "cursor");
    CHECK_FIXTURE(m);
    fm_destroy(m);

    /* add_u64 on a map whose values are not 8 bytes. */
    fm_map *m16 = make_map(8, 16);
    EXPECT_INVALID(fm_bulk_add_u64(m16, keys, deltas, 1), m16, "value_size");
    CHECK(fm_size(m16) == 0);
    fm_destroy(m16);

    /* A set (value_size 0) takes NULL values and NULL values_out. */
    fm_map *set = make_map(8, 0);
    EXPECT_STATUS(fm_bulk_insert(set, keys, NULL, 3), FM_OK);
    memset(flags, 0xA5, sizeof flags);
    EXPECT_STATUS(fm_bulk_get(set, keys, 4, NULL, flags), FM_OK);
    CHECK(flags[0] == 1 && flags[1] == 1 && flags[2] == 1 && flags[3] == 0);
    CHECK(fm_size(set) == 3);
    fm_destroy(set);

    /* n * value_size overflows although n * key_size does not. */
    fm_map *big = make_map(1, FM_MAX_VALUE_SIZE);
    uint8_t k1[1] = {7};
    static uint8_t v1[FM_MAX_VALUE_SIZE];
    CHECK(fm_bulk_insert(big, k1, v1, 1) == FM_OK);
    const size_t huge_v = SIZE_MAX / FM_MAX_VALUE_SIZE + 1;
    EXPECT_INVALID(fm_bulk_insert(big, k1, v1, huge_v), big, "n");
    EXPECT_INVALID(fm_bulk_get(big, k1, huge_v, v1, NULL), big, "n");
    CHECK(fm_size(big) == 1);
    fm_destroy(big);
}

/* ---- status strings, version, destroy(NULL) ------------------------------------ */

static void test_strings(void)
{
    static const struct {
        fm_status code;
        const char *msg;
    } all[] = {
#define FM_TEST_STATUS_(name, code, msg) {name, msg},
        FM_STATUS_MAP(FM_TEST_STATUS_)
#undef FM_TEST_STATUS_
    };
    const size_t n = sizeof all / sizeof all[0];
    for (size_t i = 0; i < n; i++) {
        const char *s = fm_status_str(all[i].code);
        CHECK(s != NULL && s[0] != '\0');
        if (s && strcmp(s, all[i].msg) != 0) {
            fprintf(stderr, "fm_status_str(%d) = \"%s\", the header says \"%s\"\n",
                    all[i].code, s, all[i].msg);
            g_failures++;
        }
        for (size_t j = 0; j < i; j++)
            CHECK(strcmp(fm_status_str(all[i].code), fm_status_str(all[j].code)) != 0);
    }
    const int out_of_range[] = {1, 7, -9, -100, 12345, -2147483647};
    for (size_t i = 0; i < sizeof out_of_range / sizeof out_of_range[0]; i++) {
        const char *s = fm_status_str((fm_status)out_of_range[i]);
        CHECK(s != NULL && strstr(s, "unknown") != NULL);
    }

    const char *v = fm_version_string();
    CHECK(v != NULL && v[0] != '\0');
    char prefix[64];
    snprintf(prefix, sizeof prefix, "flashmap %d.%d.%d", FLASHMAP_VERSION_MAJOR,
             FLASHMAP_VERSION_MINOR, FLASHMAP_VERSION_PATCH);
    CHECK(v != NULL && strncmp(v, prefix, strlen(prefix)) == 0);
    CHECK(v != NULL && strstr(v, "cpu") != NULL);

    fm_destroy(NULL); /* must be a no-op */
}

/* ---- backends ------------------------------------------------------------------ */

/* Could a CUDA map work here at all? Only with the backend compiled in and
 * an NVIDIA device node present; otherwise CUDA must be FM_ERR_UNSUPPORTED. */
static int cuda_possible(void)
{
    return strstr(fm_version_string(), "cuda") != NULL && access("/dev/nvidia0", F_OK) == 0;
}

/* A create that must succeed on the CPU (or, where possible, on CUDA). */
static void expect_map_on(int line, const fm_config *cfg, int cuda_ok)
{
    fm_map *m = NULL;
    fm_status st = fm_create(cfg, &m);
    if (st != FM_OK) {
        fprintf(stderr, "%s:%d: fm_create returned %d: %s\n", __FILE__, line, st,
                fm_last_error(NULL));
        g_failures++;
        return;
    }
    fm_backend b = fm_map_backend(m);
    if (b != FM_BACKEND_CPU && !(cuda_ok && b == FM_BACKEND_CUDA)) {
        fprintf(stderr, "%s:%d: expected a CPU map, got backend %d\n", __FILE__, line, (int)b);
        g_failures++;
    }
    fm_destroy(m);
}

/* A create that must give CUDA: without a usable GPU (this CI machine) that
 * is FM_ERR_UNSUPPORTED with an explanation. */
static void expect_cuda_or_unsupported(int line, const fm_config *cfg)
{
    fm_map *m = NULL;
    fm_status st = fm_create(cfg, &m);
    if (st == FM_OK && cuda_possible()) {
        CHECK(fm_map_backend(m) == FM_BACKEND_CUDA);
        fm_destroy(m);
        return;
    }
    char what[64];
    snprintf(what, sizeof what, "fm_create (CUDA requested, line %d)", line);
    expect_error_at(__FILE__, line, what, st, FM_ERR_UNSUPPORTED, NULL, NULL);
    if (st == FM_OK)
        fm_destroy(m);
    else
        CHECK(m == NULL);
}

static void test_backends(void)
{
    fm_config c = fm_config_default(8, 8, 100);

    c.backend = FM_BACKEND_CPU;
    expect_map_on(__LINE__, &c, 0);

    c.backend = FM_BACKEND_CUDA;
    expect_cuda_or_unsupported(__LINE__, &c);

    /* AUTO always gives a map: CUDA where usable, else the CPU. */
    c.backend = FM_BACKEND_AUTO;
    expect_map_on(__LINE__, &c, cuda_possible());

    /* FLASHMAP_BACKEND steers an AUTO map. */
    setenv("FLASHMAP_BACKEND", "cuda", 1);
    expect_cuda_or_unsupported(__LINE__, &c);
    if (!cuda_possible()) { /* the advice speaks of the variable the user set */
        fm_map *m = NULL;
        CHECK(fm_create(&c, &m) == FM_ERR_UNSUPPORTED && m == NULL);
        CHECK(strstr(fm_last_error(NULL), "FLASHMAP_BACKEND=cuda") != NULL);
        CHECK(strstr(fm_last_error(NULL), "FM_BACKEND_CPU") == NULL);
    }
    setenv("FLASHMAP_BACKEND", "cpu", 1);
    expect_map_on(__LINE__, &c, 0);
    setenv("FLASHMAP_BACKEND", "bogus", 1);
    expect_create_fails(__LINE__, &c, FM_ERR_INVALID, "FLASHMAP_BACKEND");
    unsetenv("FLASHMAP_BACKEND");
}

/* ---- checkpoints --------------------------------------------------------------- */

static void test_checkpoints(void)
{
    const char *path = "test_bad_args.fmcp";
    fm_map *m = make_fixture();
    fm_map *loaded = NULL;

    if (!checkpoints_supported) {
        EXPECT_STATUS(fm_save(m, path), FM_ERR_UNSUPPORTED);
        EXPECT_STATUS(fm_load(path, NULL, &loaded), FM_ERR_UNSUPPORTED);
        CHECK_FIXTURE(m);
        fm_destroy(m);
        remove(path);
        return;
    }

    EXPECT_STATUS(fm_save(NULL, path), FM_ERR_INVALID);
    EXPECT_INVALID(fm_save(m, NULL), m, "path");
    CHECK_FIXTURE(m);
    EXPECT_INVALID(fm_load(NULL, NULL, &loaded), NULL, "path");
    CHECK(loaded == NULL);
    EXPECT_STATUS(fm_save(m, path), FM_OK);
    EXPECT_INVALID(fm_load(path, NULL, NULL), NULL, "map_out");
    EXPECT_STATUS(fm_load("/nonexistent-dir/none.fmcp", NULL, &loaded), FM_ERR_IO);
    EXPECT_STATUS(fm_load(path, NULL, &loaded), FM_OK);
    if (loaded)
        CHECK_FIXTURE(loaded);
    fm_destroy(loaded);
    fm_destroy(m);
    remove(path);
}

int main(void)
{
    unsetenv("FLASHMAP_BACKEND"); /* the test sets it itself */
    test_strings();
    test_create();
    test_bulk();
    test_backends();
    test_checkpoints();
    if (g_failures) {
        fprintf(stderr, "test_bad_args: %d failures\n", g_failures);
        return 1;
    }
    printf("test_bad_args: all checks passed\n");
    return 0;
}
