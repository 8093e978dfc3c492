/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "shard/fm_stage.h"

#include <string.h>

#include "api/fm_alloc.h"

/* A host view of p: p itself, or a new host buffer (copied from p when
 * `copy_in`), remembered in s->owned. */
static fm_status host_view(fm_map *map, fm_stage *s, const void *p, size_t bytes, int copy_in, void **view)
{
    *view = (void *)p;
    if (!p || !fm_cuda_is_device_pointer(p)) return FM_OK;
    void *host = fm_alloc(bytes);
    if (!host) return fm_fail(map, FM_ERR_NOMEM, "no memory to stage %zu bytes of a device buffer", bytes);
    int slot = 0;
    while (s->owned[slot]) slot++; /* four buffers at most, one slot each */
    s->owned[slot] = host;
    *view = host;
    return copy_in ? fm_cuda_memcpy(map, host, p, bytes) : FM_OK;
}

fm_status fm_stage_in(fm_map *map, fm_stage *s, const void *keys, size_t key_bytes, const void *payload,
                      size_t payload_bytes, void *values_out, size_t value_bytes, uint8_t *flags_out,
                      size_t flag_bytes)
{
    memset(s, 0, sizeof *s);
    void *k = NULL, *p = NULL, *v = NULL, *f = NULL;
    fm_status st = host_view(map, s, keys, key_bytes, 1, &k);
    if (st == FM_OK) st = host_view(map, s, payload, payload_bytes, 1, &p);
    if (st == FM_OK) st = host_view(map, s, values_out, value_bytes, 0, &v);
    if (st == FM_OK) st = host_view(map, s, flags_out, flag_bytes, 0, &f);
    if (st != FM_OK) {
        fm_stage_free(s);
        return st;
    }
    s->keys = k;
    s->payload = p;
    s->values_out = v;
    s->flags_out = f;
    s->user_values = v != values_out ? values_out : NULL;
    s->user_flags = f != (void *)flags_out ? flags_out : NULL;
    s->value_bytes = value_bytes;
    s->flag_bytes = flag_bytes;
    return FM_OK;
}

fm_status fm_stage_out(fm_map *map, const fm_stage *s)
{
    fm_status st = FM_OK;
    if (s->user_values) st = fm_cuda_memcpy(map, s->user_values, s->values_out, s->value_bytes);
    if (st == FM_OK && s->user_flags) st = fm_cuda_memcpy(map, s->user_flags, s->flags_out, s->flag_bytes);
    return st;
}

void fm_stage_free(fm_stage *s)
{
    for (int i = 0; i < 4; i++) fm_free(s->owned[i]);
    memset(s, 0, sizeof *s);
}
