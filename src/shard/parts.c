/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "shard/fm_parts.h"

#include "cpu/fm_cpu_table.h" /* fm_slots_for, shared by every table */

void fm_part_config(fm_config *part, const fm_config *whole, uint64_t parts)
{
    const uint64_t share = fm_part_share(whole->capacity, parts);
    part->capacity = share;
    if (!(whole->flags & FM_FIXED_CAPACITY) || parts <= 1) return;
    part->capacity = fm_part_capacity(whole->capacity, parts);
    const uint64_t slots = fm_slots_for(share, whole->max_load);
    if (slots == 0) return; /* too large: creating the table reports it */
    /* Half an entry over, so that floor(slots * load) is the capacity
     * despite rounding. */
    const double load = ((double)part->capacity + 0.5) / (double)slots;
    if (load > whole->max_load && load <= FM_PART_MAX_LOAD) part->max_load = load;
}

fm_status fm_parts_full(fm_map *map, uint64_t live, uint64_t fresh)
{
    return fm_fail(map, FM_ERR_FULL, "batch adds %llu new keys to %llu live entries; fixed capacity is %llu",
                   (unsigned long long)fresh, (unsigned long long)live, (unsigned long long)map->cfg.capacity);
}
