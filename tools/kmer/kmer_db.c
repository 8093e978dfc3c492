/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The database: checkpoint header, sidecar, loading, iteration (see kmer_db.h). */
#include "kmer_db.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmer_code.h"
#include "kmer_comm.h"
#include "kmer_dbpath.h"

#define SIDECAR_MAGIC "flashmap-kmer database 1"
#define EXPORT_CHUNK ((size_t)1 << 20)

int km_db_sidecar_path(const char *db, char *buf, size_t n)
{
    const int len = snprintf(buf, n, "%s.kmer", db);
    return len < 0 || (size_t)len >= n ? -1 : 0;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

int km_db_read_header(const char *db, uint32_t key_size, uint64_t *checkpoint_id, uint64_t *entries, km_err *err)
{
    /* Offsets from docs/checkpoint-format.md (version 1 header). */
    uint8_t h[128];
    FILE *f = fopen(db, "rb");
    if (!f) return km_fail(err, "%s: cannot open the database: %s", db, strerror(errno));
    const size_t got = fread(h, 1, sizeof h, f);
    fclose(f);
    if (got != sizeof h || memcmp(h, "FLASHMAP", 8) != 0)
        return km_fail(err, "%s: not a flashmap-kmer database (no flashmap checkpoint header)", db);
    const uint32_t ks = le32(h + 20), vs = le32(h + 24);
    if (vs != 8 || (key_size && ks != key_size))
        return km_fail(err, "%s: the checkpoint holds %u-byte keys and %u-byte values, not the %u-byte k-mers and "
                            "8-byte counts its .kmer file describes",
                       db, ks, vs, key_size);
    *entries = le64(h + 56);
    *checkpoint_id = le64(h + 80);
    return 0;
}

/* Writes all of buf to fd. */
static int write_all(int fd, const char *buf, size_t n)
{
    while (n > 0) {
        const ssize_t w = write(fd, buf, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return -1;
        buf += w;
        n -= (size_t)w;
    }
    return 0;
}

/* fsync of the directory that holds path, so that a rename survives a crash. */
static void sync_dir(const char *path)
{
    char copy[4096];
    snprintf(copy, sizeof copy, "%s", path);
    const int fd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        fsync(fd);
        close(fd);
    }
}

int km_db_write_sidecar(const char *db, const km_dbinfo *info, km_err *err)
{
    char path[4096], tmp[4200], text[512];
    if (km_db_sidecar_path(db, path, sizeof path) != 0) return km_fail(err, "%s: database name too long", db);
    snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    const int len = snprintf(text, sizeof text,
                             "%s\nk %d\ncanonical %d\nkey_size %u\ncheckpoint_id %016" PRIx64
                             "\nlower_count %" PRIu64 "\nupper_count %" PRIu64 "\n",
                             SIDECAR_MAGIC, info->k, info->canonical, km_key_size(info->k), info->checkpoint_id,
                             info->lower_count, info->upper_count);
    const int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return km_fail(err, "%s: cannot create: %s", tmp, strerror(errno));
    if (write_all(fd, text, (size_t)len) != 0 || fsync(fd) != 0) {
        km_fail(err, "%s: cannot write: %s", tmp, strerror(errno));
        close(fd);
        unlink(tmp);
        return -1;
    }
    if (close(fd) != 0 || rename(tmp, path) != 0) {
        km_fail(err, "%s: cannot write: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    sync_dir(path);
    return 0;
}

/* Removes the checkpoint just written (its sidecar could not be). */
static void remove_checkpoint(const km_ctx *ctx, const char *db)
{
    char part[4200];
    snprintf(part, sizeof part, "%s.rank%d-of-%d", db, ctx->rank, ctx->size);
    unlink(part);
    if (ctx->rank == 0) unlink(db);
}

int km_db_save(const km_ctx *ctx, fm_map *map, const char *db, const km_dbinfo *info)
{
    const fm_status st = fm_save(map, db);
    if (st != FM_OK) {
        if (ctx->rank == 0) km_report("cannot write the database %s: %s", db, km_user_error(fm_last_error(map)));
        return 1;
    }
    km_err err = {""};
    int failed = 0;
    if (ctx->rank == 0) {
        km_dbinfo saved = *info;
        failed = km_db_read_header(db, km_key_size(info->k), &saved.checkpoint_id, &saved.entries, &err) != 0 ||
                 km_db_write_sidecar(db, &saved, &err) != 0;
    }
    failed = km_bcast_int(ctx, failed);
    if (failed) {
        if (ctx->rank == 0) km_report("%s", err.msg);
        km_barrier(ctx);
        remove_checkpoint(ctx, db);
        return 1;
    }
    /* The save is complete: parts of an older one (another rank count)
     * would only mislead. Failing to remove them fails the count. */
    failed = km_dbpath_remove_stale_parts(ctx, db, &err) != 0;
    if (failed) km_report("%s", err.msg);
    return km_bcast_int(ctx, failed);
}

int km_db_read_info(const char *db, km_dbinfo *info, km_err *err)
{
    char path[4096], line[256];
    memset(info, 0, sizeof *info);
    info->lower_count = 1;
    info->upper_count = UINT64_MAX;
    if (km_db_sidecar_path(db, path, sizeof path) != 0) return km_fail(err, "%s: database name too long", db);
    FILE *f = fopen(path, "r");
    if (!f)
        return km_fail(err, "%s: cannot open %s (the k-mer length and canonical flag of the database): %s", db,
                       path, strerror(errno));
    int have_magic = 0, have_k = 0, have_c = 0, have_id = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = '\0';
        unsigned long long v = 0;
        if (strcmp(line, SIDECAR_MAGIC) == 0) have_magic = 1;
        else if (sscanf(line, "k %llu", &v) == 1) info->k = (int)v, have_k = v >= 1 && v <= KM_MAX_K;
        else if (sscanf(line, "canonical %llu", &v) == 1) info->canonical = (int)v, have_c = v <= 1;
        else if (sscanf(line, "checkpoint_id %llx", &v) == 1) info->checkpoint_id = v, have_id = 1;
        else if (sscanf(line, "lower_count %llu", &v) == 1) info->lower_count = v;
        else if (sscanf(line, "upper_count %llu", &v) == 1) info->upper_count = v;
    }
    fclose(f);
    if (!have_magic || !have_k || !have_c || !have_id)
        return km_fail(err, "%s: not a flashmap-kmer database description (needs '%s', k 1..64, canonical 0/1, "
                            "checkpoint_id)",
                       path, SIDECAR_MAGIC);
    uint64_t id = 0;
    if (km_db_read_header(db, km_key_size(info->k), &id, &info->entries, err) != 0) return -1;
    if (id != info->checkpoint_id)
        return km_fail(err, "%s: %s belongs to another save of the database (checkpoint id %016" PRIx64
                            ", the database has %016" PRIx64 ")",
                       db, path, info->checkpoint_id, id);
    return 0;
}

int km_db_open(const char *db, int mpi, km_db *out, km_err *err)
{
    memset(out, 0, sizeof *out);
    out->mpi = mpi;
    int rc = km_db_read_info(db, &out->info, err);
    fm_config ov = fm_config_default(0, 0, 0);
    /* Room for exactly the saved entries, whatever -s the count had. */
    ov.capacity = out->info.entries ? out->info.entries : 1;
    if (mpi) {
        int any = 0, mine = rc != 0;
        MPI_Allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (any) {
            if (!mine) km_fail(err, "%s: the database could not be read on another rank", db);
            return -1;
        }
        const fm_status st = fm_load_mpi(MPI_COMM_WORLD, db, &ov, &out->map);
        if (st != FM_OK) return km_fail(err, "%s: cannot load the database: %s", db, km_user_error(fm_last_error(NULL)));
        return 0;
    }
    if (rc != 0) return -1;
    const fm_status st = fm_load(db, &ov, &out->map);
    if (st != FM_OK) return km_fail(err, "%s: cannot load the database: %s", db, km_user_error(fm_last_error(NULL)));
    return 0;
}

int km_db_foreach(km_db *db, km_db_fn fn, void *ctx, km_err *err)
{
    const size_t ks = km_key_size(db->info.k);
    void *keys = malloc(EXPORT_CHUNK * ks);
    uint64_t *counts = malloc(EXPORT_CHUNK * sizeof *counts);
    int rc = 0;
    if (!keys || !counts) rc = km_fail(err, "no memory to read the database");
    uint64_t cursor = 0;
    while (rc == 0) {
        size_t n = 0;
        const fm_status st = fm_export(db->map, &cursor, keys, counts, EXPORT_CHUNK, &n);
        if (st != FM_OK) {
            rc = km_fail(err, "cannot read the database's entries: %s", km_user_error(fm_last_error(db->map)));
            break;
        }
        if (n && fn(keys, counts, n, ctx) != 0) break;
        if (cursor == 0) break;
    }
    free(keys);
    free(counts);
    return rc;
}

void km_db_close(km_db *db)
{
    fm_destroy(db->map);
    db->map = NULL;
}
