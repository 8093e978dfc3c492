/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "api/fm_room.h"

#include "cpu/fm_cpu_table.h"

fm_status fm_room_initial_slots(fm_map *map, uint64_t *slots_out)
{
    const fm_config *cfg = &map->cfg;
    *slots_out = fm_slots_for(cfg->capacity, cfg->max_load);
    if (*slots_out == 0)
        return fm_fail(map, FM_ERR_NOMEM, "capacity %llu needs more than 2^63 slots",
                       (unsigned long long)cfg->capacity);
    return FM_OK;
}

uint64_t fm_room_headroom(const fm_map *map, uint64_t slots, uint64_t live, uint64_t tombstones)
{
    const uint64_t limit = fm_load_limit(slots, map->cfg.max_load);
    const uint64_t used = live + tombstones;
    uint64_t headroom = limit > used ? limit - used : 0;
    if (map->cfg.flags & FM_FIXED_CAPACITY) {
        const uint64_t below_capacity = map->cfg.capacity > live ? map->cfg.capacity - live : 0;
        if (below_capacity < headroom) headroom = below_capacity;
    }
    return headroom;
}

fm_status fm_room_plan(fm_map *map, uint64_t slots, uint64_t live, uint64_t tombstones,
                       uint64_t fresh, uint64_t *slots_out)
{
    const double max_load = map->cfg.max_load;
    const int fixed = (map->cfg.flags & FM_FIXED_CAPACITY) != 0;
    const uint64_t limit = fm_load_limit(slots, max_load);
    const uint64_t needed = live + fresh;
    *slots_out = 0;
    if (fixed && needed > map->cfg.capacity)
        return fm_fail(map, FM_ERR_FULL,
                       "batch adds %llu new keys to %llu live entries; fixed capacity is %llu",
                       (unsigned long long)fresh, (unsigned long long)live,
                       (unsigned long long)map->cfg.capacity);
    if (needed + tombstones <= limit) return FM_OK;
    uint64_t new_slots = fixed ? slots : fm_slots_for(needed, max_load);
    /* Growing by just enough would rehash again soon: keep headroom. */
    if (!fixed && new_slots <= slots && needed * 4 > limit * 3) new_slots = slots * 2;
    if (new_slots == 0)
        return fm_fail(map, FM_ERR_NOMEM, "%llu entries need more than 2^63 slots",
                       (unsigned long long)needed);
    *slots_out = new_slots < slots ? slots : new_slots;
    return FM_OK;
}
