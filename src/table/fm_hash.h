/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Key hashing, shared by every backend. A key's 64-bit hash decides its home
 * slot (high bits), its 30-bit fingerprint (low bits) and, for sharded maps,
 * its owner (a remix of the whole hash). */
#ifndef FM_HASH_H
#define FM_HASH_H

#include <stdint.h>
#include <string.h>

#include <flashmap.h>

#include "table/fm_portable.h"


FM_FN uint64_t fm_rotl64(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

FM_FN uint64_t fm_load_le64(const uint8_t *p)
{
#if defined(__CUDA_ARCH__)
    /* A GPU has no unaligned loads: memcpy would read byte by byte. */
    if (((uintptr_t)p & 7) == 0) return *(const uint64_t *)p;
#endif
    uint64_t v;
    memcpy(&v, p, 8); /* flashmap targets little-endian hosts and GPUs */
    return v;
}

/* Up to 8 bytes as a little-endian integer, zero-padded. */
FM_FN uint64_t fm_load_partial_le64(const uint8_t *p, uint32_t len)
{
    uint64_t v = 0;
    for (uint32_t i = 0; i < len && i < 8; i++) v |= (uint64_t)p[i] << (8 * i);
    return v;
}

FM_FN uint64_t fm_fmix64(uint64_t k)
{
    k ^= k >> 33;
    k *= 0xff51afd7ed558ccdULL;
    k ^= k >> 33;
    k *= 0xc4ceb9fe1a85ec53ULL;
    k ^= k >> 33;
    return k;
}

/* MurmurHash3 x64_128 with seed 0; flashmap uses the first 64-bit half. */
FM_FN uint64_t fm_murmur3_64(const uint8_t *data, uint32_t len)
{
    const uint64_t c1 = 0x87c37b91114253d5ULL, c2 = 0x4cf5ad432745937fULL;
    uint64_t h1 = 0, h2 = 0;
    const uint32_t nblocks = len / 16;
    for (uint32_t b = 0; b < nblocks; b++) {
        uint64_t k1 = fm_load_le64(data + 16 * b);
        uint64_t k2 = fm_load_le64(data + 16 * b + 8);
        k1 *= c1; k1 = fm_rotl64(k1, 31); k1 *= c2; h1 ^= k1;
        h1 = fm_rotl64(h1, 27); h1 += h2; h1 = h1 * 5 + 0x52dce729;
        k2 *= c2; k2 = fm_rotl64(k2, 33); k2 *= c1; h2 ^= k2;
        h2 = fm_rotl64(h2, 31); h2 += h1; h2 = h2 * 5 + 0x38495ab5;
    }
    const uint8_t *tail = data + 16 * nblocks;
    const uint32_t rest = len & 15;
    if (rest > 8) {
        uint64_t k2 = fm_load_partial_le64(tail + 8, rest - 8);
        k2 *= c2; k2 = fm_rotl64(k2, 33); k2 *= c1; h2 ^= k2;
    }
    if (rest > 0) {
        /* 8-, 24-, 40-byte ... keys end in a whole word: one load. */
        uint64_t k1 = rest >= 8 ? fm_load_le64(tail) : fm_load_partial_le64(tail, rest);
        k1 *= c1; k1 = fm_rotl64(k1, 31); k1 *= c2; h1 ^= k1;
    }
    h1 ^= len; h2 ^= len;
    h1 += h2; h2 += h1;
    h1 = fm_fmix64(h1); h2 = fm_fmix64(h2);
    h1 += h2;
    return h1;
}

/* The identity hash is the key's first 8 bytes. Placement multiplies it by
 * 2^64/phi (Fibonacci hashing) so that sequential integers, which identity
 * users often have, still spread over the high bits that pick home slots. */
FM_FN uint64_t fm_identity_hash(const uint8_t *key, uint32_t key_size)
{
    uint64_t v = key_size >= 8 ? fm_load_le64(key) : fm_load_partial_le64(key, key_size);
    return v * 0x9e3779b97f4a7c15ULL;
}

/* kind: FM_HASH_MURMUR3 or FM_HASH_IDENTITY (never DEFAULT here). */
FM_FN uint64_t fm_hash_key(int kind, const uint8_t *key, uint32_t key_size)
{
    return kind == (int)FM_HASH_IDENTITY ? fm_identity_hash(key, key_size)
                                         : fm_murmur3_64(key, key_size);
}

#endif
