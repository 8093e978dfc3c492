/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Combining the repeats of a batch before it is counted, and ordering it
 * for the map. Runs on the reading thread, beside the collective adds of
 * the main thread.
 *
 * One-word keys (k <= 32, the map's identity hash) are ordered by the top
 * 22 bits of code * 2^64/phi, the multiply that places identity keys
 * (include/flashmap.h): the batch then reaches the table in the order of
 * its home slots, so consecutive adds touch nearby cache lines and pages
 * instead of random ones (the adds of a 30x read set cost 2 to 3 times
 * less than in k-mer order). The multiply is a bijection, so equal products
 * are equal keys, and the repeats of a key, which share a bucket of a few
 * keys, are nearly always adjacent and summed; the rare ones left apart go
 * to the map as two entries, which its adds sum all the same.
 * Such a batch is one run in home-slot order, which the map walks as it
 * lies, each of its threads over its own range of slots (and an MPI map
 * receives one such run from each rank): no copy, no second sort.
 * Two-word keys (murmur3 placement) are sorted completely (LSD radix sort
 * over the 2k bits a k-mer uses) and every run summed. */
#ifndef KMER_COMBINE_H
#define KMER_COMBINE_H

#include <stddef.h>
#include <stdint.h>

/* Orders keys[0..n) as above (km_key_size(k) bytes each; tmp has room for
 * n keys), moves the combined keys to the front and writes how often each
 * occurred to counts[0..m). Returns m. */
size_t km_combine(void *keys, void *tmp, uint64_t *counts, size_t n, int k);

#endif
