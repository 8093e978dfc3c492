/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Buffered text output for the verbs that print millions of lines: numbers
 * formatted by hand, one write per 1 MiB. */
#ifndef KMER_OUT_H
#define KMER_OUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "kmer_error.h"

/* Where full buffers go instead of a file (dump on rank r > 0 sends its
 * text to rank 0); returns 0, or -1 when it failed. */
typedef int (*km_out_sink)(const char *buf, size_t len, void *ctx);

typedef struct km_out {
    FILE *f;
    km_out_sink sink;
    void *sink_ctx;
    const char *name; /* for messages */
    char *buf;
    size_t len, cap;
    int failed;
} km_out;

/* path NULL or "-": standard output. */
int km_out_open(km_out *o, const char *path, km_err *err);

/* Output to a sink instead of a file. */
int km_out_open_sink(km_out *o, km_out_sink sink, void *ctx, km_err *err);

/* Flushes and closes; -1 with err set when any write failed (disk full, ...). */
int km_out_close(km_out *o, km_err *err);

void km_out_flush(km_out *o);

static inline void km_out_reserve(km_out *o, size_t n)
{
    if (o->len + n > o->cap) km_out_flush(o);
}

/* The next n bytes of the buffer to fill directly (n at most the buffer size). */
static inline char *km_out_space(km_out *o, size_t n)
{
    km_out_reserve(o, n);
    return o->buf + o->len;
}

static inline void km_out_char(km_out *o, char c)
{
    km_out_reserve(o, 1);
    o->buf[o->len++] = c;
}

void km_out_str(km_out *o, const char *s);

static inline void km_out_u64(km_out *o, uint64_t v)
{
    char tmp[24];
    int n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    char *p = km_out_space(o, (size_t)n);
    for (int i = 0; i < n; i++) p[i] = tmp[n - 1 - i];
    o->len += (size_t)n;
}

#endif
