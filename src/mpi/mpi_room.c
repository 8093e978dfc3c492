/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Room for an insert's or add's new keys on every rank before any rank
 * writes. A fixed map's capacity is the whole map's (shard/fm_parts.h):
 * the ranks' live entries and new keys are summed in the agreements that
 * decide anyway, so a fixed map costs no extra collective. */
#include <string.h>

#include "mpi/fm_mpi_map.h"
#include "shard/fm_parts.h"

fm_status fm_mpi_room_check(fm_map *map, fm_map *local, fm_status mine, int writes, uint64_t received,
                            int *count_first, int *tentative)
{
    const int fixed = (map->cfg.flags & FM_FIXED_CAPACITY) != 0;
    fm_mpi_tally t;
    memset(&t, 0, sizeof t);
    if (mine == FM_OK && writes) {
        t.max[0] = received > local->ops->headroom(local);
        /* A fixed map's total is known only once its new keys are counted. */
        t.max[1] = fixed || !fm_write_tentative_ok(local);
        t.sum[0] = local->ops->size(local);
        t.sum[1] = received;
    }
    *count_first = 0;
    if (tentative) *tentative = 0;
    const fm_status st = fm_mpi_agree_tally(map, mine, &t);
    if (st != FM_OK) return st;
    *count_first = t.max[0] || (fixed && t.sum[0] + t.sum[1] > map->cfg.capacity);
    if (tentative) *tentative = !t.max[1];
    return FM_OK;
}

fm_status fm_mpi_room_make(fm_map *map, fm_map *local, uint64_t fresh)
{
    fm_status mine = FM_OK;
    if (fresh > local->ops->headroom(local)) {
        mine = local->ops->make_room_for(local, fresh);
        if (mine == FM_ERR_FULL)
            fm_fail(map, mine, "rank %d's table is full (%s): its keys fall unevenly, past the headroom of its share",
                    mpi_of(map)->rank, fm_error_detail(local->error));
        else if (mine != FM_OK)
            fm_fail(map, mine, "%s", fm_error_detail(local->error));
    }
    fm_mpi_tally t;
    memset(&t, 0, sizeof t);
    t.sum[0] = local->ops->size(local);
    t.sum[1] = fresh;
    const fm_status st = fm_mpi_agree_tally(map, mine, &t);
    if (st != FM_OK && st != FM_ERR_FULL) return st;
    if ((map->cfg.flags & FM_FIXED_CAPACITY) && t.sum[0] + t.sum[1] > map->cfg.capacity)
        return fm_parts_full(map, t.sum[0], t.sum[1]); /* the same on every rank */
    return st;
}
