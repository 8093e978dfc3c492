/* SPDX-License-Identifier: MIT OR Apache-2.0 */
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
#include "mpi/fm_mpi_map.h"
#include "mpi/fm_mpi_node.h"
#include "shard/fm_device_route.h"
#include "shard/fm_parts.h"
#include "shard/fm_stage.h"
#include "table/fm_hash.h"

/* Workspaces grow by a quarter more than asked (when that can be had):
 * batches of nearly the same size then reuse one buffer instead of
 * allocating a slightly larger one, whose fresh pages the kernel must
 * zero, each time a batch is the largest so far. */
void *fm_mpi_workspace(mpi_map *m, int which, size_t bytes)
{
    if (bytes <= m->ws_bytes[which]) return m->ws[which];
    size_t want = bytes + bytes / 4 < bytes ? bytes : bytes + bytes / 4;
    void *more = fm_alloc(want);
    if (!more && want > bytes) more = fm_alloc(want = bytes);
    if (!more) return NULL;
    fm_free(m->ws[which]);
    m->ws[which] = more;
    m->ws_bytes[which] = want;
    return more;
}

const char *fm_mpi_exchange_path(fm_map *map) { return mpi_of(map)->nccl ? "nccl" : "host"; }

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

/* A bulk call's first agreement finds the largest of (tally max[]): this
 * rank's exchange bytes, whether it has outputs staged from a device (or
 * would have, on the host path), and whether its call is not
 * device-resident (so 0 means: every rank's call takes the NCCL path). */

/* The exchange rounds of a call whose largest rank routes `bytes` (each
 * round must fit exchange_bytes). */
static uint32_t rounds_for(const mpi_map *m, uint64_t bytes)
{
    const uint64_t rounds = bytes / m->exchange_bytes + 1;
    return rounds > (1u << 20) ? (1u << 20) : (uint32_t)rounds;
}

/* A write readies the local table for its largest round of received keys,
 * in the buffers they will land in, before the agreement that starts the
 * exchange: a rank that cannot (a CUDA shard's staging buffers) fails the
 * call on every rank while nothing has changed. */
static fm_status prepare_local(fm_map *map, const fm_mpi_plan *x, mpi_op op)
{
    fm_map *local = mpi_of(map)->local;
    if (!local->ops->prepare_write || x->most_received == 0 || (op != OP_INSERT && op != OP_ADD && op != OP_REMOVE))
        return FM_OK;
    const fm_write_kind kind = op == OP_INSERT ? FM_WRITE_INSERT : op == OP_ADD ? FM_WRITE_ADD : FM_WRITE_REMOVE;
    const fm_status st = local->ops->prepare_write(local, kind, x->rkeys, op == OP_REMOVE ? x->reply : x->rpay,
                                                   x->most_received);
    return st == FM_OK ? FM_OK : fm_fail(map, st, "%s", fm_error_detail(local->error));
}

/* The call a bulk operation is, for the first agreement. */
static fm_call call_of(mpi_op op)
{
    switch (op) {
    case OP_INSERT: return FM_CALL_INSERT;
    case OP_ADD: return FM_CALL_ADD;
    case OP_GET: return FM_CALL_GET;
    default: return FM_CALL_REMOVE;
    }
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
        st = fm_mpi_host_adds(map, sg, n_in, &keys, &payload, &n, &combined_keys, &combined_deltas);
    /* One collective checks that every rank makes this same call, agrees
     * to go on, finds the largest rank's bytes (they set the rounds: each
     * must fit exchange_bytes), whether results go back to a device
     * anywhere and whether every call is on a device. */
    const uint64_t per_key = ks + (op == OP_INSERT ? vs : op == OP_GET ? vs + 1 : 8);
    fm_mpi_tally t;
    memset(&t, 0, sizeof t);
    t.max[0] = (uint64_t)n * per_key;
    t.max[1] = (uint64_t)staged_here;
    t.max[2] = (uint64_t)(db == NULL);
    /* Adds: the largest delta, which sets the bytes every delta travels in
     * (a device batch, not read here, travels in 8). */
    if (op == OP_ADD)
        t.max[3] = db || !m->narrow_deltas ? UINT64_MAX
                   : st == FM_OK && payload ? fm_mpi_largest_delta(payload, n, map->cfg.threads)
                                            : 0; /* failed: nothing travels */
    const uint64_t *most = t.max;
    const size_t ps = op == OP_INSERT ? vs : op == OP_ADD ? sizeof(uint64_t) : 0;
    const int need_order = op == OP_GET || op == OP_REMOVE;
    fm_mpi_routed r;
    memset(&r, 0, sizeof r);
    /* A host batch that fits one round is routed before the first tally,
     * which then agrees on its failures too: the call saves the agreement
     * of its own. When every rank's batch fits (the agreed rounds are 1)
     * every rank has routed so; otherwise each routes again below. */
    int routed = 0;
    if (st == FM_OK && !db && rounds_for(m, t.max[0]) == 1) {
        r.rounds = 1;
        st = fm_mpi_route(map, &r, keys, payload, ps, n, need_order);
        routed = 1;
    }
    if ((st = fm_mpi_call(map, call_of(op), st, &t)) != FM_OK) goto done;
    *outputs_staged = most[1] != 0;
    const uint32_t rounds = rounds_for(m, most[0]);
    if (routed && rounds != 1) { /* another rank's batch takes several rounds */
        fm_mpi_routed_free(&r);
        routed = 0;
    }
    r.rounds = rounds;
    if (most[2] == 0) { /* device batch and NCCL ready on every rank: the NCCL path */
        *outputs_staged = 0;
        st = fm_mpi_nccl_bulk(map, m->nccl, m->local, m->comm, op, db, r.rounds);
        if (st == FM_ERR_DEVICE) { /* agreed: every rank drops a communicator that failed */
            fm_mpi_nccl_abort(m->nccl);
            m->nccl = NULL;
            snprintf(m->nccl_note, sizeof m->nccl_note, "dropped after a device error; host staging from now on");
        }
        goto done;
    }
    if (db) { /* another rank's call is on the host: this one goes there too */
        st = stage_late(map, op, sg, db);
        keys = sg->keys;
        payload = sg->payload;
        if (st == FM_OK && op == OP_ADD)
            st = fm_mpi_host_adds(map, sg, n_in, &keys, &payload, &n, &combined_keys, &combined_deltas);
    }
    if (!routed) {
        if (st == FM_OK) st = fm_mpi_route(map, &r, keys, payload, ps, n, need_order);
        if ((st = fm_mpi_agree(map, st)) != FM_OK) goto done;
    }
    int rc = MPI_Alltoall(r.cnt, (int)r.rounds, MPI_UINT64_T, r.rcnt, (int)r.rounds, MPI_UINT64_T, m->comm);
    if (rc != MPI_SUCCESS) {
        st = fm_mpi_failed(map, rc, "MPI_Alltoall");
        goto done;
    }
    /* The buffers, and for inserts and adds room on every rank first. The
     * cheap bound, every received key new, needs no counting pass. */
    fm_mpi_plan x;
    fm_status mine = fm_mpi_plan_exchange(map, &r, op, &x);
    x.delta_bytes = fm_mpi_delta_bytes(most[3]);
    if (mine == FM_OK) mine = prepare_local(map, &x, op);
    uint64_t received = 0;
    for (size_t i = 0; i < (size_t)m->size * r.rounds; i++) received += r.rcnt[i];
    int count_first = 0, tentative = 0;
    const int writes = op == OP_INSERT || op == OP_ADD;
    if ((st = fm_mpi_room_check(map, m->local, mine, writes, received, &count_first, &tentative)) != FM_OK)
        goto done;
    /* One round on tables that take tentative writes: write at once, and
     * keep the write only when every rank's fitted (see fm_map.h). */
    if (count_first && tentative && r.rounds == 1) {
        x.write_flags = FM_WRITE_TENTATIVE;
        st = fm_mpi_run_rounds(map, &r, &x, op, keys, payload, NULL, NULL, NULL);
        x.write_flags = 0;
        if (st == FM_OK) {
            m->local->ops->keep_write(m->local);
            goto done;
        }
        m->local->ops->undo_write(m->local); /* nothing to undo where it failed */
        if (st != FM_ERR_FULL) goto done;
    }
    if (count_first) {
        uint64_t fresh = 0;
        if ((st = fm_mpi_run_rounds(map, &r, &x, OP_COUNT_NEW, keys, NULL, NULL, NULL, &fresh)) != FM_OK) goto done;
        if ((st = fm_mpi_room_make(map, m->local, fresh)) != FM_OK) goto done;
    }
    st = fm_mpi_run_rounds(map, &r, &x, op, keys, payload, sg->values_out, sg->flags_out, NULL);
done:
    fm_mpi_routed_free(&r);
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
        st = fm_mpi_agree(map, st);
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

/* UINT64_MAX when the ranks' calls differ or MPI fails (fm_last_error
 * says which): never a wrong count. One collective. */
static uint64_t mpi_size(fm_map *map)
{
    mpi_map *m = mpi_of(map);
    fm_mpi_tally t;
    memset(&t, 0, sizeof t);
    t.sum[0] = m->local->ops->size(m->local);
    return fm_mpi_call(map, FM_CALL_SIZE, FM_OK, &t) == FM_OK ? t.sum[0] : UINT64_MAX;
}

/* Every rank checks that all are clearing before any table changes. */
static fm_status mpi_clear(fm_map *map)
{
    mpi_map *m = mpi_of(map);
    fm_status st = fm_mpi_call_agree(map, FM_CALL_CLEAR, FM_OK);
    if (st != FM_OK) return st;
    fm_status mine = m->local->ops->clear(m->local);
    if (mine != FM_OK) fm_fail(map, mine, "%s", fm_error_detail(m->local->error));
    return fm_mpi_agree(map, mine);
}

static fm_status mpi_export(fm_map *map, uint64_t *cursor, void *keys_out, void *values_out, size_t max,
                            size_t *n_out)
{
    mpi_map *m = mpi_of(map);
    fm_status st = m->local->ops->export_entries(m->local, cursor, keys_out, values_out, max, n_out);
    if (st != FM_OK) fm_fail(map, st, "%s", fm_error_detail(m->local->error));
    return st;
}

/* One collective: the call check, the status and the totals together. */
static fm_status mpi_stats(fm_map *map, fm_stats *out)
{
    mpi_map *m = mpi_of(map);
    fm_stats one;
    memset(&one, 0, sizeof one);
    fm_status mine = m->local->ops->stats(m->local, &one);
    if (mine != FM_OK) fm_fail(map, mine, "%s", fm_error_detail(m->local->error));
    fm_mpi_tally t;
    memset(&t, 0, sizeof t);
    if (mine == FM_OK) {
        t.sum[0] = one.size;
        t.sum[1] = one.slots;
        t.sum[2] = one.tombstones;
        t.sum[3] = m->sent_bytes;
        t.max[0] = one.longest_probe;
    }
    fm_status st = fm_mpi_call(map, FM_CALL_STATS, mine, &t);
    if (st != FM_OK) return st;
    out->size = t.sum[0];
    out->slots = t.sum[1];
    out->tombstones = t.sum[2];
    out->longest_probe = t.max[0];
    out->sent_bytes = t.sum[3];
    out->load_factor = out->slots ? (double)out->size / (double)out->slots : 0.0;
    out->shards = m->size;
    out->backend = map->backend;
    return FM_OK;
}

/* Frees this rank's part; the NCCL communicator is closed with the other
 * ranks' closes when all are destroying the map, else aborted. */
static void teardown(fm_map *map, int together)
{
    mpi_map *m = mpi_of(map);
    if (!m) return;
    if (m->local) {
        if (m->local->impl) m->local->ops->destroy(m->local);
        free(m->local);
    }
    fm_destroy(m->sums);
    if (together) fm_mpi_nccl_close(m->nccl);
    else fm_mpi_nccl_abort(m->nccl);
    fm_mpi_tally_close(m);
    if (m->comm != MPI_COMM_NULL) MPI_Comm_free(&m->comm);
    for (int i = 0; i < WS_COUNT; i++) fm_free(m->ws[i]);
    free(m);
    map->impl = NULL;
}

/* Collective like every call (fm_destroy cannot report a mismatch: the
 * other ranks' calls fail and close the map there). A closed map is freed
 * without meeting anyone. */
static void mpi_destroy(fm_map *map)
{
    mpi_map *m = mpi_of(map);
    if (!m) return;
    int together = 0;
    if (!m->closed) {
        fm_mpi_tally t;
        memset(&t, 0, sizeof t);
        t.leaving = 1;
        together = fm_mpi_call(map, FM_CALL_DESTROY, FM_OK, &t) == FM_OK;
    }
    teardown(map, together);
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
    .agree = fm_mpi_call_agree,
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
 * of a node spread over its GPUs. That device becomes current on the thread
 * that creates the map. */
static fm_status create_local(fm_map *map, mpi_map *m, int local_rank, fm_status so_far)
{
    if (so_far != FM_OK) return so_far;
    fm_map *local = fm_calloc(1, sizeof *local);
    if (!local) return fm_fail(map, FM_ERR_NOMEM, "no memory for the local shard");
    m->local = local;
    local->cfg = map->cfg;
    fm_part_config(&local->cfg, &map->cfg, (uint64_t)m->size); /* fixed: with headroom (fm_parts.h) */
    local->backend = map->backend;
    local->spread = (uint64_t)m->size; /* this rank's tables see 1/P of the hash range (fm_owner_of) */
    local->ops = map->backend == FM_BACKEND_CUDA ? &fm_cuda_backend : &fm_cpu_backend;
    if (map->backend == FM_BACKEND_CUDA && local->cfg.device < 0) {
        const int devices = fm_cuda_device_count();
        local->cfg.device = devices > 0 ? local_rank % devices : 0;
    }
    fm_status st = local->ops->create(local);
    if (st != FM_OK) return fm_fail(map, st, "%s", fm_error_detail(local->error));
    /* The rank's GPU stays the calling thread's current device. Otherwise
     * every call would switch back to device 0 on leaving, which creates a
     * CUDA context on GPU 0 in every rank of the node (memory taken from
     * rank 0's shard; an error where GPUs are in exclusive-process mode). */
    if (map->backend == FM_BACKEND_CUDA) return fm_cuda_bind(map, local->cfg.device);
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

/* Whether adds narrow their deltas (see mpi_map.narrow_deltas): by
 * FLASHMAP_MPI_NARROW=1 or 0, else when the ranks span several nodes. A
 * rank that does not narrow makes every rank send 8 bytes (the first
 * tally takes the largest of the ranks' widths). */
static int narrows_deltas(int several_nodes)
{
    const char *narrow = getenv("FLASHMAP_MPI_NARROW");
    if (narrow && strcmp(narrow, "1") == 0) return 1;
    if (narrow && strcmp(narrow, "0") == 0) return 0;
    return several_nodes;
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
                "CUDA-aware MPI: %s (not used); deltas of adds travel %s\n", m->size,
                m->local->backend == FM_BACKEND_CUDA ? "CUDA" : "CPU", m->nccl ? "NCCL" : "host staging and MPI",
                m->nccl_note, cuda_aware_mpi(), m->narrow_deltas ? "narrowed" : "in 8 bytes");
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
    if (rc != MPI_SUCCESS && st == FM_OK) st = fm_mpi_failed(report, rc, "MPI_Allreduce");
    if (st == FM_OK && (seen[0] != digest[0] || ~seen[1] != digest[0]))
        st = fm_fail(report, FM_ERR_INVALID,
                     "fm_create_mpi: ranks passed different configurations (cfg must match on every rank)");
    st = fm_mpi_agree_comm(report, dup, rank, size, st);
    if (st == FM_OK) {
        map->cfg = resolved;
        map->backend = FM_BACKEND_CPU;
        map->ops = &fm_mpi_backend;
        map->impl = m;
        m->comm = dup;
        m->rank = rank;
        m->size = size;
        m->tally_type = MPI_DATATYPE_NULL;
        m->tally_op = MPI_OP_NULL;
        int local_rank = 0, local_ranks = 1;
        fm_mpi_node_place(dup, rank, &local_rank, &local_ranks);
        m->narrow_deltas = narrows_deltas(local_ranks < size);
        m->exchange_bytes = resolved.exchange_bytes ? resolved.exchange_bytes
                                                    : fm_mpi_default_exchange_bytes(dup, local_ranks);
        map->cfg.exchange_bytes = m->exchange_bytes;
        st = fm_backend_choose(resolved.backend, &map->backend);
        if (st != FM_OK) fm_fail(map, st, "%s", fm_error_detail(fm_last_error(NULL)));
        if (st == FM_OK) st = fm_mpi_tally_open(map);
        st = create_local(map, m, local_rank, st);
        if (st == FM_OK) st = fm_shared_attach(map);
        st = fm_mpi_agree_comm(map, dup, rank, size, st);
        if (st != FM_OK) {
            fm_shared_detach(map);
            fm_fail(NULL, st, "%s", fm_error_detail(map->error));
            teardown(map, 1); /* frees the communicator too */
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
