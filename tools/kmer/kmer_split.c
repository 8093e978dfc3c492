/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Splitting the input among ranks (see kmer_split.h). */
#include "kmer_split.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "kmer_input.h"

/* A window of a file, [base, base + len), that resync scans. */
typedef struct window {
    uint8_t *buf;
    size_t len;
    uint64_t base;
    int eof; /* the window reaches the end of the file */
} window;

/* Verdicts of a candidate record start. */
enum { NOT_RECORD = 0, RECORD = 1, NEED_MORE = -1 };

/* Offset (in the window) just after the line starting at q, or len. */
static size_t next_line(const window *w, size_t q)
{
    const uint8_t *nl = memchr(w->buf + q, '\n', w->len - q);
    return nl ? (size_t)(nl - w->buf) + 1 : w->len;
}

/* Is the line at p (starting with '@') the header of a whole FASTQ record:
 * sequence lines (none starting with '@'), a '+' line, quality of the
 * sequence's length, then a blank line, another '@' or the end of file?
 * A quality line that starts with '@' fails this: the line after it is a
 * header, not sequence. */
static int fastq_record_at(const window *w, size_t p)
{
    size_t q = next_line(w, p);
    uint64_t seq = 0, qual = 0;
    for (;;) { /* sequence lines up to the '+' line */
        if (q >= w->len) return w->eof ? NOT_RECORD : NEED_MORE;
        if (w->buf[q] == '+') break;
        if (w->buf[q] == '@') return NOT_RECORD;
        const size_t e = next_line(w, q);
        if (e >= w->len && !w->eof) return NEED_MORE;
        seq += (e - q) - (w->buf[e - 1] == '\n');
        q = e;
    }
    q = next_line(w, q); /* the '+' line */
    while (qual < seq) {
        if (q >= w->len) return w->eof ? NOT_RECORD : NEED_MORE;
        const size_t e = next_line(w, q);
        if (e >= w->len && !w->eof) return NEED_MORE;
        qual += (e - q) - (w->buf[e - 1] == '\n');
        q = e;
    }
    if (qual != seq) return NOT_RECORD;
    while (q < w->len && w->buf[q] == '\n') q++;
    if (q >= w->len) return w->eof ? RECORD : NEED_MORE;
    return w->buf[q] == '@' ? RECORD : NOT_RECORD;
}

/* Scans the window for the first record start at or after `from`. */
static int scan(const window *w, km_format format, uint64_t from, uint64_t *at)
{
    /* Line starts: offsets q >= from whose previous byte is '\n'. */
    size_t q = (size_t)(from - w->base);
    if (q > 0 && w->buf[q - 1] != '\n') q = next_line(w, q);
    while (q < w->len) {
        const int c = w->buf[q];
        if (format == KM_FORMAT_FASTA && c == '>') {
            *at = w->base + q;
            return RECORD;
        }
        if (format == KM_FORMAT_FASTQ && c == '@') {
            const int v = fastq_record_at(w, q);
            if (v == RECORD) *at = w->base + q;
            if (v != NOT_RECORD) return v;
        }
        const size_t e = next_line(w, q);
        if (e >= w->len && !w->eof) return NEED_MORE;
        q = e;
    }
    return w->eof ? NOT_RECORD : NEED_MORE;
}

int km_resync(const char *path, km_format format, uint64_t size, uint64_t from, uint64_t *at, km_err *err)
{
    *at = size;
    if (from >= size) return 0;
    if (from == 0) {
        *at = 0;
        return 0;
    }
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return km_fail(err, "%s: cannot open: %s", path, strerror(errno));
    window w = {NULL, 0, from - 1, 0}; /* one byte before: is `from` a line start? */
    size_t cap = (size_t)1 << 20;
    int rc = 0;
    for (;;) {
        uint8_t *grown = realloc(w.buf, cap);
        if (!grown) {
            rc = km_fail(err, "%s: no memory to find a record start", path);
            break;
        }
        w.buf = grown;
        while (w.len < cap) {
            const ssize_t got = pread(fd, w.buf + w.len, cap - w.len, (off_t)(w.base + w.len));
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) {
                rc = km_fail(err, "%s: read failed: %s", path, strerror(errno));
                break;
            }
            if (got == 0) break;
            w.len += (size_t)got;
        }
        if (rc != 0) break;
        w.eof = w.base + w.len >= size;
        const int v = scan(&w, format, from, at);
        if (v != NEED_MORE) break; /* found, or none until the end: *at = size */
        cap *= 2;                  /* a record longer than the window */
    }
    free(w.buf);
    close(fd);
    return rc;
}

/* Reads the first byte of a plain file: -1 for an empty file. */
static int first_byte(const char *path, int *c, km_err *err)
{
    const int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return km_fail(err, "%s: cannot open: %s", path, strerror(errno));
    uint8_t b = 0;
    ssize_t got;
    do got = pread(fd, &b, 1, 0);
    while (got < 0 && errno == EINTR);
    const int saved = errno;
    close(fd);
    if (got < 0) return km_fail(err, "%s: read failed: %s", path, strerror(saved));
    *c = got == 1 ? b : -1;
    return 0;
}

int km_plan_build(char *const *paths, int nfiles, int reader, int readers, int per_rank, km_plan *plan, km_err *err)
{
    memset(plan, 0, sizeof *plan);
    int *gzip = calloc((size_t)nfiles + 1, sizeof *gzip);
    uint64_t *bytes = calloc((size_t)nfiles + 1, sizeof *bytes);
    int *owner = calloc((size_t)nfiles + 1, sizeof *owner);
    uint64_t *load = calloc((size_t)readers, sizeof *load);
    int *taken = calloc((size_t)readers, sizeof *taken); /* a rank's last gzip file (+ 1) given a stripe of */
    plan->items = calloc((size_t)nfiles + 1, sizeof *plan->items);
    int rc = 0;
    if (!gzip || !bytes || !owner || !load || !taken || !plan->items) {
        rc = km_fail(err, "no memory to plan the input");
        goto done;
    }
    for (int f = 0; f < nfiles; f++) {
        if ((rc = km_input_probe(paths[f], &gzip[f], &bytes[f], err)) != 0) goto done;
        plan->total_bytes += bytes[f];
        if (gzip[f]) plan->gzip_bytes += bytes[f];
    }
    /* gzip files: largest first, each to the `stripes` least loaded
     * readers, on as many ranks (kmer_split.h); owner[f] is this reader's
     * stripe, or -1. */
    int gzip_files = 0;
    for (int f = 0; f < nfiles; f++) gzip_files += gzip[f];
    if (per_rank < 1 || readers % per_rank) per_rank = 1;
    int stripes = gzip_files ? readers / per_rank / gzip_files : 1;
    stripes = stripes < 1 ? 1 : stripes > KM_GZIP_STRIPES ? KM_GZIP_STRIPES : stripes;
    for (;;) {
        int pick = -1;
        for (int f = 0; f < nfiles; f++)
            if (gzip[f] == 1 && (pick < 0 || bytes[f] > bytes[pick])) pick = f;
        if (pick < 0) break;
        owner[pick] = -1;
        for (int s = 0; s < stripes; s++) {
            int least = -1; /* the least loaded reader of a rank without a stripe of this file yet */
            for (int r = 0; r < readers; r++)
                if (taken[r / per_rank] != pick + 1 && (least < 0 || load[r] < load[least])) least = r;
            taken[least / per_rank] = pick + 1;
            load[least] += bytes[pick] / (uint64_t)stripes;
            if (least == reader) owner[pick] = s;
        }
        gzip[pick] = 2; /* assigned */
    }
    for (int f = 0; f < nfiles; f++) {
        km_work *w = &plan->items[plan->n];
        w->path = paths[f];
        if (gzip[f]) {
            if (owner[f] < 0) continue;
            w->gzip = 1;
            w->start = 0;
            w->stop = UINT64_MAX;
            w->bytes = bytes[f] / (uint64_t)stripes;
            w->stripe = (unsigned)owner[f];
            w->stripes = (unsigned)stripes;
            plan->n++;
            continue;
        }
        if (bytes[f] == 0) continue; /* an empty file has no records */
        int c = 0;
        if ((rc = first_byte(paths[f], &c, err)) != 0) goto done;
        w->format = km_format_of(c);
        if (w->format == KM_FORMAT_UNKNOWN) {
            char shown[16];
            if (c >= 0x20 && c < 0x7f) snprintf(shown, sizeof shown, "'%c'", c);
            else snprintf(shown, sizeof shown, "byte 0x%02x", (unsigned)c);
            rc = km_fail(err, "%s: line 1: not a FASTA or FASTQ file: it starts with %s, not '>' or '@'",
                         paths[f], shown);
            goto done;
        }
        const uint64_t n = (uint64_t)readers, a = bytes[f] / n * (uint64_t)reader +
                                                  bytes[f] % n * (uint64_t)reader / n;
        const uint64_t b = reader + 1 == readers ? bytes[f]
                                                 : bytes[f] / n * (uint64_t)(reader + 1) +
                                                       bytes[f] % n * (uint64_t)(reader + 1) / n;
        uint64_t start = 0, next = UINT64_MAX;
        if ((rc = km_resync(paths[f], w->format, bytes[f], a, &start, err)) != 0) goto done;
        if (start >= b) continue; /* no record starts in this reader's range */
        /* The parser stops where the next reader starts, found the same way:
         * a start it resynchronised to wrongly is then caught (kmer_parse.h). */
        if (reader + 1 < readers && (rc = km_resync(paths[f], w->format, bytes[f], b, &next, err)) != 0) goto done;
        w->start = start;
        w->stop = next;
        w->bytes = b - a;
        w->stripes = 1;
        plan->n++;
    }
done:
    free(gzip);
    free(bytes);
    free(owner);
    free(load);
    free(taken);
    if (rc != 0) km_plan_free(plan);
    return rc;
}

void km_plan_free(km_plan *plan)
{
    free(plan->items);
    memset(plan, 0, sizeof *plan);
}
