/* MPI maps: one logical map whose shards are the ranks of a communicator.
 *
 * A bulk call hashes the rank's batch and sorts it by (round, owner rank).
 * Rounds split the hash space so that every occurrence of a key, from any
 * rank, travels in the same round; each round's exchange stays under
 * cfg.exchange_bytes. Within a round MPI_Alltoallv delivers each owner its
 * keys grouped by source rank in rank order, each group in batch order, so
 * applying rounds one after another is applying the ranks' batches in rank
 * order. Results travel back the same way and land in the caller's order.
 *
 * Inserts and adds first make room on every rank (counting new keys where
 * the cheap bound fails) and agree on the outcome, so a batch that one rank
 * cannot take changes nothing anywhere. Every collective ends by agreeing on
 * one status, with the message of the lowest failing rank. */
#include <flashmap_mpi.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(OPEN_MPI) && OPEN_MPI
#include <mpi-ext.h> /* MPIX_CUDA_AWARE_SUPPORT, MPIX_Query_cuda_support */
#endif

#include "api/fm_alloc.h"
#include "api/fm_map.h"
#include "api/fm_shared.h"
#include "mpi/fm_mpi_nccl.h"
#include "mpi/fm_mpi_node.h"
#include "shard/fm_device_route.h"
#include "shard/fm_partition.h"
#include "shard/fm_stage.h"
#include "table/fm_copy.h"
#include "table/fm_hash.h"

/* Work buffers kept between bulk calls: fresh memory would cost a page
 * fault per page on every call. They grow to the largest call's needs (the
 * exchange buffers to about exchange_bytes) and are freed with the map. */
enum { WS_ROUTE, WS_PACKED, WS_SEND, WS_RECV, WS_RECV_KEYS, WS_RECV_PAYLOAD, WS_REPLY, WS_DISP, WS_IBUF, WS_COUNT };

typedef struct mpi_map {
    MPI_Comm comm;
    int rank, size;
    fm_map *local; /* this rank's shard: one CPU or CUDA table */
    fm_map *sums;  /* combine_adds' table, kept (cleared) between calls */
    size_t sums_for; /* the largest batch it has taken */
    uint64_t exchange_bytes;
    void *ws[WS_COUNT];
    size_t ws_bytes[WS_COUNT];
    /* Device batches (CUDA shards): through NCCL when nccl is set, else
     * staged through the host; nccl_note says why (or NCCL's version). */
    fm_mpi_nccl *nccl;
    char nccl_note[160];
    int force_exchange; /* FLASHMAP_TEST_MPI_EXCHANGE=1: one rank exchanges too */
} mpi_map;

static mpi_map *mpi_of(fm_map *map) { return (mpi_map *)map->impl; }

/* At least `bytes` of work buffer `which`; NULL when it cannot be had. */
static void *workspace(mpi_map *m, int which, size_t bytes)
{
    if (bytes <= m->ws_bytes[which]) return m->ws[which];
    void *more = fm_alloc(bytes);
    if (!more) return NULL;
    fm_free(m->ws[which]);
    m->ws[which] = more;
    m->ws_bytes[which] = bytes;
    return more;
}

/* Turns an MPI error code into FM_ERR_COMM with MPI's message. */
static fm_status mpi_failed(fm_map *map, int rc, const char *what)
{
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", rc);
    return fm_fail(map, FM_ERR_COMM, "%s failed: %s", what, text);
}
#define FM_MPI(map, call)                                                      \
    do {                                                                       \
        int fm_rc_ = (call);                                                   \
        if (fm_rc_ != MPI_SUCCESS) return mpi_failed((map), fm_rc_, #call);    \
    } while (0)

/* Once every rank knows `worst`, the most negative status any rank had:
 * ranks that did not fail get the message of the lowest rank that did. */
static fm_status settle(fm_map *map, MPI_Comm comm, int rank, int size, fm_status mine, fm_status worst)
{
    if (worst == FM_OK) return FM_OK;
    int me = mine == worst ? rank : size, first = size;
    FM_MPI(map, MPI_Allreduce(&me, &first, 1, MPI_INT, MPI_MIN, comm));
    char msg[FM_ERROR_LEN];
    if (rank == first) memcpy(msg, map->error, sizeof msg);
    FM_MPI(map, MPI_Bcast(msg, (int)sizeof msg, MPI_CHAR, first, comm));
    if (rank != first) {
        msg[sizeof msg - 1] = '\0';
        fm_fail(map, worst, "on rank %d: %s", first, fm_error_detail(msg));
    }
    return worst;
}

/* Every rank returns the most negative status any rank had, with the
 * message of the lowest rank that had it. */
static fm_status agree(fm_map *map, MPI_Comm comm, int rank, int size, fm_status mine)
{
    int local = (int)mine, worst = 0;
    FM_MPI(map, MPI_Allreduce(&local, &worst, 1, MPI_INT, MPI_MIN, comm));
    return settle(map, comm, rank, size, mine, (fm_status)worst);
}

static fm_status agree_map(fm_map *map, fm_status mine)
{
    mpi_map *m = mpi_of(map);
    return agree(map, m->comm, m->rank, m->size, mine);
}

/* agree_map, and in the same collective the largest of each of `count`
 * (at most 3) values over the ranks: a bulk call's agreements ride along
 * with the sizes it must agree on anyway. */
static fm_status agree_max(fm_map *map, fm_status mine, uint64_t *values, int count)
{
    mpi_map *m = mpi_of(map);
    uint64_t in[4] = {(uint64_t)-(int64_t)mine, 0, 0, 0}, out[4] = {0, 0, 0, 0};
    memcpy(in + 1, values, (size_t)count * sizeof *values);
    FM_MPI(map, MPI_Allreduce(in, out, count + 1, MPI_UINT64_T, MPI_MAX, m->comm));
    memcpy(values, out + 1, (size_t)count * sizeof *values);
    return settle(map, m->comm, m->rank, m->size, mine, (fm_status)-(int64_t)out[0]);
}

fm_status fm_mpi_agree(fm_map *map, fm_status mine) { return agree_map(map, mine); }
fm_status fm_mpi_agree_max(fm_map *map, fm_status mine, uint64_t *values, int count)
{
    return agree_max(map, mine, values, count);
}
const char *fm_mpi_exchange_path(fm_map *map) { return mpi_of(map)->nccl ? "nccl" : "host"; }

/* An int count for MPI, or failure: MPI 3.1 counts are int. */
static int fits_int(uint64_t count) { return count <= (uint64_t)INT_MAX; }

/* ---- one exchange --------------------------------------------------- */

/* Sends, to every peer p, cnt[p] records of `rec` bytes starting at record
 * sdisp[p] of send; receives rcnt[p] records at record rdisp[p] of recv. */
static fm_status alltoallv_records(fm_map *map, const void *send, const uint64_t *cnt,
                                   const uint64_t *sdisp, void *recv, const uint64_t *rcnt,
                                   const uint64_t *rdisp, size_t rec, int *ibuf)
{
    mpi_map *m = mpi_of(map);
    const int P = m->size;
    int *sc = ibuf, *sd = ibuf + P, *rc = ibuf + 2 * P, *rd = ibuf + 3 * P;
    for (int p = 0; p < P; p++) {
        /* Displacements are int too: the whole round must fit. */
        if (!fits_int((sdisp[p] + cnt[p]) * rec) || !fits_int((rdisp[p] + rcnt[p]) * rec))
            return fm_fail(map, FM_ERR_COMM,
                           "an exchange round exceeds MPI's int counts; lower cfg.exchange_bytes");
        sc[p] = (int)(cnt[p] * rec);
        sd[p] = (int)(sdisp[p] * rec);
        rc[p] = (int)(rcnt[p] * rec);
        rd[p] = (int)(rdisp[p] * rec);
    }
    FM_MPI(map, MPI_Alltoallv(send, sc, sd, MPI_BYTE, recv, rc, rd, MPI_BYTE, m->comm));
    return FM_OK;
}

/* A routed batch: positions sorted by (round, owner) and the counts every
 * rank sends and receives in every round. */
typedef struct routed {
    fm_partition part;
    uint64_t *scratch;
    uint32_t rounds;
    uint64_t *cnt;  /* [p * rounds + r]: records to p in round r */
    uint64_t *rcnt; /* [p * rounds + r]: records from p in round r */
    /* One round: the records (key, payload), packed while sorting. */
    uint8_t *packed;
    size_t packed_rec;
} routed;

static void routed_free(routed *r)
{
    fm_partition_free(&r->part);
    fm_free(r->cnt);
    fm_free(r->rcnt);
    memset(r, 0, sizeof *r);
}

/* Local part of routing; FM_ERR_NOMEM leaves nothing allocated. With one
 * round the records (each key and its ps payload bytes) are packed in send
 * order by the sort itself, and the batch order of every position is kept
 * only when `need_order` (replies go back through it). */
static fm_status route_local(fm_map *map, routed *r, const uint8_t *keys, const uint8_t *payload, size_t ps,
                             size_t n, int need_order)
{
    mpi_map *m = mpi_of(map);
    const uint32_t ks = map->cfg.key_size, P = (uint32_t)m->size, R = r->rounds;
    r->scratch = workspace(m, WS_ROUTE, (n ? n : 1) * 2 * sizeof(uint64_t));
    r->cnt = fm_alloc((size_t)P * R * sizeof(uint64_t));
    r->rcnt = fm_alloc((size_t)P * R * sizeof(uint64_t));
    if (R == 1) {
        r->packed_rec = ks + ps;
        r->packed = workspace(m, WS_PACKED, (n ? n : 1) * r->packed_rec);
    }
    if (!r->scratch || !r->cnt || !r->rcnt || (R == 1 && !r->packed))
        return fm_fail(map, FM_ERR_NOMEM, "no memory to route %zu keys", n);
    const int kind = (int)map->cfg.hash;
    const int64_t count = (int64_t)n;
#pragma omp parallel for schedule(static) num_threads(map->cfg.threads) if (n > 4096)
    for (int64_t i = 0; i < count; i++) r->scratch[i] = fm_hash_key(kind, keys + (size_t)i * ks, ks);
    const fm_partition_pack pack = {keys, ks, payload, ps, r->packed};
    if (fm_partition_build(&r->part, r->scratch, n, P, R, map->cfg.threads,
                           need_order || R > 1 ? r->scratch + n : NULL, r->packed ? &pack : NULL) != FM_OK)
        return fm_fail(map, FM_ERR_NOMEM, "no memory to route %zu keys", n);
    for (uint32_t rd = 0; rd < R; rd++)
        for (uint32_t p = 0; p < P; p++)
            r->cnt[(size_t)p * R + rd] = r->part.start[rd * P + p + 1] - r->part.start[rd * P + p];
    return FM_OK;
}

/* Packs round rd's records, peer by peer: each key (batch order: src_a,
 * size_a bytes) followed by its payload (src_b, size_b bytes, may be 0). */
static void pack_round(const routed *r, uint32_t P, uint32_t rd, uint8_t *send, const uint8_t *src_a,
                       size_t size_a, const uint8_t *src_b, size_t size_b, int threads)
{
    const uint64_t base = r->part.start[rd * P], end = r->part.start[rd * P + P];
    const int64_t len = (int64_t)(end - base);
    const size_t rec = size_a + size_b;
#pragma omp parallel for schedule(static) num_threads(threads) if (len > 4096)
    for (int64_t j = 0; j < len; j++) {
        const uint64_t i = r->part.order[base + (uint64_t)j];
        fm_copy_bytes(send + (size_t)j * rec, src_a + i * size_a, (uint32_t)size_a);
        if (size_b) fm_copy_bytes(send + (size_t)j * rec + size_a, src_b + i * size_b, (uint32_t)size_b);
    }
}

/* Splits records of size_a + size_b bytes into two packed arrays (b NULL:
 * drop the second part), or joins them back, with `join`. */
static void split_records(uint8_t *records, uint8_t *a, size_t size_a, uint8_t *b, size_t size_b,
                          uint64_t count, int join, int threads)
{
    const size_t rec = size_a + size_b;
    const int64_t len = (int64_t)count;
#pragma omp parallel for schedule(static) num_threads(threads) if (len > 4096)
    for (int64_t j = 0; j < len; j++) {
        uint8_t *at = records + (size_t)j * rec;
        if (join) {
            fm_copy_bytes(at, a + (size_t)j * size_a, (uint32_t)size_a);
            fm_copy_bytes(at + size_a, b + (size_t)j * size_b, (uint32_t)size_b);
        } else {
            fm_copy_bytes(a + (size_t)j * size_a, at, (uint32_t)size_a);
            if (b) fm_copy_bytes(b + (size_t)j * size_b, at + size_a, (uint32_t)size_b);
        }
    }
}

/* Copies reply records of round rd (routed order) back to batch positions:
 * the first size_a bytes to dst_a (may be NULL), the rest to dst_b. */
static void unpack_round(const routed *r, uint32_t P, uint32_t rd, const uint8_t *recv, uint8_t *dst_a,
                         size_t size_a, uint8_t *dst_b, size_t size_b, int threads)
{
    const uint64_t base = r->part.start[rd * P], end = r->part.start[rd * P + P];
    const int64_t len = (int64_t)(end - base);
    const size_t rec = size_a + size_b;
#pragma omp parallel for schedule(static) num_threads(threads) if (len > 4096)
    for (int64_t j = 0; j < len; j++) {
        const uint64_t i = r->part.order[base + (uint64_t)j];
        if (dst_a && size_a) fm_copy_bytes(dst_a + i * size_a, recv + (size_t)j * rec, (uint32_t)size_a);
        if (dst_b && size_b) fm_copy_bytes(dst_b + i * size_b, recv + (size_t)j * rec + size_a, (uint32_t)size_b);
    }
}

/* Record sizes of one pass of `op`: one record per key each way, key and
 * payload out, value and flag back. */
typedef struct record_sizes {
    size_t ps;       /* payload bytes out: values (insert), deltas (add) */
    size_t out_rec;  /* key + payload */
    size_t back_rec; /* value + flag (get), flag (remove) */
    size_t widest;
    size_t sbuf_rec; /* what the send buffer holds per record */
    int replies, prepacked;
} record_sizes;

static record_sizes sizes_of(const fm_map *map, const routed *r, mpi_op op)
{
    const size_t ks = map->cfg.key_size, vs = map->cfg.value_size;
    record_sizes z;
    z.ps = op == OP_INSERT ? vs : op == OP_ADD ? sizeof(uint64_t) : 0;
    z.replies = op == OP_GET || op == OP_REMOVE;
    z.out_rec = ks + z.ps;
    z.back_rec = op == OP_GET ? vs + 1 : 1;
    z.widest = z.out_rec > z.back_rec ? z.out_rec : z.back_rec;
    /* The send buffer: records packed round by round (unless the sort
     * packed them already), keys taken out of packed records (count pass),
     * replies. */
    z.prepacked = r->packed && r->packed_rec == z.out_rec;
    z.sbuf_rec = z.replies ? (z.prepacked ? z.back_rec : z.widest) : z.prepacked ? 1 : z.out_rec;
    return z;
}

/* The buffers of a pass over the rounds, from the map's work buffers. */
typedef struct exchange_plan {
    size_t big; /* records of the largest round, sent or received, + 1 */
    uint8_t *sbuf, *rrec, *rkeys, *rpay, *reply;
    uint64_t *disp; /* 4 per peer: send and receive counts and offsets */
    int *ibuf;      /* the same as MPI's int byte counts */
} exchange_plan;

/* Sizes and takes the buffers of op's pass (and of the counting pass that
 * an insert or add may need first). Local: the caller agrees on the status
 * before the first round. */
static fm_status plan_exchange(fm_map *map, const routed *r, mpi_op op, exchange_plan *x)
{
    mpi_map *m = mpi_of(map);
    const uint32_t P = (uint32_t)m->size, R = r->rounds;
    memset(x, 0, sizeof *x);
    uint64_t max_send = 0, max_recv = 0;
    for (uint32_t rd = 0; rd < R; rd++) {
        uint64_t s = 0, q = 0;
        for (uint32_t p = 0; p < P; p++) {
            s += r->cnt[(size_t)p * R + rd];
            q += r->rcnt[(size_t)p * R + rd];
        }
        if (s > max_send) max_send = s;
        if (q > max_recv) max_recv = q;
    }
    const uint64_t most = max_send > max_recv ? max_send : max_recv;
    record_sizes z = sizes_of(map, r, op);
    if (op == OP_INSERT || op == OP_ADD) {
        const record_sizes c = sizes_of(map, r, OP_COUNT_NEW);
        if (c.sbuf_rec > z.sbuf_rec) z.sbuf_rec = c.sbuf_rec;
        if (c.widest > z.widest) z.widest = c.widest;
    }
    /* MPI 3.1 counts and displacements are int: every round must fit. */
    if (!fits_int(most * z.widest))
        return fm_fail(map, FM_ERR_COMM,
                       "an exchange round of %llu records exceeds MPI's int counts; lower cfg.exchange_bytes",
                       (unsigned long long)most);
    const size_t big = (size_t)most + 1, ks = map->cfg.key_size, vs = map->cfg.value_size;
    x->big = big;
    x->sbuf = workspace(m, WS_SEND, big * z.sbuf_rec);
    x->rrec = workspace(m, WS_RECV, big * z.widest);
    x->rkeys = workspace(m, WS_RECV_KEYS, big * ks);
    x->rpay = z.ps ? workspace(m, WS_RECV_PAYLOAD, big * z.ps) : NULL;
    x->reply = z.replies ? workspace(m, WS_REPLY, big * (vs + 1)) : NULL;
    x->disp = workspace(m, WS_DISP, 4 * (size_t)P * sizeof(uint64_t));
    x->ibuf = workspace(m, WS_IBUF, 4 * (size_t)P * sizeof(int));
    if (!x->sbuf || !x->rrec || !x->rkeys || (z.ps && !x->rpay) || (z.replies && !x->reply) || !x->disp ||
        !x->ibuf)
        return fm_fail(map, FM_ERR_NOMEM, "no memory for exchange buffers of %zu records", big);
    return FM_OK;
}

/* Runs one pass of `op` over every round, in the buffers of a plan made
 * for it (or, for OP_COUNT_NEW, for the insert or add it precedes).
 * payload: values (insert) or deltas (add) in batch order. For
 * OP_COUNT_NEW, *fresh gets this rank's new keys. */
static fm_status run_rounds(fm_map *map, routed *r, const exchange_plan *x, mpi_op op, const uint8_t *keys,
                            const uint8_t *payload, void *values_out, uint8_t *flags_out, uint64_t *fresh)
{
    mpi_map *m = mpi_of(map);
    fm_map *local = m->local;
    const uint32_t P = (uint32_t)m->size, R = r->rounds;
    const size_t ks = map->cfg.key_size, vs = map->cfg.value_size;
    const record_sizes z = sizes_of(map, r, op);
    const size_t ps = z.ps;
    const int threads = map->cfg.threads;
    uint8_t *sbuf = x->sbuf, *rrec = x->rrec, *rkeys = x->rkeys, *rpay = x->rpay, *reply = x->reply;
    uint64_t *sc = x->disp, *sd = x->disp + P, *rc = x->disp + 2 * P, *rdp = x->disp + 3 * P;
    fm_status st = FM_OK;
    for (uint32_t rd = 0; rd < R; rd++) {
        uint64_t s = 0, q = 0;
        for (uint32_t p = 0; p < P; p++) {
            sc[p] = r->cnt[(size_t)p * R + rd];
            rc[p] = r->rcnt[(size_t)p * R + rd];
            sd[p] = s;
            rdp[p] = q;
            s += sc[p];
            q += rc[p];
        }
        const uint8_t *out = sbuf;
        if (z.prepacked)
            out = r->packed;
        else if (r->packed) /* keys only, out of the (key, payload) records */
            split_records(r->packed, sbuf, ks, NULL, r->packed_rec - ks, s, 0, threads);
        else
            pack_round(r, P, rd, sbuf, keys, ks, payload, ps, threads);
        uint8_t *landing = ps ? rrec : rkeys; /* keys alone need no split */
        if ((st = alltoallv_records(map, out, sc, sd, landing, rc, rdp, z.out_rec, x->ibuf)) != FM_OK) return st;
        if (ps) split_records(rrec, rkeys, ks, rpay, ps, q, 0, threads);
        /* This rank's part of the round, in rank order then batch order. */
        fm_status mine = FM_OK;
        if (q > 0) {
            uint64_t got = 0;
            switch (op) {
            case OP_COUNT_NEW:
                mine = local->ops->count_new(local, rkeys, q, 0, &got);
                *fresh += got;
                break;
            case OP_INSERT: mine = local->ops->insert(local, rkeys, rpay, q, FM_WRITE_ROOM_MADE); break;
            case OP_ADD:
                mine = local->ops->add_u64(local, rkeys, (const uint64_t *)rpay, q, FM_WRITE_ROOM_MADE);
                break;
            case OP_GET: mine = local->ops->get(local, rkeys, q, reply, reply + q * vs); break;
            case OP_REMOVE: mine = local->ops->remove(local, rkeys, q, reply); break;
            }
            if (mine != FM_OK) fm_fail(map, mine, "%s", fm_error_detail(local->error));
        }
        if ((st = agree_map(map, mine)) != FM_OK) return st;
        /* Replies go back the reverse way, value and flag in one record. */
        if (z.replies) {
            const size_t value_part = op == OP_GET ? vs : 0;
            uint8_t *records = reply;
            if (value_part) {
                split_records(rrec, reply, value_part, reply + q * value_part, 1, q, 1, threads);
                records = rrec;
            }
            if ((st = alltoallv_records(map, records, rc, rdp, sbuf, sc, sd, z.back_rec, x->ibuf)) != FM_OK)
                return st;
            unpack_round(r, P, rd, sbuf, values_out, value_part, flags_out, 1, threads);
        }
    }
    return FM_OK;
}

/* Adds of one key from this rank, summed: heavy hitters cost one record. */
static fm_status combine_adds(fm_map *map, const void *keys, const uint64_t *deltas, size_t n,
                              uint8_t **keys_out, uint64_t **deltas_out, size_t *n_out)
{
    mpi_map *m = mpi_of(map);
    fm_status st = FM_OK;
    if (m->sums && n * 8 < m->sums_for) { /* much too big: clearing it would cost more than a new one */
        fm_destroy(m->sums);
        m->sums = NULL;
    }
    if (!m->sums) { /* kept between calls: its pages are faulted once */
        m->sums_for = 0;
        fm_config c = fm_config_default(map->cfg.key_size, 8, n);
        c.hash = map->cfg.hash;
        c.threads = map->cfg.threads;
        c.backend = FM_BACKEND_CPU;
        st = fm_create(&c, &m->sums);
    }
    fm_map *sums = m->sums;
    if (n > m->sums_for) m->sums_for = n;
    if (st == FM_OK) st = fm_bulk_add_u64(sums, keys, deltas, n);
    const size_t distinct = st == FM_OK ? (size_t)fm_size(sums) : 0;
    *keys_out = fm_alloc((distinct ? distinct : 1) * map->cfg.key_size);
    *deltas_out = fm_alloc((distinct ? distinct : 1) * sizeof(uint64_t));
    if (st == FM_OK && (!*keys_out || !*deltas_out)) st = FM_ERR_NOMEM;
    uint64_t cursor = 0;
    size_t got = 0;
    if (st == FM_OK && distinct) st = fm_export(sums, &cursor, *keys_out, *deltas_out, distinct, &got);
    if (sums && fm_clear(sums) != FM_OK) { /* cannot happen on a CPU map; start afresh next time */
        fm_destroy(sums);
        m->sums = NULL;
    }
    if (st != FM_OK) {
        fm_free(*keys_out);
        fm_free(*deltas_out);
        *keys_out = NULL;
        *deltas_out = NULL;
        return fm_fail(map, st, "cannot combine %zu local adds: %s", n, fm_status_str(st));
    }
    *n_out = got;
    return FM_OK;
}

/* Whether combining repeats before sending is worth a pass over the batch:
 * a key repeated often enough to matter (a heavy hitter, or a batch of few
 * distinct keys) shows up twice among evenly spaced samples. */
#define FM_REPEAT_SAMPLES 4096
static int has_repeats(const uint8_t *keys, size_t n, uint32_t ks, int hash_kind)
{
    const size_t samples = n < FM_REPEAT_SAMPLES ? n : FM_REPEAT_SAMPLES;
    uint64_t hashes[2 * FM_REPEAT_SAMPLES];
    size_t where[2 * FM_REPEAT_SAMPLES];
    const size_t mask = 2 * FM_REPEAT_SAMPLES - 1;
    memset(where, 0xff, sizeof where);
    for (size_t j = 0; j < samples; j++) {
        const size_t i = samples == n ? j : (size_t)((double)j * (double)n / (double)samples);
        const uint8_t *key = keys + i * ks;
        const uint64_t h = fm_hash_key(hash_kind, key, ks);
        for (size_t s = h & mask;; s = (s + 1) & mask) {
            if (where[s] == SIZE_MAX) {
                hashes[s] = h;
                where[s] = i;
                break;
            }
            if (hashes[s] == h && memcmp(keys + where[s] * ks, key, ks) == 0) return 1;
        }
    }
    return 0;
}

/* A one-rank map has nothing to exchange: the local table runs the call in
 * batch order and makes its own room, like a plain map. */
static fm_status single_rank(fm_map *map, mpi_op op, const void *keys, const void *payload, size_t n,
                             void *values_out, uint8_t *flags_out)
{
    fm_map *local = mpi_of(map)->local;
    fm_status st = FM_OK;
    if (n == 0) return FM_OK;
    switch (op) {
    case OP_INSERT: st = local->ops->insert(local, keys, payload, n, 0); break;
    case OP_ADD: st = local->ops->add_u64(local, keys, (const uint64_t *)payload, n, 0); break;
    case OP_GET: st = local->ops->get(local, keys, n, values_out, flags_out); break;
    case OP_REMOVE: st = local->ops->remove(local, keys, n, flags_out); break;
    case OP_COUNT_NEW: break;
    }
    if (st != FM_OK) fm_fail(map, st, "%s", fm_error_detail(local->error));
    return st;
}

/* What a bulk call's first agreement finds the largest of: this rank's
 * exchange bytes, whether it has outputs staged from a device (or would
 * have, on the host path), and whether its call is not device-resident
 * (so 0 means: every rank's call takes the NCCL path). */
#define BULK_SIZES 3

/* The first agreement of a bulk call, for a rank that failed its checks. */
static fm_status agree_bulk(fm_map *map, fm_status mine)
{
    uint64_t none[BULK_SIZES] = {0, 0, 0};
    return agree_max(map, mine, none, BULK_SIZES);
}

/* Adds on the host path: repeats of a key summed on this rank, and ones
 * where the rank passed no deltas (every rank sends deltas). *keys,
 * *deltas and *n describe what to send; *combined_* are freed by the
 * caller. */
static fm_status host_adds(fm_map *map, const fm_stage *sg, size_t n_in, const uint8_t **keys,
                           const uint8_t **deltas, size_t *n, uint8_t **combined_keys, uint64_t **combined_deltas)
{
    const size_t ks = map->cfg.key_size;
    if (n_in > 0 && has_repeats(sg->keys, n_in, (uint32_t)ks, (int)map->cfg.hash)) {
        fm_status st = combine_adds(map, sg->keys, sg->payload, n_in, combined_keys, combined_deltas, n);
        *keys = *combined_keys;
        *deltas = (const uint8_t *)*combined_deltas;
        return st;
    }
    if (sg->payload) return FM_OK;
    *combined_deltas = fm_alloc((n_in ? n_in : 1) * sizeof(uint64_t));
    if (!*combined_deltas) return fm_fail(map, FM_ERR_NOMEM, "no memory for %zu deltas", n_in);
    for (size_t i = 0; i < n_in; i++) (*combined_deltas)[i] = 1;
    *deltas = (const uint8_t *)*combined_deltas;
    return FM_OK;
}

/* Stages a device-resident call (db) through the host after all, because
 * some other rank's call is not device-resident. */
static fm_status stage_late(fm_map *map, mpi_op op, fm_stage *sg, const fm_device_batch *db)
{
    const size_t n = db->n, ks = map->cfg.key_size;
    return fm_stage_in(map, sg, db->keys, n * ks, db->payload, db->payload ? n * db->record : 0, db->values_out,
                       op == OP_GET && db->values_out ? n * db->value_size : 0, db->flags_out,
                       db->flags_out ? n : 0);
}

/* A bulk call, its buffers on the host in sg (staged there from a device
 * if need be), or, with db, in device memory of the shard's device (the
 * map has NCCL; sg is then empty until the call must stage after all);
 * `st` is this rank's status so far, agreed on first. *outputs_staged
 * tells whether any rank has outputs to copy back to a device (set once
 * the first agreement has passed). */
static fm_status mpi_bulk_host(fm_map *map, mpi_op op, fm_stage *sg, size_t n_in, fm_status st,
                               const fm_device_batch *db, int *outputs_staged)
{
    mpi_map *m = mpi_of(map);
    const size_t ks = map->cfg.key_size, vs = map->cfg.value_size;
    const uint8_t *keys = sg->keys, *payload = sg->payload;
    size_t n = n_in;
    uint8_t *combined_keys = NULL;
    uint64_t *combined_deltas = NULL;
    const int staged_here = sg->user_values || sg->user_flags || (db && (db->values_out || db->flags_out));
    *outputs_staged = 0;
    if (m->size == 1 && !m->force_exchange) {
        *outputs_staged = staged_here;
        return st != FM_OK ? st : single_rank(map, op, keys, payload, n, sg->values_out, sg->flags_out);
    }
    if (st == FM_OK && op == OP_ADD && !db)
        st = host_adds(map, sg, n_in, &keys, &payload, &n, &combined_keys, &combined_deltas);
    /* One collective agrees to go on, finds the largest rank's bytes (they
     * set the rounds: each must fit exchange_bytes), whether results go
     * back to a device anywhere and whether every call is on a device. */
    const uint64_t per_key = ks + (op == OP_INSERT ? vs : op == OP_GET ? vs + 1 : 8);
    uint64_t most[BULK_SIZES] = {(uint64_t)n * per_key, (uint64_t)staged_here, (uint64_t)(db == NULL)};
    routed r;
    memset(&r, 0, sizeof r);
    if ((st = agree_max(map, st, most, BULK_SIZES)) != FM_OK) goto done;
    *outputs_staged = most[1] != 0;
    const uint64_t rounds = most[0] / m->exchange_bytes + 1;
    r.rounds = rounds > (1u << 20) ? (1u << 20) : (uint32_t)rounds;
    if (most[2] == 0) { /* device batch and NCCL ready on every rank: the NCCL path */
        *outputs_staged = 0;
        st = fm_mpi_nccl_bulk(map, m->nccl, m->local, m->comm, op, db, r.rounds);
        goto done;
    }
    if (db) { /* another rank's call is on the host: this one goes there too */
        st = stage_late(map, op, sg, db);
        keys = sg->keys;
        payload = sg->payload;
        if (st == FM_OK && op == OP_ADD)
            st = host_adds(map, sg, n_in, &keys, &payload, &n, &combined_keys, &combined_deltas);
    }
    const size_t ps = op == OP_INSERT ? vs : op == OP_ADD ? sizeof(uint64_t) : 0;
    if (st == FM_OK) st = route_local(map, &r, keys, payload, ps, n, op == OP_GET || op == OP_REMOVE);
    if ((st = agree_map(map, st)) != FM_OK) goto done;
    int rc = MPI_Alltoall(r.cnt, (int)r.rounds, MPI_UINT64_T, r.rcnt, (int)r.rounds, MPI_UINT64_T, m->comm);
    if (rc != MPI_SUCCESS) {
        st = mpi_failed(map, rc, "MPI_Alltoall");
        goto done;
    }
    /* The buffers, and for inserts and adds room on every rank first. The
     * cheap bound, every received key new, needs no counting pass. */
    exchange_plan x;
    fm_status mine = plan_exchange(map, &r, op, &x);
    uint64_t count_first = 0;
    if (mine == FM_OK && (op == OP_INSERT || op == OP_ADD)) {
        uint64_t received = 0;
        for (size_t i = 0; i < (size_t)m->size * r.rounds; i++) received += r.rcnt[i];
        count_first = received > m->local->ops->headroom(m->local);
    }
    if ((st = agree_max(map, mine, &count_first, 1)) != FM_OK) goto done;
    if (count_first) {
        uint64_t fresh = 0;
        if ((st = run_rounds(map, &r, &x, OP_COUNT_NEW, keys, NULL, NULL, NULL, &fresh)) != FM_OK) goto done;
        mine = FM_OK;
        if (fresh > m->local->ops->headroom(m->local)) {
            mine = m->local->ops->make_room_for(m->local, fresh);
            if (mine != FM_OK) fm_fail(map, mine, "%s", fm_error_detail(m->local->error));
        }
        if ((st = agree_map(map, mine)) != FM_OK) goto done;
    }
    st = run_rounds(map, &r, &x, op, keys, payload, sg->values_out, sg->flags_out, NULL);
done:
    routed_free(&r);
    fm_free(combined_keys);
    fm_free(combined_deltas);
    return st;
}

/* Every bulk call. On a map with NCCL, a call whose buffers are all in
 * device memory of the shard's device (or that has no keys) stages
 * nothing: if every rank's call is like that, the batch goes through NCCL
 * (mpi_nccl.cu); else it is staged when the first agreement says so.
 * Other device buffers are staged through host memory (the exchange packs
 * batches on the host). The first agreement of mpi_bulk_host is the one a
 * rank whose arguments failed their checks meets. */
static fm_status mpi_bulk(fm_map *map, mpi_op op, const void *keys, const void *payload, size_t n,
                          void *values_out, uint8_t *flags_out)
{
    mpi_map *m = mpi_of(map);
    const size_t ks = map->cfg.key_size, vs = map->cfg.value_size;
    const size_t record = op == OP_INSERT ? vs : op == OP_ADD ? sizeof(uint64_t) : 0;
    fm_device_batch db;
    memset(&db, 0, sizeof db);
    int on_device = 0;
    if (m->nccl) {
        if (n == 0) {
            db.device = fm_mpi_nccl_device(m->nccl);
            on_device = 1;
        } else
            on_device = fm_device_batch_of(map, &db, keys, payload, record, op == OP_GET ? values_out : NULL,
                                           flags_out, n) &&
                        db.device == fm_mpi_nccl_device(m->nccl);
    }
    fm_stage sg;
    memset(&sg, 0, sizeof sg);
    fm_status st = FM_OK;
    if (!on_device)
        st = fm_stage_in(map, &sg, keys, n * ks, payload, payload ? n * record : 0, values_out,
                         values_out && op == OP_GET ? n * vs : 0, flags_out, flags_out ? n : 0);
    int outputs_staged = 0;
    st = mpi_bulk_host(map, op, &sg, n, st, on_device ? &db : NULL, &outputs_staged);
    if (outputs_staged) { /* results copied back: a device error there is agreed too */
        if (st == FM_OK) st = fm_stage_out(map, &sg);
        st = agree_map(map, st);
    }
    fm_stage_free(&sg);
    return st;
}

/* ---- the backend ------------------------------------------------------ */

static fm_status mpi_insert(fm_map *map, const void *keys, const void *values, size_t n, unsigned f)
{
    (void)f;
    return mpi_bulk(map, OP_INSERT, keys, values, n, NULL, NULL);
}

static fm_status mpi_add_u64(fm_map *map, const void *keys, const uint64_t *deltas, size_t n, unsigned f)
{
    (void)f;
    return mpi_bulk(map, OP_ADD, keys, deltas, n, NULL, NULL);
}

static fm_status mpi_get(fm_map *map, const void *keys, size_t n, void *values_out, uint8_t *found_out)
{
    return mpi_bulk(map, OP_GET, keys, NULL, n, values_out, found_out);
}

static fm_status mpi_remove(fm_map *map, const void *keys, size_t n, uint8_t *removed_out)
{
    return mpi_bulk(map, OP_REMOVE, keys, NULL, n, NULL, removed_out);
}

static uint64_t mpi_size(fm_map *map)
{
    mpi_map *m = mpi_of(map);
    uint64_t mine = m->local->ops->size(m->local), total = 0;
    if (MPI_Allreduce(&mine, &total, 1, MPI_UINT64_T, MPI_SUM, m->comm) != MPI_SUCCESS) return 0;
    return total;
}

static fm_status mpi_clear(fm_map *map)
{
    mpi_map *m = mpi_of(map);
    fm_status mine = m->local->ops->clear(m->local);
    if (mine != FM_OK) fm_fail(map, mine, "%s", fm_error_detail(m->local->error));
    return agree_map(map, mine);
}

static fm_status mpi_export(fm_map *map, uint64_t *cursor, void *keys_out, void *values_out, size_t max,
                            size_t *n_out)
{
    mpi_map *m = mpi_of(map);
    fm_status st = m->local->ops->export_entries(m->local, cursor, keys_out, values_out, max, n_out);
    if (st != FM_OK) fm_fail(map, st, "%s", fm_error_detail(m->local->error));
    return st;
}

static fm_status mpi_stats(fm_map *map, fm_stats *out)
{
    mpi_map *m = mpi_of(map);
    fm_stats one;
    fm_status st = agree_map(map, FM_OK); /* see mpi_bulk */
    if (st != FM_OK) return st;
    fm_status mine = m->local->ops->stats(m->local, &one);
    if (mine != FM_OK) fm_fail(map, mine, "%s", fm_error_detail(m->local->error));
    if ((st = agree_map(map, mine)) != FM_OK) return st;
    uint64_t sums[3] = {one.size, one.slots, one.tombstones}, totals[3];
    FM_MPI(map, MPI_Allreduce(sums, totals, 3, MPI_UINT64_T, MPI_SUM, m->comm));
    FM_MPI(map, MPI_Allreduce(&one.longest_probe, &out->longest_probe, 1, MPI_UINT64_T, MPI_MAX, m->comm));
    out->size = totals[0];
    out->slots = totals[1];
    out->tombstones = totals[2];
    out->load_factor = out->slots ? (double)out->size / (double)out->slots : 0.0;
    out->shards = m->size;
    out->backend = map->backend;
    return FM_OK;
}

static void mpi_destroy(fm_map *map)
{
    mpi_map *m = mpi_of(map);
    if (!m) return;
    if (m->local) {
        if (m->local->impl) m->local->ops->destroy(m->local);
        free(m->local);
    }
    fm_destroy(m->sums);
    fm_mpi_nccl_close(m->nccl);
    if (m->comm != MPI_COMM_NULL) MPI_Comm_free(&m->comm);
    for (int i = 0; i < WS_COUNT; i++) fm_free(m->ws[i]);
    free(m);
    map->impl = NULL;
}

/* Requests run on a worker thread, which calls MPI while the caller's
 * threads may too. */
static fm_status mpi_async_ready(fm_map *map)
{
    int level = MPI_THREAD_SINGLE;
    MPI_Query_thread(&level);
    if (level < MPI_THREAD_MULTIPLE)
        return fm_fail(map, FM_ERR_UNSUPPORTED,
                       "non-blocking calls on an MPI map need MPI_Init_thread with MPI_THREAD_MULTIPLE");
    return FM_OK;
}

static const fm_backend_ops fm_mpi_backend = {
    .name = "mpi",
    .collective = 1,
    .agree = agree_map,
    .agree_bulk = agree_bulk,
    .async_ready = mpi_async_ready,
    .destroy = mpi_destroy,
    .insert = mpi_insert,
    .get = mpi_get,
    .remove = mpi_remove,
    .add_u64 = mpi_add_u64,
    .size = mpi_size,
    .clear = mpi_clear,
    .export_entries = mpi_export,
    .stats = mpi_stats,
};

/* A digest of the settings every rank must share (after defaults are
 * filled in, so 0 and the default it stands for agree). */
static uint64_t config_digest(const fm_config *c)
{
    uint64_t words[9];
    memcpy(&words[0], &c->max_load, sizeof(double));
    words[1] = c->key_size;
    words[2] = c->value_size;
    words[3] = c->capacity;
    words[4] = (uint64_t)c->hash;
    words[5] = (uint64_t)c->flags;
    words[6] = (uint64_t)c->shards;
    words[7] = c->exchange_bytes;
    words[8] = (uint64_t)c->backend;
    return fm_murmur3_64((const uint8_t *)words, sizeof words);
}

/* Checks the configuration on this rank: the caller agrees on the status. */
static fm_status check_config(fm_map *report, const fm_config *cfg, fm_config *resolved)
{
    if (!cfg) return fm_fail(report, FM_ERR_INVALID, "fm_create_mpi: cfg is NULL");
    fm_status st = fm_config_resolve(cfg, resolved);
    if (st != FM_OK) return fm_fail(report, st, "%s", fm_error_detail(fm_last_error(NULL)));
    if (resolved->shards > 1)
        return fm_fail(report, FM_ERR_UNSUPPORTED,
                       "cfg->shards = %d: MPI maps hold one shard per rank in this version", resolved->shards);
    return FM_OK;
}

/* The local shard, once every rank agreed on the configuration: a CUDA
 * table when the backend is CUDA (AUTO: when this rank sees a device), on
 * cfg.device, or else on device (node-local rank mod devices), so the ranks
 * of a node spread over its GPUs. */
static fm_status create_local(fm_map *map, mpi_map *m, int local_rank, fm_status so_far)
{
    if (so_far != FM_OK) return so_far;
    fm_map *local = fm_calloc(1, sizeof *local);
    if (!local) return fm_fail(map, FM_ERR_NOMEM, "no memory for the local shard");
    m->local = local;
    local->cfg = map->cfg;
    local->cfg.capacity = (map->cfg.capacity + (uint64_t)m->size - 1) / (uint64_t)m->size;
    local->backend = map->backend;
    local->ops = map->backend == FM_BACKEND_CUDA ? &fm_cuda_backend : &fm_cpu_backend;
    if (map->backend == FM_BACKEND_CUDA && local->cfg.device < 0) {
        const int devices = fm_cuda_device_count();
        local->cfg.device = devices > 0 ? local_rank % devices : 0;
    }
    fm_status st = local->ops->create(local);
    if (st != FM_OK) return fm_fail(map, st, "%s", fm_error_detail(local->error));
    return FM_OK;
}

/* Whether this MPI offers CUDA-aware point-to-point at run time: "yes",
 * "no" or "unknown". Only recorded: flashmap needs no CUDA-aware MPI and
 * has no exchange path of its own for one (docs/mpi.md). */
static const char *cuda_aware_mpi(void)
{
#if defined(MPIX_CUDA_AWARE_SUPPORT)
    return MPIX_Query_cuda_support() ? "yes" : "no";
#else
    return "unknown";
#endif
}

/* After the map is made, on every rank (collective): the exchange of
 * device batches, NCCL when it starts everywhere (with CUDA shards, and
 * not switched off by FLASHMAP_NCCL=0), else staging through the host.
 * FLASHMAP_TEST_MPI_EXCHANGE=1 makes a one-rank map exchange with itself
 * (tests). FLASHMAP_MPI_VERBOSE=1 has rank 0 print the choice. */
static void choose_exchange(mpi_map *m)
{
    const char *force = getenv("FLASHMAP_TEST_MPI_EXCHANGE");
    m->force_exchange = force && strcmp(force, "1") == 0;
    if (m->size > 1 || m->force_exchange)
        m->nccl = fm_mpi_nccl_open(m->local, m->comm, m->nccl_note, sizeof m->nccl_note);
    else
        snprintf(m->nccl_note, sizeof m->nccl_note, "one rank: no exchange");
    const char *verbose = getenv("FLASHMAP_MPI_VERBOSE");
    if (m->rank == 0 && verbose && strcmp(verbose, "1") == 0)
        fprintf(stderr, "flashmap: MPI map on %d rank(s), %s shards: device batches exchange through %s (%s); "
                "CUDA-aware MPI: %s (not used)\n", m->size, m->local->backend == FM_BACKEND_CUDA ? "CUDA" : "CPU",
                m->nccl ? "NCCL" : "host staging and MPI", m->nccl_note, cuda_aware_mpi());
}

fm_status fm_create_mpi(MPI_Comm comm, const fm_config *cfg, fm_map **map_out)
{
    if (map_out) *map_out = NULL;
    int initialized = 0;
    MPI_Initialized(&initialized);
    if (!initialized) return fm_fail(NULL, FM_ERR_INVALID, "fm_create_mpi: call MPI_Init first");
    if (comm == MPI_COMM_NULL) return fm_fail(NULL, FM_ERR_INVALID, "fm_create_mpi: comm is MPI_COMM_NULL");
    /* Every rank duplicates the communicator before any check can fail, so
     * the agreements below always meet. */
    MPI_Comm dup = MPI_COMM_NULL;
    int rc = MPI_Comm_dup(comm, &dup);
    if (rc != MPI_SUCCESS) {
        char text[MPI_MAX_ERROR_STRING];
        int len = 0;
        MPI_Error_string(rc, text, &len);
        return fm_fail(NULL, FM_ERR_COMM, "fm_create_mpi: MPI_Comm_dup failed: %s", text);
    }
    MPI_Comm_set_errhandler(dup, MPI_ERRORS_RETURN);
    int rank = 0, size = 1;
    MPI_Comm_rank(dup, &rank);
    MPI_Comm_size(dup, &size);

    fm_map *map = fm_calloc(1, sizeof *map);
    mpi_map *m = map ? fm_calloc(1, sizeof *m) : NULL;
    fm_map fallback; /* reports a failure to allocate the handle itself */
    memset(&fallback, 0, sizeof fallback);
    fm_map *report = map ? map : &fallback;
    fm_config resolved;
    memset(&resolved, 0, sizeof resolved);
    fm_status st = FM_OK;
    if (!map || !m) st = fm_fail(report, FM_ERR_NOMEM, "fm_create_mpi: no memory for the map handle");
    else if (!map_out) st = fm_fail(report, FM_ERR_INVALID, "fm_create_mpi: map_out is NULL");
    else st = check_config(report, cfg, &resolved);

    /* Same configuration everywhere? Compare min and max of a digest. */
    uint64_t digest[2] = {0, 0}, seen[2] = {0, 0};
    if (st == FM_OK) {
        digest[0] = config_digest(&resolved);
        digest[1] = ~digest[0];
    }
    rc = MPI_Allreduce(digest, seen, 2, MPI_UINT64_T, MPI_MIN, dup);
    if (rc != MPI_SUCCESS && st == FM_OK) st = mpi_failed(report, rc, "MPI_Allreduce");
    if (st == FM_OK && (seen[0] != digest[0] || ~seen[1] != digest[0]))
        st = fm_fail(report, FM_ERR_INVALID,
                     "fm_create_mpi: ranks passed different configurations (cfg must match on every rank)");
    st = agree(report, dup, rank, size, st);
    if (st == FM_OK) {
        map->cfg = resolved;
        map->backend = FM_BACKEND_CPU;
        map->ops = &fm_mpi_backend;
        map->impl = m;
        m->comm = dup;
        m->rank = rank;
        m->size = size;
        int local_rank = 0, local_ranks = 1;
        fm_mpi_node_place(dup, rank, &local_rank, &local_ranks);
        m->exchange_bytes = resolved.exchange_bytes ? resolved.exchange_bytes
                                                    : fm_mpi_default_exchange_bytes(dup, local_ranks);
        map->cfg.exchange_bytes = m->exchange_bytes;
        st = fm_backend_choose(resolved.backend, &map->backend);
        if (st != FM_OK) fm_fail(map, st, "%s", fm_error_detail(fm_last_error(NULL)));
        st = create_local(map, m, local_rank, st);
        if (st == FM_OK) st = fm_shared_attach(map);
        st = agree(map, dup, rank, size, st);
        if (st != FM_OK) {
            fm_shared_detach(map);
            fm_fail(NULL, st, "%s", fm_error_detail(map->error));
            mpi_destroy(map); /* frees the communicator too */
            free(map);
            return st;
        }
        choose_exchange(m);
        *map_out = map;
        return FM_OK;
    }
    fm_fail(NULL, st, "%s", fm_error_detail(report->error));
    free(m);
    free(map);
    MPI_Comm_free(&dup);
    return st;
}

/* For checkpoint_mpi.c (fm_save on an MPI map, fm_load_mpi lives there):
 * the map's own communicator. */
MPI_Comm fm_mpi_map_comm(fm_map *map);
MPI_Comm fm_mpi_map_comm(fm_map *map) { return mpi_of(map)->comm; }
