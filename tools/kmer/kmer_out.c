/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Buffered text output (see kmer_out.h). */
#include "kmer_out.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#define OUT_CAP ((size_t)1 << 20)

int km_out_open(km_out *o, const char *path, km_err *err)
{
    memset(o, 0, sizeof *o);
    const int to_stdout = !path || strcmp(path, "-") == 0;
    o->name = to_stdout ? "standard output" : path;
    o->f = to_stdout ? stdout : fopen(path, "w");
    if (!o->f) return km_fail(err, "%s: cannot create: %s", path, strerror(errno));
    o->buf = malloc(OUT_CAP);
    o->cap = OUT_CAP;
    if (!o->buf) {
        if (!to_stdout) fclose(o->f);
        return km_fail(err, "no memory for output");
    }
    return 0;
}

int km_out_open_sink(km_out *o, km_out_sink sink, void *ctx, km_err *err)
{
    memset(o, 0, sizeof *o);
    o->name = "output";
    o->sink = sink;
    o->sink_ctx = ctx;
    o->buf = malloc(OUT_CAP);
    o->cap = OUT_CAP;
    return o->buf ? 0 : km_fail(err, "no memory for output");
}

void km_out_flush(km_out *o)
{
    if (o->len) {
        if (o->sink) o->failed |= o->sink(o->buf, o->len, o->sink_ctx) != 0;
        else if (fwrite(o->buf, 1, o->len, o->f) != o->len) o->failed = 1;
    }
    o->len = 0;
}

void km_out_str(km_out *o, const char *s)
{
    const size_t n = strlen(s);
    if (n > o->cap) {
        for (size_t at = 0; at < n; at += o->cap) {
            const size_t part = n - at < o->cap ? n - at : o->cap;
            km_out_reserve(o, part);
            memcpy(o->buf + o->len, s + at, part);
            o->len += part;
        }
        return;
    }
    km_out_reserve(o, n);
    memcpy(o->buf + o->len, s, n);
    o->len += n;
}

int km_out_close(km_out *o, km_err *err)
{
    km_out_flush(o);
    if (o->f && fflush(o->f) != 0) o->failed = 1;
    if (o->f && o->f != stdout && fclose(o->f) != 0) o->failed = 1;
    free(o->buf);
    o->buf = NULL;
    return o->failed ? km_fail(err, "%s: write failed: %s", o->name, strerror(errno)) : 0;
}
