/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * libFuzzer target: fm_load on arbitrary bytes.
 *
 * Input: one control byte, then the file. The file is written to a scratch
 * directory and loaded with fm_load. Every byte of a checkpoint is under an
 * XXH3-64 checksum, which random mutations never get right, so for half the
 * inputs (control bit 0) the harness first repairs the checksums (header,
 * each block header and payload it can walk, footer digest and checksum,
 * manifest records) and the loader's later checks get exercised too.
 *
 * fm_load must return a known status and never crash or leak; on failure
 * the map pointer is NULL. When it loads, the map must be consistent:
 * fm_export returns fm_size distinct entries, each key's fm_bulk_get gives
 * the exported value, and the map holds exactly the file's entries.
 *
 * A header's capacity, max_load or shard count could ask for gigabytes of
 * table from a few hundred bytes (a legitimate request from a real
 * checkpoint); such inputs are loaded with overrides that bound the table,
 * as a program with little memory would.
 */
#include <flashmap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_scratch.h"
#include "io/fm_checkpoint.h"

/* Walks the blocks of a data or part file of `len` bytes: calls `entry`
 * for each entry (when not NULL), repairs checksums when `repair`. Returns
 * the XXH3 digest of the payloads walked. Stops at the first thing that is
 * not a block. */
typedef void (*entry_fn)(void *ctx, const uint8_t *key, const uint8_t *value);
static uint64_t walk_blocks(uint8_t *f, size_t len, int repair, entry_fn entry, void *ctx)
{
    const uint64_t ks = fm_ck_get32(f + FM_CK_OFF_KEY_SIZE), vs = fm_ck_get32(f + FM_CK_OFF_VALUE_SIZE);
    const size_t footer_at = len - FM_CK_FOOTER_SIZE;
    uint8_t *payloads = malloc(len);
    size_t have = 0;
    if (!payloads) abort();
    if (ks >= 1 && ks <= FM_MAX_KEY_SIZE && vs <= FM_MAX_VALUE_SIZE) {
        for (size_t pos = FM_CK_HEADER_SIZE; pos + FM_CK_BLOCK_HEADER_SIZE <= footer_at;) {
            uint8_t *bh = f + pos;
            if (memcmp(bh, FM_CK_BLOCK_MAGIC, 4) != 0) break;
            const uint64_t n = fm_ck_get32(bh + 4), bytes = n * (ks + vs);
            if (bytes > footer_at - pos - FM_CK_BLOCK_HEADER_SIZE) break;
            uint8_t *payload = bh + FM_CK_BLOCK_HEADER_SIZE;
            if (repair) {
                fm_ck_put64(bh + 16, fm_ck_checksum(payload, (size_t)bytes));
                fm_ck_put64(bh + 24, fm_ck_checksum(bh, 24));
            }
            for (uint64_t i = 0; entry && i < n; i++)
                entry(ctx, payload + i * ks, vs ? payload + n * ks + i * vs : NULL);
            memcpy(payloads + have, payload, (size_t)bytes);
            have += (size_t)bytes;
            pos += FM_CK_BLOCK_HEADER_SIZE + (size_t)bytes;
        }
    }
    const uint64_t digest = fm_ck_checksum(payloads, have);
    free(payloads);
    return digest;
}

static void repair(uint8_t *f, size_t len)
{
    if (len < FM_CK_HEADER_SIZE) return;
    fm_ck_put64(f + FM_CK_OFF_HEADER_CHECKSUM, fm_ck_checksum(f, FM_CK_OFF_HEADER_CHECKSUM));
    if (fm_ck_get32(f + FM_CK_OFF_KIND) == FM_CK_KIND_MANIFEST) {
        const uint64_t parts = fm_ck_get32(f + FM_CK_OFF_PART_COUNT);
        const uint64_t body = parts * FM_CK_PART_RECORD_SIZE;
        if (body + 8 <= len - FM_CK_HEADER_SIZE)
            fm_ck_put64(f + FM_CK_HEADER_SIZE + body, fm_ck_checksum(f + FM_CK_HEADER_SIZE, (size_t)body));
        return;
    }
    if (len < FM_CK_HEADER_SIZE + FM_CK_FOOTER_SIZE) return;
    uint8_t *footer = f + len - FM_CK_FOOTER_SIZE;
    fm_ck_put64(footer + FM_CK_FOFF_DIGEST, walk_blocks(f, len, 1, NULL, NULL));
    fm_ck_put64(footer + FM_CK_FOFF_CHECKSUM, fm_ck_checksum(footer, FM_CK_FOFF_CHECKSUM));
}

__attribute__((noreturn)) static void fail(const char *what, const char *path)
{
    fprintf(stderr, "MISMATCH: fm_load of %s: %s\n", path, what);
    abort();
}

/* The file's entries, checked one by one against the loaded map. */
typedef struct file_check {
    fm_map *map;
    uint32_t vs;
    uint64_t entries;
    uint8_t *value;
    const char *path;
} file_check;

static void check_file_entry(void *ctx, const uint8_t *key, const uint8_t *value)
{
    file_check *c = ctx;
    uint8_t found = 0;
    if (fm_bulk_get(c->map, key, 1, c->vs ? c->value : NULL, &found) != FM_OK) fail("get failed", c->path);
    if (!found) fail("a key of the file is not in the map", c->path);
    if (c->vs && memcmp(c->value, value, c->vs) != 0) fail("a value differs from the file's", c->path);
    c->entries++;
}

static void check_loaded(fm_map *map, uint8_t *f, size_t len, const char *path)
{
    const uint32_t ks = fm_ck_get32(f + FM_CK_OFF_KEY_SIZE), vs = fm_ck_get32(f + FM_CK_OFF_VALUE_SIZE);
    const uint64_t size = fm_size(map);
    if (size != fm_ck_get64(f + FM_CK_OFF_ENTRIES)) fail("fm_size differs from the header's entries", path);
    uint8_t *keys = malloc((size_t)ks * 16), *values = malloc((size_t)vs * 16 + 1);
    uint8_t *got = malloc((size_t)vs * 16 + 1), found[16];
    if (!keys || !values || !got) abort();
    uint64_t cursor = 0, total = 0;
    do {
        size_t n = 0;
        if (fm_export(map, &cursor, keys, vs ? values : NULL, 16, &n) != FM_OK) fail("fm_export failed", path);
        if (n > 16) fail("fm_export overran its page", path);
        if (fm_bulk_get(map, keys, n, vs ? got : NULL, found) != FM_OK) fail("fm_bulk_get failed", path);
        for (size_t i = 0; i < n; i++)
            if (!found[i]) fail("an exported key is not found", path);
        if (vs && memcmp(got, values, n * vs) != 0) fail("an exported key gets back another value", path);
        total += n;
    } while (cursor != 0);
    if (total != size) fail("fm_export count differs from fm_size", path);
    free(keys);
    free(values);
    free(got);
    if (fm_ck_get32(f + FM_CK_OFF_KIND) == FM_CK_KIND_DATA) {
        file_check c = {map, vs, 0, malloc((size_t)vs + 1), path};
        if (!c.value) abort();
        walk_blocks(f, len, 0, check_file_entry, &c);
        free(c.value);
        if (c.entries != size) fail("the map holds more entries than the file's blocks", path);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    const uint8_t control = data[0];
    const size_t len = size - 1;
    uint8_t *f = malloc(len + 1);
    if (!f) abort();
    memcpy(f, data + 1, len);
    if (control & 1) repair(f, len);

    const char *path = fz_write_scratch("map.fmck", f, len);

    /* Bound the table a header can ask for. */
    fm_config ov;
    memset(&ov, 0, sizeof ov);
    ov.backend = FM_BACKEND_CPU;
    ov.device = -1;
    ov.threads = 1 + ((control >> 1) & 1);
    int use_ov = (control >> 2) & 1;
    if (len >= FM_CK_HEADER_SIZE) {
        const uint64_t capacity = fm_ck_get64(f + FM_CK_OFF_CAPACITY), bits = fm_ck_get64(f + FM_CK_OFF_MAX_LOAD);
        double max_load;
        memcpy(&max_load, &bits, sizeof max_load);
        if (capacity > 4096) {
            ov.capacity = 4096;
            use_ov = 1;
        }
        if (!(max_load >= 0.05)) {
            ov.max_load = 0.5;
            use_ov = 1;
        }
        if (fm_ck_get32(f + FM_CK_OFF_SHARDS) > 4) {
            ov.shards = 1 + ((control >> 3) & 3);
            use_ov = 1;
        }
    }

    fm_map *map = (fm_map *)&ov; /* must come back NULL on failure */
    const fm_status st = fm_load(path, use_ov ? &ov : NULL, &map);
    switch (st) {
    case FM_OK:
        if (!map) fail("FM_OK without a map", path);
        check_loaded(map, f, len, path);
        fm_destroy(map);
        break;
    case FM_ERR_INVALID:
    case FM_ERR_NOMEM:
    case FM_ERR_FULL:
    case FM_ERR_UNSUPPORTED:
    case FM_ERR_IO:
    case FM_ERR_CORRUPT:
        if (map) fail("a failed load left a map", path);
        if (!fm_last_error(NULL)[0]) fail("a failed load left no message", path);
        break;
    default: fail("an unexpected status", path);
    }
    free(f);
    return 0;
}
