/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* 2-bit k-mer codes: the byte classes and conversions to and from text. */
#include "kmer_code.h"

/* A/a 0, C/c 1, G/g 2, T/t 3; other printable ASCII, space, tab and CR
 * break a run; everything else (NUL, control bytes, 0x7f and above) is
 * binary data that no sequence file holds. '\n' never reaches this table:
 * the parser splits lines first. */
#define B KM_BREAK
#define X KM_BAD
const uint8_t km_base_class[256] = {
    /* 0x00 */ X, X, X, X, X, X, X, X, X, B, X, X, X, B, X, X,
    /* 0x10 */ X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    /* 0x20 */ B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
    /* 0x30 */ B, B, B, B, B, B, B, B, B, B, B, B, B, B, B, B,
    /* 0x40 */ B, 0, B, 1, B, B, B, 2, B, B, B, B, B, B, B, B,
    /* 0x50 */ B, B, B, B, 3, B, B, B, B, B, B, B, B, B, B, B,
    /* 0x60 */ B, 0, B, 1, B, B, B, 2, B, B, B, B, B, B, B, B,
    /* 0x70 */ B, B, B, B, 3, B, B, B, B, B, B, B, B, B, B, X,
    /* 0x80 */ X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    /* 0x90 */ X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    /* 0xa0 */ X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    /* 0xb0 */ X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    /* 0xc0 */ X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    /* 0xd0 */ X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    /* 0xe0 */ X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
    /* 0xf0 */ X, X, X, X, X, X, X, X, X, X, X, X, X, X, X, X,
};
#undef B
#undef X

/* Base i (0 = first) of a key. */
static unsigned base_at(const void *key, int k, int i)
{
    const int shift = 2 * (k - 1 - i); /* bit position counted from the low end */
    if (k <= 32) {
        uint64_t w;
        memcpy(&w, key, sizeof w);
        return (unsigned)(w >> shift) & 3u;
    }
    km_code128 c;
    memcpy(&c, key, sizeof c);
    return shift >= 64 ? (unsigned)(c.w[0] >> (shift - 64)) & 3u : (unsigned)(c.w[1] >> shift) & 3u;
}

void km_decode(const void *key, int k, char *out)
{
    static const char letters[4] = {'A', 'C', 'G', 'T'};
    for (int i = 0; i < k; i++) out[i] = letters[base_at(key, k, i)];
}

int km_encode(const char *bases, int k, void *key)
{
    uint64_t hi = 0, lo = 0;
    for (int i = 0; i < k; i++) {
        const unsigned c = km_base_class[(unsigned char)bases[i]];
        if (c > 3) return -1;
        hi = (hi << 2) | (lo >> 62);
        lo = (lo << 2) | c;
    }
    if (k <= 32) {
        memcpy(key, &lo, sizeof lo);
    } else {
        km_code128 code = {{hi, lo}};
        memcpy(key, &code, sizeof code);
    }
    return 0;
}

/* Reverse complement of the low 2k bits of a 128-bit value (hi, lo). */
static void revcomp_words(uint64_t *hi, uint64_t *lo, int k)
{
    uint64_t h = *hi, l = *lo, rh = 0, rl = 0;
    for (int i = 0; i < k; i++) {
        const uint64_t c = 3u - (l & 3u);
        l = (l >> 2) | (h << 62);
        h >>= 2;
        rh = (rh << 2) | (rl >> 62);
        rl = (rl << 2) | c;
    }
    *hi = rh;
    *lo = rl;
}

void km_revcomp(void *key, int k)
{
    if (k <= 32) {
        uint64_t w, h = 0;
        memcpy(&w, key, sizeof w);
        revcomp_words(&h, &w, k);
        memcpy(key, &w, sizeof w);
    } else {
        km_code128 c;
        memcpy(&c, key, sizeof c);
        revcomp_words(&c.w[0], &c.w[1], k);
        memcpy(key, &c, sizeof c);
    }
}

void km_canonicalize(void *key, int k)
{
    if (k <= 32) {
        uint64_t w, r;
        memcpy(&w, key, sizeof w);
        r = w;
        km_revcomp(&r, k);
        if (r < w) memcpy(key, &r, sizeof r);
    } else {
        km_code128 c, r;
        memcpy(&c, key, sizeof c);
        r = c;
        km_revcomp(&r, k);
        if (r.w[0] < c.w[0] || (r.w[0] == c.w[0] && r.w[1] < c.w[1])) memcpy(key, &r, sizeof r);
    }
}
