/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * libFuzzer target: the FASTA/FASTQ reader of flashmap-kmer (tools/kmer).
 *
 * Input: three control bytes (k 1..64 and canonical or not; the read size;
 * where to cut the file in two), then the file. The file is written to a
 * scratch directory and read as the tool reads it: km_input (plain or
 * gzip, by the magic bytes), in reads of the chosen size, through
 * km_parser_feed / km_parser_finish.
 *
 * Checked:
 *   - the parser against a line-by-line reference written from the rules
 *     in kmer_parse.h and kmer_extract.h: the same verdict (accepted or
 *     rejected) and, when accepted, the same k-mers in the same order;
 *   - a plain file that parses is also read as two ranks would read it
 *     (km_resync at the cut; one parser stopping at that record start, one
 *     starting there): together the two must give exactly the k-mers of the
 *     whole file, each once, unless the first reports that the split point
 *     is not a record start (a multi-line FASTQ quality that looks like a
 *     record: the tool then refuses the file rather than miscount);
 *   - any file read in 2 to 4 stripes (several readers of one gzip stream,
 *     kmer_split.h): each stripe gives the whole read's verdict and
 *     message, and the stripes' k-mers together are the whole read's.
 * Plus, everywhere, no crash, no leak, no undefined behaviour.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz_scratch.h"

#include "kmer_code.h"
#include "kmer_extract.h"
#include "kmer_input.h"
#include "kmer_parse.h"
#include "kmer_split.h"

#define MAX_STREAM ((size_t)1 << 20) /* decompressed bytes looked at (gzip bombs) */

__attribute__((noreturn)) static void mismatch(const char *what, int k, int canonical, const char *detail)
{
    fprintf(stderr, "MISMATCH: k=%d canonical=%d: %s%s%s\n", k, canonical, what, detail ? ": " : "",
            detail ? detail : "");
    abort();
}

/* ---- growable arrays of k-mers (as 128-bit codes: hi, lo) ---------------- */

typedef struct kmers {
    km_code128 *v;
    size_t n, cap;
} kmers;

static void kmers_push(kmers *a, uint64_t hi, uint64_t lo)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 256;
        a->v = realloc(a->v, a->cap * sizeof *a->v);
        if (!a->v) abort();
    }
    a->v[a->n].w[0] = hi;
    a->v[a->n].w[1] = lo;
    a->n++;
}

/* Appends the parser's keys (key_size(k) bytes each) as 128-bit codes. */
static void kmers_append_keys(kmers *a, const uint8_t *keys, size_t n, int k)
{
    for (size_t i = 0; i < n; i++) {
        if (k <= 32) {
            uint64_t w;
            memcpy(&w, keys + i * 8, 8);
            kmers_push(a, 0, w);
        } else {
            km_code128 c;
            memcpy(&c, keys + i * 16, 16);
            kmers_push(a, c.w[0], c.w[1]);
        }
    }
}

static int code_order(const void *a, const void *b)
{
    const km_code128 *x = a, *y = b;
    if (x->w[0] != y->w[0]) return x->w[0] < y->w[0] ? -1 : 1;
    return x->w[1] < y->w[1] ? -1 : x->w[1] > y->w[1];
}

static int kmers_equal(const kmers *a, size_t a0, const kmers *b, size_t b0, size_t n)
{
    return n == 0 || memcmp(a->v + a0, b->v + b0, n * sizeof *a->v) == 0;
}

/* ---- the reference: the documented rules, one line at a time -------------- */

static int ref_base(uint8_t c)
{
    switch (c) {
    case 'A': case 'a': return 0;
    case 'C': case 'c': return 1;
    case 'G': case 'g': return 2;
    case 'T': case 't': return 3;
    default: return -1;
    }
}

/* Bytes no text sequence holds: control characters but tab and CR, DEL and up. */
static int ref_binary(uint8_t c) { return (c < 0x20 && c != '\t' && c != '\r') || c >= 0x7f; }

typedef struct ref_window {
    int k, canonical, filled;
    uint8_t bases[KM_MAX_K]; /* the last k bases, oldest first */
} ref_window;

/* The k bases as a code, first base in the most significant bits. */
static void ref_code(const uint8_t *b, int k, int reverse, uint64_t *hi, uint64_t *lo)
{
    *hi = *lo = 0;
    for (int i = 0; i < k; i++) {
        const uint64_t c = reverse ? 3u - b[k - 1 - i] : b[i];
        *hi = (*hi << 2) | (*lo >> 62);
        *lo = (*lo << 2) | c;
    }
}

/* Sequence bytes through the window; -1 on a binary byte. */
static int ref_sequence(ref_window *w, const uint8_t *s, size_t len, kmers *out)
{
    for (size_t i = 0; i < len; i++) {
        if (ref_binary(s[i])) return -1;
        const int c = ref_base(s[i]);
        if (c < 0) {
            w->filled = 0;
            continue;
        }
        if (w->filled == w->k) memmove(w->bases, w->bases + 1, (size_t)w->k - 1);
        else w->filled++;
        w->bases[w->filled - 1] = (uint8_t)c;
        if (w->filled == w->k) {
            uint64_t fh, fl, rh, rl;
            ref_code(w->bases, w->k, 0, &fh, &fl);
            ref_code(w->bases, w->k, 1, &rh, &rl);
            if (w->canonical && (rh < fh || (rh == fh && rl < fl))) kmers_push(out, rh, rl);
            else kmers_push(out, fh, fl);
        }
    }
    return 0;
}

/* Returns 0 when the whole stream is valid, -1 when it must be rejected. */
static int ref_parse(const uint8_t *buf, size_t len, int k, int canonical, kmers *out)
{
    ref_window w = {k, canonical, 0, {0}};
    size_t at = 0;
    while (at < len && buf[at] == '\n') at++; /* blank lines before the first record */
    if (at == len) return 0;
    const int fastq = buf[at] == '@';
    if (!fastq && buf[at] != '>') return -1;
    enum { HEADER, SEQ, QUAL, BETWEEN } where = BETWEEN;
    uint64_t seq_len = 0, qual_len = 0, seq_lines = 0;
    while (at < len) {
        const uint8_t *nl = memchr(buf + at, '\n', len - at);
        const size_t end = nl ? (size_t)(nl - buf) : len, n = end - at;
        const uint8_t *line = buf + at;
        at = nl ? end + 1 : len;
        if (!fastq) {
            if (n > 0 && line[0] == '>') {
                w.filled = 0;
                continue; /* a header: its text is not sequence */
            }
            if (ref_sequence(&w, line, n, out) != 0) return -1;
            continue;
        }
        switch (where) {
        case BETWEEN: /* blank lines, then a header */
            if (n == 0) continue;
            if (line[0] != '@') return -1;
            if (!nl) return -1; /* a header and nothing else */
            w.filled = 0;
            seq_len = qual_len = seq_lines = 0;
            where = SEQ;
            continue;
        case SEQ:
            if (n == 0) continue;
            if (line[0] == '@') return -1; /* no '+' line */
            if (line[0] == '+') {
                if (!nl) return -1; /* no quality */
                where = QUAL;
                if (seq_len == 0) where = BETWEEN;
                continue;
            }
            if (!nl) return -1; /* cut short */
            if (ref_sequence(&w, line, n, out) != 0) return -1;
            seq_len += n;
            seq_lines++;
            continue;
        case QUAL:
            if (n == 0) return -1; /* an empty line inside the quality */
            for (size_t i = 0; i < n; i++)
                if ((line[i] < 33 || line[i] > 126) && line[i] != '\r') return -1;
            qual_len += n;
            if (qual_len > seq_len || (qual_len < seq_len && seq_lines <= 1)) return -1;
            if (qual_len == seq_len) where = BETWEEN;
            else if (!nl) return -1; /* the file ends inside the quality */
            continue;
        case HEADER: break;
        }
    }
    /* The end of the file: a FASTQ record must be complete. */
    return fastq && where != BETWEEN ? -1 : 0;
}

/* ---- the tool's reader ---------------------------------------------------- */

typedef struct read_result {
    int ok;          /* accepted */
    int too_long;    /* stopped at MAX_STREAM: no verdict */
    int gzip;
    km_format format;
    kmers found;
    uint8_t *stream; /* the bytes the parser saw (decompressed) */
    size_t stream_len;
    km_err err;
} read_result;

/* Reads path from `start` (parser from start to stop) in reads of `chunk`
 * bytes, as the tool's reading thread does. */
static void read_file(const char *path, uint64_t start, uint64_t stop, km_format format, int k, int canonical,
                      size_t chunk, unsigned stripe, unsigned stripes, read_result *res)
{
    memset(res, 0, sizeof *res);
    km_input in;
    km_extract x;
    km_parser p;
    km_extract_init(&x, k, canonical);
    if (km_input_open(&in, path, start, &res->err) != 0) return;
    res->gzip = in.gzip;
    km_parser_init(&p, path, format, start, stop, &x);
    km_parser_stripe(&p, stripe, stripes);
    uint8_t *buf = malloc(chunk), *keys = malloc(chunk * km_key_size(k));
    if (!buf || !keys) abort();
    for (;;) {
        const uint64_t offset = in.pos;
        const ptrdiff_t got = km_input_read(&in, buf, chunk, &res->err);
        if (got < 0) goto done;
        if (got == 0) {
            res->ok = km_parser_finish(&p, &res->err) == 0;
            break;
        }
        if (res->stream_len + (size_t)got > MAX_STREAM) {
            res->too_long = 1;
            break;
        }
        res->stream = realloc(res->stream, res->stream_len + (size_t)got);
        if (!res->stream) abort();
        memcpy(res->stream + res->stream_len, buf, (size_t)got);
        res->stream_len += (size_t)got;
        size_t n = 0;
        const ptrdiff_t used = km_parser_feed(&p, buf, (size_t)got, offset, keys, &n, &res->err);
        if (used < 0) goto done;
        if ((size_t)used > (size_t)got || (!p.done && used != got)) mismatch("km_parser_feed used a wrong count", k, canonical, NULL);
        kmers_append_keys(&res->found, keys, n, k);
        if (p.done) {
            res->ok = 1;
            break;
        }
    }
done:
    res->format = p.format;
    free(buf);
    free(keys);
    km_input_close(&in);
}

static void result_free(read_result *r)
{
    free(r->found.v);
    free(r->stream);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3) return 0;
    const int k = 1 + data[0] % KM_MAX_K, canonical = data[0] >> 7;
    static const size_t chunks[] = {1, 2, 3, 5, 7, 16, 64, (size_t)1 << 16};
    const size_t chunk = chunks[data[1] & 7];
    const uint8_t cut_byte = data[2];
    const uint8_t *file = data + 3;
    const size_t len = size - 3;

    const char *path = fz_write_scratch("reads", file, len);

    read_result whole;
    read_file(path, 0, UINT64_MAX, KM_FORMAT_UNKNOWN, k, canonical, chunk, 0, 1, &whole);
    if (whole.too_long) {
        result_free(&whole);
        return 0;
    }
    if (!whole.ok && !whole.err.msg[0]) mismatch("rejected without a message", k, canonical, NULL);
    if (whole.gzip && !whole.ok && whole.stream_len == 0) {
        result_free(&whole); /* not valid gzip: nothing for the parser */
        return 0;
    }

    kmers want = {NULL, 0, 0};
    /* The reference reads the whole plain file, or what gunzip gave. */
    const int ref_ok = (whole.gzip ? ref_parse(whole.stream, whole.stream_len, k, canonical, &want)
                                   : ref_parse(file, len, k, canonical, &want)) == 0;
    /* A gzip error after some data: the reference saw only part of it. */
    const int gzip_failed = whole.gzip && !whole.ok && strstr(whole.err.msg, "gzip");
    if (!gzip_failed) {
        if (ref_ok != whole.ok) mismatch(whole.ok ? "the reader accepts what the rules reject"
                                                  : "the reader rejects what the rules accept",
                                         k, canonical, whole.err.msg);
        if (whole.ok && (want.n != whole.found.n || !kmers_equal(&want, 0, &whole.found, 0, want.n)))
            mismatch("the k-mers differ from the reference's", k, canonical, NULL);
    }

    /* Two ranks, as km_plan_build splits a file: the second starts at the
     * record start km_resync finds at or after the cut, the first stops
     * there. Either they read exactly the k-mers of the whole file, or the
     * first one reports that the second did not start at a record start
     * (a multi-line FASTQ quality holding lines that look like a record). */
    if (whole.ok && !whole.gzip && len > 1 && whole.format != KM_FORMAT_UNKNOWN) {
        const uint64_t cut = 1 + (uint64_t)cut_byte * (len - 1) / 256;
        uint64_t start = 0;
        km_err err = {""};
        if (km_resync(path, whole.format, len, cut, &start, &err) != 0) mismatch("km_resync failed", k, canonical, err.msg);
        if (start < cut || start > len) mismatch("km_resync went backwards or past the end", k, canonical, NULL);
        read_result first, second;
        memset(&second, 0, sizeof second);
        read_file(path, 0, start < len ? start : UINT64_MAX, whole.format, k, canonical, chunk, 0, 1, &first);
        const int ambiguous = !first.ok && strstr(first.err.msg, "which is not a record start");
        if (!first.ok && !ambiguous) mismatch("the first rank fails", k, canonical, first.err.msg);
        if (ambiguous && whole.format != KM_FORMAT_FASTQ) mismatch("a FASTA split at a non-record", k, canonical, NULL);
        size_t n2 = 0;
        if (start < len) {
            read_file(path, start, UINT64_MAX, whole.format, k, canonical, chunk, 0, 1, &second);
            if (!second.ok && !ambiguous) mismatch("the second rank fails", k, canonical, second.err.msg);
            n2 = second.found.n;
        }
        if (!ambiguous &&
            (first.found.n + n2 != whole.found.n || !kmers_equal(&first.found, 0, &whole.found, 0, first.found.n) ||
             !kmers_equal(&second.found, 0, &whole.found, first.found.n, n2)))
            mismatch("two ranks read other k-mers than one", k, canonical, NULL);
        result_free(&first);
        result_free(&second);
    }

    /* Stripes, as several readers share one gzip stream (kmer_split.h):
     * each takes the k-mers of every n-th record and checks every record,
     * so each gives the whole read's verdict and message, and together
     * the whole read's k-mers. */
    if (!whole.too_long) {
        const unsigned stripes = 2 + cut_byte % 3;
        kmers all = {NULL, 0, 0};
        for (unsigned st = 0; st < stripes; st++) {
            read_result part;
            read_file(path, 0, UINT64_MAX, KM_FORMAT_UNKNOWN, k, canonical, chunk, st, stripes, &part);
            if (part.ok != whole.ok || (!whole.ok && strcmp(part.err.msg, whole.err.msg) != 0))
                mismatch("a stripe's verdict differs from the whole read's", k, canonical, part.err.msg);
            for (size_t i = 0; i < part.found.n; i++) kmers_push(&all, part.found.v[i].w[0], part.found.v[i].w[1]);
            result_free(&part);
        }
        if (whole.ok) {
            kmers sorted = {NULL, 0, 0};
            for (size_t i = 0; i < whole.found.n; i++) kmers_push(&sorted, whole.found.v[i].w[0], whole.found.v[i].w[1]);
            if (all.n) qsort(all.v, all.n, sizeof *all.v, code_order);
            if (sorted.n) qsort(sorted.v, sorted.n, sizeof *sorted.v, code_order);
            if (all.n != sorted.n || !kmers_equal(&all, 0, &sorted, 0, all.n))
                mismatch("the stripes read other k-mers than one reader", k, canonical, NULL);
            free(sorted.v);
        }
        free(all.v);
    }
    free(want.v);
    result_free(&whole);
    return 0;
}
