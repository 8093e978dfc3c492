/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* A scratch file for fuzz targets that must hand the code under test a
 * path: one private directory per process (mkdtemp under $TMPDIR or /tmp),
 * removed with its file at exit. */
#ifndef FLASHMAP_FUZZ_SCRATCH_H
#define FLASHMAP_FUZZ_SCRATCH_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char fz_dir[64], fz_path[96];

static void fz_remove_scratch(void)
{
    unlink(fz_path);
    rmdir(fz_dir);
}

/* The path of the scratch file `name` in this process's directory. */
static const char *fz_scratch_path(const char *name)
{
    if (!fz_path[0]) {
        const char *tmp = getenv("TMPDIR");
        snprintf(fz_dir, sizeof fz_dir, "%s/fm-fuzz-XXXXXX", tmp && strlen(tmp) < 40 ? tmp : "/tmp");
        if (!mkdtemp(fz_dir)) {
            perror("fuzz: mkdtemp");
            abort();
        }
        snprintf(fz_path, sizeof fz_path, "%s/%s", fz_dir, name);
        atexit(fz_remove_scratch);
    }
    return fz_path;
}

/* Writes len bytes to the scratch file `name`; returns its path. */
static const char *fz_write_scratch(const char *name, const uint8_t *bytes, size_t len)
{
    const char *path = fz_scratch_path(name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(bytes, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        abort();
    }
    return path;
}

#endif
