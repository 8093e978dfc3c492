/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Device buffers of a bulk call, staged through host memory for the layers
 * that route batches on the host (sharded and MPI maps). Host buffers pass
 * through untouched: nothing is copied or allocated for them. */
#ifndef FM_STAGE_H
#define FM_STAGE_H

#include <stddef.h>
#include <stdint.h>

#include "api/fm_map.h"

typedef struct fm_stage {
    /* Host views of the call's buffers (the caller's own when on the host). */
    const void *keys, *payload;
    void *values_out;
    uint8_t *flags_out;
    /* Where outputs staged here go back to, and how many bytes. */
    void *user_values;
    uint8_t *user_flags;
    size_t value_bytes, flag_bytes;
    void *owned[4]; /* host copies made here */
} fm_stage;

/* Fills s for a call with these buffers (any may be NULL) and copies device
 * inputs to host memory. On failure nothing is left allocated. */
fm_status fm_stage_in(fm_map *map, fm_stage *s, const void *keys, size_t key_bytes, const void *payload,
                      size_t payload_bytes, void *values_out, size_t value_bytes, uint8_t *flags_out,
                      size_t flag_bytes);
/* Copies staged outputs back to the caller's device buffers. */
fm_status fm_stage_out(fm_map *map, const fm_stage *s);
void fm_stage_free(fm_stage *s);

#endif
