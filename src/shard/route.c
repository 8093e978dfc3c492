/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "shard/fm_route.h"

#include <string.h>

#include "api/fm_alloc.h"
#include "table/fm_copy.h"

fm_status fm_route_build(fm_route *r, const void *keys, size_t n, uint32_t key_size,
                         int hash_kind, uint64_t spread, uint32_t shards, int threads)
{
    memset(r, 0, sizeof *r);
    int overflow = 0;
    const size_t key_bytes = fm_mul_size(n, key_size, &overflow);
    r->scratch = fm_alloc(fm_mul_size(n, 2 * sizeof(uint64_t), &overflow));
    r->keys = fm_alloc(key_bytes);
    if (overflow || !r->scratch || !r->keys) {
        fm_route_free(r);
        return FM_ERR_NOMEM;
    }
    uint64_t *hashes = r->scratch;
    const uint8_t *in = keys;
    fm_partition_hash(hashes, in, n, key_size, hash_kind, spread, threads);
    const fm_partition_pack keys_in_order = {in, key_size, NULL, 0, r->keys, NULL, hash_kind, 0};
    if (fm_partition_build(&r->part, hashes, n, shards, 1, threads, hashes + n, &keys_in_order) != FM_OK) {
        fm_route_free(r);
        return FM_ERR_NOMEM;
    }
    return FM_OK;
}

void fm_route_free(fm_route *r)
{
    fm_partition_free(&r->part);
    fm_free(r->keys);
    fm_free(r->scratch);
    memset(r, 0, sizeof *r);
}

void fm_route_gather(const fm_route *r, uint8_t *dst, const uint8_t *src, size_t size, int threads)
{
    const int64_t n = (int64_t)r->part.start[r->part.buckets];
    const uint64_t *order = r->part.order;
    (void)threads; /* without OpenMP */
#pragma omp parallel for schedule(static) num_threads(threads) if (n > 4096)
    for (int64_t j = 0; j < n; j++) fm_copy_bytes(dst + (size_t)j * size, src + order[j] * size, (uint32_t)size);
}

void fm_route_scatter(const fm_route *r, uint8_t *dst, const uint8_t *src, size_t size, int threads)
{
    const int64_t n = (int64_t)r->part.start[r->part.buckets];
    const uint64_t *order = r->part.order;
    (void)threads; /* without OpenMP */
#pragma omp parallel for schedule(static) num_threads(threads) if (n > 4096)
    for (int64_t j = 0; j < n; j++) fm_copy_bytes(dst + order[j] * size, src + (size_t)j * size, (uint32_t)size);
}
