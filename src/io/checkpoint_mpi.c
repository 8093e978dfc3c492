/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Checkpoints of MPI maps (docs/checkpoint-format.md, "MPI checkpoints").
 *
 * fm_save on an MPI map: every rank writes its shard to its own part file,
 * path + ".rank<r>-of-<P>", through a temporary name; once every rank has
 * written and synced its part they all rename; then rank 0 writes the
 * manifest (path itself) the same way. The manifest and its parts share a
 * checkpoint id, so parts of two different saves are never mixed silently.
 *
 * fm_load_mpi: every rank reads the header (and manifest) of path; rank r
 * reads files r, r + M, r + 2M, ... of the checkpoint and inserts their
 * entries with collective fm_bulk_insert calls, which send every entry to
 * its owner on the new map, whatever the number of ranks that wrote it.
 *
 * Every step ends with an agreement, so all ranks return the same status
 * (with the message of the lowest failing rank) and none is left waiting. */
#include <flashmap_mpi.h>

#include <stdlib.h>
#include <string.h>

#include "api/fm_alloc.h"
#include "io/fm_checkpoint.h"

/* In mpi_map.c: the communicator of an MPI map. */
MPI_Comm fm_mpi_map_comm(fm_map *map);

/* Every rank returns the most negative status of any rank; the others get
 * the message of the lowest rank that had it, recorded on `report` (NULL:
 * the thread's fm_last_error). */
static fm_status agree_on(MPI_Comm comm, fm_map *report, fm_status mine)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    int local = (int)mine, worst = 0;
    if (MPI_Allreduce(&local, &worst, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return fm_fail(report, FM_ERR_COMM, "MPI_Allreduce failed while agreeing on a checkpoint's status");
    if (worst == FM_OK) return FM_OK;
    int me = local == worst ? rank : size, first = size;
    char msg[FM_ERROR_LEN];
    memset(msg, 0, sizeof msg);
    if (MPI_Allreduce(&me, &first, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS)
        return fm_fail(report, (fm_status)worst, "a rank failed (and MPI_Allreduce failed while finding which)");
    if (rank == first) memcpy(msg, fm_last_error(report), sizeof msg);
    if (MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm) != MPI_SUCCESS)
        return fm_fail(report, (fm_status)worst, "rank %d failed (MPI_Bcast of its message failed)", first);
    if (rank != first) {
        msg[sizeof msg - 1] = '\0';
        const char *prefix = fm_status_str((fm_status)worst);
        const size_t skip = strncmp(msg, prefix, strlen(prefix)) == 0 ? strlen(prefix) + 2 : 0;
        fm_fail(report, (fm_status)worst, "on rank %d: %s", first, msg + (skip < strlen(msg) ? skip : 0));
    }
    return (fm_status)worst;
}

/* ---- saving ---------------------------------------------------------------- */

/* Rank 0's manifest: the header, one record per part, a checksum. */
static fm_status write_manifest(fm_map *map, const char *path, const fm_ck_header *part_header,
                                const uint64_t *all, int P)
{
    fm_ck_header h = *part_header;
    h.kind = FM_CK_KIND_MANIFEST;
    h.part_index = 0;
    h.block_entries = 0;
    h.entries = 0;
    const size_t body = (size_t)P * FM_CK_PART_RECORD_SIZE, len = FM_CK_HEADER_SIZE + body + 8;
    uint8_t *bytes = fm_calloc(1, len);
    if (!bytes) return fm_fail(map, FM_ERR_NOMEM, "no memory for a manifest of %d parts", P);
    uint8_t *rec = bytes + FM_CK_HEADER_SIZE;
    for (int p = 0; p < P; p++) {
        fm_ck_put64(rec + (size_t)p * FM_CK_PART_RECORD_SIZE, all[3 * p]);
        fm_ck_put64(rec + (size_t)p * FM_CK_PART_RECORD_SIZE + 8, all[3 * p + 1]);
        fm_ck_put64(rec + (size_t)p * FM_CK_PART_RECORD_SIZE + 16, all[3 * p + 2]);
        h.entries += all[3 * p];
    }
    fm_ck_put64(rec + body, fm_ck_checksum(rec, body));
    fm_ck_header_encode(&h, bytes);
    fm_status st = fm_ck_write_file(map, path, bytes, len);
    free(bytes);
    return st;
}

fm_status fm_checkpoint_save_mpi(fm_map *map, const char *path)
{
    MPI_Comm comm = fm_mpi_map_comm(map);
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    /* The call's first collective: checks that every rank is saving, and
     * meets the agreement of a rank whose arguments failed (fm_save). */
    fm_status st = map->ops->agree(map, FM_CALL_SAVE, FM_OK);
    if (st != FM_OK) return st;
    fm_ck_header h;
    fm_ck_header_for(&h, map, FM_CK_KIND_PART);
    uint64_t id = h.checkpoint_id;
    if (MPI_Bcast(&id, 1, MPI_UINT64_T, 0, comm) != MPI_SUCCESS)
        return fm_fail(map, FM_ERR_COMM, "fm_save: MPI_Bcast of the checkpoint id failed");
    h.checkpoint_id = id;
    h.part_index = (uint32_t)rank;
    h.part_count = (uint32_t)size;

    fm_ck_writer w;
    memset(&w, 0, sizeof w);
    uint64_t *all = NULL;
    char *part = fm_ck_part_path(path, (uint32_t)rank, (uint32_t)size);
    if (!part) st = fm_fail(map, FM_ERR_NOMEM, "fm_save: no memory for a file name");
    if (st == FM_OK) st = fm_ck_writer_open(&w, map, part, &h);
    if (st == FM_OK) st = fm_ck_writer_put_map(&w, map);
    if (st == FM_OK) st = fm_ck_writer_finish(&w);
    /* Every part written and synced before any replaces an older one. */
    if ((st = agree_on(comm, map, st)) != FM_OK) goto done;
    st = fm_ck_writer_commit(&w);
    if (rank == 0 && st == FM_OK) {
        all = fm_alloc((size_t)size * 3 * sizeof *all);
        if (!all) st = fm_fail(map, FM_ERR_NOMEM, "fm_save: no memory for %d part records", size);
    }
    if ((st = agree_on(comm, map, st)) != FM_OK) goto done;
    uint64_t mine[3] = {w.entries, w.digest, w.file_size};
    if (MPI_Gather(mine, 3, MPI_UINT64_T, all, 3, MPI_UINT64_T, 0, comm) != MPI_SUCCESS)
        st = fm_fail(map, FM_ERR_COMM, "fm_save: MPI_Gather of the part records failed");
    if (rank == 0 && st == FM_OK) st = write_manifest(map, path, &h, all, size);
    st = agree_on(comm, map, st);
done:
    fm_ck_writer_abort(&w); /* removes this rank's temporary file unless it was renamed */
    free(part);
    free(all);
    return st;
}

/* ---- loading ---------------------------------------------------------------- */

/* Opens part `index` of the checkpoint and checks it against the manifest. */
static fm_status open_part(fm_ck_reader *r, const char *path, const fm_ck_header *m, const fm_ck_part *parts,
                           uint32_t index)
{
    char *name = fm_ck_part_path(path, index, m->part_count);
    if (!name) return fm_fail(NULL, FM_ERR_NOMEM, "fm_load_mpi: no memory for a file name");
    fm_status st = fm_ck_reader_open(r, NULL, name);
    free(name);
    if (st == FM_OK) st = fm_ck_check_part(r, m, index, &parts[index]);
    return st;
}

static fm_status ensure_batch(const fm_ck_header *h, uint8_t **keys, uint8_t **values, uint64_t *cap)
{
    const uint64_t want = fm_ck_batch_entries(h);
    if (want <= *cap) return FM_OK;
    fm_free(*keys);
    fm_free(*values);
    *cap = 0;
    *keys = fm_alloc((size_t)(want * h->key_size));
    *values = h->value_size ? fm_alloc((size_t)(want * h->value_size)) : NULL;
    if (!*keys || (h->value_size && !*values))
        return fm_fail(NULL, FM_ERR_NOMEM, "fm_load_mpi: no memory for a read batch of %llu entries",
                       (unsigned long long)want);
    *cap = want;
    return FM_OK;
}

fm_status fm_load_mpi(MPI_Comm comm, const char *path, const fm_config *overrides, fm_map **map_out)
{
    if (map_out) *map_out = NULL;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) return fm_fail(NULL, FM_ERR_INVALID, "fm_load_mpi: call MPI_Init first");
    if (comm == MPI_COMM_NULL) return fm_fail(NULL, FM_ERR_INVALID, "fm_load_mpi: comm is MPI_COMM_NULL");
    int rank = 0, size = 1;
    if (MPI_Comm_rank(comm, &rank) != MPI_SUCCESS || MPI_Comm_size(comm, &size) != MPI_SUCCESS)
        return fm_fail(NULL, FM_ERR_COMM, "fm_load_mpi: comm is not a valid communicator");
    fm_status st = FM_OK;
    if (!path) st = fm_fail(NULL, FM_ERR_INVALID, "fm_load_mpi: path is NULL");
    else if (!map_out) st = fm_fail(NULL, FM_ERR_INVALID, "fm_load_mpi: map_out is NULL");
    if ((st = agree_on(comm, NULL, st)) != FM_OK) return st;

    /* Every rank reads the header (and the manifest) itself. */
    fm_ck_reader r;
    fm_ck_part *parts = NULL;
    fm_ck_header h;
    fm_map *map = NULL;
    uint8_t *keys = NULL, *values = NULL;
    uint64_t cap = 0;
    memset(&h, 0, sizeof h);
    st = fm_ck_reader_open(&r, NULL, path);
    if (st == FM_OK) h = r.h;
    if (st == FM_OK && h.kind == FM_CK_KIND_PART)
        st = fm_fail(NULL, FM_ERR_INVALID, "fm_load_mpi: %s is part %u of %u of an MPI checkpoint; load its manifest "
                     "(the path given to fm_save) instead", path, h.part_index, h.part_count);
    if (st == FM_OK && h.kind == FM_CK_KIND_MANIFEST) {
        st = fm_ck_read_manifest(&r, &parts);
        fm_ck_reader_close(&r);
    }
    fm_config cfg;
    if (st == FM_OK) st = fm_ck_config(&h, overrides, "fm_load_mpi", &cfg);
    /* MPI maps hold one shard per rank unless told otherwise. */
    if (st == FM_OK && !(overrides && overrides->shards)) cfg.shards = 1;
    if ((st = agree_on(comm, NULL, st)) != FM_OK) goto done;
    if ((st = fm_create_mpi(comm, &cfg, &map)) != FM_OK) {
        char why[FM_ERROR_LEN];
        memcpy(why, fm_last_error(NULL), sizeof why);
        fm_fail(NULL, st, "fm_load_mpi: cannot create the map for %s: %s", path, why);
        goto done;
    }

    /* Rank r reads files r, r + size, ...; a data file is file 0 of 1. */
    const uint32_t files = h.kind == FM_CK_KIND_MANIFEST ? h.part_count : 1;
    uint32_t next = (uint32_t)rank;
    int open_now = 0;
    if (h.kind == FM_CK_KIND_DATA) {
        if (rank == 0) {
            open_now = 1;
            next += (uint32_t)size;
        } else {
            fm_ck_reader_close(&r);
        }
    }
    for (;;) {
        uint64_t n = 0;
        fm_status mine = FM_OK;
        if (open_now) mine = ensure_batch(&r.h, &keys, &values, &cap);
        while (mine == FM_OK && n == 0) {
            if (!open_now) {
                if (next >= files) break;
                mine = open_part(&r, path, &h, parts, next);
                if (mine == FM_OK) mine = ensure_batch(&r.h, &keys, &values, &cap);
                if (mine != FM_OK) break;
                open_now = 1;
                next += (uint32_t)size;
            }
            mine = fm_ck_reader_next(&r, keys, values, cap, &n);
            if (mine == FM_OK && n == 0) {
                fm_ck_reader_close(&r);
                open_now = 0;
            }
        }
        if ((st = agree_on(comm, NULL, mine)) != FM_OK) break;
        int done_here = n == 0, all_done = 0;
        if (MPI_Allreduce(&done_here, &all_done, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) {
            st = fm_fail(NULL, FM_ERR_COMM, "fm_load_mpi: MPI_Allreduce failed");
            break;
        }
        if (all_done) break;
        if ((st = fm_bulk_insert(map, keys, values, (size_t)n)) != FM_OK) {
            char why[FM_ERROR_LEN];
            memcpy(why, fm_last_error(map), sizeof why);
            fm_fail(NULL, st, "fm_load_mpi: cannot insert the entries of %s: %s", path, why);
            break;
        }
    }
    if (st == FM_OK) {
        const uint64_t distinct = fm_size(map);
        if (distinct != h.entries)
            st = fm_fail(NULL, FM_ERR_CORRUPT, "%s: the checkpoint lists %llu entries but only %llu distinct keys "
                         "(duplicate keys)", path, (unsigned long long)h.entries, (unsigned long long)distinct);
    }
done:
    fm_ck_reader_close(&r);
    free(parts);
    fm_free(keys);
    fm_free(values);
    if (st != FM_OK) {
        fm_destroy(map); /* collective: every rank has the same status */
        return st;
    }
    *map_out = map;
    return FM_OK;
}
