/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#define _GNU_SOURCE /* mremap */
#include "api/fm_table_mem.h"

#include <stdint.h>
#include <string.h>

#include "api/fm_alloc.h"
#include "api/fm_fault.h"

#if defined(__linux__)
#include <sys/mman.h>
#define FM_TABLE_MAPS 1
#else
#define FM_TABLE_MAPS 0
#endif

/* Arrays of FM_HUGE_THRESHOLD bytes and more (api/fm_alloc.h) get mappings
 * of their own, at FM_HUGE_ALIGN boundaries for transparent huge pages. */
static int is_mapped(size_t bytes) { return FM_TABLE_MAPS && bytes >= FM_HUGE_THRESHOLD; }

#if FM_TABLE_MAPS
static size_t map_length(size_t bytes)
{
    const size_t page = 4096;
    return (bytes + page - 1) / page * page;
}

/* Fresh zero pages at a 2 MiB boundary; NULL on failure. */
static void *map_aligned(size_t len)
{
    if (len > SIZE_MAX - FM_HUGE_ALIGN) return NULL;
    unsigned char *raw = mmap(NULL, len + FM_HUGE_ALIGN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) return NULL;
    const size_t head = (FM_HUGE_ALIGN - (uintptr_t)raw % FM_HUGE_ALIGN) % FM_HUGE_ALIGN;
    if (head) munmap(raw, head);
    if (FM_HUGE_ALIGN - head) munmap(raw + head + len, FM_HUGE_ALIGN - head);
    unsigned char *p = raw + head;
#ifdef MADV_HUGEPAGE
    (void)madvise(p, len, MADV_HUGEPAGE);
#endif
    return p;
}
#endif

/* Uninitialised memory for an array: mapped pages (which read as zeros)
 * or fm_alloc's. */
static void *fresh_memory(size_t bytes)
{
#if FM_TABLE_MAPS
    if (is_mapped(bytes)) return fm_fault_fire(FM_FAULT_ALLOC) ? NULL : map_aligned(map_length(bytes));
#endif
    return fm_alloc(bytes);
}

void *fm_table_mem_alloc(size_t bytes, int threads)
{
    unsigned char *p = fresh_memory(bytes);
    if (p) fm_zero_parallel(p, bytes, threads);
    return p;
}

/* The added pages are written (zeros) before the table probes them. A
 * page that is read first maps the shared zero page, and the write that
 * follows copies it and flushes the old mapping from every CPU's TLB, an
 * interrupt to each: 6% of the CPU time of a 2-thread k-mer count whose
 * table grew once (docs/writes.md). Written first, each page faults once. */
void *fm_table_mem_grow(void *p, size_t old_bytes, size_t new_bytes, int threads)
{
#if FM_TABLE_MAPS
    if (is_mapped(old_bytes)) {
        if (fm_fault_fire(FM_FAULT_ALLOC)) return NULL;
        const size_t old_len = map_length(old_bytes), new_len = map_length(new_bytes);
        /* In place when the addresses after it are free; else the pages
         * move into a new aligned range. */
        unsigned char *to = p;
        if (mremap(p, old_len, new_len, 0) != MAP_FAILED) {
#ifdef MADV_HUGEPAGE
            (void)madvise(to + old_len, new_len - old_len, MADV_HUGEPAGE);
#endif
        } else {
            to = map_aligned(new_len);
            if (!to) return NULL;
            if (mremap(p, old_len, old_len, MREMAP_MAYMOVE | MREMAP_FIXED, to) == MAP_FAILED) {
                munmap(to, new_len);
                return NULL;
            }
        }
        fm_zero_parallel(to + old_len, new_len - old_len, threads); /* written first: see above */
        return to;
    }
#endif
    /* Small (or no mremap): a new array, copied, its tail zeroed (a
     * mapped one's written first, as above). */
    unsigned char *to = fresh_memory(new_bytes);
    if (!to) return NULL;
    memcpy(to, p, old_bytes);
    fm_zero_parallel(to + old_bytes, new_bytes - old_bytes, threads);
    fm_table_mem_free(p, old_bytes);
    return to;
}

void fm_table_mem_free(void *p, size_t bytes)
{
    if (!p) return;
#if FM_TABLE_MAPS
    if (is_mapped(bytes)) {
        munmap(p, map_length(bytes));
        return;
    }
#endif
    fm_free(p);
}
