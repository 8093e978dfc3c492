/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The runs walk's merge of several runs (fm_cpu_dense.h), apart from
 * cpu_runs.c so that the one-run walk there compiles as lean as alone. */
#include "cpu/fm_cpu_dense.h"


void fm_cpu_runs_walk_merged(const fm_cpu_table *t, const walk_args *a, int owner, const uint8_t *keys,
                             const size_t *start, size_t runs, uint32_t bits, uint32_t bucket_bits, uint64_t first,
                             uint64_t last, walk_totals *tot)
{
    const fm_table_view *v = &t->v;
    const int touches_values = walk_touches_values(v, a->op);
    size_t at[FM_RUNS_MAX], end[FM_RUNS_MAX];
    uint64_t head[FM_RUNS_MAX], top[FM_RUNS_MAX]; /* run r's next key: its hash, the hash's top bits */
    for (size_t r = 0; r < runs; r++) {
        at[r] = fm_cpu_runs_first_from(t, keys, start[r], start[r + 1], bucket_bits, first);
        end[r] = fm_cpu_runs_first_from(t, keys, at[r], start[r + 1], bucket_bits, last);
        head[r] = at[r] < end[r] ? fm_runs_hash_at(t, keys, at[r]) : 0;
        top[r] = at[r] < end[r] ? head[r] >> (64 - bits) : UINT64_MAX;
    }
    size_t ring_pos[FM_AHEAD];
    uint64_t ring_hash[FM_AHEAD];
    size_t queued = 0, done = 0;
    for (;;) {
        /* Without branches: which run comes next is a coin toss that a
         * branch would mispredict every other key. A top below 2^bits
         * beats the UINT64_MAX of a finished run; a tie goes to the
         * earlier run. */
        size_t best = 0;
        for (size_t r = 1; r < runs; r++) best = top[r] < top[best] ? r : best;
        if (top[best] != UINT64_MAX) { /* the next key in merged order: prefetched, then queued */
            const size_t j = at[best]++;
            const uint64_t h = head[best], home = fm_home_slot(h, v->log2_slots);
            const int more = at[best] < end[best];
            head[best] = more ? fm_runs_hash_at(t, keys, at[best]) : 0;
            top[best] = more ? head[best] >> (64 - bits) : UINT64_MAX;
            ring_pos[queued % FM_AHEAD] = j;
            ring_hash[queued % FM_AHEAD] = h;
            queued++;
            walk_prefetch(v, home, touches_values);
        } else if (done == queued) {
            break;
        }
        if (queued - done == FM_AHEAD || top[best] == UINT64_MAX) {
            walk_at(v, a, owner, keys, ring_pos[done % FM_AHEAD], ring_hash[done % FM_AHEAD], tot);
            done++;
        }
    }
}
