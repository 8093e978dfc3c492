/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * Known answers for flashmap's hashes. MurmurHash3 x64_128 (seed 0, first
 * 64-bit half) of keys of 0..256 bytes, from an independent implementation
 * (the Python mmh3 package, hash64(key, 0, True)[0]); every key also at
 * every misalignment. The identity hash and the owner/round remixes stay in
 * range. A change here moves every key to another slot and shard: tables
 * written by fm_save reload anyway (entries are re-inserted), but ranks of
 * one job must run the same hash.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "shard/fm_partition.h"
#include "table/fm_hash.h"
#include "test_check.h"

static const struct {
    uint32_t len;
    uint64_t hash;
} MURMUR3[] = {
    {0, 0x0000000000000000ull},   {1, 0x932fc7cce617f1e7ull},   {2, 0xcff7e5ae5471b39dull},
    {3, 0x6afac0b8de81a4b1ull},   {4, 0xd3a4eed1b81f9f72ull},   {5, 0xb0330f40087f990bull},
    {6, 0x32d1f10b04077a12ull},   {7, 0x8340cc686662983bull},   {8, 0xf0b144007f89ced7ull},
    {9, 0xdbb3088eaec8a0b1ull},   {10, 0x7fc82ef8fd4f371eull},  {11, 0xce105a4d0920d564ull},
    {12, 0x11eea59fafc3bbb8ull},  {13, 0x3c0bc0c7790cc4e7ull},  {14, 0x4af05278beeea171ull},
    {15, 0x2906f047b67f83ffull},  {16, 0xda9c66580c5ef0fbull},  {17, 0x78b8ee9a775e07d1ull},
    {18, 0x5022ece9b605f7d8ull},  {19, 0x40591a6345e2fd5eull},  {20, 0xf85aeb21888559f3ull},
    {21, 0x2c128c13418db6f3ull},  {22, 0xc0ffc3389f035072ull},  {23, 0x01b7d4fb84dc53aaull},
    {24, 0x8372e2feeb61eb1cull},  {25, 0xed9e2943729d5da2ull},  {26, 0x9fcd422e337cdec4ull},
    {27, 0x454a6a1202a0fd74ull},  {28, 0xc2ea419f1d4c02deull},  {29, 0x2ab2e5425a3cf241ull},
    {30, 0xfde530955c73468bull},  {31, 0xb1ca061ed4c5532full},  {32, 0xaf7374eb8efe799bull},
    {33, 0x08b88a88c3099ba9ull},  {40, 0xbf77aa22e65e7cfcull},  {48, 0x5fbe7eca19a4e9edull},
    {64, 0x497867a35161e107ull},  {100, 0x26e63bc8eee0b77aull}, {256, 0x72651697728573d3ull},
};

int main(void)
{
    uint8_t buf[256 + 16];
    for (size_t t = 0; t < sizeof MURMUR3 / sizeof *MURMUR3; t++) {
        const uint32_t len = MURMUR3[t].len;
        for (uint32_t shift = 0; shift < 8; shift++) { /* every alignment */
            uint8_t *key = buf + shift;
            for (uint32_t i = 0; i < len; i++) key[i] = (uint8_t)(i * 37 + 11);
            const uint64_t got = fm_hash_key((int)FM_HASH_MURMUR3, key, len);
            if (got != MURMUR3[t].hash) {
                fprintf(stderr, "murmur3 of %u bytes at offset %u: %016llx, want %016llx\n", len, shift,
                        (unsigned long long)got, (unsigned long long)MURMUR3[t].hash);
                g_failures++;
            }
        }
    }
    /* Identity: the first 8 bytes (zero-padded), little-endian, times 2^64/phi. */
    const uint8_t k12[12] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    CHECK(fm_hash_key((int)FM_HASH_IDENTITY, k12, 12) == 0x0807060504030201ull * 0x9e3779b97f4a7c15ull);
    CHECK(fm_hash_key((int)FM_HASH_IDENTITY, k12, 3) == 0x030201ull * 0x9e3779b97f4a7c15ull);
    /* Owners and rounds stay in range for extreme hashes. */
    const uint64_t extremes[] = {0, 1, UINT64_MAX, 0x8000000000000000ull, 0x123456789abcdefull};
    for (size_t i = 0; i < sizeof extremes / sizeof *extremes; i++)
        for (uint32_t n = 1; n <= 4096; n = n * 3 + 1) {
            CHECK(fm_owner_of(extremes[i], n) < n);
            CHECK(fm_round_of(extremes[i], n) < n);
        }
    printf("test_hash: %d failures\n", g_failures);
    return g_failures ? 1 : 0;
}
