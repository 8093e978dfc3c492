/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Memory of a host table's arrays (tags, keys, values). Large arrays are
 * pages mapped for them alone, so that a growing table keeps the pages it
 * has (mremap) and first-touches only the part it adds; small ones come
 * from fm_alloc. The caller keeps each array's size and passes it back. */
#ifndef FM_TABLE_MEM_H
#define FM_TABLE_MEM_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/* `bytes` of zeros, written in parallel by `threads` (first touch by the
 * threads that will probe them); NULL on failure. */
void *fm_table_mem_alloc(size_t bytes, int threads);

/* Grows an array from old_bytes to new_bytes (> old_bytes): the first
 * old_bytes are kept, the rest reads as zeros. It may move. NULL on
 * failure, and then `p` is unchanged and still owned by the caller. Large
 * arrays keep their pages: only the added part is first-touched, written
 * by `threads` like fm_table_mem_alloc's. */
void *fm_table_mem_grow(void *p, size_t old_bytes, size_t new_bytes, int threads);

void fm_table_mem_free(void *p, size_t bytes);

#ifdef __cplusplus
}
#endif

#endif
