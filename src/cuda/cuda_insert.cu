/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Inserts in one pass over the table (fm_key_insert_once): no grouping
 * pass and no acting check, as add_u64 writes. Each chunk clears a bit a
 * table slot ("marks": 1/32 of the tags' bytes) and every occurrence runs
 * at once; the first occurrence of a key in the chunk writes its value and
 * any later one counts a repeat. A call with no repeats is done; a call
 * with repeats is written again, grouped (cuda_batch.cu), which gives the
 * batch-order result whatever the single pass wrote, and the map's next
 * insert is grouped from the start until a grouped insert sees no repeats.
 * FLASHMAP_CUDA_INSERT=grouped turns the single pass off (for comparing
 * the two on a GPU: bench/gpu/run.sh). */
#include <stdlib.h>
#include <string.h>

#include "cuda/fm_cuda.h"
#include "cuda/fm_cuda_block.h"
#include "cuda/fm_cuda_keys.h"

__global__ void fm_k_insert_once(fm_table_view t, int kind, const uint8_t *keys, const uint8_t *values, size_t n,
                                 unsigned *marks, fm_cuda_counts *c)
{
    const size_t i = fm_thread_index();
    fm_key_counts k = {0, 0, 0, 0, 0, 0, 0};
    if (i < n) fm_key_insert_once(&t, kind, keys + i * t.key_size, values + i * t.value_size, marks, &k);
    fm_block_counts(c, k);
}

/* 1 unless FLASHMAP_CUDA_INSERT=grouped (read once). */
static int single_pass_allowed(void)
{
    static int allowed = -1;
    int v = __atomic_load_n(&allowed, __ATOMIC_RELAXED);
    if (v < 0) {
        const char *e = getenv("FLASHMAP_CUDA_INSERT");
        v = !(e && strcmp(e, "grouped") == 0);
        __atomic_store_n(&allowed, v, __ATOMIC_RELAXED);
    }
    return v;
}

int fm_cuda_insert_once_ready(fm_map *map, size_t n)
{
    fm_cuda_map *m = fm_cuda_of(map);
    if (!single_pass_allowed() || n == 0) return 0;
    if (map->cfg.value_size == 0) return 1; /* a set: any occurrence's write is the same */
    if (m->insert_repeats) return 0;
    const uint64_t words = fm_mark_words(m->t.v.mask + 1);
    /* Clearing the marks must cost little beside the chunk's own traffic
     * (at least 8 bytes a key): at most 8 bytes of marks a key. */
    const size_t chunk = n < FM_CUDA_CHUNK_KEYS ? n : FM_CUDA_CHUNK_KEYS;
    if (words * sizeof(unsigned) > 8 * (uint64_t)chunk) return 0;
    if (words > m->mark_words) {
        /* Only a speed-up: without memory for the marks, the insert groups. */
        unsigned *marks = NULL;
        if (cudaMalloc((void **)&marks, words * sizeof *marks) != cudaSuccess) {
            (void)cudaGetLastError();
            return 0;
        }
        fm_cuda_free(m->marks);
        m->marks = marks;
        m->mark_words = words;
    }
    return 1;
}

fm_status fm_cuda_insert_once_chunk(fm_map *map, void *ctx, uint8_t *const *dev, size_t first, size_t n)
{
    (void)ctx;
    (void)first;
    fm_cuda_map *m = fm_cuda_of(map);
    unsigned *marks = map->cfg.value_size ? m->marks : NULL;
    const int phases = fm_cuda_phases_on();
    fm_status st = FM_OK;
    if (phases) fm_cuda_phase(map, 0);
    if (marks)
        FM_CUDA(cudaMemsetAsync(marks, 0, fm_mark_words(m->t.v.mask + 1) * sizeof *marks, m->stream), fail);
    if (phases) fm_cuda_phase(map, 1);
    FM_LAUNCH(fm_k_insert_once, fm_cuda_grid(n), FM_CUDA_BLOCK, 0, m->stream)(m->t.v, m->t.hash_kind, dev[0], dev[1],
            n, marks, m->counts);
    FM_CUDA(cudaGetLastError(), fail);
    if (phases) fm_cuda_phase(map, 2);
fail:
    return st;
}

void fm_cuda_marks_release(fm_cuda_map *m)
{
    fm_cuda_free(m->marks);
    m->marks = NULL;
    m->mark_words = 0;
}
