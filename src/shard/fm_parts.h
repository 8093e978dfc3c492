/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Fixed capacity over parts: a fixed-capacity map made of parts (the
 * shards of a sharded map, the ranks of an MPI map) takes up to
 * cfg.capacity live entries in total, however they fall on the parts.
 * Each part's table is sized once, at creation, for its even share plus
 * headroom for keys that hash unevenly: a part is full by itself only when
 * its keys pass that headroom (six standard deviations of a uniform
 * spread: about once in 10^9 for hashed keys, or with keys chosen to fall
 * on one part). */
#ifndef FM_PARTS_H
#define FM_PARTS_H

#include <stdint.h>

#include "api/fm_map.h"

#ifdef __cplusplus
extern "C" {
#endif

static inline uint64_t fm_isqrt(uint64_t x)
{
    uint64_t r = 0;
    for (int b = 31; b >= 0; b--) {
        const uint64_t c = r | ((uint64_t)1 << b);
        if (c * c <= x) r = c;
    }
    return r;
}

/* One part's even share of the capacity, rounded up. */
static inline uint64_t fm_part_share(uint64_t capacity, uint64_t parts)
{
    return parts <= 1 ? capacity : capacity / parts + (capacity % parts != 0);
}

/* The live entries one of `parts` parts of a fixed-capacity map may hold:
 * its share plus 6 sqrt(share) + 16, and never more than the whole
 * capacity. (The tests' model uses this too.) */
static inline uint64_t fm_part_capacity(uint64_t capacity, uint64_t parts)
{
    if (parts <= 1) return capacity;
    const uint64_t share = fm_part_share(capacity, parts);
    const uint64_t part = share + 6 * fm_isqrt(share) + 16;
    return part < capacity ? part : capacity;
}

/* The configuration of one of `parts` parts of a map configured as
 * `whole` (which the caller copied into *part first). Growing maps: the
 * even share. Fixed maps: fm_part_capacity entries in the slots of the
 * even share, at a load a little above max_load where that stays at most
 * FM_PART_MAX_LOAD, else in more slots: memory is fixed at creation. */
#define FM_PART_MAX_LOAD 0.9
void fm_part_config(fm_config *part, const fm_config *whole, uint64_t parts);

/* FM_ERR_FULL for a batch whose `fresh` new keys would take a map of parts
 * past its capacity (the message of a one-table map). */
fm_status fm_parts_full(fm_map *map, uint64_t live, uint64_t fresh);

#ifdef __cplusplus
}
#endif

#endif
