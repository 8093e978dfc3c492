/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The rolling window: turns runs of sequence bytes into 2-bit k-mer codes
 * (forward, or canonical with -C), appended to a key array.
 *
 * A k-mer is emitted once k bases in a row are A, C, G or T (either case);
 * any other byte restarts the window, exactly as Jellyfish does. The window
 * carries across calls, so a sequence may arrive in pieces (lines, input
 * chunks); km_extract_reset starts a new record. */
#ifndef KMER_EXTRACT_H
#define KMER_EXTRACT_H

#include <stddef.h>
#include <stdint.h>

typedef struct km_extract {
    int k, canonical;
    uint64_t mask_hi; /* 128-bit codes: the high word's 2k - 64 bits */
    int rc_shift;     /* where a new base's complement enters the reverse code */
    uint64_t fwd_hi, fwd_lo, rc_hi, rc_lo;
    int filled; /* bases in the window, at most k */
} km_extract;

void km_extract_init(km_extract *x, int k, int canonical);

static inline void km_extract_reset(km_extract *x) { x->filled = 0; }

/* Appends the k-mers ending in seq[0..len) to keys (key_size(k) bytes each,
 * starting at entry *n) and advances *n; keys must have room for len more.
 * Returns -1, or the index in seq of the first byte that cannot be in a
 * sequence (km_base_class KM_BAD); k-mers before it are appended. */
ptrdiff_t km_extract_run(km_extract *x, const uint8_t *seq, size_t len, void *keys, size_t *n);

/* The check of km_extract_run without its k-mers (a record another reader
 * counts): -1, or the index of the first KM_BAD byte of seq[0..len). */
ptrdiff_t km_sequence_bad(const uint8_t *seq, size_t len);

#endif
