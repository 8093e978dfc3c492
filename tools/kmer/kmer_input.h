/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Reading one input file as a stream of bytes: a plain file from a given
 * offset, or a gzip file (recognised by its magic bytes, not its name)
 * decompressed from its start. */
#ifndef KMER_INPUT_H
#define KMER_INPUT_H

#include <stddef.h>
#include <stdint.h>

#include "kmer_error.h"
#include "kmer_gunzip.h"

typedef struct km_input {
    const char *path;
    int fd;
    int gzip;
    km_gunzip *z;
    uint64_t pos;      /* offset of the next byte in the (decompressed) stream */
    uint64_t consumed; /* bytes of the file read so far (compressed for gzip) */
} km_input;

/* What a file is: *gzip (1f 8b magic) and *size (bytes on disk). -1 with
 * err set when it cannot be opened or is not a regular file. */
int km_input_probe(const char *path, int *gzip, uint64_t *size, km_err *err);

/* Opens path for reading from `start` (a plain file; gzip files start at 0). */
int km_input_open(km_input *in, const char *path, uint64_t start, km_err *err);

/* Up to cap bytes into buf: the count, 0 at the end, -1 with err set. */
ptrdiff_t km_input_read(km_input *in, uint8_t *buf, size_t cap, km_err *err);

void km_input_close(km_input *in);

/* Lines before byte `offset` of a plain file (for error messages of a rank
 * that started reading mid-file); 0 when the file cannot be read. */
uint64_t km_input_lines_before(const char *path, uint64_t offset);

#endif
