/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Checkpoints of one-process maps (one table or several shards), and the
 * reader and writer that MPI checkpoints share (checkpoint_mpi.c). The
 * format is in docs/checkpoint-format.md.
 *
 * Saving reads the map through fm_export, so it works for every backend;
 * loading builds a fresh map with fm_create and fm_bulk_insert and destroys
 * it on any failure, so a caller never sees a half-loaded map. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "api/fm_alloc.h"
#include "api/fm_fault.h"
#include "io/fm_checkpoint.h"

uint64_t fm_ck_block_bytes = (uint64_t)1 << 20;
uint64_t fm_ck_writeback_bytes = (uint64_t)8 << 20;

/* ---- little helpers ------------------------------------------------------ */

void fm_ck_put32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}

void fm_ck_put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++) p[i] = (uint8_t)(v >> (8 * i));
}

uint32_t fm_ck_get32(const uint8_t *p)
{
    uint32_t v = 0;
    for (int i = 3; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

uint64_t fm_ck_get64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

uint64_t fm_ck_checksum(const void *data, size_t len) { return (uint64_t)XXH3_64bits(data, len); }

/* The text of an errno value (thread-safe). */
static const char *err_text(int err, char *buf, size_t len)
{
    if (strerror_r(err, buf, len) != 0) snprintf(buf, len, "errno %d", err);
    return buf;
}

/* Records FM_ERR_IO with the text of `err` appended: "...: <strerror>". */
#define FM_IO_FAIL(report, err, fmt, ...)                                      \
    fm_io_fail_at((report), (err), __FILE__, __LINE__, fmt, __VA_ARGS__)
__attribute__((format(printf, 5, 6))) static fm_status fm_io_fail_at(fm_map *report, int err,
                                                                     const char *file, int line,
                                                                     const char *fmt, ...)
{
    /* Room for the status text before and the reason after: a long path
     * is cut ("...") rather than the reason. */
    char what[FM_ERROR_LEN - 192], text[128];
    va_list ap;
    va_start(ap, fmt);
    const int len = vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (len >= (int)sizeof what) memcpy(what + sizeof what - 4, "...", 4);
    return fm_fail_at(report, FM_ERR_IO, file, line, "%s: %s", what,
                      err ? err_text(err, text, sizeof text) : "unexpected end of file");
}

#define FM_CORRUPT(report, ...) fm_fail((report), FM_ERR_CORRUPT, __VA_ARGS__)

static void *xxh_state(void)
{
    if (fm_fault_fire(FM_FAULT_ALLOC)) return NULL;
    return XXH3_createState();
}
static void xxh_free(void *s)
{
    if (s) XXH3_freeState((XXH3_state_t *)s);
}

uint64_t fm_ck_new_id(void)
{
    static uint64_t counter;
    struct {
        struct timespec real, mono;
        uint64_t pid, n;
        const void *where;
    } s;
    memset(&s, 0, sizeof s);
    clock_gettime(CLOCK_REALTIME, &s.real);
    clock_gettime(CLOCK_MONOTONIC, &s.mono);
    s.pid = (uint64_t)getpid();
    s.n = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED);
    s.where = &s;
    uint64_t id = fm_ck_checksum(&s, sizeof s);
    return id ? id : 1;
}

char *fm_ck_part_path(const char *path, uint32_t rank, uint32_t parts)
{
    const size_t len = strlen(path) + 48;
    char *p = fm_alloc(len);
    if (p) snprintf(p, len, "%s.rank%u-of-%u", path, rank, parts);
    return p;
}

/* ---- the header ---------------------------------------------------------- */

void fm_ck_header_for(fm_ck_header *h, const fm_map *map, uint32_t kind)
{
    memset(h, 0, sizeof *h);
    h->version = FM_CK_VERSION;
    h->kind = kind;
    h->key_size = map->cfg.key_size;
    h->value_size = map->cfg.value_size;
    h->hash = (uint32_t)map->cfg.hash;
    h->capacity = map->cfg.capacity;
    h->max_load = map->cfg.max_load;
    h->flags = map->cfg.flags;
    h->shards = map->cfg.shards > 1 ? (uint32_t)map->cfg.shards : 1u;
    h->part_index = 0;
    h->part_count = 1;
    h->writer_backend = (uint32_t)map->backend;
    h->writer_version = ((uint32_t)FLASHMAP_VERSION_MAJOR << 16) | ((uint32_t)FLASHMAP_VERSION_MINOR << 8) |
                        (uint32_t)FLASHMAP_VERSION_PATCH;
    h->checkpoint_id = fm_ck_new_id();
    snprintf(h->writer, sizeof h->writer, "flashmap %s", FLASHMAP_VERSION_STRING);
}

void fm_ck_header_encode(const fm_ck_header *h, uint8_t out[FM_CK_HEADER_SIZE])
{
    memset(out, 0, FM_CK_HEADER_SIZE);
    memcpy(out + FM_CK_OFF_MAGIC, FM_CK_MAGIC, 8);
    fm_ck_put32(out + FM_CK_OFF_VERSION, h->version);
    fm_ck_put32(out + FM_CK_OFF_HEADER_SIZE, FM_CK_HEADER_SIZE);
    fm_ck_put32(out + FM_CK_OFF_KIND, h->kind);
    fm_ck_put32(out + FM_CK_OFF_KEY_SIZE, h->key_size);
    fm_ck_put32(out + FM_CK_OFF_VALUE_SIZE, h->value_size);
    fm_ck_put32(out + FM_CK_OFF_HASH, h->hash);
    fm_ck_put64(out + FM_CK_OFF_CAPACITY, h->capacity);
    uint64_t bits;
    memcpy(&bits, &h->max_load, sizeof bits);
    fm_ck_put64(out + FM_CK_OFF_MAX_LOAD, bits);
    fm_ck_put32(out + FM_CK_OFF_FLAGS, h->flags);
    fm_ck_put32(out + FM_CK_OFF_SHARDS, h->shards);
    fm_ck_put64(out + FM_CK_OFF_ENTRIES, h->entries);
    fm_ck_put32(out + FM_CK_OFF_PART_INDEX, h->part_index);
    fm_ck_put32(out + FM_CK_OFF_PART_COUNT, h->part_count);
    fm_ck_put32(out + FM_CK_OFF_BLOCK_ENTRIES, h->block_entries);
    fm_ck_put32(out + FM_CK_OFF_WRITER_BACKEND, h->writer_backend);
    fm_ck_put64(out + FM_CK_OFF_CHECKPOINT_ID, h->checkpoint_id);
    fm_ck_put32(out + FM_CK_OFF_WRITER_VERSION, h->writer_version);
    memcpy(out + FM_CK_OFF_WRITER, h->writer, strnlen(h->writer, FM_CK_WRITER_LEN));
    fm_ck_put64(out + FM_CK_OFF_HEADER_CHECKSUM, fm_ck_checksum(out, FM_CK_OFF_HEADER_CHECKSUM));
}

/* Up to 8 bytes as hex, for messages about magic numbers. */
static const char *hex8(const uint8_t *p, size_t n, char out[20])
{
    size_t i = 0;
    for (; i < n && i < 8; i++) snprintf(out + 2 * i, 3, "%02x", p[i]);
    out[2 * i] = '\0';
    return out;
}

/* Validates the header bytes of a file of `size` bytes (have = bytes
 * read, at most the header's). */
static fm_status header_decode(fm_map *report, const char *path, const uint8_t *b, uint64_t size,
                               fm_ck_header *h)
{
    const size_t have = size < FM_CK_HEADER_SIZE ? (size_t)size : FM_CK_HEADER_SIZE;
    char hex[20];
    if (size == 0) return FM_CORRUPT(report, "%s: the file is empty (0 bytes), not a flashmap checkpoint", path);
    const size_t m = have < 8 ? have : 8;
    if (memcmp(b, FM_CK_MAGIC, m) != 0)
        return FM_CORRUPT(report, "%s: bad magic: the file starts with bytes %s, a checkpoint with \"%s\"",
                          path, hex8(b, m, hex), FM_CK_MAGIC);
    if (have < FM_CK_HEADER_SIZE)
        return FM_CORRUPT(report, "%s: truncated: the file has %zu bytes, less than the %u-byte header",
                          path, have, FM_CK_HEADER_SIZE);
    memset(h, 0, sizeof *h);
    h->version = fm_ck_get32(b + FM_CK_OFF_VERSION);
    if (h->version != FM_CK_VERSION)
        return FM_CORRUPT(report, "%s: unknown format version %u (this library reads version %u)", path,
                          h->version, FM_CK_VERSION);
    const uint32_t header_size = fm_ck_get32(b + FM_CK_OFF_HEADER_SIZE);
    if (header_size != FM_CK_HEADER_SIZE)
        return FM_CORRUPT(report, "%s: header_size is %u; version %u headers are %u bytes", path, header_size,
                          FM_CK_VERSION, FM_CK_HEADER_SIZE);
    const uint64_t stored = fm_ck_get64(b + FM_CK_OFF_HEADER_CHECKSUM);
    const uint64_t computed = fm_ck_checksum(b, FM_CK_OFF_HEADER_CHECKSUM);
    if (stored != computed)
        return FM_CORRUPT(report, "%s: header checksum mismatch: stored 0x%016llx, computed 0x%016llx", path,
                          (unsigned long long)stored, (unsigned long long)computed);
    h->kind = fm_ck_get32(b + FM_CK_OFF_KIND);
    h->key_size = fm_ck_get32(b + FM_CK_OFF_KEY_SIZE);
    h->value_size = fm_ck_get32(b + FM_CK_OFF_VALUE_SIZE);
    h->hash = fm_ck_get32(b + FM_CK_OFF_HASH);
    h->capacity = fm_ck_get64(b + FM_CK_OFF_CAPACITY);
    const uint64_t bits = fm_ck_get64(b + FM_CK_OFF_MAX_LOAD);
    memcpy(&h->max_load, &bits, sizeof bits);
    h->flags = fm_ck_get32(b + FM_CK_OFF_FLAGS);
    h->shards = fm_ck_get32(b + FM_CK_OFF_SHARDS);
    h->entries = fm_ck_get64(b + FM_CK_OFF_ENTRIES);
    h->part_index = fm_ck_get32(b + FM_CK_OFF_PART_INDEX);
    h->part_count = fm_ck_get32(b + FM_CK_OFF_PART_COUNT);
    h->block_entries = fm_ck_get32(b + FM_CK_OFF_BLOCK_ENTRIES);
    h->writer_backend = fm_ck_get32(b + FM_CK_OFF_WRITER_BACKEND);
    h->checkpoint_id = fm_ck_get64(b + FM_CK_OFF_CHECKPOINT_ID);
    h->writer_version = fm_ck_get32(b + FM_CK_OFF_WRITER_VERSION);
    memcpy(h->writer, b + FM_CK_OFF_WRITER, FM_CK_WRITER_LEN);
    h->writer[FM_CK_WRITER_LEN] = '\0';
    const uint32_t reserved = fm_ck_get32(b + FM_CK_OFF_RESERVED);

    if (h->kind < FM_CK_KIND_DATA || h->kind > FM_CK_KIND_MANIFEST)
        return FM_CORRUPT(report, "%s: header kind is %u; it must be 1 (data), 2 (part) or 3 (manifest)", path,
                          h->kind);
    if (h->key_size < 1 || h->key_size > FM_MAX_KEY_SIZE)
        return FM_CORRUPT(report, "%s: header key_size is %u; it must be 1..%u", path, h->key_size,
                          FM_MAX_KEY_SIZE);
    if (h->value_size > FM_MAX_VALUE_SIZE)
        return FM_CORRUPT(report, "%s: header value_size is %u; it must be 0..%u", path, h->value_size,
                          FM_MAX_VALUE_SIZE);
    if (h->hash != FM_HASH_MURMUR3 && h->hash != FM_HASH_IDENTITY)
        return FM_CORRUPT(report, "%s: header hash is %u; it must be %d (murmur3) or %d (identity)", path,
                          h->hash, (int)FM_HASH_MURMUR3, (int)FM_HASH_IDENTITY);
    if (!(h->max_load > 0.0 && h->max_load < 1.0))
        return FM_CORRUPT(report, "%s: header max_load is %g; it must be in (0, 1)", path, h->max_load);
    if (h->flags & ~(uint32_t)FM_FIXED_CAPACITY)
        return FM_CORRUPT(report, "%s: header flags 0x%x have unknown bits", path, h->flags);
    if ((h->flags & FM_FIXED_CAPACITY) && h->capacity == 0)
        return FM_CORRUPT(report, "%s: header says fixed capacity 0", path);
    if (h->shards < 1 || h->shards > FM_CONFIG_MAX_SHARDS)
        return FM_CORRUPT(report, "%s: header shards is %u; it must be 1..%d", path, h->shards,
                          FM_CONFIG_MAX_SHARDS);
    if (h->part_count < 1 || h->part_count > FM_CK_MAX_PARTS || h->part_index >= h->part_count)
        return FM_CORRUPT(report, "%s: header says part %u of %u; parts are 0..count-1, count 1..%u", path,
                          h->part_index, h->part_count, FM_CK_MAX_PARTS);
    if (h->kind == FM_CK_KIND_DATA && h->part_count != 1)
        return FM_CORRUPT(report, "%s: a data file with part_count %u (must be 1)", path, h->part_count);
    if (h->kind == FM_CK_KIND_MANIFEST && (h->part_index != 0 || h->block_entries != 0))
        return FM_CORRUPT(report, "%s: a manifest with part_index %u and block_entries %u (both must be 0)", path,
                          h->part_index, h->block_entries);
    if (h->kind != FM_CK_KIND_MANIFEST) {
        const uint64_t rec = (uint64_t)h->key_size + h->value_size;
        if (h->block_entries < 1 || h->block_entries > FM_CK_MAX_BLOCK_ENTRIES ||
            h->block_entries * rec > FM_CK_MAX_BLOCK_BYTES)
            return FM_CORRUPT(report,
                              "%s: header block_entries is %u (%llu-byte entries); it must be 1..%u and a "
                              "block at most %llu bytes",
                              path, h->block_entries, (unsigned long long)rec, FM_CK_MAX_BLOCK_ENTRIES,
                              (unsigned long long)FM_CK_MAX_BLOCK_BYTES);
    }
    if (reserved != 0) return FM_CORRUPT(report, "%s: reserved header field is 0x%x, not 0", path, reserved);
    return FM_OK;
}

/* ---- writing ------------------------------------------------------------- */

/* 1 when the test build fails this write step on purpose (errno = err). */
static int write_fault(int err)
{
    if (!fm_fault_fire(FM_FAULT_WRITE)) return 0;
    errno = err;
    return 1;
}

/* Creates path + ".tmp.<pid>" exclusively (a stale file of that name, left by
 * a dead process with our pid, is replaced). */
static fm_status create_temp(fm_map *report, const char *path, char **tmp_out, FILE **f_out)
{
    *tmp_out = NULL;
    *f_out = NULL;
    const size_t len = strlen(path) + 32;
    char *tmp = fm_alloc(len);
    if (!tmp) return fm_fail(report, FM_ERR_NOMEM, "no memory for a file name of %zu bytes", len);
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    int fd = -1;
    for (int attempt = 0; attempt < 2 && fd < 0; attempt++) {
        fd = write_fault(ENOSPC) ? -1 : open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd < 0 && !(errno == EEXIST && attempt == 0 && unlink(tmp) == 0)) {
            const int err = errno;
            fm_status st = FM_IO_FAIL(report, err, "cannot create the temporary file %s", tmp);
            free(tmp);
            return st;
        }
    }
    FILE *f = fdopen(fd, "wb");
    if (!f) {
        const int err = errno;
        close(fd);
        unlink(tmp);
        fm_status st = FM_IO_FAIL(report, err, "cannot open a stream on %s", tmp);
        free(tmp);
        return st;
    }
    *tmp_out = tmp;
    *f_out = f;
    return FM_OK;
}

static fm_status write_bytes(fm_map *report, FILE *f, const char *tmp, const void *data, size_t len,
                             const char *what)
{
    if (len == 0) return FM_OK;
    errno = 0;
    if (write_fault(ENOSPC) || fwrite(data, 1, len, f) != len)
        return FM_IO_FAIL(report, errno ? errno : EIO, "cannot write %s (%zu bytes) to %s", what, len, tmp);
    return FM_OK;
}

/* fflush, fsync and fclose; f is closed whatever happens. */
static fm_status flush_close(fm_map *report, FILE *f, const char *tmp)
{
    int err = 0;
    const char *step = NULL;
    if (write_fault(EIO) || fflush(f) != 0) {
        err = errno;
        step = "flush";
    } else if (write_fault(EIO) || fsync(fileno(f)) != 0) {
        err = errno;
        step = "fsync";
    }
    if (fclose(f) != 0 && !step) {
        err = errno;
        step = "close";
    }
    if (step) return FM_IO_FAIL(report, err ? err : EIO, "cannot %s %s", step, tmp);
    return FM_OK;
}

/* Opens the directory holding path (to fsync it after the rename, so that
 * the rename survives a crash). Done before the rename: whatever fails here
 * fails the save while the file at path is still the old one. */
static fm_status open_dir_of(fm_map *report, const char *path, int *fd_out)
{
    *fd_out = -1;
    const char *slash = strrchr(path, '/');
    char *dir = NULL;
    if (!slash) dir = fm_strdup(".");
    else if (slash == path) dir = fm_strdup("/");
    else {
        dir = fm_alloc((size_t)(slash - path) + 1);
        if (dir) {
            memcpy(dir, path, (size_t)(slash - path));
            dir[slash - path] = '\0';
        }
    }
    if (!dir) return fm_fail(report, FM_ERR_NOMEM, "no memory for a directory name");
    fm_status st = FM_OK;
    *fd_out = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (*fd_out < 0) st = FM_IO_FAIL(report, errno, "cannot open the directory %s of %s", dir, path);
    free(dir);
    return st;
}

/* Renames tmp over path and fsyncs the directory; removes tmp when the
 * rename cannot happen. File systems that cannot sync directories (EINVAL)
 * are taken as they are. */
static fm_status commit_temp(fm_map *report, const char *tmp, const char *path)
{
    int dir_fd = -1;
    fm_status st = open_dir_of(report, path, &dir_fd);
    if (st == FM_OK && (write_fault(EIO) || rename(tmp, path) != 0))
        st = FM_IO_FAIL(report, errno, "cannot rename %s to %s", tmp, path);
    if (st != FM_OK) {
        unlink(tmp);
    } else if ((write_fault(EIO) || fsync(dir_fd) != 0) && errno != EINVAL && errno != ENOTSUP) {
        st = FM_IO_FAIL(report, errno, "%s is in place, but fsync of its directory failed", path);
    }
    if (dir_fd >= 0) close(dir_fd);
    return st;
}

fm_status fm_ck_writer_open(fm_ck_writer *w, fm_map *report, const char *path, const fm_ck_header *h)
{
    memset(w, 0, sizeof *w);
    w->report = report;
    w->h = *h;
    const uint64_t ks = h->key_size, vs = h->value_size, rec = ks + vs;
    uint64_t be = fm_ck_block_bytes / rec;
    if (be > FM_CK_MAX_BLOCK_BYTES / rec) be = FM_CK_MAX_BLOCK_BYTES / rec;
    if (be > FM_CK_MAX_BLOCK_ENTRIES) be = FM_CK_MAX_BLOCK_ENTRIES;
    if (be < 1) be = 1;
    w->h.block_entries = (uint32_t)be;
    w->h.entries = 0;
    w->path = fm_strdup(path);
    w->keys = fm_alloc((size_t)(be * ks));
    w->values = vs ? fm_alloc((size_t)(be * vs)) : NULL;
    w->content = xxh_state();
    w->block = xxh_state();
    if (!w->path || !w->keys || (vs && !w->values) || !w->content || !w->block)
        return fm_fail(report, FM_ERR_NOMEM, "no memory for a checkpoint block of %llu entries",
                       (unsigned long long)be);
    XXH3_64bits_reset((XXH3_state_t *)w->content);
    fm_status st = create_temp(report, path, &w->tmp, &w->f);
    if (st != FM_OK) return st;
    uint8_t hb[FM_CK_HEADER_SIZE];
    fm_ck_header_encode(&w->h, hb); /* provisional: the count is written last */
    return write_bytes(report, w->f, w->tmp, hb, sizeof hb, "the header");
}

/* Hands what the writer has written since the last call to writeback
 * (fm_ck_start_writeback) once it is fm_ck_writeback_bytes or more. */
static fm_status start_writeback(fm_ck_writer *w)
{
    const int64_t at = (int64_t)ftello(w->f);
    if (at <= w->handed || (uint64_t)(at - w->handed) < fm_ck_writeback_bytes) return FM_OK;
    if (write_fault(EIO) || fflush(w->f) != 0)
        return FM_IO_FAIL(w->report, errno ? errno : EIO, "cannot write to %s", w->tmp);
    fm_ck_start_writeback(fileno(w->f), w->handed, at - w->handed);
    w->handed = at;
    return FM_OK;
}

static fm_status write_block(fm_ck_writer *w)
{
    const size_t n = w->fill, ks = w->h.key_size, vs = w->h.value_size;
    XXH3_state_t *b = w->block, *c = w->content;
    XXH3_64bits_reset(b);
    XXH3_64bits_update(b, w->keys, n * ks);
    XXH3_64bits_update(c, w->keys, n * ks);
    if (vs) {
        XXH3_64bits_update(b, w->values, n * vs);
        XXH3_64bits_update(c, w->values, n * vs);
    }
    uint8_t bh[FM_CK_BLOCK_HEADER_SIZE];
    memcpy(bh, FM_CK_BLOCK_MAGIC, 4);
    fm_ck_put32(bh + 4, (uint32_t)n);
    fm_ck_put64(bh + 8, w->entries);
    fm_ck_put64(bh + 16, (uint64_t)XXH3_64bits_digest(b));
    fm_ck_put64(bh + 24, fm_ck_checksum(bh, 24));
    fm_status st = write_bytes(w->report, w->f, w->tmp, bh, sizeof bh, "a block header");
    if (st == FM_OK) st = write_bytes(w->report, w->f, w->tmp, w->keys, n * ks, "a block's keys");
    if (st == FM_OK) st = write_bytes(w->report, w->f, w->tmp, w->values, n * vs, "a block's values");
    if (st != FM_OK) return st;
    w->blocks++;
    w->entries += n;
    w->fill = 0;
    return start_writeback(w);
}

fm_status fm_ck_writer_put_map(fm_ck_writer *w, fm_map *map)
{
    const size_t ks = w->h.key_size, vs = w->h.value_size, be = w->h.block_entries;
    uint64_t cursor = 0;
    if (!map->ops->export_entries)
        return fm_fail(w->report, FM_ERR_UNSUPPORTED, "the %s backend cannot export entries", map->ops->name);
    do {
        /* Straight to the backend: fm_save already holds the map's lock. */
        size_t got = 0;
        fm_status st = map->ops->export_entries(map, &cursor, w->keys + w->fill * ks,
                                                vs ? w->values + w->fill * vs : NULL, be - w->fill, &got);
        if (st != FM_OK) {
            char why[FM_ERROR_LEN];
            memcpy(why, map->error, sizeof why);
            return fm_fail(w->report, st, "cannot read the map's entries (fm_export): %s", why);
        }
        w->fill += (uint32_t)got;
        if (w->fill == be && (st = write_block(w)) != FM_OK) return st;
    } while (cursor != 0);
    return FM_OK;
}

fm_status fm_ck_writer_finish(fm_ck_writer *w)
{
    fm_status st = FM_OK;
    if (w->fill && (st = write_block(w)) != FM_OK) return st;
    const uint64_t rec = (uint64_t)w->h.key_size + w->h.value_size;
    w->digest = (uint64_t)XXH3_64bits_digest((XXH3_state_t *)w->content);
    w->file_size = FM_CK_HEADER_SIZE + w->blocks * FM_CK_BLOCK_HEADER_SIZE + w->entries * rec + FM_CK_FOOTER_SIZE;
    uint8_t fb[FM_CK_FOOTER_SIZE];
    memset(fb, 0, sizeof fb);
    memcpy(fb + FM_CK_FOFF_MAGIC, FM_CK_FOOTER_MAGIC, 8);
    fm_ck_put64(fb + FM_CK_FOFF_BLOCKS, w->blocks);
    fm_ck_put64(fb + FM_CK_FOFF_ENTRIES, w->entries);
    fm_ck_put64(fb + FM_CK_FOFF_DIGEST, w->digest);
    fm_ck_put64(fb + FM_CK_FOFF_CHECKPOINT_ID, w->h.checkpoint_id);
    fm_ck_put64(fb + FM_CK_FOFF_FILE_SIZE, w->file_size);
    fm_ck_put64(fb + FM_CK_FOFF_CHECKSUM, fm_ck_checksum(fb, FM_CK_FOFF_CHECKSUM));
    if ((st = write_bytes(w->report, w->f, w->tmp, fb, sizeof fb, "the footer")) != FM_OK) return st;
    /* Now the header with the real count. */
    w->h.entries = w->entries;
    uint8_t hb[FM_CK_HEADER_SIZE];
    fm_ck_header_encode(&w->h, hb);
    if (fseeko(w->f, 0, SEEK_SET) != 0) return FM_IO_FAIL(w->report, errno, "cannot seek in %s", w->tmp);
    if ((st = write_bytes(w->report, w->f, w->tmp, hb, sizeof hb, "the header")) != FM_OK) return st;
    FILE *f = w->f;
    w->f = NULL;
    return flush_close(w->report, f, w->tmp);
}

fm_status fm_ck_writer_commit(fm_ck_writer *w)
{
    fm_status st = commit_temp(w->report, w->tmp, w->path);
    free(w->tmp); /* renamed, or removed by commit_temp */
    w->tmp = NULL;
    return st;
}

void fm_ck_writer_abort(fm_ck_writer *w)
{
    if (w->f) fclose(w->f);
    if (w->tmp) unlink(w->tmp);
    free(w->tmp);
    free(w->path);
    fm_free(w->keys);
    fm_free(w->values);
    xxh_free(w->content);
    xxh_free(w->block);
    memset(w, 0, sizeof *w);
}

fm_status fm_ck_write_file(fm_map *report, const char *path, const uint8_t *bytes, size_t len)
{
    char *tmp = NULL;
    FILE *f = NULL;
    fm_status st = create_temp(report, path, &tmp, &f);
    if (st != FM_OK) return st;
    st = write_bytes(report, f, tmp, bytes, len, "the manifest");
    if (st != FM_OK) {
        fclose(f);
    } else {
        st = flush_close(report, f, tmp);
        if (st == FM_OK) {
            st = commit_temp(report, tmp, path);
            free(tmp);
            return st;
        }
    }
    unlink(tmp);
    free(tmp);
    return st;
}

/* ---- reading ------------------------------------------------------------- */

/* Reads len bytes at the current position. The file's size was checked, so
 * a short read means an I/O error or a file that shrank while we read. */
static fm_status read_exact(fm_ck_reader *r, void *buf, size_t len, const char *what)
{
    if (len == 0) return FM_OK;
    errno = 0;
    const size_t got = fread(buf, 1, len, r->f);
    if (got != len) {
        if (ferror(r->f)) return FM_IO_FAIL(r->report, errno ? errno : EIO, "%s: cannot read %s", r->path, what);
        return FM_CORRUPT(r->report, "%s: truncated: the file ends inside %s at offset %llu", r->path, what,
                          (unsigned long long)(r->pos + got));
    }
    r->pos += len;
    return FM_OK;
}

static fm_status seek_to(fm_ck_reader *r, uint64_t off)
{
    if (fseeko(r->f, (off_t)off, SEEK_SET) != 0)
        return FM_IO_FAIL(r->report, errno, "%s: cannot seek to offset %llu", r->path, (unsigned long long)off);
    r->pos = off;
    return FM_OK;
}

/* The footer of a data or part file, and whether the file's sizes add up. */
static fm_status read_footer(fm_ck_reader *r)
{
    const fm_ck_header *h = &r->h;
    const uint64_t size = r->file_size, min = FM_CK_HEADER_SIZE + FM_CK_FOOTER_SIZE;
    if (size < min)
        return FM_CORRUPT(r->report, "%s: truncated: the file has %llu bytes, less than a %u-byte header and a "
                          "%u-byte footer", r->path, (unsigned long long)size, FM_CK_HEADER_SIZE,
                          FM_CK_FOOTER_SIZE);
    uint8_t fb[FM_CK_FOOTER_SIZE];
    fm_status st = seek_to(r, size - FM_CK_FOOTER_SIZE);
    if (st == FM_OK) st = read_exact(r, fb, sizeof fb, "the footer");
    if (st != FM_OK) return st;
    if (memcmp(fb + FM_CK_FOFF_MAGIC, FM_CK_FOOTER_MAGIC, 8) != 0)
        return FM_CORRUPT(r->report, "%s: no footer at the end of the file (%llu bytes): it is truncated or has "
                          "bytes appended", r->path, (unsigned long long)size);
    const uint64_t stored = fm_ck_get64(fb + FM_CK_FOFF_CHECKSUM), computed = fm_ck_checksum(fb, FM_CK_FOFF_CHECKSUM);
    if (stored != computed)
        return FM_CORRUPT(r->report, "%s: footer checksum mismatch: stored 0x%016llx, computed 0x%016llx", r->path,
                          (unsigned long long)stored, (unsigned long long)computed);
    const uint64_t blocks = fm_ck_get64(fb + FM_CK_FOFF_BLOCKS), entries = fm_ck_get64(fb + FM_CK_FOFF_ENTRIES);
    const uint64_t id = fm_ck_get64(fb + FM_CK_FOFF_CHECKPOINT_ID), said = fm_ck_get64(fb + FM_CK_FOFF_FILE_SIZE);
    const uint64_t reserved = fm_ck_get64(fb + FM_CK_FOFF_RESERVED);
    if (said != size)
        return FM_CORRUPT(r->report, "%s: the footer says the file has %llu bytes; it has %llu (truncated or "
                          "appended to)", r->path, (unsigned long long)said, (unsigned long long)size);
    if (entries != h->entries)
        return FM_CORRUPT(r->report, "%s: the footer counts %llu entries, the header %llu", r->path,
                          (unsigned long long)entries, (unsigned long long)h->entries);
    if (id != h->checkpoint_id)
        return FM_CORRUPT(r->report, "%s: the footer's checkpoint id 0x%016llx differs from the header's 0x%016llx",
                          r->path, (unsigned long long)id, (unsigned long long)h->checkpoint_id);
    if (reserved != 0)
        return FM_CORRUPT(r->report, "%s: reserved footer field is 0x%llx, not 0", r->path,
                          (unsigned long long)reserved);
    /* Bounds from the file's size first, so nothing below can overflow and
     * no count can make a loader allocate more than the file holds. */
    const uint64_t rec = (uint64_t)h->key_size + h->value_size, body = size - min;
    if (entries > body / rec)
        return FM_CORRUPT(r->report, "%s: the header claims %llu entries of %llu bytes, more than the file's %llu "
                          "bytes can hold", r->path, (unsigned long long)entries, (unsigned long long)rec,
                          (unsigned long long)size);
    if (blocks > body / FM_CK_BLOCK_HEADER_SIZE)
        return FM_CORRUPT(r->report, "%s: the footer claims %llu blocks, more than the file's %llu bytes can hold",
                          r->path, (unsigned long long)blocks, (unsigned long long)size);
    const uint64_t fewest = (entries + h->block_entries - 1) / h->block_entries;
    if (blocks < fewest || blocks > entries)
        return FM_CORRUPT(r->report, "%s: the footer counts %llu blocks for %llu entries of at most %u per block "
                          "(expected %llu..%llu)", r->path, (unsigned long long)blocks,
                          (unsigned long long)entries, h->block_entries, (unsigned long long)fewest,
                          (unsigned long long)entries);
    const uint64_t expected = min + blocks * FM_CK_BLOCK_HEADER_SIZE + entries * rec;
    if (expected != size)
        return FM_CORRUPT(r->report, "%s: sizes do not add up: %u + %u + %llu blocks x %u + %llu entries x %llu = "
                          "%llu bytes, but the file has %llu", r->path, FM_CK_HEADER_SIZE, FM_CK_FOOTER_SIZE,
                          (unsigned long long)blocks, FM_CK_BLOCK_HEADER_SIZE, (unsigned long long)entries,
                          (unsigned long long)rec, (unsigned long long)expected, (unsigned long long)size);
    r->footer_blocks = blocks;
    r->footer_digest = fm_ck_get64(fb + FM_CK_FOFF_DIGEST);
    return seek_to(r, FM_CK_HEADER_SIZE);
}

fm_status fm_ck_reader_open(fm_ck_reader *r, fm_map *report, const char *path)
{
    memset(r, 0, sizeof *r);
    r->report = report;
    r->path = fm_strdup(path);
    if (!r->path) return fm_fail(report, FM_ERR_NOMEM, "no memory for a file name");
    r->f = fopen(path, "rb");
    if (!r->f) return FM_IO_FAIL(report, errno, "cannot open %s", path);
    struct stat sb;
    if (fstat(fileno(r->f), &sb) != 0) return FM_IO_FAIL(report, errno, "cannot stat %s", path);
    if (S_ISDIR(sb.st_mode)) return FM_IO_FAIL(report, EISDIR, "cannot read %s", path);
    if (!S_ISREG(sb.st_mode))
        return fm_fail(report, FM_ERR_IO, "cannot read %s: not a regular file", path);
    r->file_size = (uint64_t)sb.st_size;
    uint8_t hb[FM_CK_HEADER_SIZE];
    const size_t want = r->file_size < FM_CK_HEADER_SIZE ? (size_t)r->file_size : FM_CK_HEADER_SIZE;
    fm_status st = read_exact(r, hb, want, "the header");
    if (st == FM_OK) st = header_decode(report, path, hb, r->file_size, &r->h);
    if (st != FM_OK || r->h.kind == FM_CK_KIND_MANIFEST) return st;
    if ((st = read_footer(r)) != FM_OK) return st;
    r->content = xxh_state();
    r->block = xxh_state();
    if (!r->content || !r->block) return fm_fail(report, FM_ERR_NOMEM, "no memory for checksum state");
    XXH3_64bits_reset((XXH3_state_t *)r->content);
    return FM_OK;
}

void fm_ck_reader_close(fm_ck_reader *r)
{
    if (r->f) fclose(r->f);
    free(r->path);
    xxh_free(r->content);
    xxh_free(r->block);
    memset(r, 0, sizeof *r);
}

static uint64_t block_room(const fm_ck_header *h);

fm_status fm_ck_reader_next(fm_ck_reader *r, uint8_t *keys, uint8_t *values, uint64_t max, uint64_t *n_out)
{
    const fm_ck_header *h = &r->h;
    const uint64_t ks = h->key_size, vs = h->value_size, be = h->block_entries;
    const uint64_t footer_at = r->file_size - FM_CK_FOOTER_SIZE;
    const uint64_t room = block_room(h);
    uint64_t got = 0;
    *n_out = 0;
    if (max < room) return fm_fail(r->report, FM_ERR_INVALID, "read batch of %llu entries < block size %llu",
                                   (unsigned long long)max, (unsigned long long)room);
    while (r->entries < h->entries && max - got >= room) {
        const uint64_t at = r->pos, b = r->blocks;
        if (b >= r->footer_blocks || at + FM_CK_BLOCK_HEADER_SIZE > footer_at)
            return FM_CORRUPT(r->report, "%s: block %llu would start at offset %llu, but the footer counts %llu "
                              "blocks and starts at offset %llu", r->path, (unsigned long long)b,
                              (unsigned long long)at, (unsigned long long)r->footer_blocks,
                              (unsigned long long)footer_at);
        uint8_t bh[FM_CK_BLOCK_HEADER_SIZE];
        char hex[20];
        fm_status st = read_exact(r, bh, sizeof bh, "a block header");
        if (st != FM_OK) return st;
        if (memcmp(bh, FM_CK_BLOCK_MAGIC, 4) != 0)
            return FM_CORRUPT(r->report, "%s: block %llu at offset %llu: bad block magic %s (expected \"%s\")",
                              r->path, (unsigned long long)b, (unsigned long long)at, hex8(bh, 4, hex),
                              FM_CK_BLOCK_MAGIC);
        const uint64_t stored_h = fm_ck_get64(bh + 24), computed_h = fm_ck_checksum(bh, 24);
        if (stored_h != computed_h)
            return FM_CORRUPT(r->report, "%s: block %llu at offset %llu: block header checksum mismatch: stored "
                              "0x%016llx, computed 0x%016llx", r->path, (unsigned long long)b,
                              (unsigned long long)at, (unsigned long long)stored_h,
                              (unsigned long long)computed_h);
        const uint64_t n = fm_ck_get32(bh + 4), first = fm_ck_get64(bh + 8);
        const uint64_t remaining = h->entries - r->entries;
        if (n < 1 || n > be)
            return FM_CORRUPT(r->report, "%s: block %llu at offset %llu holds %llu entries; blocks hold 1..%llu",
                              r->path, (unsigned long long)b, (unsigned long long)at, (unsigned long long)n,
                              (unsigned long long)be);
        if (n > remaining)
            return FM_CORRUPT(r->report, "%s: block %llu holds %llu entries, but only %llu of the header's %llu "
                              "remain", r->path, (unsigned long long)b, (unsigned long long)n,
                              (unsigned long long)remaining, (unsigned long long)h->entries);
        if (first != r->entries)
            return FM_CORRUPT(r->report, "%s: block %llu says it starts at entry %llu; %llu entries came before it",
                              r->path, (unsigned long long)b, (unsigned long long)first,
                              (unsigned long long)r->entries);
        if (r->pos + n * (ks + vs) > footer_at)
            return FM_CORRUPT(r->report, "%s: block %llu's %llu entries run into the footer at offset %llu",
                              r->path, (unsigned long long)b, (unsigned long long)n,
                              (unsigned long long)footer_at);
        uint8_t *k = keys + got * ks, *v = vs ? values + got * vs : NULL;
        if ((st = read_exact(r, k, (size_t)(n * ks), "a block's keys")) != FM_OK) return st;
        if (vs && (st = read_exact(r, v, (size_t)(n * vs), "a block's values")) != FM_OK) return st;
        XXH3_state_t *bs = r->block, *cs = r->content;
        XXH3_64bits_reset(bs);
        XXH3_64bits_update(bs, k, (size_t)(n * ks));
        if (vs) XXH3_64bits_update(bs, v, (size_t)(n * vs));
        const uint64_t stored_p = fm_ck_get64(bh + 16), computed_p = (uint64_t)XXH3_64bits_digest(bs);
        if (stored_p != computed_p)
            return FM_CORRUPT(r->report, "%s: block %llu (entries %llu..%llu, at offset %llu): checksum mismatch: "
                              "stored 0x%016llx, computed 0x%016llx", r->path, (unsigned long long)b,
                              (unsigned long long)first, (unsigned long long)(first + n - 1),
                              (unsigned long long)at, (unsigned long long)stored_p,
                              (unsigned long long)computed_p);
        XXH3_64bits_update(cs, k, (size_t)(n * ks));
        if (vs) XXH3_64bits_update(cs, v, (size_t)(n * vs));
        r->blocks++;
        r->entries += n;
        got += n;
    }
    if (got == 0 && r->entries == h->entries) {
        /* The end: every block read; the footer must agree. */
        if (r->blocks != r->footer_blocks)
            return FM_CORRUPT(r->report, "%s: the file has %llu blocks; the footer counts %llu", r->path,
                              (unsigned long long)r->blocks, (unsigned long long)r->footer_blocks);
        if (r->pos != footer_at)
            return FM_CORRUPT(r->report, "%s: %llu unexplained bytes between the last block and the footer",
                              r->path, (unsigned long long)(footer_at - r->pos));
        const uint64_t digest = (uint64_t)XXH3_64bits_digest((XXH3_state_t *)r->content);
        if (digest != r->footer_digest)
            return FM_CORRUPT(r->report, "%s: content digest mismatch: footer 0x%016llx, computed 0x%016llx",
                              r->path, (unsigned long long)r->footer_digest, (unsigned long long)digest);
    }
    *n_out = got;
    return FM_OK;
}

fm_status fm_ck_read_manifest(fm_ck_reader *r, fm_ck_part **parts_out)
{
    *parts_out = NULL;
    const uint64_t P = r->h.part_count, body = P * FM_CK_PART_RECORD_SIZE;
    const uint64_t expected = FM_CK_HEADER_SIZE + body + 8;
    if (r->file_size != expected)
        return FM_CORRUPT(r->report, "%s: a manifest of %llu parts has %llu bytes; the file has %llu (%s)", r->path,
                          (unsigned long long)P, (unsigned long long)expected, (unsigned long long)r->file_size,
                          r->file_size < expected ? "truncated" : "bytes appended");
    uint8_t *buf = fm_alloc((size_t)body + 8);
    fm_ck_part *parts = fm_calloc((size_t)P, sizeof *parts);
    fm_status st = FM_OK;
    if (!buf || !parts) {
        st = fm_fail(r->report, FM_ERR_NOMEM, "no memory for a manifest of %llu parts", (unsigned long long)P);
        goto done;
    }
    if ((st = read_exact(r, buf, (size_t)body + 8, "the part records")) != FM_OK) goto done;
    const uint64_t stored = fm_ck_get64(buf + body), computed = fm_ck_checksum(buf, (size_t)body);
    if (stored != computed) {
        st = FM_CORRUPT(r->report, "%s: manifest checksum mismatch: stored 0x%016llx, computed 0x%016llx", r->path,
                        (unsigned long long)stored, (unsigned long long)computed);
        goto done;
    }
    uint64_t total = 0;
    for (uint64_t p = 0; p < P; p++) {
        const uint8_t *q = buf + p * FM_CK_PART_RECORD_SIZE;
        parts[p].entries = fm_ck_get64(q);
        parts[p].digest = fm_ck_get64(q + 8);
        parts[p].file_size = fm_ck_get64(q + 16);
        if (fm_ck_get64(q + 24) != 0 || parts[p].entries > UINT64_MAX - total) {
            st = FM_CORRUPT(r->report, "%s: the record of part %llu is invalid", r->path, (unsigned long long)p);
            goto done;
        }
        total += parts[p].entries;
    }
    if (total != r->h.entries) {
        st = FM_CORRUPT(r->report, "%s: the part records add up to %llu entries; the manifest header says %llu",
                        r->path, (unsigned long long)total, (unsigned long long)r->h.entries);
        goto done;
    }
    *parts_out = parts;
    parts = NULL;
done:
    free(buf);
    free(parts);
    return st;
}

fm_status fm_ck_check_part(const fm_ck_reader *r, const fm_ck_header *m, uint32_t index, const fm_ck_part *rec)
{
    const fm_ck_header *h = &r->h;
    if (h->kind != FM_CK_KIND_PART || h->part_index != index || h->part_count != m->part_count)
        return FM_CORRUPT(r->report, "%s: expected part %u of %u, found a file of kind %u, part %u of %u", r->path,
                          index, m->part_count, h->kind, h->part_index, h->part_count);
    if (h->checkpoint_id != m->checkpoint_id)
        return FM_CORRUPT(r->report, "%s: belongs to checkpoint 0x%016llx, the manifest to 0x%016llx (parts of two "
                          "saves are mixed)", r->path, (unsigned long long)h->checkpoint_id,
                          (unsigned long long)m->checkpoint_id);
    if (h->key_size != m->key_size || h->value_size != m->value_size || h->hash != m->hash ||
        h->flags != m->flags || h->shards != m->shards || h->capacity != m->capacity || h->max_load != m->max_load)
        return FM_CORRUPT(r->report, "%s: its settings (key_size, value_size, hash, capacity, ...) differ from the "
                          "manifest's", r->path);
    if (h->entries != rec->entries || r->file_size != rec->file_size || r->footer_digest != rec->digest)
        return FM_CORRUPT(r->report, "%s: holds %llu entries in %llu bytes (digest 0x%016llx); the manifest says "
                          "%llu entries in %llu bytes (digest 0x%016llx)", r->path, (unsigned long long)h->entries,
                          (unsigned long long)r->file_size, (unsigned long long)r->footer_digest,
                          (unsigned long long)rec->entries, (unsigned long long)rec->file_size,
                          (unsigned long long)rec->digest);
    return FM_OK;
}

/* ---- loading --------------------------------------------------------------- */

fm_status fm_ck_config(const fm_ck_header *h, const fm_config *ov, const char *func, fm_config *out)
{
    fm_config c = fm_config_default(h->key_size, h->value_size, h->capacity);
    c.max_load = h->max_load;
    c.hash = (fm_hash)h->hash;
    c.flags = h->flags;
    c.shards = (int)h->shards;
    if (ov) {
        const fm_status st = fm_config_check_version(ov, "overrides", 1);
        if (st != FM_OK) return st;
        if (ov->key_size && ov->key_size != h->key_size)
            return fm_fail(NULL, FM_ERR_INVALID, "%s: overrides->key_size is %u but the checkpoint's key_size is %u "
                           "(key_size, value_size and hash cannot change on load)", func, ov->key_size, h->key_size);
        if (ov->value_size && ov->value_size != h->value_size)
            return fm_fail(NULL, FM_ERR_INVALID, "%s: overrides->value_size is %u but the checkpoint's value_size is "
                           "%u (key_size, value_size and hash cannot change on load)", func, ov->value_size,
                           h->value_size);
        if (ov->hash != FM_HASH_DEFAULT && (uint32_t)ov->hash != h->hash)
            return fm_fail(NULL, FM_ERR_INVALID, "%s: overrides->hash is %d but the checkpoint's hash is %u (a map "
                           "cannot change its hash on load)", func, (int)ov->hash, h->hash);
        if (ov->flags && ov->flags != h->flags)
            return fm_fail(NULL, FM_ERR_INVALID, "%s: overrides->flags is 0x%x but the checkpoint's flags are 0x%x "
                           "(flags cannot change on load)", func, ov->flags, h->flags);
        c.backend = ov->backend;
        c.device = ov->device;
        c.devices = ov->devices;
        c.threads = ov->threads;
        c.exchange_bytes = ov->exchange_bytes;
        if (ov->shards) c.shards = ov->shards;
        if (ov->capacity) c.capacity = ov->capacity;
        if (ov->max_load != 0.0) c.max_load = ov->max_load;
    }
    /* A growing map is sized for what it will hold at once, not grown
     * step by step while loading. */
    if (!(c.flags & FM_FIXED_CAPACITY) && c.capacity < h->entries) c.capacity = h->entries;
    *out = c;
    return FM_OK;
}

/* The most entries one block of this file can hold: block_entries, or
 * fewer when the whole file has fewer (so a small file never makes a
 * reader allocate a large block). */
static uint64_t block_room(const fm_ck_header *h)
{
    const uint64_t entries = h->entries ? h->entries : 1;
    return h->block_entries < entries ? h->block_entries : entries;
}

uint64_t fm_ck_batch_entries(const fm_ck_header *h)
{
    const uint64_t rec = (uint64_t)h->key_size + h->value_size, room = block_room(h);
    uint64_t k = ((uint64_t)8 << 20) / (room * rec);
    if (k < 1) k = 1;
    return k * room;
}

/* Reads every entry of an open data or part file into map. */
static fm_status load_file(fm_map *map, fm_ck_reader *r)
{
    const uint64_t batch = fm_ck_batch_entries(&r->h), ks = r->h.key_size, vs = r->h.value_size;
    uint8_t *keys = fm_alloc((size_t)(batch * ks)), *values = vs ? fm_alloc((size_t)(batch * vs)) : NULL;
    fm_status st = FM_OK;
    if (!keys || (vs && !values)) {
        st = fm_fail(NULL, FM_ERR_NOMEM, "fm_load: no memory for a read batch of %llu entries",
                     (unsigned long long)batch);
        goto done;
    }
    for (;;) {
        const uint64_t first = r->entries;
        uint64_t n = 0;
        if ((st = fm_ck_reader_next(r, keys, values, batch, &n)) != FM_OK || n == 0) break;
        if ((st = fm_bulk_insert(map, keys, values, (size_t)n)) != FM_OK) {
            char why[FM_ERROR_LEN];
            memcpy(why, map->error, sizeof why);
            fm_fail(NULL, st, "fm_load: %s: cannot insert entries %llu..%llu: %s", r->path,
                    (unsigned long long)first, (unsigned long long)(first + n - 1), why);
            break;
        }
    }
done:
    fm_free(keys);
    fm_free(values);
    return st;
}

fm_status fm_checkpoint_load(const char *path, const fm_config *overrides, fm_map **map_out)
{
    fm_ck_reader r;
    fm_ck_part *parts = NULL;
    fm_map *map = NULL;
    fm_status st = fm_ck_reader_open(&r, NULL, path);
    if (st != FM_OK) goto done;
    const fm_ck_header h = r.h;
    if (h.kind == FM_CK_KIND_PART) {
        st = fm_fail(NULL, FM_ERR_INVALID, "fm_load: %s is part %u of %u of an MPI checkpoint; load its manifest (the "
                     "path given to fm_save) instead", path, h.part_index, h.part_count);
        goto done;
    }
    if (h.kind == FM_CK_KIND_MANIFEST) {
        if ((st = fm_ck_read_manifest(&r, &parts)) != FM_OK) goto done;
        fm_ck_reader_close(&r);
    }
    fm_config cfg;
    if ((st = fm_ck_config(&h, overrides, "fm_load", &cfg)) != FM_OK) goto done;
    if ((st = fm_create(&cfg, &map)) != FM_OK) {
        char why[FM_ERROR_LEN];
        memcpy(why, fm_last_error(NULL), sizeof why);
        fm_fail(NULL, st, "fm_load: cannot create a map for %s: %s", path, why);
        goto done;
    }
    if (h.kind == FM_CK_KIND_DATA) {
        st = load_file(map, &r);
    } else {
        for (uint32_t p = 0; p < h.part_count && st == FM_OK; p++) {
            char *part = fm_ck_part_path(path, p, h.part_count);
            if (!part) {
                st = fm_fail(NULL, FM_ERR_NOMEM, "fm_load: no memory for a file name");
                break;
            }
            st = fm_ck_reader_open(&r, NULL, part);
            if (st == FM_OK) st = fm_ck_check_part(&r, &h, p, &parts[p]);
            if (st == FM_OK) st = load_file(map, &r);
            fm_ck_reader_close(&r);
            free(part);
        }
    }
    if (st == FM_OK && fm_size(map) != h.entries)
        st = FM_CORRUPT(NULL, "%s: the checkpoint lists %llu entries but only %llu distinct keys (duplicate keys)",
                        path, (unsigned long long)h.entries, (unsigned long long)fm_size(map));
done:
    fm_ck_reader_close(&r);
    free(parts);
    if (st != FM_OK) {
        fm_destroy(map);
        return st;
    }
    *map_out = map;
    return FM_OK;
}

/* ---- saving ---------------------------------------------------------------- */

fm_status fm_checkpoint_save(fm_map *map, const char *path)
{
    if (map->ops->collective) {
#ifdef FLASHMAP_HAVE_MPI
        return fm_checkpoint_save_mpi(map, path);
#else
        return fm_fail(map, FM_ERR_UNSUPPORTED, "fm_save: collective maps need the MPI build");
#endif
    }
    fm_ck_header h;
    fm_ck_header_for(&h, map, FM_CK_KIND_DATA);
    fm_ck_writer w;
    fm_status st = fm_ck_writer_open(&w, map, path, &h);
    if (st == FM_OK) st = fm_ck_writer_put_map(&w, map);
    if (st == FM_OK) st = fm_ck_writer_finish(&w);
    if (st == FM_OK) st = fm_ck_writer_commit(&w);
    fm_ck_writer_abort(&w); /* after a commit: only frees */
    return st;
}
