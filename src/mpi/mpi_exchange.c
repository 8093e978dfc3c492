/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The exchange of MPI maps: a batch routed by (round, owner rank), sent
 * with MPI_Alltoallv round by round, applied by each owner in rank order
 * then batch order, and its replies sent back to the callers' positions. */
#include <string.h>

#include "api/fm_alloc.h"
#include "mpi/fm_mpi_map.h"
#include "table/fm_copy.h"

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
    for (int p = 0; p < P; p++)
        if (p != m->rank) m->sent_bytes += (uint64_t)sc[p];
    return FM_OK;
}

/* See fm_mpi_map.h. */
uint64_t fm_mpi_largest_delta(const uint8_t *deltas, size_t n, int threads)
{
    const int64_t count = (int64_t)n;
    uint64_t most = 0;
    (void)threads; /* without OpenMP */
#pragma omp parallel for schedule(static) num_threads(threads) reduction(max : most) if (count > 4096)
    for (int64_t i = 0; i < count; i++) {
        uint64_t d;
        memcpy(&d, deltas + (size_t)i * sizeof d, sizeof d);
        if (d > most) most = d;
    }
    return most;
}

uint32_t fm_mpi_delta_bytes(uint64_t largest)
{
    return largest <= UINT8_MAX ? 1 : largest <= UINT16_MAX ? 2 : largest <= UINT32_MAX ? 4 : 8;
}

/* Delta j as `width` bytes (or back, `widen`): on the little-endian hosts
 * flashmap targets, a value's low bytes come first, and every value fits
 * (fm_mpi_delta_bytes of the largest). Arrays may be unaligned. */
static inline void resize_one(uint8_t *dst, const uint8_t *src, size_t j, uint32_t width, int widen)
{
    uint64_t d = 0;
    if (widen) {
        memcpy(&d, src + j * width, width);
        memcpy(dst + j * 8, &d, 8);
    } else {
        memcpy(&d, src + j * 8, 8);
        memcpy(dst + j * width, &d, width);
    }
}

/* count deltas of 8 bytes (src) as `width`-byte integers (dst), or back. */
static void resize_deltas(uint8_t *dst, const uint8_t *src, uint64_t count, uint32_t width, int widen, int threads)
{
    const int64_t len = (int64_t)count;
    (void)threads; /* without OpenMP */
#pragma omp parallel for schedule(static) num_threads(threads) if (len > 4096)
    for (int64_t j = 0; j < len; j++) {
        /* Constant widths, so that each copy is one load and one store. */
        if (width == 1) resize_one(dst, src, (size_t)j, 1, widen);
        else if (width == 2) resize_one(dst, src, (size_t)j, 2, widen);
        else resize_one(dst, src, (size_t)j, 4, widen);
    }
}

void fm_mpi_routed_free(fm_mpi_routed *r)
{
    fm_partition_free(&r->part);
    fm_free(r->cnt);
    fm_free(r->rcnt);
    memset(r, 0, sizeof *r);
}

/* Local part of routing: see fm_mpi_map.h. */
fm_status fm_mpi_route(fm_map *map, fm_mpi_routed *r, const uint8_t *keys, const uint8_t *payload, size_t ps,
                       size_t n, int need_order)
{
    mpi_map *m = mpi_of(map);
    const uint32_t ks = map->cfg.key_size, P = (uint32_t)m->size, R = r->rounds;
    r->scratch = fm_mpi_workspace(m, WS_ROUTE, (n ? n : 1) * 2 * sizeof(uint64_t));
    r->cnt = fm_alloc((size_t)P * R * sizeof(uint64_t));
    r->rcnt = fm_alloc((size_t)P * R * sizeof(uint64_t));
    if (R == 1) {
        r->packed_rec = ks + ps;
        r->packed = fm_mpi_workspace(m, WS_PACKED, (n ? n : 1) * r->packed_rec);
        r->packed_payload = r->packed && ps ? r->packed + n * ks : NULL;
    }
    if (!r->scratch || !r->cnt || !r->rcnt || (R == 1 && !r->packed))
        return fm_fail(map, FM_ERR_NOMEM, "no memory to route %zu keys", n);
    /* One round of short keys: hashed as they are packed (no array of
     * hashes to write and read back); else hashed first. */
    const int hash_inline = r->packed && ks <= 16;
    if (!hash_inline) fm_partition_hash(r->scratch, keys, n, ks, (int)map->cfg.hash, 1, map->cfg.threads);
    const fm_partition_pack pack = {keys, ks, payload, ps, r->packed, r->packed_payload, (int)map->cfg.hash, 1};
    if (fm_partition_build(&r->part, hash_inline ? NULL : r->scratch, n, P, R, map->cfg.threads,
                           need_order || R > 1 ? r->scratch + n : NULL, r->packed ? &pack : NULL) != FM_OK)
        return fm_fail(map, FM_ERR_NOMEM, "no memory to route %zu keys", n);
    if (r->packed && r->part.in_order && n > 0) {
        /* A batch in hash order is in owner order (fm_owner_of): its keys
         * and payloads go to the exchange as the caller gave them (the
         * exchange only reads what it sends). An empty batch keeps the
         * workspace: r->packed set or not must be the same on every rank,
         * which then all take the same exchange path. */
        r->packed = (uint8_t *)keys;
        r->packed_payload = ps ? (uint8_t *)payload : NULL;
    }
    for (uint32_t rd = 0; rd < R; rd++)
        for (uint32_t p = 0; p < P; p++)
            r->cnt[(size_t)p * R + rd] = r->part.start[rd * P + p + 1] - r->part.start[rd * P + p];
    return FM_OK;
}

/* Moves round rd's records between routed order (records: size_a bytes,
 * then size_b bytes, each) and batch order (arrays a and b) through the
 * partition's order: gathers a key and its payload into each record to
 * send (`gather`), or scatters reply records (a value and its flag) back to
 * the caller's positions. A NULL array or a size of 0 skips that part. */
static void move_round(const fm_mpi_routed *r, uint32_t P, uint32_t rd, uint8_t *records, uint8_t *a,
                       size_t size_a, uint8_t *b, size_t size_b, int gather, int threads)
{
    const uint64_t base = r->part.start[rd * P], end = r->part.start[rd * P + P];
    const int64_t len = (int64_t)(end - base);
    const size_t rec = size_a + size_b;
#pragma omp parallel for schedule(static) num_threads(threads) if (len > 4096)
    for (int64_t j = 0; j < len; j++) {
        const uint64_t i = r->part.order[base + (uint64_t)j];
        uint8_t *at = records + (size_t)j * rec;
        if (a && size_a) {
            if (gather) fm_copy_bytes(at, a + i * size_a, (uint32_t)size_a);
            else fm_copy_bytes(a + i * size_a, at, (uint32_t)size_a);
        }
        if (b && size_b) {
            if (gather) fm_copy_bytes(at + size_a, b + i * size_b, (uint32_t)size_b);
            else fm_copy_bytes(b + i * size_b, at + size_a, (uint32_t)size_b);
        }
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

static record_sizes sizes_of(const fm_map *map, const fm_mpi_routed *r, mpi_op op)
{
    const size_t ks = map->cfg.key_size, vs = map->cfg.value_size;
    record_sizes z;
    z.ps = op == OP_INSERT ? vs : op == OP_ADD ? sizeof(uint64_t) : 0;
    z.replies = op == OP_GET || op == OP_REMOVE;
    z.out_rec = ks + z.ps;
    z.back_rec = op == OP_GET ? vs + 1 : 1;
    z.widest = z.out_rec > z.back_rec ? z.out_rec : z.back_rec;
    /* The send buffer: records packed round by round (unless routing
     * packed one round's keys and payloads already, which then go as they
     * lie), replies. */
    z.prepacked = r->packed != NULL; /* one round: keys and payloads lie apart, ready to go */
    z.sbuf_rec = z.replies    ? (z.prepacked ? z.back_rec : z.widest)
                 : z.prepacked ? (op == OP_ADD ? sizeof(uint32_t) : 1) /* narrowed deltas */
                               : z.out_rec;
    return z;
}

/* See fm_mpi_map.h. */
fm_status fm_mpi_plan_exchange(fm_map *map, const fm_mpi_routed *r, mpi_op op, fm_mpi_plan *x)
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
    x->most_received = (size_t)max_recv;
    x->sbuf = fm_mpi_workspace(m, WS_SEND, big * z.sbuf_rec);
    x->rrec = fm_mpi_workspace(m, WS_RECV, big * z.widest);
    x->rkeys = fm_mpi_workspace(m, WS_RECV_KEYS, big * ks);
    x->rpay = z.ps ? fm_mpi_workspace(m, WS_RECV_PAYLOAD, big * z.ps) : NULL;
    x->reply = z.replies ? fm_mpi_workspace(m, WS_REPLY, big * (vs + 1)) : NULL;
    x->disp = fm_mpi_workspace(m, WS_DISP, 4 * (size_t)P * sizeof(uint64_t));
    x->ibuf = fm_mpi_workspace(m, WS_IBUF, 4 * (size_t)P * sizeof(int));
    if (!x->sbuf || !x->rrec || !x->rkeys || (z.ps && !x->rpay) || (z.replies && !x->reply) || !x->disp ||
        !x->ibuf)
        return fm_fail(map, FM_ERR_NOMEM, "no memory for exchange buffers of %zu records", big);
    return FM_OK;
}

/* See fm_mpi_map.h. */
fm_status fm_mpi_run_rounds(fm_map *map, fm_mpi_routed *r, const fm_mpi_plan *x, mpi_op op, const uint8_t *keys,
                            const uint8_t *payload, void *values_out, uint8_t *flags_out, uint64_t *fresh)
{
    mpi_map *m = mpi_of(map);
    fm_map *local = m->local;
    const uint32_t P = (uint32_t)m->size, R = r->rounds;
    const size_t ks = map->cfg.key_size, vs = map->cfg.value_size;
    const record_sizes z = sizes_of(map, r, op);
    const size_t ps = z.ps;
    const int threads = map->cfg.threads;
    const unsigned write_flags = x->write_flags ? x->write_flags : FM_WRITE_ROOM_MADE;
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
        if (r->packed) {
            /* One round, packed while routing: the keys go as they lie
             * (the count pass sends only them), then the payloads. */
            if ((st = alltoallv_records(map, r->packed, sc, sd, rkeys, rc, rdp, ks, x->ibuf)) != FM_OK) return st;
            const uint32_t width = op == OP_ADD && x->delta_bytes ? x->delta_bytes : 8;
            if (ps && width < 8) { /* deltas that fit fewer bytes travel in fewer */
                resize_deltas(sbuf, r->packed_payload, s, width, 0, threads);
                if ((st = alltoallv_records(map, sbuf, sc, sd, rrec, rc, rdp, width, x->ibuf)) != FM_OK) return st;
                resize_deltas(rpay, rrec, q, width, 1, threads);
            } else if (ps && (st = alltoallv_records(map, r->packed_payload, sc, sd, rpay, rc, rdp, ps, x->ibuf)) !=
                                 FM_OK) {
                return st;
            }
        } else {
            move_round(r, P, rd, sbuf, (uint8_t *)keys, ks, (uint8_t *)payload, ps, 1, threads); /* only read */
            uint8_t *landing = ps ? rrec : rkeys; /* keys alone need no split */
            if ((st = alltoallv_records(map, sbuf, sc, sd, landing, rc, rdp, z.out_rec, x->ibuf)) != FM_OK)
                return st;
            if (ps) split_records(rrec, rkeys, ks, rpay, ps, q, 0, threads);
        }
        /* This rank's part of the round, in rank order then batch order. */
        fm_status mine = FM_OK;
        if (q > 0) {
            uint64_t got = 0;
            switch (op) {
            case OP_COUNT_NEW:
                mine = local->ops->count_new(local, rkeys, q, 0, &got);
                *fresh += got;
                break;
            case OP_INSERT: mine = local->ops->insert(local, rkeys, rpay, q, write_flags); break;
            case OP_ADD: mine = local->ops->add_u64(local, rkeys, (const uint64_t *)rpay, q, write_flags); break;
            case OP_GET: mine = local->ops->get(local, rkeys, q, reply, reply + q * vs); break;
            case OP_REMOVE: mine = local->ops->remove(local, rkeys, q, reply); break;
            }
            if (mine != FM_OK) fm_fail(map, mine, "%s", fm_error_detail(local->error));
        }
        if ((st = fm_mpi_agree(map, mine)) != FM_OK) return st;
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
            move_round(r, P, rd, sbuf, values_out, value_part, flags_out, 1, 0, threads);
        }
    }
    return FM_OK;
}
