/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The database `count` writes and the other verbs read.
 *
 * DB is a checkpoint of the counting map (fm_save; docs/checkpoint-format.md):
 * one data file DB after a count alone, or on P ranks the manifest DB and
 * one part DB.rank<r>-of-<P> per rank; every verb reads either. Keys are
 * the 2-bit k-mer codes of kmer_code.h, values the counts (uint64). What
 * the checkpoint does not say, the k-mer length and whether k-mers are
 * canonical, is in a small text sidecar, DB.kmer, written atomically (a
 * temporary file, fsync, rename) after the checkpoint, which names the
 * checkpoint's id: a sidecar left from another run is refused. */
#ifndef KMER_DB_H
#define KMER_DB_H

#include <stddef.h>
#include <stdint.h>

#include <flashmap_mpi.h>

#include "kmer_ctx.h"
#include "kmer_error.h"

typedef struct km_dbinfo {
    int k;
    int canonical;
    uint64_t checkpoint_id;
    uint64_t entries;     /* from the manifest header */
    uint64_t lower_count; /* the count filter applied before saving (1: none) */
    uint64_t upper_count; /* UINT64_MAX: none */
} km_dbinfo;

typedef struct km_db {
    km_dbinfo info;
    fm_map *map;
    int mpi; /* loaded on every rank of MPI_COMM_WORLD (fm_load_mpi) */
} km_db;

/* The sidecar's name: db + ".kmer" (into buf; -1 when it does not fit). */
int km_db_sidecar_path(const char *db, char *buf, size_t n);

/* Reads the checkpoint header of db: its id and entries. Checks that it
 * is a flashmap checkpoint of 8-byte values and the key size given. */
int km_db_read_header(const char *db, uint32_t key_size, uint64_t *checkpoint_id, uint64_t *entries, km_err *err);

/* Writes db's sidecar (after fm_save wrote db). */
int km_db_write_sidecar(const char *db, const km_dbinfo *info, km_err *err);

/* Saves the counting map as database db (collective): fm_save, then rank 0
 * writes the sidecar with the checkpoint's id (info's k, canonical and
 * counts; its checkpoint_id and entries are filled in). If the sidecar
 * cannot be written the checkpoint is removed; once it is, rank 0 removes
 * the parts of an older save of db made by another rank count
 * (kmer_dbpath.h). Returns 0, or 1 after a failure (reported on stderr by
 * rank 0). */
int km_db_save(const km_ctx *ctx, fm_map *map, const char *db, const km_dbinfo *info);

/* Reads the sidecar and the checkpoint header and checks they belong together. */
int km_db_read_info(const char *db, km_dbinfo *info, km_err *err);

/* Opens a database: fm_load in one process, or fm_load_mpi over
 * MPI_COMM_WORLD when mpi is set (collective; every rank gets the same
 * status, the lowest failing rank's message in err). */
int km_db_open(const char *db, int mpi, km_db *out, km_err *err);

/* Calls fn on this process's entries, a chunk at a time (on an MPI
 * database: this rank's entries only). fn returns 0 to go on. */
typedef int (*km_db_fn)(const void *keys, const uint64_t *counts, size_t n, void *ctx);
int km_db_foreach(km_db *db, km_db_fn fn, void *ctx, km_err *err);

void km_db_close(km_db *db);

#endif
