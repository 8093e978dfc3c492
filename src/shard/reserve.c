/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "api/fm_map.h"

fm_status fm_reserve_batch(fm_map *map, const void *keys, size_t n)
{
    const uint64_t headroom = map->ops->headroom(map);
    if (n <= headroom) return FM_OK; /* even if every key is new */
    uint64_t fresh = 0;
    fm_status st = map->ops->count_new(map, keys, n, headroom, &fresh);
    if (st != FM_OK || fresh <= headroom) return st;
    return map->ops->make_room_for(map, fresh);
}

int fm_write_tentative_ok(const fm_map *map)
{
    return map->ops->keep_write && map->ops->undo_write && map->ops->probes_once && map->ops->probes_once(map);
}
