/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* add_u64 on a map near its load limit without counting first.
 *
 * A write of n keys that may pass the table's headroom must first know how
 * many of its keys are new (fm_reserve_batch: a whole counting pass over
 * the table, then perhaps a distinct count), so that the table grows
 * before the batch. For add_u64 most of that pass can be the batch itself:
 * adds commute, so every occurrence whose key is present adds its delta at
 * once (fm_k_add_found), and only the occurrences of absent keys are
 * deferred: gathered into a small batch that reserves room as usual and is
 * then added (with claims, cuda_batch.cu). The steady state of k-mer
 * counting (every key present, headroom used up) is then one pass. If the
 * reservation fails (FM_ERR_FULL, FM_ERR_NOMEM), the same kernel subtracts
 * what it added: the map is as it was. Used for one-table maps with keys
 * and deltas in device memory; the deferred positions and keys are scratch
 * from flashmap's pool (no driver allocation once warm). */
#include "cuda/fm_cuda.h"
#include "shard/fm_device_sort.h"

/* Occurrences [first, first + n) of the batch: a present key's counter
 * gets +delta (undo: -delta); an absent key's position goes to deferred
 * (one atomic per block on the count). Every thread reaches the barriers. */
__global__ void fm_k_add_found(fm_table_view t, int kind, const uint8_t *keys, const unsigned long long *deltas,
                               size_t first, size_t n, int undo, unsigned long long *deferred,
                               unsigned long long *n_deferred)
{
    __shared__ unsigned block_n;
    __shared__ unsigned long long block_at;
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x, at = first + i;
    if (threadIdx.x == 0) block_n = 0;
    __syncthreads();
    unsigned mine = 0xffffffffu;
    if (i < n) {
        const uint8_t *key = keys + at * t.key_size;
        const uint64_t slot = fm_probe_find(&t, key, fm_table_hash(&t, kind, key));
        const unsigned long long d = deltas ? deltas[at] : 1ull;
        if (slot != FM_NO_SLOT) fm_add_u64((unsigned long long *)fm_value_at(&t, slot), undo ? 0ull - d : d);
        else if (!undo) mine = atomicAdd(&block_n, 1u);
    }
    __syncthreads();
    if (threadIdx.x == 0 && block_n) block_at = atomicAdd(n_deferred, (unsigned long long)block_n);
    __syncthreads();
    if (mine != 0xffffffffu) deferred[block_at + mine] = at;
}

/* One pass of fm_k_add_found over the whole batch, chunk by chunk. */
static fm_status add_found(fm_map *map, const uint8_t *keys, const unsigned long long *deltas, size_t n, int undo,
                           unsigned long long *deferred)
{
    fm_cuda_map *m = fm_cuda_of(map);
    fm_status st = FM_OK;
    for (size_t first = 0; first < n; first += FM_CUDA_CHUNK_KEYS) {
        const size_t count = n - first < FM_CUDA_CHUNK_KEYS ? n - first : FM_CUDA_CHUNK_KEYS;
        FM_LAUNCH(fm_k_add_found, fm_cuda_grid(count), FM_CUDA_BLOCK, 0, m->stream)(m->t.v, m->t.hash_kind, keys,
                deltas, first, count, undo, deferred, &m->counts->deferred);
        FM_CUDA(cudaGetLastError(), fail);
    }
fail:
    return st;
}

/* The deferred occurrences: their keys (and deltas) gathered, room
 * reserved for them, then added. */
static fm_status add_deferred(fm_map *map, const uint8_t *keys, const unsigned long long *deltas,
                              const unsigned long long *deferred, size_t count)
{
    fm_cuda_map *m = fm_cuda_of(map);
    const size_t ks = map->cfg.key_size;
    uint8_t *dkeys = NULL, *ddeltas = NULL;
    fm_status st = fm_cuda_scratch(map, (void **)&dkeys, count * ks, "keys to add", m->stream);
    if (st == FM_OK && deltas) st = fm_cuda_scratch(map, (void **)&ddeltas, count * 8, "keys to add", m->stream);
    if (st == FM_OK) st = fm_device_permute(map, m->stream, dkeys, keys, (const uint64_t *)deferred, count, ks, 0);
    if (st == FM_OK && deltas)
        st = fm_device_permute(map, m->stream, ddeltas, deltas, (const uint64_t *)deferred, count, 8, 0);
    /* fm_reserve_batch, knowing that every one of them is absent: no
     * counting pass over the table. */
    const uint64_t headroom = map->ops->headroom(map);
    uint64_t fresh = count;
    if (st == FM_OK && count > headroom) st = fm_cuda_count_distinct(map, dkeys, count, count, &fresh);
    if (st == FM_OK && fresh > headroom) st = map->ops->make_room_for(map, fresh);
    if (st == FM_OK) st = fm_cuda_batch_write(map, FM_WRITE_ADD, dkeys, ddeltas, count, FM_WRITE_ROOM_MADE);
    fm_cuda_scratch_free(dkeys, m->stream);
    fm_cuda_scratch_free(ddeltas, m->stream);
    return st;
}

fm_status fm_cuda_add_found_first(fm_map *map, const void *keys, const void *deltas, size_t n, int *done)
{
    fm_cuda_map *m = fm_cuda_of(map);
    int where_keys = 0, where_deltas = FM_CUDA_MEM_DEVICE;
    *done = 0;
    fm_status st = fm_cuda_where(map, keys, &where_keys);
    if (st == FM_OK && deltas) st = fm_cuda_where(map, deltas, &where_deltas);
    if (st != FM_OK || where_keys != FM_CUDA_MEM_DEVICE || where_deltas != FM_CUDA_MEM_DEVICE) return st;
    const uint8_t *k = (const uint8_t *)keys;
    const unsigned long long *d = (const unsigned long long *)deltas;
    unsigned long long *deferred = NULL;
    fm_cuda_counts counts;
    memset(&counts, 0, sizeof counts);
    if ((st = fm_cuda_scratch(map, (void **)&deferred, n * sizeof *deferred, "keys to add", m->stream)) != FM_OK)
        return st;
    *done = 1;
    FM_CUDA(cudaMemsetAsync(m->counts, 0, sizeof *m->counts, m->stream), fail);
    if ((st = add_found(map, k, d, n, 0, deferred)) != FM_OK) goto fail;
    if ((st = fm_cuda_copy_back(map, &counts, m->counts, sizeof counts)) != FM_OK) goto fail;
    if (counts.deferred && (st = add_deferred(map, k, d, deferred, (size_t)counts.deferred)) != FM_OK &&
        st != FM_ERR_DEVICE) {
        /* No room for the new keys, and nothing of them written: take the
         * adds back (the keys found are still where they were). */
        const fm_status undo = add_found(map, k, d, n, 1, deferred);
        if (undo != FM_OK) st = undo;
    }
fail:
    fm_cuda_scratch_free(deferred, m->stream);
    return st;
}
