/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Streaming gzip decompression of one file (several concatenated members,
 * as bgzip and `cat a.gz b.gz` make, included). Two implementations share
 * this interface: kmer_gunzip_isal.c (ISA-L igzip, the default: several
 * times faster than zlib) and kmer_gunzip_zlib.c (the fallback). */
#ifndef KMER_GUNZIP_H
#define KMER_GUNZIP_H

#include <stddef.h>
#include <stdint.h>

#include "kmer_error.h"

typedef struct km_gunzip km_gunzip;

/* Starts decompressing the gzip file open on fd (at its start); path is
 * for messages. NULL with err set on failure. */
km_gunzip *km_gunzip_open(int fd, const char *path, km_err *err);

/* Up to cap decompressed bytes into out: the count, 0 at the end of the
 * last member, -1 with err set when the data is not valid gzip (bad
 * header, corrupt deflate data, checksum mismatch, file cut short). */
ptrdiff_t km_gunzip_read(km_gunzip *z, uint8_t *out, size_t cap, km_err *err);

/* Compressed bytes taken from the file so far (for progress). */
uint64_t km_gunzip_consumed(const km_gunzip *z);

void km_gunzip_close(km_gunzip *z);

/* "ISA-L igzip" or "zlib 1.2.13". */
const char *km_gunzip_library(void);

#endif
