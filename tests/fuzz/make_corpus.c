/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Writes the seed corpora of fuzz_checkpoint_load and fuzz_api_sequence
 * (make_corpus.sh runs it; the k-mer reader's seeds are text and come from
 * the script itself).
 *
 * Usage: fuzz_make_corpus <corpus dir>   (writes <dir>/fuzz_checkpoint_load/
 * and <dir>/fuzz_api_sequence/, which must exist)
 *
 * Checkpoint seeds are real fm_save files (one control byte in front, see
 * fuzz_checkpoint_load.c) of small maps: growing and fixed, both hashes,
 * sets and maps, one and several shards, many small blocks, an empty map;
 * a hand-made manifest; a file cut short. API seeds are fixed programs for
 * each kind of map plus deterministic pseudo-random ones.
 */
#include <flashmap.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fm_checkpoint.h"

static const char *g_dir;

static void write_seed(const char *target, const char *name, uint8_t control, const uint8_t *bytes, size_t len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s/%s", g_dir, target, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(&control, 1, 1, f) != 1 || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
}

static uint8_t *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        perror(path);
        exit(1);
    }
    uint8_t *buf = malloc(1 << 20);
    *len = buf ? fread(buf, 1, 1 << 20, f) : 0;
    fclose(f);
    if (!buf) exit(1);
    return buf;
}

/* A map of n entries saved to a checkpoint and written as two seeds (as is,
 * and with the harness's checksum repair on). */
static void checkpoint_seed(const char *name, uint32_t ks, uint32_t vs, fm_hash hash, uint32_t flags,
                            uint64_t capacity, int shards, size_t n, uint64_t block_bytes, size_t cut)
{
    fm_config cfg = fm_config_default(ks, vs, capacity);
    cfg.hash = hash;
    cfg.flags = flags;
    cfg.shards = shards;
    cfg.threads = 1;
    fm_map *map;
    if (fm_create(&cfg, &map) != FM_OK) {
        fprintf(stderr, "make_corpus: %s\n", fm_last_error(NULL));
        exit(1);
    }
    uint8_t key[16], value[16];
    for (size_t i = 0; i < n; i++) {
        for (uint32_t b = 0; b < ks; b++) key[b] = (uint8_t)(i * 7 + b);
        for (uint32_t b = 0; b < vs; b++) value[b] = (uint8_t)(i * 13 + b * 3);
        if (fm_bulk_insert(map, key, value, 1) != FM_OK) exit(1);
    }
    char path[512], seed[64];
    snprintf(path, sizeof path, "%s/.make_corpus.fmck", g_dir);
    fm_ck_block_bytes = block_bytes;
    if (fm_save(map, path) != FM_OK) {
        fprintf(stderr, "make_corpus: %s\n", fm_last_error(map));
        exit(1);
    }
    fm_destroy(map);
    size_t len;
    uint8_t *bytes = slurp(path, &len);
    remove(path);
    if (cut && cut < len) len = cut;
    snprintf(seed, sizeof seed, "%s", name);
    write_seed("fuzz_checkpoint_load", seed, 0x00, bytes, len);
    snprintf(seed, sizeof seed, "%s-repair", name);
    write_seed("fuzz_checkpoint_load", seed, 0x05, bytes, len);
    free(bytes);
}

/* A manifest of two parts (the parts themselves are not there: fm_load
 * must report the missing file). */
static void manifest_seed(void)
{
    fm_ck_header h;
    memset(&h, 0, sizeof h);
    h.version = FM_CK_VERSION;
    h.kind = FM_CK_KIND_MANIFEST;
    h.key_size = 8;
    h.value_size = 8;
    h.hash = FM_HASH_MURMUR3;
    h.capacity = 64;
    h.max_load = 0.5;
    h.shards = 1;
    h.entries = 3;
    h.part_count = 2;
    h.writer_backend = FM_BACKEND_CPU;
    h.checkpoint_id = 0x0123456789abcdefull;
    snprintf(h.writer, sizeof h.writer, "flashmap seed");
    uint8_t file[FM_CK_HEADER_SIZE + 2 * FM_CK_PART_RECORD_SIZE + 8];
    memset(file, 0, sizeof file);
    fm_ck_header_encode(&h, file);
    uint8_t *rec = file + FM_CK_HEADER_SIZE;
    fm_ck_put64(rec, 1);
    fm_ck_put64(rec + FM_CK_PART_RECORD_SIZE, 2);
    fm_ck_put64(rec + 2 * FM_CK_PART_RECORD_SIZE, fm_ck_checksum(rec, 2 * FM_CK_PART_RECORD_SIZE));
    write_seed("fuzz_checkpoint_load", "manifest", 0x00, file, sizeof file);
}

/* ---- API programs (see fuzz_api_sequence.c for the encoding) -------------- */

enum { OP_INSERT, OP_GET, OP_REMOVE, OP_ADD, OP_ADD_ONES, OP_CLEAR, OP_EXPORT, OP_STATS, OP_BAD };

typedef struct prog {
    uint8_t b[4096];
    size_t n;
} prog;

static void put(prog *p, uint8_t v)
{
    if (p->n < sizeof p->b) p->b[p->n++] = v;
}

/* One operation on keys first, first + step, ...; payload bytes v. */
static void op(prog *p, int code, uint8_t n, uint8_t first, uint8_t step, uint8_t v)
{
    put(p, (uint8_t)code);
    put(p, n);
    for (uint8_t i = 0; i < n; i++) put(p, (uint8_t)(first + i * step));
    if (code == OP_INSERT || code == OP_ADD)
        for (uint8_t i = 0; i < n; i++) put(p, (uint8_t)(v + i));
}

static void api_seed(const char *name, const prog *p)
{
    write_seed("fuzz_api_sequence", name, p->b[0], p->b + 1, p->n - 1);
}

/* Config bytes: a = key size index | value size index << 3 | hash bits << 6;
 * b = fixed | shard index << 1 | max_load index << 4 | threads bit << 6;
 * c = capacity. */
static void api_program(const char *name, uint8_t a, uint8_t b, uint8_t c)
{
    prog p = {{0}, 0};
    put(&p, a);
    put(&p, b);
    put(&p, c);
    op(&p, OP_INSERT, 20, 0, 1, 1);
    op(&p, OP_GET, 30, 0, 3, 0);
    op(&p, OP_ADD, 12, 5, 17, 200);
    op(&p, OP_REMOVE, 10, 0, 2, 0);
    op(&p, OP_INSERT, 16, 0, 16, 9);   /* keys sharing their first 8 bytes */
    op(&p, OP_ADD_ONES, 8, 1, 0, 0);   /* one key eight times */
    op(&p, OP_EXPORT, 3, 0, 0, 0);
    op(&p, OP_STATS, 0, 0, 0, 0);
    op(&p, OP_BAD, 4, 0, 1, 0);
    op(&p, OP_INSERT, 40, 100, 3, 50); /* fills a fixed map */
    op(&p, OP_REMOVE, 40, 100, 3, 0);
    op(&p, OP_INSERT, 40, 150, 1, 7);
    op(&p, OP_CLEAR, 0, 0, 0, 0);
    op(&p, OP_INSERT, 5, 9, 1, 3);
    api_seed(name, &p);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <corpus dir>\n", argv[0]);
        return 2;
    }
    g_dir = argv[1];

    checkpoint_seed("u64-map", 8, 8, FM_HASH_DEFAULT, 0, 16, 1, 5, (uint64_t)1 << 20, 0);
    checkpoint_seed("set-identity-fixed-blocks", 3, 0, FM_HASH_IDENTITY, FM_FIXED_CAPACITY, 40, 2, 30, 12, 0);
    checkpoint_seed("value12-shards3", 2, 12, FM_HASH_MURMUR3, 0, 0, 3, 9, 40, 0);
    checkpoint_seed("empty", 4, 1, FM_HASH_DEFAULT, 0, 0, 1, 0, (uint64_t)1 << 20, 0);
    checkpoint_seed("truncated", 8, 8, FM_HASH_DEFAULT, 0, 16, 1, 5, 48, 200);
    manifest_seed();

    /* key idx | value idx << 3 | hash << 6 ; fixed | shards << 1 | load << 4 | threads << 6 ; capacity */
    api_program("growing-u64", 4 | 3 << 3, 0x00, 0);
    api_program("fixed-u64-identity", 6 | 5 << 3 | 1 << 6, 0x01 | 2 << 4, 30);
    api_program("fixed-set-shards2", 0, 0x01 | 2 << 1, 12);
    api_program("growing-k9-v12-shards4-2threads", 5 | 4 << 3 | 2 << 6, 4 << 1 | 3 << 4 | 1 << 6, 3);
    api_program("fixed-k3-v1-shards3", 2 | 1 << 3, 0x01 | 3 << 1 | 1 << 4 | 1 << 6, 5);
    /* Pseudo-random programs. */
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int s = 0; s < 6; s++) {
        prog p = {{0}, 0};
        for (int i = 0; i < 400; i++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            put(&p, (uint8_t)(x >> 24));
        }
        char name[32];
        snprintf(name, sizeof name, "random-%d", s);
        api_seed(name, &p);
    }
    return 0;
}
