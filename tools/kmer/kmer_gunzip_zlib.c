/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Streaming gzip decompression with zlib, the fallback when ISA-L is not
 * installed (see kmer_gunzip.h). */
#include "kmer_gunzip.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#define IN_CAP ((size_t)1 << 20)

struct km_gunzip {
    int fd;
    const char *path;
    uint8_t *in;
    int file_eof;
    int finished;
    uint64_t consumed;
    uint64_t member_start;
    z_stream zs;
};

const char *km_gunzip_library(void) { return "zlib " ZLIB_VERSION; }

uint64_t km_gunzip_consumed(const km_gunzip *z) { return z->consumed; }

static int refill(km_gunzip *z, km_err *err)
{
    memmove(z->in, z->zs.next_in, z->zs.avail_in);
    z->zs.next_in = z->in;
    size_t have = z->zs.avail_in;
    while (have < IN_CAP && !z->file_eof) {
        const ssize_t got = read(z->fd, z->in + have, IN_CAP - have);
        if (got < 0) {
            if (errno == EINTR) continue;
            return km_fail(err, "%s: read failed: %s", z->path, strerror(errno));
        }
        if (got == 0) z->file_eof = 1;
        have += (size_t)got;
        z->consumed += (uint64_t)got;
    }
    z->zs.avail_in = (uInt)have;
    return 0;
}

km_gunzip *km_gunzip_open(int fd, const char *path, km_err *err)
{
    km_gunzip *z = calloc(1, sizeof *z);
    uint8_t *in = malloc(IN_CAP);
    if (!z || !in || inflateInit2(&z->zs, 16 + MAX_WBITS) != Z_OK) {
        free(z);
        free(in);
        km_fail(err, "%s: no memory for decompression", path);
        return NULL;
    }
    z->fd = fd;
    z->path = path;
    z->in = in;
    z->zs.next_in = in;
    z->zs.avail_in = 0;
    return z;
}

ptrdiff_t km_gunzip_read(km_gunzip *z, uint8_t *out, size_t cap, km_err *err)
{
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    z->zs.next_out = out;
    z->zs.avail_out = (uInt)cap;
    while (z->zs.avail_out > 0 && !z->finished) {
        if (z->zs.avail_in == 0 && !z->file_eof) {
            if (refill(z, err) != 0) return -1;
            continue;
        }
        const int rc = inflate(&z->zs, Z_NO_FLUSH);
        if (rc == Z_BUF_ERROR && z->zs.avail_in == 0 && z->file_eof)
            return km_fail(err, "%s: the gzip stream is cut short (the member starting at byte %llu has no end)",
                           z->path, (unsigned long long)z->member_start);
        if (rc == Z_STREAM_END) {
            if (z->zs.avail_in < 2 && !z->file_eof && refill(z, err) != 0) return -1;
            if (z->zs.avail_in == 0) {
                z->finished = 1;
                break;
            }
            const uint64_t offset = z->consumed - z->zs.avail_in;
            if (z->zs.avail_in < 2 || z->zs.next_in[0] != 0x1f || z->zs.next_in[1] != 0x8b)
                return km_fail(err, "%s: data that are not gzip after the end of the compressed stream (at byte %llu)",
                               z->path, (unsigned long long)offset);
            inflateReset(&z->zs);
            z->member_start = offset;
        } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
            return km_fail(err, "%s: not valid gzip data: %s (member starting at byte %llu)", z->path,
                           z->zs.msg ? z->zs.msg : "inflate failed", (unsigned long long)z->member_start);
        }
    }
    return (ptrdiff_t)(cap - z->zs.avail_out);
}

void km_gunzip_close(km_gunzip *z)
{
    if (!z) return;
    inflateEnd(&z->zs);
    free(z->in);
    free(z);
}
