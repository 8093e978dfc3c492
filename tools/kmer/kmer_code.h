/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* 2-bit k-mer codes: A=0, C=1, G=2, T=3, first base in the most significant
 * bits, so that comparing codes as integers compares k-mers
 * lexicographically (what Jellyfish's canonical form uses).
 *
 * k 1..32 fits one 64-bit word (an 8-byte map key); k 33..64 takes two
 * (a 16-byte key: w[0] the high word with the first 2k-64 bits, w[1] the
 * low word with the last 32 bases). Keys are stored in the map as these
 * native-endian words. */
#ifndef KMER_CODE_H
#define KMER_CODE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define KM_MAX_K 64

/* Classes of a sequence byte: 0..3 a base, KM_BREAK a byte that ends the
 * current k-mer run (N, IUPAC codes, other printable characters; Jellyfish
 * treats every non-ACGT character so), KM_BAD a byte that cannot be in a
 * text sequence file (control characters, bytes >= 0x7f). */
enum { KM_BREAK = 4, KM_BAD = 5 };

extern const uint8_t km_base_class[256];

typedef struct km_code128 {
    uint64_t w[2]; /* w[0] high, w[1] low */
} km_code128;

/* Map key size in bytes for k. */
static inline uint32_t km_key_size(int k) { return k <= 32 ? 8u : 16u; }

/* Mask of the low 2k bits of one word (k 1..32). */
static inline uint64_t km_mask64(int k) { return k >= 32 ? ~(uint64_t)0 : (((uint64_t)1 << (2 * k)) - 1); }

/* Writes the k bases of a key (key_size(k) bytes at key) to out (k chars, no NUL). */
void km_decode(const void *key, int k, char *out);

/* Encodes k bases (ACGT, either case) into key. Returns 0, or -1 when the
 * string has a character other than ACGTacgt. */
int km_encode(const char *bases, int k, void *key);

/* Reverse complement, in place (key_size(k) bytes). */
void km_revcomp(void *key, int k);

/* Replaces key by its canonical form: the smaller of it and its reverse
 * complement. */
void km_canonicalize(void *key, int k);

#endif
