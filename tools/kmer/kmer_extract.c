/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The rolling window over sequence bytes (see kmer_extract.h). */
#include "kmer_extract.h"

#include <string.h>

#include "kmer_code.h"

void km_extract_init(km_extract *x, int k, int canonical)
{
    memset(x, 0, sizeof *x);
    x->k = k;
    x->canonical = canonical;
    if (k <= 32) {
        x->rc_shift = 2 * (k - 1);
    } else {
        x->mask_hi = km_mask64(k - 32);
        x->rc_shift = 2 * (k - 32) - 2;
    }
}

ptrdiff_t km_sequence_bad(const uint8_t *seq, size_t len)
{
    unsigned bad = 0; /* without branches first: nearly every sequence is clean */
    for (size_t i = 0; i < len; i++) bad |= km_base_class[seq[i]] == KM_BAD;
    if (!bad) return -1;
    for (size_t i = 0; i < len; i++)
        if (km_base_class[seq[i]] == KM_BAD) return (ptrdiff_t)i;
    return -1;
}

/* k <= 32: one word forward, one word reverse complement. */
static ptrdiff_t run64(km_extract *x, const uint8_t *seq, size_t len, uint64_t *out, size_t *n)
{
    const int k = x->k, shift = x->rc_shift, canonical = x->canonical;
    const uint64_t mask = km_mask64(k);
    uint64_t fwd = x->fwd_lo, rc = x->rc_lo;
    int filled = x->filled;
    size_t m = *n;
    ptrdiff_t bad = -1;
    for (size_t i = 0; i < len; i++) {
        const uint64_t c = km_base_class[seq[i]];
        if (c > 3) {
            filled = 0;
            if (c == KM_BAD) {
                bad = (ptrdiff_t)i;
                break;
            }
            continue;
        }
        fwd = ((fwd << 2) | c) & mask;
        rc = (rc >> 2) | ((3u - c) << shift);
        filled += filled < k;
        if (filled == k) {
            /* Which strand is smaller is a coin toss per k-mer: a mask,
             * not a branch that mispredicts every other one. */
            const uint64_t take_rc = 0 - (uint64_t)((canonical != 0) & (rc < fwd));
            out[m++] = fwd ^ ((fwd ^ rc) & take_rc);
        }
    }
    x->fwd_lo = fwd;
    x->rc_lo = rc;
    x->filled = filled;
    *n = m;
    return bad;
}

/* k 33..64: two words each way. */
static ptrdiff_t run128(km_extract *x, const uint8_t *seq, size_t len, km_code128 *out, size_t *n)
{
    const int k = x->k, shift = x->rc_shift, canonical = x->canonical;
    const uint64_t mask_hi = x->mask_hi;
    uint64_t fh = x->fwd_hi, fl = x->fwd_lo, rh = x->rc_hi, rl = x->rc_lo;
    int filled = x->filled;
    size_t m = *n;
    ptrdiff_t bad = -1;
    for (size_t i = 0; i < len; i++) {
        const uint64_t c = km_base_class[seq[i]];
        if (c > 3) {
            filled = 0;
            if (c == KM_BAD) {
                bad = (ptrdiff_t)i;
                break;
            }
            continue;
        }
        fh = ((fh << 2) | (fl >> 62)) & mask_hi;
        fl = (fl << 2) | c;
        rl = (rl >> 2) | (rh << 62);
        rh = (rh >> 2) | ((3u - c) << shift);
        filled += filled < k;
        if (filled == k) {
            const int smaller = (rh < fh) | ((rh == fh) & (rl < fl));
            const uint64_t take_rc = 0 - (uint64_t)((canonical != 0) & smaller); /* a mask, as in run64 */
            out[m].w[0] = fh ^ ((fh ^ rh) & take_rc);
            out[m].w[1] = fl ^ ((fl ^ rl) & take_rc);
            m++;
        }
    }
    x->fwd_hi = fh;
    x->fwd_lo = fl;
    x->rc_hi = rh;
    x->rc_lo = rl;
    x->filled = filled;
    *n = m;
    return bad;
}

ptrdiff_t km_extract_run(km_extract *x, const uint8_t *seq, size_t len, void *keys, size_t *n)
{
    if (x->k <= 32) return run64(x, seq, len, (uint64_t *)keys, n);
    return run128(x, seq, len, (km_code128 *)keys, n);
}
