/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include "cpu/fm_cpu_dense.h"

#include <stdlib.h>
#include <string.h>

#include "table/fm_hash.h"

/* Smaller tables stay in cache: batch order costs them nothing. */
#define FM_DENSE_MIN_SLOTS ((uint64_t)1 << 16)
/* Buckets of the first sort: 2^11 write streams stay in L1/L2, and a
 * bucket's share of a 2^25-slot table (16 Ki slots) in L2. */
#define FM_DENSE_BUCKET_BITS 11
/* Most bits of the second sort, inside a bucket. */
#define FM_DENSE_SUB_BITS 14
/* Larger records cost more to copy than their order saves. */
#define FM_DENSE_MAX_RECORD 512
/* Under FLASHMAP_TEST_DENSE=1: small, odd pieces and few buckets, so that
 * tests on small tables cross piece boundaries and sort inside buckets. */
#define FM_DENSE_TEST_PIECE 777
#define FM_DENSE_TEST_BUCKET_BITS 3

typedef enum payload_kind { PAY_NONE, PAY_VALUE, PAY_DELTA, PAY_POSITION } payload_kind;

/* A record: the key's hash (8 bytes), the key (padded to 8 bytes), then
 * the payload (the insert's value, the add's delta, or the remove's batch
 * position for its output; nothing where it is implied). */
typedef struct dense_layout {
    payload_kind payload;
    uint32_t key_size, value_size, payload_at, stride;
    uint32_t bucket_bits, sub_bits_max; /* home-slot bits of the two sorts */
    size_t piece;                       /* keys sorted at a time */
    size_t temp_records;                /* most records of a bucket sorted once more */
} dense_layout;

static size_t round8(size_t x) { return (x + 7) & ~(size_t)7; }

static int testing_dense(void)
{
    const char *test = getenv("FLASHMAP_TEST_DENSE");
    return test && *test == '1';
}

/* Home-slot bits of the first sort, which are also the owners' ranges of
 * the runs walk. */
static uint32_t bucket_bits_of(const fm_cpu_table *t)
{
    const uint32_t bits = testing_dense() ? FM_DENSE_TEST_BUCKET_BITS : FM_DENSE_BUCKET_BITS;
    return t->v.log2_slots < bits ? t->v.log2_slots : bits;
}

/* The layout for this write, or 0 when it should walk in chunks. */
static int plan_layout(const fm_cpu_table *t, size_t n, const walk_args *a, dense_layout *L)
{
    const uint64_t slots = t->v.mask + 1;
    const uint32_t vs = t->v.value_size;
    switch (a->op) {
    case WALK_INSERT: L->payload = vs ? PAY_VALUE : PAY_NONE; break;
    case WALK_ADD: L->payload = a->deltas ? PAY_DELTA : PAY_NONE; break;
    case WALK_REMOVE: L->payload = a->removed_out ? PAY_POSITION : PAY_NONE; break;
    default: return 0;
    }
    const size_t payload = L->payload == PAY_VALUE ? vs : L->payload == PAY_NONE ? 0 : 8;
    L->key_size = t->v.key_size;
    L->value_size = vs;
    L->payload_at = (uint32_t)(8 + round8(L->key_size));
    L->stride = (uint32_t)(L->payload_at + round8(payload));
    if (n == 0 || L->stride > FM_DENSE_MAX_RECORD) return 0;
    if (testing_dense()) {
        L->piece = FM_DENSE_TEST_PIECE;
    } else {
        if (slots < FM_DENSE_MIN_SLOTS || n < slots / 16) return 0;
        L->piece = (size_t)(slots / 8);
    }
    /* Equal pieces of at most slots / 8 keys (a batch of slots / 16 to
     * slots / 8 is one piece): 1/16 of the slots still wrote 1.6x faster in
     * order than in chunks, 1/32 only 5-8% (bench/RESULTS.md). */
    const size_t pieces = (n + L->piece - 1) / L->piece;
    L->piece = (n + pieces - 1) / pieces;
    L->bucket_bits = bucket_bits_of(t);
    const uint32_t rest = t->v.log2_slots - L->bucket_bits;
    L->sub_bits_max = rest < FM_DENSE_SUB_BITS ? rest : FM_DENSE_SUB_BITS;
    /* Twice a bucket's expected share; a larger (skewed) bucket is walked
     * in batch order. */
    L->temp_records = 2 * (L->piece >> L->bucket_bits) + 64;
    return 1;
}

/* The table's dense scratch: per-thread bucket counts, bucket totals,
 * per-thread bucket starts, the piece's records, and a sorted-bucket
 * buffer and counts per thread. NULL when it cannot be had (the table is unchanged). */
typedef struct dense_scratch {
    uint64_t *counts, *total, *starts; /* starts: per thread, where each bucket begins */
    uint8_t *records;
    uint32_t *order;     /* per thread: temp_records positions, then its sub counts */
    size_t order_words;  /* uint32 per thread in order */
} dense_scratch;

static int get_scratch(fm_cpu_table *t, const dense_layout *L, dense_scratch *s)
{
    const size_t buckets = (size_t)1 << L->bucket_bits, threads = (size_t)t->threads;
    const size_t count_bytes = (threads * buckets + buckets + threads * (buckets + 1)) * sizeof(uint64_t);
    const size_t record_bytes = L->piece * L->stride;
    s->order_words = (L->temp_records + ((size_t)1 << L->sub_bits_max) + 1) & ~(size_t)1;
    const size_t bytes = round8(count_bytes) + record_bytes + threads * s->order_words * sizeof(uint32_t);
    if (bytes > t->dense_bytes) {
        uint8_t *more = fm_alloc(bytes);
        if (!more) return 0;
        fm_free(t->dense);
        t->dense = more;
        t->dense_bytes = bytes;
    }
    s->counts = (uint64_t *)t->dense;
    s->total = s->counts + threads * buckets;
    s->starts = s->total + buckets;
    s->records = t->dense + round8(count_bytes);
    s->order = (uint32_t *)(s->records + record_bytes);
    return 1;
}

static inline uint64_t record_hash(const uint8_t *rec)
{
    uint64_t h;
    memcpy(&h, rec, 8);
    return h;
}

/* Writes the record of the key at batch position i (hash h) to rec. */
static inline void fill_record(uint8_t *rec, const dense_layout *L, const walk_args *a, const uint8_t *key,
                               uint64_t h, uint64_t i)
{
    memcpy(rec, &h, 8);
    fm_copy_bytes(rec + 8, key, L->key_size);
    uint8_t *pay = rec + L->payload_at;
    switch (L->payload) {
    case PAY_VALUE: fm_copy_bytes(pay, a->values + i * L->value_size, L->value_size); break;
    case PAY_DELTA: memcpy(pay, &a->deltas[i], 8); break;
    case PAY_POSITION: memcpy(pay, &i, 8); break;
    case PAY_NONE: break;
    }
}

/* Walks m records, in the order `ord` gives (NULL: as they lie), the
 * table lines of the next FM_AHEAD prefetched. */
static void walk_records(const fm_table_view *v, const walk_args *a, const dense_layout *L, int owner,
                         const uint8_t *recs, const uint32_t *ord, size_t m, walk_totals *tot)
{
    const int touches_values = walk_touches_values(v, a->op);
    for (size_t j = 0; j < m + FM_AHEAD; j++) {
        if (j < m) {
            const uint8_t *rec = recs + (ord ? ord[j] : j) * (size_t)L->stride;
            const uint64_t home = fm_home_slot(record_hash(rec), v->log2_slots);
            walk_prefetch(v, home, touches_values);
        }
        if (j >= FM_AHEAD) {
            const size_t k = ord ? ord[j - FM_AHEAD] : j - FM_AHEAD;
            const uint8_t *rec = recs + k * L->stride, *pay = rec + L->payload_at;
            uint64_t word = 1;
            if (L->payload == PAY_DELTA || L->payload == PAY_POSITION) memcpy(&word, pay, 8);
            walk_one(v, a, owner, rec + 8, record_hash(rec), L->payload == PAY_VALUE ? pay : NULL,
                     L->payload == PAY_DELTA ? word : 1, L->payload == PAY_POSITION ? word : 0, tot);
        }
    }
}

static uint32_t ceil_log2(size_t x)
{
    uint32_t l = 0;
    while (((size_t)1 << l) < x) l++;
    return l;
}

/* Walks one bucket of m records (a range of the table that stays in
 * cache): in the order of the next home-slot bits (a stable counting sort
 * of their positions into this thread's `ord`) when it fits there, else
 * as they lie. */
static void walk_bucket(const fm_table_view *v, const walk_args *a, const dense_layout *L, int owner,
                        const uint8_t *recs, size_t m, uint32_t *ord, walk_totals *tot)
{
    uint32_t bits = ceil_log2(m);
    if (bits > L->sub_bits_max) bits = L->sub_bits_max;
    if (m < 32 || bits == 0 || m > L->temp_records) {
        walk_records(v, a, L, owner, recs, NULL, m, tot);
        return;
    }
    uint32_t *at = ord + L->temp_records;
    const uint32_t shift = 64 - L->bucket_bits - bits, mask = (1u << bits) - 1;
    memset(at, 0, ((size_t)1 << bits) * sizeof *at);
    for (size_t j = 0; j < m; j++) at[(record_hash(recs + j * L->stride) >> shift) & mask]++;
    uint32_t sum = 0;
    for (uint32_t u = 0; u <= mask; u++) {
        const uint32_t c = at[u];
        at[u] = sum;
        sum += c;
    }
    for (size_t j = 0; j < m; j++) ord[at[(record_hash(recs + j * L->stride) >> shift) & mask]++] = (uint32_t)j;
    walk_records(v, a, L, owner, recs, ord, m, tot);
}

int fm_cpu_dense_walk(const uint8_t *keys, size_t n, fm_cpu_table *t, const walk_args *a, walk_totals *out)
{
    dense_layout L;
    dense_scratch s;
    /* A batch already in home-slot order is walked as it lies, dense in
     * the table or not: sorting or chunking it would only visit its keys
     * in the order they have. */
    const int writes = a->op == WALK_INSERT || a->op == WALK_ADD || a->op == WALK_REMOVE;
    if (writes && n > 0 && fm_cpu_runs_walk(keys, n, t, a, bucket_bits_of(t), out)) return 1;
    if (!plan_layout(t, n, a, &L) || !get_scratch(t, &L, &s)) return 0;
    const fm_table_view *v = &t->v;
    const uint32_t ks = L.key_size, shift = 64 - L.bucket_bits;
    const size_t buckets = (size_t)1 << L.bucket_bits;
    const int kind = t->hash_kind;
    walk_totals sum = {0, 0, 0, 0, 0, 0};
#pragma omp parallel num_threads(n > 4096 ? t->threads : 1)
    {
        const int me = fm_thread_id(), team = fm_thread_count(), owners = t->threads;
        uint64_t *const mine = s.counts + (size_t)me * buckets;
        uint32_t *const order = s.order + (size_t)me * s.order_words;
        uint64_t *const start = s.starts + (size_t)me * (buckets + 1);
        walk_totals tot = {0, 0, 0, 0, 0, 0};
        for (size_t base = 0; base < n; base += L.piece) {
            const size_t len = n - base < L.piece ? n - base : L.piece;
            const size_t lo = base + len * (size_t)me / (size_t)team;
            const size_t hi = base + len * (size_t)(me + 1) / (size_t)team;
            memset(mine, 0, buckets * sizeof *mine);
            for (size_t i = lo; i < hi; i++) mine[fm_table_hash(v, kind, keys + i * ks) >> shift]++;
#pragma omp barrier
            /* Bucket-major, thread-minor offsets: each bucket keeps batch order. */
            sort_columns(s.counts, s.total, me, team, buckets);
#pragma omp barrier
            sort_row(mine, s.total, start, buckets);
            for (size_t i = lo; i < hi; i++) {
                const uint8_t *key = keys + i * ks;
                const uint64_t h = fm_table_hash(v, kind, key);
                fill_record(s.records + mine[h >> shift]++ * L.stride, &L, a, key, h, i);
            }
#pragma omp barrier
            /* Owner u's slots are buckets [u * B / owners, (u + 1) * B / owners). */
            for (int u = me; u < owners; u += team) {
                const size_t first = buckets * (size_t)u / (size_t)owners;
                const size_t last = buckets * (size_t)(u + 1) / (size_t)owners;
                for (size_t bk = first; bk < last; bk++)
                    walk_bucket(v, a, &L, u, s.records + start[bk] * L.stride,
                                (size_t)(start[bk + 1] - start[bk]), order, &tot);
            }
#pragma omp barrier
        }
#pragma omp critical(fm_dense_totals)
        add_totals(&sum, &tot);
    }
    *out = sum;
    return 1;
}
