/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Growing a host table in place: its arrays keep their pages (mremap,
 * api/fm_table_mem.h) and the entries move up inside them, so a growing
 * table first-touches only what it adds, and holds the new size at its
 * peak instead of the old and the new together.
 *
 * A table of S slots puts hash h at home h >> (64 - log2 S). Grown 2^g
 * times, an entry whose old home is o gets a new home in [o 2^g, o 2^g +
 * 2^g). The old slots are read from the top down, in ranges [S/2, S),
 * [S/4, S/2), ... that the threads share. While [lo, hi) is read, every
 * slot from hi up has been read already or is new, so an entry whose new
 * home is >= hi is placed at once, with the claims any insert makes.
 * Placed entries never move again, and the slots they probed past hold
 * placed entries too, so each stays reachable from its home.
 *
 * Two kinds wait in a side buffer and go in last, into the finished
 * table: the run of slots from 0 to the first EMPTY one (it holds the
 * entries that wrapped around the end of the old table), and the few whose
 * new home is < hi. Those have an old home below lo (new home >= 2 o), so
 * they lie in the run of full slots that crosses lo: counting those runs
 * before anything moves sizes the buffer. No placement wraps around the
 * end of the new table: m slots at its top can only be wanted by entries
 * with an old home in the top ceil(m / 2^g) old slots, never more than m. */
#include "cpu/fm_cpu_table.h"

#include <string.h>

#include "api/fm_alloc.h"
#include "api/fm_table_mem.h"
#include "table/fm_hash.h"

/* FULL slots in [from, end) before the first EMPTY one. */
static uint64_t full_run(const fm_table_view *v, uint64_t from, uint64_t end)
{
    uint64_t full = 0;
    for (uint64_t s = from; s < end && v->tags[s] != FM_TAG_EMPTY; s++)
        full += fm_tag_state(v->tags[s]) == FM_STATE_FULL;
    return full;
}

/* Entries that go in last: hash, key, value, one after another. */
typedef struct side_buffer {
    uint8_t *bytes;
    uint64_t n, cap;
    size_t stride;
} side_buffer;

static void side_push(side_buffer *b, const fm_table_view *v, uint64_t slot, uint64_t hash)
{
    const uint64_t i = __atomic_fetch_add(&b->n, 1, __ATOMIC_RELAXED); /* < cap: counted before */
    uint8_t *rec = b->bytes + i * b->stride;
    memcpy(rec, &hash, sizeof hash);
    memcpy(rec + sizeof hash, fm_key_at(v, slot), v->key_size);
    if (v->value_size) memcpy(rec + sizeof hash + v->key_size, fm_value_at(v, slot), v->value_size);
}

static void place(const fm_table_view *v, const uint8_t *key, const uint8_t *value, uint64_t hash)
{
    int was_tombstone;
    const uint64_t slot = fm_claim_from(v, fm_home_slot(hash, v->log2_slots), key, &was_tombstone);
    if (v->value_size) memcpy(fm_value_at(v, slot), value, v->value_size);
    fm_publish(v, slot, hash);
}

/* Reads old slots [lo, hi) of the grown view `v`: places what it can now. */
static void move_range(const fm_table_view *v, int hash_kind, int threads, uint64_t lo, uint64_t hi, side_buffer *side)
{
    (void)threads;
#pragma omp parallel for schedule(static, 4096) num_threads(threads) if (hi - lo > FM_PARALLEL_SLOTS)
    for (int64_t i = (int64_t)lo; i < (int64_t)hi; i++) {
        const uint64_t s = (uint64_t)i;
        const uint32_t tag = v->tags[s];
        v->tags[s] = FM_TAG_EMPTY; /* nothing is placed below hi during this range */
        if (fm_tag_state(tag) != FM_STATE_FULL) continue;
        const uint64_t h = fm_table_hash(v, hash_kind, fm_key_at(v, s));
        if (fm_home_slot(h, v->log2_slots) < hi)
            side_push(side, v, s, h);
        else
            place(v, fm_key_at(v, s), v->value_size ? fm_value_at(v, s) : NULL, h);
    }
}

/* Grows one array to `bytes`, unless it is that big already (an earlier
 * growth that failed half way keeps what it got). */
static int grow_array(uint8_t **p, size_t *have, size_t bytes, int threads)
{
    if (*have >= bytes) return 0;
    uint8_t *to = fm_table_mem_grow(*p, *have, bytes, threads);
    if (!to) return -1;
    *p = to;
    *have = bytes;
    return 0;
}

fm_status fm_cpu_table_grow(fm_cpu_table *t, uint64_t new_slots)
{
    const fm_table_view old = t->v;
    const uint64_t slots = old.mask + 1;
    const uint32_t ks = old.key_size, vs = old.value_size;
    int overflow = 0;
    const size_t tag_bytes = fm_mul_size((size_t)new_slots, sizeof(uint32_t), &overflow);
    const size_t key_bytes = fm_mul_size((size_t)new_slots, ks, &overflow);
    const size_t value_bytes = fm_mul_size((size_t)new_slots, vs, &overflow);
    if (overflow || new_slots <= slots || new_slots > SIZE_MAX) return FM_ERR_NOMEM;

    /* What waits in the side buffer, at most (see the top of the file). */
    uint64_t first_empty = 0;
    while (first_empty < slots && old.tags[first_empty] != FM_TAG_EMPTY) first_empty++;
    uint64_t waiting = full_run(&old, 0, first_empty);
    for (uint64_t hi = slots; hi / 2 > first_empty; hi /= 2) waiting += full_run(&old, hi / 2, hi);

    /* Everything that can fail, before anything moves. */
    side_buffer side = {NULL, 0, waiting, sizeof(uint64_t) + ks + vs};
    side.bytes = fm_alloc(fm_mul_size((size_t)waiting, side.stride, &overflow));
    const size_t scratch = fm_cpu_table_scratch_words(fm_cpu_table_chunk(new_slots, t->threads), t->threads);
    if (overflow || !side.bytes || !fm_cpu_table_scratch(t, scratch)) {
        fm_free(side.bytes);
        return FM_ERR_NOMEM;
    }
    uint8_t *tags = (uint8_t *)t->v.tags;
    const int grown = grow_array(&tags, &t->tag_bytes, tag_bytes, t->threads) == 0 &&
                      grow_array(&t->v.keys, &t->key_bytes, key_bytes, t->threads) == 0 &&
                      (!vs || grow_array(&t->v.values, &t->value_bytes, value_bytes, t->threads) == 0);
    t->v.tags = (uint32_t *)tags; /* the arrays that grew did so whole: the table is as it was */
    if (!grown) {
        fm_free(side.bytes);
        return FM_ERR_NOMEM;
    }

    fm_table_view v = t->v;
    v.mask = new_slots - 1;
    v.log2_slots = fm_log2_pow2(new_slots);
    for (uint64_t s = 0; s < first_empty; s++) {
        if (fm_tag_state(v.tags[s]) == FM_STATE_FULL)
            side_push(&side, &v, s, fm_table_hash(&v, t->hash_kind, fm_key_at(&v, s)));
        v.tags[s] = FM_TAG_EMPTY;
    }
    for (uint64_t hi = slots; hi > first_empty + 1;) {
        const uint64_t lo = hi / 2 > first_empty ? hi / 2 : first_empty + 1;
        move_range(&v, t->hash_kind, t->threads, lo, hi, &side);
        hi = lo;
    }
    for (uint64_t i = 0; i < side.n; i++) {
        const uint8_t *rec = side.bytes + i * side.stride;
        uint64_t h;
        memcpy(&h, rec, sizeof h);
        place(&v, rec + sizeof h, rec + sizeof h + ks, h);
    }
    fm_free(side.bytes);
    t->v = v;
    t->tombstones = 0;
    return FM_OK;
}
