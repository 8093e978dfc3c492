/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The database's files on disk (see kmer_dbpath.h). */
#include "kmer_dbpath.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kmer_counter.h"

/* This rank's verdict on db (0 or km_fail's -1 with the reason). */
static int check_here(const km_ctx *ctx, const char *db, km_err *err)
{
    struct stat st;
    if (stat(db, &st) == 0 && S_ISDIR(st.st_mode))
        return km_fail(err, "cannot write the database %s: it is a directory (-o names the database file)", db);
    char probe[4200];
    snprintf(probe, sizeof probe, "%s.probe-rank%d.%ld", db, ctx->rank, (long)getpid());
    const int fd = open(probe, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0)
        return km_fail(err, "cannot write the database %s: cannot create files there: %s", db, strerror(errno));
    close(fd);
    unlink(probe);
    return 0;
}

int km_dbpath_check_writable(const km_ctx *ctx, const char *db)
{
    km_err err = {""};
    const int failed = check_here(ctx, db, &err) != 0;
    return km_any_failed(ctx, failed, &err);
}

/* 1 when name is base.rank<r>-of-<P> with P != ranks (ranks 0: any P). */
static int stale_part(const char *name, const char *base, int ranks)
{
    const size_t n = strlen(base);
    if (strncmp(name, base, n) != 0) return 0;
    int r = 0, p = 0, used = 0;
    if (sscanf(name + n, ".rank%d-of-%d%n", &r, &p, &used) != 2 || name[n + (size_t)used] != '\0') return 0;
    return p != ranks && r >= 0 && r < p;
}

int km_dbpath_remove_stale_parts(const km_ctx *ctx, const char *db, km_err *err)
{
    if (ctx->rank != 0) return 0;
    char dir_copy[4096], base_copy[4096];
    snprintf(dir_copy, sizeof dir_copy, "%s", db);
    snprintf(base_copy, sizeof base_copy, "%s", db);
    const char *dir = dirname(dir_copy), *base = basename(base_copy);
    DIR *d = opendir(dir);
    if (!d) return km_fail(err, "%s: cannot list %s for older parts: %s", db, dir, strerror(errno));
    int rc = 0;
    for (struct dirent *e = readdir(d); e; e = readdir(d)) {
        /* A count alone writes one file and no parts. */
        if (!stale_part(e->d_name, base, ctx->mpi ? ctx->size : 0)) continue;
        char path[8200];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) != 0 && errno != ENOENT && rc == 0)
            rc = km_fail(err, "%s: cannot remove %s, a part of an older save: %s", db, path, strerror(errno));
    }
    closedir(d);
    return rc;
}
