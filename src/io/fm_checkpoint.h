/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Checkpoint files: the on-disk format (docs/checkpoint-format.md) and the
 * reader and writer that fm_save / fm_load / fm_load_mpi are built from.
 *
 * Every multi-byte field is little-endian. A data file is a 128-byte header,
 * blocks of entries (a 32-byte block header, then the block's keys, then its
 * values), and a 64-byte footer. A manifest (MPI checkpoints) is the header
 * followed by one 32-byte record per part file and an 8-byte checksum.
 * Every byte of every file is covered by an XXH3-64 checksum. */
#ifndef FM_CHECKPOINT_H
#define FM_CHECKPOINT_H

#include <stdint.h>
#include <stdio.h>

#include "api/fm_map.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FM_CK_MAGIC "FLASHMAP"            /* 8 bytes at offset 0 of every file */
#define FM_CK_VERSION 1u                  /* the only format version so far */
#define FM_CK_HEADER_SIZE 128u
#define FM_CK_BLOCK_HEADER_SIZE 32u
#define FM_CK_BLOCK_MAGIC "FMBK"          /* 4 bytes */
#define FM_CK_FOOTER_SIZE 64u
#define FM_CK_FOOTER_MAGIC "FMFOOTER"     /* 8 bytes */
#define FM_CK_PART_RECORD_SIZE 32u

/* Header field offsets. */
enum {
    FM_CK_OFF_MAGIC = 0,
    FM_CK_OFF_VERSION = 8,
    FM_CK_OFF_HEADER_SIZE = 12,
    FM_CK_OFF_KIND = 16,
    FM_CK_OFF_KEY_SIZE = 20,
    FM_CK_OFF_VALUE_SIZE = 24,
    FM_CK_OFF_HASH = 28,
    FM_CK_OFF_CAPACITY = 32,
    FM_CK_OFF_MAX_LOAD = 40,
    FM_CK_OFF_FLAGS = 48,
    FM_CK_OFF_SHARDS = 52,
    FM_CK_OFF_ENTRIES = 56,
    FM_CK_OFF_PART_INDEX = 64,
    FM_CK_OFF_PART_COUNT = 68,
    FM_CK_OFF_BLOCK_ENTRIES = 72,
    FM_CK_OFF_WRITER_BACKEND = 76,
    FM_CK_OFF_CHECKPOINT_ID = 80,
    FM_CK_OFF_WRITER_VERSION = 88,
    FM_CK_OFF_RESERVED = 92,
    FM_CK_OFF_WRITER = 96, /* 24 bytes of NUL-padded text */
    FM_CK_WRITER_LEN = 24,
    FM_CK_OFF_HEADER_CHECKSUM = 120,
};

/* Footer field offsets (from the start of the footer). */
enum {
    FM_CK_FOFF_MAGIC = 0,
    FM_CK_FOFF_BLOCKS = 8,
    FM_CK_FOFF_ENTRIES = 16,
    FM_CK_FOFF_DIGEST = 24,
    FM_CK_FOFF_CHECKPOINT_ID = 32,
    FM_CK_FOFF_FILE_SIZE = 40,
    FM_CK_FOFF_RESERVED = 48,
    FM_CK_FOFF_CHECKSUM = 56,
};

/* What a file holds. */
enum {
    FM_CK_KIND_DATA = 1,     /* a whole map saved by one process */
    FM_CK_KIND_PART = 2,     /* one rank's part of an MPI checkpoint */
    FM_CK_KIND_MANIFEST = 3, /* the list of an MPI checkpoint's parts */
};

/* Limits a reader enforces before it allocates anything. */
#define FM_CK_MAX_BLOCK_ENTRIES ((uint32_t)1 << 24)
#define FM_CK_MAX_BLOCK_BYTES ((uint64_t)64 << 20)
#define FM_CK_MAX_PARTS ((uint32_t)1 << 24)

/* Payload bytes a writer aims for in one block (1 MiB). Tests lower it to
 * get many blocks from few entries; not for use elsewhere. */
extern uint64_t fm_ck_block_bytes;
/* Bytes written between two hand-overs to the kernel's writeback (8 MiB;
 * tests make it small so that every block hands over). */
extern uint64_t fm_ck_writeback_bytes;

typedef struct fm_ck_header {
    uint32_t version, kind, key_size, value_size, hash, flags, shards;
    uint32_t part_index, part_count, block_entries, writer_backend, writer_version;
    uint64_t capacity, entries, checkpoint_id;
    double max_load;
    char writer[FM_CK_WRITER_LEN + 1];
} fm_ck_header;

/* Little-endian field access. */
void fm_ck_put32(uint8_t *p, uint32_t v);
void fm_ck_put64(uint8_t *p, uint64_t v);
uint32_t fm_ck_get32(const uint8_t *p);
uint64_t fm_ck_get64(const uint8_t *p);
/* XXH3-64 with seed 0: the checksum of every part of the format. */
uint64_t fm_ck_checksum(const void *data, size_t len);

/* A header for `map` (kind, part fields and entries filled by the caller). */
void fm_ck_header_for(fm_ck_header *h, const fm_map *map, uint32_t kind);
/* Writes the 128 bytes of h, checksum included. */
void fm_ck_header_encode(const fm_ck_header *h, uint8_t out[FM_CK_HEADER_SIZE]);

/* A fresh id that ties a manifest to its parts. */
uint64_t fm_ck_new_id(void);
/* path + ".rank<r>-of-<P>" (malloc'd; NULL when out of memory). */
char *fm_ck_part_path(const char *path, uint32_t rank, uint32_t parts);

/* ---- writing ------------------------------------------------------------ */

/* One file written to path + ".tmp.<pid>" and renamed over path on commit.
 * Errors are recorded on `report` (NULL: the thread's fm_last_error). */
typedef struct fm_ck_writer {
    fm_map *report;
    char *path, *tmp;
    FILE *f;
    fm_ck_header h;
    uint8_t *keys, *values; /* one block */
    uint32_t fill;
    uint64_t blocks, entries, digest, file_size;
    int64_t handed; /* bytes of the file handed to writeback so far */
    void *content; /* XXH3_state_t over every payload */
    void *block;   /* XXH3_state_t over one payload */
} fm_ck_writer;

/* Starts the kernel's writeback of bytes [from, from + len) of fd without
 * waiting for it (io/writeback.c); nothing where that cannot be done. */
void fm_ck_start_writeback(int fd, int64_t from, int64_t len);

/* Creates the temporary file and writes a provisional header. */
fm_status fm_ck_writer_open(fm_ck_writer *w, fm_map *report, const char *path, const fm_ck_header *h);
/* Writes every entry fm_export returns for `map`. */
fm_status fm_ck_writer_put_map(fm_ck_writer *w, fm_map *map);
/* Last block, footer, final header; fflush, fsync, close. */
fm_status fm_ck_writer_finish(fm_ck_writer *w);
/* Renames the finished temporary file over the final name; fsyncs the
 * directory. On failure the temporary file is removed. */
fm_status fm_ck_writer_commit(fm_ck_writer *w);
/* Removes the temporary file (when there is one) and frees everything. */
void fm_ck_writer_abort(fm_ck_writer *w);

/* Writes `len` bytes to path through a temporary file, fsync and rename. */
fm_status fm_ck_write_file(fm_map *report, const char *path, const uint8_t *bytes, size_t len);

/* ---- reading ------------------------------------------------------------ */

typedef struct fm_ck_reader {
    fm_map *report;
    char *path;
    FILE *f;
    uint64_t file_size;
    fm_ck_header h;
    uint64_t footer_blocks, footer_digest;
    uint64_t pos, blocks, entries; /* read so far */
    void *content, *block;         /* XXH3_state_t */
} fm_ck_reader;

/* One part of an MPI checkpoint, as its manifest describes it. */
typedef struct fm_ck_part {
    uint64_t entries, digest, file_size;
} fm_ck_part;

/* Opens any checkpoint file and validates its header; for a data or part
 * file also its footer and that its sizes add up, leaving it ready for
 * fm_ck_reader_next. */
fm_status fm_ck_reader_open(fm_ck_reader *r, fm_map *report, const char *path);
/* Reads whole blocks while `max` leaves room for one more (max must be at
 * least min(block_entries, entries); fm_ck_batch_entries is). *n_out is 0
 * once every entry was read and the footer's digest matched. */
fm_status fm_ck_reader_next(fm_ck_reader *r, uint8_t *keys, uint8_t *values, uint64_t max,
                            uint64_t *n_out);
void fm_ck_reader_close(fm_ck_reader *r);
/* After fm_ck_reader_open on a manifest: its part records (malloc'd). */
fm_status fm_ck_read_manifest(fm_ck_reader *r, fm_ck_part **parts_out);
/* Checks that an open part file is part `index` of the checkpoint whose
 * manifest header is `m` and record is `rec`. */
fm_status fm_ck_check_part(const fm_ck_reader *r, const fm_ck_header *m, uint32_t index,
                           const fm_ck_part *rec);

/* The configuration to rebuild a map from a checkpoint header: the file's
 * settings, changed by `overrides` where they are set (see flashmap.h). */
fm_status fm_ck_config(const fm_ck_header *h, const fm_config *overrides, const char *func,
                       fm_config *out);

/* The batch size (entries) a loader reads at a time: whole blocks, about
 * 8 MiB, less for a small file. */
uint64_t fm_ck_batch_entries(const fm_ck_header *h);

/* ---- the public calls --------------------------------------------------- */

fm_status fm_checkpoint_save(fm_map *map, const char *path);
fm_status fm_checkpoint_load(const char *path, const fm_config *overrides, fm_map **map_out);
/* In checkpoint_mpi.c (MPI builds): fm_save on a collective map. */
fm_status fm_checkpoint_save_mpi(fm_map *map, const char *path);

#ifdef __cplusplus
}
#endif

#endif
