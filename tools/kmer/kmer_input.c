/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Reading one input file (see kmer_input.h). */
#include "kmer_input.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int open_regular(const char *path, uint64_t *size, km_err *err)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return km_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0) {
        km_fail(err, "%s: cannot stat: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    if (!S_ISREG(sb.st_mode)) {
        km_fail(err, "%s: not a regular file (counting needs a file it can split and size)", path);
        close(fd);
        return -1;
    }
    *size = (uint64_t)sb.st_size;
    return fd;
}

/* Reads up to n bytes at offset into buf; the count read, -1 on error. */
static ptrdiff_t read_at(int fd, uint8_t *buf, size_t n, uint64_t offset)
{
    size_t have = 0;
    while (have < n) {
        const ssize_t got = pread(fd, buf + have, n - have, (off_t)(offset + have));
        if (got < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        if (got == 0) break;
        have += (size_t)got;
    }
    return (ptrdiff_t)have;
}

int km_input_probe(const char *path, int *gzip, uint64_t *size, km_err *err)
{
    const int fd = open_regular(path, size, err);
    if (fd < 0) return -1;
    uint8_t magic[2] = {0, 0};
    const ptrdiff_t got = read_at(fd, magic, 2, 0);
    const int saved = errno;
    close(fd);
    if (got < 0) return km_fail(err, "%s: read failed: %s", path, strerror(saved));
    *gzip = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    return 0;
}

int km_input_open(km_input *in, const char *path, uint64_t start, km_err *err)
{
    memset(in, 0, sizeof *in);
    in->path = path;
    uint64_t size = 0;
    in->fd = open_regular(path, &size, err);
    if (in->fd < 0) return -1;
    uint8_t magic[2] = {0, 0};
    in->gzip = read_at(in->fd, magic, 2, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    if (in->gzip) {
        in->z = km_gunzip_open(in->fd, path, err);
        if (!in->z) {
            close(in->fd);
            in->fd = -1;
            return -1;
        }
    } else {
        in->pos = start;
        posix_fadvise(in->fd, (off_t)start, 0, POSIX_FADV_SEQUENTIAL);
    }
    return 0;
}

ptrdiff_t km_input_read(km_input *in, uint8_t *buf, size_t cap, km_err *err)
{
    ptrdiff_t got;
    if (in->gzip) {
        got = km_gunzip_read(in->z, buf, cap, err);
        if (got < 0) return -1;
        in->consumed = km_gunzip_consumed(in->z);
    } else {
        got = read_at(in->fd, buf, cap, in->pos);
        if (got < 0) return km_fail(err, "%s: read failed at byte %llu: %s", in->path,
                                    (unsigned long long)in->pos, strerror(errno));
        in->consumed += (uint64_t)got;
    }
    in->pos += (uint64_t)got;
    return got;
}

void km_input_close(km_input *in)
{
    km_gunzip_close(in->z);
    in->z = NULL;
    if (in->fd >= 0) close(in->fd);
    in->fd = -1;
}

uint64_t km_input_lines_before(const char *path, uint64_t offset)
{
    uint64_t size = 0, lines = 0;
    const int fd = open_regular(path, &size, NULL);
    if (fd < 0) return 0;
    uint8_t buf[1 << 16];
    for (uint64_t at = 0; at < offset;) {
        const size_t want = offset - at < sizeof buf ? (size_t)(offset - at) : sizeof buf;
        const ptrdiff_t got = read_at(fd, buf, want, at);
        if (got <= 0) break;
        for (ptrdiff_t i = 0; i < got; i++) lines += buf[i] == '\n';
        at += (uint64_t)got;
    }
    close(fd);
    return lines;
}
