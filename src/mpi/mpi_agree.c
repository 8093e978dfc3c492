/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Agreements of MPI maps: every collective step ends with every rank
 * knowing the worst status any rank had, and the message of the lowest
 * rank that had it, so all ranks return the same status. */
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

/* Once every rank knows `worst`, the most negative status any rank had:
 * ranks that did not fail get the message of the lowest rank that did. */
static fm_status settle(fm_map *map, MPI_Comm comm, int rank, int size, fm_status mine, fm_status worst)
{
    if (worst == FM_OK) return FM_OK;
    int me = mine == worst ? rank : size, first = size;
    FM_MPI(map, MPI_Allreduce(&me, &first, 1, MPI_INT, MPI_MIN, comm));
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
    return settle(map, comm, rank, size, mine, (fm_status)worst);
}

fm_status fm_mpi_agree(fm_map *map, fm_status mine)
{
    mpi_map *m = mpi_of(map);
    return fm_mpi_agree_comm(map, m->comm, m->rank, m->size, mine);
}

/* fm_mpi_agree, and in the same collective the largest of each of `count`
 * (at most 3) values over the ranks: a bulk call's agreements ride along
 * with the sizes it must agree on anyway. */
fm_status fm_mpi_agree_max(fm_map *map, fm_status mine, uint64_t *values, int count)
{
    mpi_map *m = mpi_of(map);
    uint64_t in[4] = {(uint64_t)-(int64_t)mine, 0, 0, 0}, out[4] = {0, 0, 0, 0};
    memcpy(in + 1, values, (size_t)count * sizeof *values);
    FM_MPI(map, MPI_Allreduce(in, out, count + 1, MPI_UINT64_T, MPI_MAX, m->comm));
    memcpy(values, out + 1, (size_t)count * sizeof *values);
    return settle(map, m->comm, m->rank, m->size, mine, (fm_status)-(int64_t)out[0]);
}
