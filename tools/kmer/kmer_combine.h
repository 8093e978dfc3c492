/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Combining the repeats of a batch before it is sent: sort the keys (LSD
 * radix sort over the 2k bits a k-mer uses) and count runs, so that a
 * batch goes to fm_bulk_add_u64 as distinct keys with their counts. Runs
 * on the reading thread, beside the collective adds of the main thread. */
#ifndef KMER_COMBINE_H
#define KMER_COMBINE_H

#include <stddef.h>
#include <stdint.h>

/* Sorts keys[0..n) (km_key_size(k) bytes each; tmp has room for n keys),
 * moves the distinct keys to the front and writes how often each occurred
 * to counts[0..m). Returns m. */
size_t km_combine(void *keys, void *tmp, uint64_t *counts, size_t n, int k);

#endif
