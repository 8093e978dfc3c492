/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Streaming gzip decompression with ISA-L's igzip (see kmer_gunzip.h).
 *
 * isal_inflate in ISAL_GZIP mode parses one member's header, inflates it
 * and verifies its CRC-32 and length, then stops in ISAL_BLOCK_FINISH. The
 * next member, if any, starts right after; igzip may already hold some of
 * its bytes in its bit buffer, so those are handed back before resetting
 * (the input buffer always keeps the 8 bytes before next_in for that). */
#include "kmer_gunzip.h"

#include <errno.h>
#include <isa-l/igzip_lib.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define IN_CAP ((size_t)1 << 20)
#define KEEP 8 /* bytes kept before next_in: the most igzip's bit buffer holds */

struct km_gunzip {
    int fd;
    const char *path;
    uint8_t *in;
    int file_eof;
    int finished;
    uint64_t consumed; /* bytes read from the file */
    uint64_t member_start; /* file offset of the current member, for messages */
    struct inflate_state st;
};

const char *km_gunzip_library(void) { return "ISA-L igzip"; }

uint64_t km_gunzip_consumed(const km_gunzip *z) { return z->consumed; }

/* Moves what is left (and KEEP bytes before it) to the front and reads more. */
static int refill(km_gunzip *z, km_err *err)
{
    const size_t used = (size_t)(z->st.next_in - z->in);
    const size_t before = used < KEEP ? used : KEEP;
    memmove(z->in, z->st.next_in - before, before + z->st.avail_in);
    z->st.next_in = z->in + before;
    size_t have = before + z->st.avail_in;
    while (have < IN_CAP && !z->file_eof) {
        const ssize_t got = read(z->fd, z->in + have, IN_CAP - have);
        if (got < 0) {
            if (errno == EINTR) continue;
            return km_fail(err, "%s: read failed: %s", z->path, strerror(errno));
        }
        if (got == 0) z->file_eof = 1;
        have += (size_t)got;
        z->consumed += (uint64_t)got;
        z->st.avail_in += (uint32_t)got;
    }
    return 0;
}

km_gunzip *km_gunzip_open(int fd, const char *path, km_err *err)
{
    km_gunzip *z = calloc(1, sizeof *z);
    uint8_t *in = malloc(IN_CAP);
    if (!z || !in) {
        free(z);
        free(in);
        km_fail(err, "%s: no memory for decompression", path);
        return NULL;
    }
    z->fd = fd;
    z->path = path;
    z->in = in;
    isal_inflate_init(&z->st);
    z->st.crc_flag = ISAL_GZIP;
    z->st.next_in = in;
    z->st.avail_in = 0;
    return z;
}

static const char *isal_reason(int rc)
{
    switch (rc) {
    case ISAL_INVALID_BLOCK: return "invalid deflate block";
    case ISAL_INVALID_SYMBOL: return "invalid deflate symbol";
    case ISAL_INVALID_LOOKBACK: return "invalid back-reference distance";
    case ISAL_INVALID_WRAPPER: return "invalid gzip header";
    case ISAL_UNSUPPORTED_METHOD: return "compression method is not deflate";
    case ISAL_INCORRECT_CHECKSUM: return "CRC-32 or length check failed (corrupt data)";
    case ISAL_NEED_DICT: return "a preset dictionary is required";
    default: return "decompression failed";
    }
}

/* At the end of a member: start the next one, or finish. */
static int next_member(km_gunzip *z, km_err *err)
{
    const unsigned back = (unsigned)z->st.read_in_length / 8u;
    uint8_t *next = z->st.next_in - back;
    uint32_t avail = z->st.avail_in + back;
    z->st.next_in = next;
    z->st.avail_in = avail;
    z->st.read_in = 0;
    z->st.read_in_length = 0;
    if (z->st.avail_in < 2 && !z->file_eof && refill(z, err) != 0) return -1;
    if (z->st.avail_in == 0) {
        z->finished = 1;
        return 0;
    }
    const uint64_t offset = z->consumed - z->st.avail_in;
    if (z->st.avail_in < 2 || z->st.next_in[0] != 0x1f || z->st.next_in[1] != 0x8b)
        return km_fail(err, "%s: %llu bytes of data that are not gzip after the end of the compressed stream "
                            "(at byte %llu)",
                       z->path, (unsigned long long)(z->consumed - offset), (unsigned long long)offset);
    next = z->st.next_in;
    avail = z->st.avail_in;
    isal_inflate_reset(&z->st);
    z->st.crc_flag = ISAL_GZIP;
    z->st.next_in = next;
    z->st.avail_in = avail;
    z->member_start = offset;
    return 0;
}

ptrdiff_t km_gunzip_read(km_gunzip *z, uint8_t *out, size_t cap, km_err *err)
{
    if (cap > UINT32_MAX) cap = UINT32_MAX;
    z->st.next_out = out;
    z->st.avail_out = (uint32_t)cap;
    while (z->st.avail_out > 0 && !z->finished) {
        if (z->st.block_state == ISAL_BLOCK_FINISH) {
            if (next_member(z, err) != 0) return -1;
            continue;
        }
        if (z->st.avail_in == 0 && !z->file_eof) {
            if (refill(z, err) != 0) return -1;
            continue;
        }
        /* With the file read, igzip may still hold bits and output; only a
         * call that changes nothing means the stream is cut short. */
        const uint32_t out_before = z->st.avail_out;
        const int state_before = (int)z->st.block_state;
        const int rc = isal_inflate(&z->st);
        if (rc < 0)
            return km_fail(err, "%s: not valid gzip data: %s (member starting at byte %llu)", z->path,
                           isal_reason(rc), (unsigned long long)z->member_start);
        if (z->st.avail_in == 0 && z->file_eof && z->st.avail_out == out_before &&
            (int)z->st.block_state == state_before && z->st.block_state != ISAL_BLOCK_FINISH)
            return km_fail(err, "%s: the gzip stream is cut short (the member starting at byte %llu has no end)",
                           z->path, (unsigned long long)z->member_start);
    }
    return (ptrdiff_t)(cap - z->st.avail_out);
}

void km_gunzip_close(km_gunzip *z)
{
    if (!z) return;
    free(z->in);
    free(z);
}
