/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Agreements of MPI maps: every collective step ends with every rank
 * knowing the worst status any rank had, and the message of the lowest
 * rank that had it, so all ranks return the same status.
 *
 * The first collective of every call also carries which call it is and its
 * number on the map: ranks that make different calls (one inserts, another
 * gets) all see both in that same collective and return FM_ERR_INVALID
 * before any data moves, instead of meeting the wrong collectives and
 * hanging or failing apart. One MPI_Allreduce does it, with a reduction of
 * tallies (fm_mpi_tally) that keeps maxima, sums and the two calls. */
#include <stdio.h>
#include <string.h>

#include "mpi/fm_mpi_map.h"

/* Turns an MPI error code into FM_ERR_COMM with MPI's message. */
fm_status fm_mpi_failed(fm_map *map, int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", rc);
    return fm_fail(map, FM_ERR_COMM, "%s failed: %s", what, text);
}

/* Ranks whose worst status is `worst` get the message of rank `first`. */
static fm_status spread_message(fm_map *map, MPI_Comm comm, int rank, int first, fm_status worst)
{
    char msg[FM_ERROR_LEN];
    if (rank == first) memcpy(msg, map->error, sizeof msg);
    FM_MPI(map, MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm));
    if (rank != first) {
        msg[sizeof msg - 1] = '\0';
        fm_fail(map, worst, "on rank %d: %s", first, fm_error_detail(msg));
    }
    return worst;
}

/* Every rank returns the most negative status any rank had, with the
 * message of the lowest rank that had it. */
fm_status fm_mpi_agree_comm(fm_map *map, MPI_Comm comm, int rank, int size, fm_status mine)
{
    int local = (int)mine, worst = 0;
    FM_MPI(map, MPI_Allreduce(&local, &worst, 1, MPI_INT, MPI_MIN, comm));
    if (worst == FM_OK) return FM_OK;
    int me = mine == worst ? rank : size, first = size;
    FM_MPI(map, MPI_Allreduce(&me, &first, 1, MPI_INT, MPI_MIN, comm));
    return spread_message(map, comm, rank, first, (fm_status)worst);
}

/* ---- tallies ------------------------------------------------------------- */

static int same_call(const uint64_t *a, const uint64_t *b) { return a[1] == b[1] && a[2] == b[2]; }

/* Of the ranks t covers, the lowest whose call differs from ref's. */
static const uint64_t *differing(const fm_mpi_tally *t, const uint64_t *ref)
{
    return same_call(t->first, ref) ? t->other : t->first;
}

/* MPI's reduction of tallies (commutative and associative: each field only
 * keeps a maximum, a sum or the lowest rank with a property). */
static void tally_reduce(void *in_v, void *inout_v, int *len, MPI_Datatype *type)
{
    (void)type;
    const fm_mpi_tally *in = in_v;
    fm_mpi_tally *io = inout_v;
    for (int i = 0; i < *len; i++, in++, io++) {
        if (in->worst > io->worst || (in->worst == io->worst && in->worst_rank < io->worst_rank)) {
            io->worst = in->worst;
            io->worst_rank = in->worst_rank;
        }
        uint64_t first[3], other[3];
        memcpy(first, in->first[0] < io->first[0] ? in->first : io->first, sizeof first);
        const uint64_t *a = differing(in, first), *b = differing(io, first);
        memcpy(other, a[0] < b[0] ? a : b, sizeof other);
        memcpy(io->first, first, sizeof first);
        memcpy(io->other, other, sizeof other);
        if (in->leaving > io->leaving) io->leaving = in->leaving;
        for (int k = 0; k < 4; k++) {
            if (in->max[k] > io->max[k]) io->max[k] = in->max[k];
            io->sum[k] += in->sum[k];
        }
    }
}

fm_status fm_mpi_tally_open(fm_map *map)
{
    mpi_map *m = mpi_of(map);
    const int words = (int)(sizeof(fm_mpi_tally) / sizeof(uint64_t));
    FM_MPI(map, MPI_Type_contiguous(words, MPI_UINT64_T, &m->tally_type));
    FM_MPI(map, MPI_Type_commit(&m->tally_type));
    FM_MPI(map, MPI_Op_create(tally_reduce, 1, &m->tally_op));
    return FM_OK;
}

void fm_mpi_tally_close(mpi_map *m)
{
    if (m->tally_op != MPI_OP_NULL) MPI_Op_free(&m->tally_op);
    if (m->tally_type != MPI_DATATYPE_NULL) MPI_Type_free(&m->tally_type);
}

/* One tally over the ranks: this rank's status, call and values in, every
 * rank's reduction out (t). The message of a failure is not spread yet. */
static fm_status reduce(fm_map *map, fm_status mine, uint64_t call, uint64_t number, fm_mpi_tally *t)
{
    mpi_map *m = mpi_of(map);
    const uint64_t rank = (uint64_t)m->rank;
    t->worst = (uint64_t)-(int64_t)mine;
    t->worst_rank = rank;
    t->first[0] = rank;
    t->first[1] = call;
    t->first[2] = number;
    t->other[0] = FM_MPI_NO_RANK;
    t->other[1] = t->other[2] = 0;
    fm_mpi_tally in = *t;
    FM_MPI(map, MPI_Allreduce(&in, t, 1, m->tally_type, m->tally_op, m->comm));
    return FM_OK;
}

/* The status every rank returns after a reduction without a mismatch. */
static fm_status settle(fm_map *map, const fm_mpi_tally *t)
{
    mpi_map *m = mpi_of(map);
    const fm_status worst = (fm_status) - (int64_t)t->worst;
    if (worst == FM_OK) return FM_OK;
    return spread_message(map, m->comm, m->rank, (int)t->worst_rank, worst);
}

/* Agreements inside a call carry this call number: never a first
 * collective's, so a rank that is one collective ahead would be named. */
#define INSIDE_A_CALL 0

static const char *call_name(uint64_t call, uint64_t number)
{
    static const char *const names[FM_CALL_COUNT] = {
        [FM_CALL_INSERT] = "fm_bulk_insert", [FM_CALL_GET] = "fm_bulk_get",
        [FM_CALL_REMOVE] = "fm_bulk_remove", [FM_CALL_ADD] = "fm_bulk_add_u64",
        [FM_CALL_SIZE] = "fm_size",          [FM_CALL_STATS] = "fm_get_stats",
        [FM_CALL_CLEAR] = "fm_clear",        [FM_CALL_SAVE] = "fm_save",
        [FM_CALL_DESTROY] = "fm_destroy",
    };
    if (number == INSIDE_A_CALL) return "a step inside another call";
    return call < FM_CALL_COUNT ? names[call] : "an unknown call";
}

/* The calls differ: the same message on every rank. */
static fm_status mismatch(fm_map *map, const fm_mpi_tally *t)
{
    const uint64_t *a = t->other, *b = t->first;
    const unsigned long long ra = a[0], rb = b[0], na = a[2], nb = b[2];
    if (na == nb)
        return fm_fail(map, FM_ERR_INVALID,
                       "rank %llu called %s where rank %llu called %s, call %llu on this map (every rank must "
                       "make the same collective calls in the same order); nothing was changed",
                       ra, call_name(a[1], na), rb, call_name(b[1], nb), nb);
    return fm_fail(map, FM_ERR_INVALID,
                   "rank %llu made call %llu on this map (%s) where rank %llu made call %llu (%s): the ranks "
                   "are out of step; nothing was changed",
                   ra, na, call_name(a[1], na), rb, nb, call_name(b[1], nb));
}

/* After a mismatch with a rank that destroyed the map: the map is gone
 * there, so no later collective could be met here. */
static void close_map(fm_map *map, fm_call call)
{
    mpi_map *m = mpi_of(map);
    m->closed = 1;
    snprintf(m->closed_why, sizeof m->closed_why,
             "another rank destroyed this map where this rank called %s, call %llu on this map; every call "
             "on it now fails: call fm_destroy",
             call_name(call, m->calls), (unsigned long long)m->calls);
}

fm_status fm_mpi_call(fm_map *map, fm_call call, fm_status mine, fm_mpi_tally *t)
{
    mpi_map *m = mpi_of(map);
    if (m->closed) return fm_fail(map, FM_ERR_INVALID, "%s: %s", call_name(call, 1), m->closed_why);
    const uint64_t number = ++m->calls;
    fm_status st = reduce(map, mine, (uint64_t)call, number, t);
    if (st != FM_OK) return st;
    if (t->other[0] != FM_MPI_NO_RANK) {
        st = mismatch(map, t);
        if (t->leaving && call != FM_CALL_DESTROY) {
            char what[FM_ERROR_LEN];
            snprintf(what, sizeof what, "%s", fm_error_detail(map->error));
            close_map(map, call);
            fm_fail(map, st, "%s; the map is closed here: every later call fails, call fm_destroy", what);
        }
        return st;
    }
    return settle(map, t);
}

fm_status fm_mpi_call_agree(fm_map *map, fm_call call, fm_status mine)
{
    fm_mpi_tally t;
    memset(&t, 0, sizeof t);
    return fm_mpi_call(map, call, mine, &t);
}

fm_status fm_mpi_agree_tally(fm_map *map, fm_status mine, fm_mpi_tally *t)
{
    fm_status st = reduce(map, mine, 0, INSIDE_A_CALL, t);
    if (st != FM_OK) return st;
    if (t->other[0] != FM_MPI_NO_RANK) return mismatch(map, t);
    return settle(map, t);
}

fm_status fm_mpi_agree(fm_map *map, fm_status mine)
{
    fm_mpi_tally t;
    memset(&t, 0, sizeof t);
    return fm_mpi_agree_tally(map, mine, &t);
}

/* fm_mpi_agree, and in the same collective the largest of each of `count`
 * (at most 3) values over the ranks. */
fm_status fm_mpi_agree_max(fm_map *map, fm_status mine, uint64_t *values, int count)
{
    fm_mpi_tally t;
    memset(&t, 0, sizeof t);
    memcpy(t.max, values, (size_t)count * sizeof *values);
    const fm_status st = fm_mpi_agree_tally(map, mine, &t);
    memcpy(values, t.max, (size_t)count * sizeof *values);
    return st;
}
