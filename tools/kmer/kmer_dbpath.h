/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The files of a database on disk, before and after `count` writes it:
 * that the output can be written (checked before counting), and the parts
 * of an older save of the same name left by another rank count (removed
 * after a successful save). See kmer_db.h for the files themselves. */
#ifndef KMER_DBPATH_H
#define KMER_DBPATH_H

#include "kmer_ctx.h"
#include "kmer_error.h"

/* Collective. 0 when every rank can create db and its part file: db is
 * not a directory and its directory takes a new file (a probe file is
 * created and removed). Otherwise 1 on every rank, after the lowest failing
 * rank printed why. */
int km_dbpath_check_writable(const km_ctx *ctx, const char *db);

/* Rank 0 removes db.rank<r>-of-<P> for every P other than ctx->size (parts
 * of an older save with another rank count), every P after a save alone. Not collective; call it once
 * the new save is complete. 0, or -1 with the first file that could not be
 * removed in err. */
int km_dbpath_remove_stale_parts(const km_ctx *ctx, const char *db, km_err *err);

#endif
