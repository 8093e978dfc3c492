/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/*
 * A deliberately simple reference map for the differential tests.
 *
 * Fixed-size byte-string keys and values, separate chaining with a plain
 * FNV-1a hash, entries in one growable array with a free list. Nothing here
 * shares code or ideas with flashmap's open-addressing tables: the point is
 * to be obviously correct, not fast (it is still O(1) per operation, so a few
 * hundred thousand entries are no problem).
 *
 * Every live entry has an id (an index < ref_id_limit()) that stays the same
 * until the entry is removed; tests use ids to mark entries as "seen", e.g.
 * to find duplicates in an export.
 */
#ifndef FLASHMAP_TESTS_REFERENCE_MAP_H
#define FLASHMAP_TESTS_REFERENCE_MAP_H

#include <stddef.h>
#include <stdint.h>

typedef struct ref_map ref_map;

#define REF_NONE SIZE_MAX

/* NULL when out of memory. value_size may be 0 (a set). */
ref_map *ref_create(size_t key_size, size_t value_size);
void ref_destroy(ref_map *m);
void ref_clear(ref_map *m);

size_t ref_size(const ref_map *m);     /* live entries */
size_t ref_id_limit(const ref_map *m); /* every id is below this */

/* The id of the entry with this key, or REF_NONE. */
size_t ref_find(const ref_map *m, const void *key);
const uint8_t *ref_key(const ref_map *m, size_t id);
uint8_t *ref_value(const ref_map *m, size_t id); /* value_size bytes */

/* Insert or overwrite. value NULL stores zero bytes. Returns 1 if the key was
 * new, 0 if it was updated. Aborts when out of memory. */
int ref_put(ref_map *m, const void *key, const void *value);

/* Returns 1 if the key was present (and is now gone), else 0. */
int ref_remove(ref_map *m, const void *key);

/* value_size must be 8: a counter in native byte order, += delta wrapping,
 * inserted as delta when absent. Returns the new value. */
uint64_t ref_add_u64(ref_map *m, const void *key, uint64_t delta);

#endif
