/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Combining the repeats of a batch (see kmer_combine.h). */
#include "kmer_combine.h"

#include <stdint.h>
#include <string.h>
#if defined(__x86_64__)
#include <emmintrin.h> /* SSE2, part of every x86-64: non-temporal stores */
#endif

#include "kmer_code.h"

/* The identity hash's placement multiply (2^64 / phi, include/flashmap.h:
 * FM_HASH_IDENTITY) and its inverse modulo 2^64: a bijection, so equal
 * products are equal codes. */
#define PLACE 0x9e3779b97f4a7c15ull
#define PLACE_INVERSE 0xf1de83e19937733dull

/* Byte `d` of a two-word key's code: bytes 0..7 of the low word, then of
 * the high one. */
static inline unsigned digit128(const km_code128 *key, int d)
{
    return d < 8 ? (unsigned)(key->w[1] >> (8 * d)) & 0xffu : (unsigned)(key->w[0] >> (8 * (d - 8))) & 0xffu;
}

/* One-word keys are ordered by the top 22 bits of the product, in two
 * passes of 11: that parts a batch of millions into buckets of a few keys
 * (the repeats of a key meet in one) at a third of the cost of a full sort. */
#define ORDER_BITS 11
#define ORDER_BUCKETS (1u << ORDER_BITS)

static inline unsigned order_digit(uint64_t x, int pass)
{
    return (unsigned)(x >> (64 - 2 * ORDER_BITS + pass * ORDER_BITS)) & (ORDER_BUCKETS - 1);
}

/* A scatter into ORDER_BUCKETS buckets of a batch larger than the caches
 * misses on nearly every store, and each missed line is first read from
 * memory. Above STREAM_KEYS keys, each bucket's keys gather in a
 * cache-line buffer of the thread's, and a full line goes to memory
 * in non-temporal stores, which skip that read (4.3 -> 2.8 ns a key a
 * pass for 2M keys on the 2-core EPYC VM; 1M keys in a quiet L3 are
 * faster plain). */
#define STREAM_KEYS ((size_t)1 << 19)
#define LINE_KEYS 8 /* 64-byte lines of 8-byte keys */

typedef struct stream_buffers {
    _Alignas(64) uint64_t line[ORDER_BUCKETS][LINE_KEYS];
} stream_buffers;

/* Writes the LINE_KEYS keys of `from` to the 64-byte-aligned `to`. */
static inline void stream_line(uint64_t *to, const uint64_t *from)
{
#if defined(__x86_64__)
    const __m128i *src = (const __m128i *)from;
    __m128i *dst = (__m128i *)to;
    for (int q = 0; q < 4; q++) _mm_stream_si128(dst + q, _mm_load_si128(src + q));
#else
    memcpy(to, from, LINE_KEYS * sizeof *to);
#endif
}

/* Scatters a[0..n) to b by digit `pass`, bucket v starting at start[v]
 * (start is left as it was), through the thread's line buffers. Lines are
 * counted from b's 64-byte boundaries: a bucket's first and last lines may
 * hold another bucket's keys too, and are written key by key. */
static void scatter_streamed(const uint64_t *a, uint64_t *b, size_t n, int pass, const size_t *start)
{
    static _Thread_local stream_buffers buf;
    static _Thread_local size_t next[ORDER_BUCKETS]; /* the next key's index in b, + the line offset */
    const size_t skew = ((uintptr_t)b / sizeof *b) % LINE_KEYS; /* b[i] sits at key i + skew of a line */
    for (unsigned v = 0; v < ORDER_BUCKETS; v++) next[v] = start[v] + skew;
    for (size_t i = 0; i < n; i++) {
        const uint64_t x = a[i];
        const unsigned v = order_digit(x, pass);
        const size_t at = next[v]++;
        buf.line[v][at % LINE_KEYS] = x;
        if (at % LINE_KEYS == LINE_KEYS - 1) {
            const size_t first = at + 1 - LINE_KEYS - skew; /* the line's first index in b */
            if (at + 1 - LINE_KEYS >= start[v] + skew) {
                stream_line(b + first, buf.line[v]);
            } else {
                for (size_t j = start[v]; j <= at - skew; j++) b[j] = buf.line[v][(j + skew) % LINE_KEYS];
            }
        }
    }
    for (unsigned v = 0; v < ORDER_BUCKETS; v++) {
        const size_t end = next[v]; /* in line counting, like `at` */
        const size_t line = end - end % LINE_KEYS, from = line > start[v] + skew ? line : start[v] + skew;
        for (size_t j = from; j < end; j++) b[j - skew] = buf.line[v][j % LINE_KEYS];
    }
#if defined(__x86_64__)
    _mm_sfence(); /* the streamed lines before anything reads b */
#endif
}

/* Multiplies keys a[0..n) by PLACE and sorts the products by their top
 * 2 * ORDER_BITS bits (LSD, stable), through b; returns the buffer that
 * holds the result. The histograms come with the multiply, in one pass. */
static uint64_t *order64(uint64_t *a, uint64_t *b, size_t n)
{
    static _Thread_local size_t hist[2][ORDER_BUCKETS];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++) {
        const uint64_t x = a[i] * PLACE;
        a[i] = x;
        hist[0][order_digit(x, 0)]++;
        hist[1][order_digit(x, 1)]++;
    }
    for (int pass = 0; pass < 2; pass++) {
        size_t *h = hist[pass];
        size_t sum = 0;
        for (unsigned v = 0; v < ORDER_BUCKETS; v++) {
            const size_t c = h[v];
            h[v] = sum;
            sum += c;
        }
        if (n >= STREAM_KEYS) scatter_streamed(a, b, n, pass, h);
        else
            for (size_t i = 0; i < n; i++) b[h[order_digit(a[i], pass)]++] = a[i];
        uint64_t *t = a;
        a = b;
        b = t;
    }
    return a;
}

static void *sort128(km_code128 *a, km_code128 *b, size_t n, int digits)
{
    size_t hist[16][256];
    memset(hist, 0, sizeof hist);
    for (size_t i = 0; i < n; i++)
        for (int d = 0; d < digits; d++) hist[d][digit128(&a[i], d)]++;
    for (int d = 0; d < digits; d++) {
        size_t *h = hist[d];
        if (h[digit128(&a[0], d)] == n) continue;
        size_t sum = 0;
        for (int v = 0; v < 256; v++) {
            const size_t c = h[v];
            h[v] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++) b[h[digit128(&a[i], d)]++] = a[i];
        km_code128 *t = a;
        a = b;
        b = t;
    }
    return a;
}

size_t km_combine(void *keys, void *tmp, uint64_t *counts, size_t n, int k)
{
    if (n == 0) return 0;
    size_t m = 0;
    if (k <= 32) {
        /* Sorted by code * PLACE, the map's identity placement: keys reach
         * the table in the order of their home slots (see kmer_combine.h). */
        const uint64_t *s = order64(keys, tmp, n);
        uint64_t *out = keys;
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && s[j] == s[i]) j++;
            out[m] = s[i] * PLACE_INVERSE; /* out never passes s: m <= i */
            counts[m++] = (uint64_t)(j - i);
            i = j;
        }
    } else {
        const km_code128 *s = sort128(keys, tmp, n, (2 * k + 7) / 8);
        km_code128 *out = keys;
        for (size_t i = 0; i < n;) {
            size_t j = i + 1;
            while (j < n && s[j].w[0] == s[i].w[0] && s[j].w[1] == s[i].w[1]) j++;
            out[m] = s[i];
            counts[m++] = (uint64_t)(j - i);
            i = j;
        }
    }
    return m;
}
