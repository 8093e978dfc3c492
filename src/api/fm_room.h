/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* How a one-table backend makes room for new keys: the growth policy that
 * the CPU and CUDA tables share, so both grow, rehash and refuse alike. */
#ifndef FM_ROOM_H
#define FM_ROOM_H

#include "api/fm_map.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The slots a new table gets for cfg->capacity entries within max_load.
 * FM_ERR_NOMEM (with a message) when that would pass 2^63. */
fm_status fm_room_initial_slots(fm_map *map, uint64_t *slots_out);

/* How many new keys a table of `slots` holding live entries and tombstones
 * takes before it must grow (or, fixed, is full or must clear tombstones). */
uint64_t fm_room_headroom(const fm_map *map, uint64_t slots, uint64_t live, uint64_t tombstones);

/* What the table must do to take `fresh` new keys: *slots_out = 0 when it
 * has room already, = slots to clear tombstones in place, > slots to grow
 * to that many slots. FM_ERR_FULL (fixed capacity) or FM_ERR_NOMEM (past
 * 2^63 slots) with a message; the caller then changes nothing. */
fm_status fm_room_plan(fm_map *map, uint64_t slots, uint64_t live, uint64_t tombstones,
                       uint64_t fresh, uint64_t *slots_out);

#ifdef __cplusplus
}
#endif

#endif
