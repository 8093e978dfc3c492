/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Test helpers that look at a flashmap map (and at checkpoint directories)
 * from the outside, shared by the checkpoint and fault-injection tests. */
#ifndef FLASHMAP_TESTS_MAP_CHECK_H
#define FLASHMAP_TESTS_MAP_CHECK_H

#include <flashmap.h>
#include <stdint.h>

#include "reference_map.h"

/* 1 when the map holds exactly the reference's entries: fm_size, a full
 * fm_export (each key once, right value) and a bulk get of every reference
 * key agree. Otherwise prints what differs, prefixed by `what`, and
 * returns 0. */
int mc_same_contents(fm_map *m, const ref_map *ref, uint32_t key_size, uint32_t value_size,
                     const char *what);

/* Files in dir whose names contain ".tmp." (temporaries a save left), or -1
 * when dir cannot be read. */
int mc_count_temp_files(const char *dir);

/* rm -rf dir (no links followed). */
void mc_remove_tree(const char *dir);

#endif
