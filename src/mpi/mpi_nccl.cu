/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The NCCL exchange of MPI maps of CUDA shards (mpi/fm_mpi_nccl.h).
 *
 * A bulk call whose keys, payload and outputs are in device memory of the
 * shard's device on every rank never leaves the devices:
 * 1. the batch is sorted on the device by (round, owner rank) with the
 *    host's routing functions (shard/fm_device_sort.h), keys and payload
 *    gathered into that order; rounds split the hash space exactly as on
 *    the host path, so every occurrence of a key travels in one round;
 * 2. the counts go to the peers with MPI_Alltoall (host memory);
 * 3. the receive buffers are allocated, and for inserts and adds room is
 *    made on every rank first (a counting pass of keys alone when some
 *    owner lacks room should every received key be new), all agreed
 *    before anything is written: a failed batch changes nothing;
 * 4. per round, keys and payload travel in one NCCL group (ncclSend and
 *    ncclRecv per peer; a rank's own part is a device copy), landing
 *    grouped by source rank in rank order, so the local CUDA table applies
 *    them in rank order then batch order, as the host path does; replies
 *    (get: value and flag, remove: flag) go back in a second group into
 *    the routed positions they came from;
 * 5. the results are scattered into the caller's buffers in batch order.
 *
 * Unlike the host path, adds are not combined on the sending rank (sums
 * commute, so the result is the same; a heavy hitter costs one record per
 * occurrence). Every NCCL and CUDA call runs on the communicator's stream,
 * which is synchronized before the host reads counts or hands buffers to
 * the table (whose operations block until their kernels end). Device
 * buffers are per-call scratch from flashmap's stream-ordered pool
 * (fm_cuda_scratch, fault injection included: a warm call allocates nothing
 * from the driver) and freed on every path. Sizes are size_t and uint64_t
 * throughout; NCCL counts are size_t.
 *
 * No rank may skip a collective: a failure before one is carried into the
 * next agreement, and every rank meets every NCCL group the agreed plan
 * holds. An NCCL failure on one rank after the others posted their
 * operations cannot be undone that way (their stream waits for the peer);
 * docs/mpi.md says so. */
#define OMPI_SKIP_MPICXX 1
#define MPICH_SKIP_MPICXX 1
#include <mpi.h>
#include <nccl.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/fm_alloc.h"
#include "cuda/fm_cuda.h"
#include "mpi/fm_mpi_nccl.h"
#include "mpi/fm_nccl_calls.h"
#include "shard/fm_device_sort.h"

struct fm_mpi_nccl {
    ncclComm_t comm;
    cudaStream_t stream;
    int device, rank, size;
};

static fm_status nccl_fail_at(fm_map *map, ncclResult_t r, const char *what, const char *file, int line)
{
    return fm_fail_at(map, FM_ERR_DEVICE, file, line, "%s: %s", what, ncclGetErrorString(r));
}

/* Records the first failure of a call in `st` and goes on: the plan's
 * collectives must still be met. */
#define NOTE_NCCL(expr)                                                        \
    do {                                                                       \
        ncclResult_t fm_nccl_r_ = (expr);                                      \
        if (fm_nccl_r_ != ncclSuccess && st == FM_OK)                          \
            st = nccl_fail_at(map, fm_nccl_r_, #expr, __FILE__, __LINE__);     \
    } while (0)
#define NOTE_CUDA(expr)                                                        \
    do {                                                                       \
        cudaError_t fm_cuda_r_ = (expr);                                       \
        if (fm_cuda_r_ != cudaSuccess) {                                       \
            const fm_status fm_s_ = fm_cuda_fail_at(map, fm_cuda_r_, #expr, __FILE__, __LINE__); \
            if (st == FM_OK) st = fm_s_;                                       \
        }                                                                      \
    } while (0)

/* ---- the communicator --------------------------------------------------- */

static void release(fm_mpi_nccl *nc, int abort)
{
    if (!nc) return;
    int prev = -1;
    if (cudaGetDevice(&prev) != cudaSuccess) prev = -1;
    (void)cudaSetDevice(nc->device);
    if (nc->comm) {
        if (abort) (void)ncclCommAbort(nc->comm);
        else {
            (void)ncclCommFinalize(nc->comm);
            (void)ncclCommDestroy(nc->comm);
        }
    }
    if (nc->stream) (void)cudaStreamDestroy(nc->stream);
    if (prev >= 0) (void)cudaSetDevice(prev);
    (void)cudaGetLastError();
    free(nc);
}

/* 1 on every rank when every rank passes non-zero (0 when MPI fails). */
static int all_ranks(MPI_Comm comm, int mine)
{
    int all = 0;
    mine = mine != 0;
    if (MPI_Allreduce(&mine, &all, 1, MPI_INT, MPI_MIN, comm) != MPI_SUCCESS) return 0;
    return all;
}

/* 1 on every rank when no two ranks of a node use the same GPU. NCCL
 * refuses a communicator with a GPU twice on those ranks only, and the
 * others would wait inside ncclCommInitRank for ever (3 ranks on 2 GPUs). */
static int gpus_distinct(MPI_Comm comm, int rank, int device)
{
    char bus[32];
    memset(bus, 0, sizeof bus);
    if (cudaDeviceGetPCIBusId(bus, (int)sizeof bus - 1, device) != cudaSuccess) {
        (void)cudaGetLastError();
        snprintf(bus, sizeof bus, "unknown, rank %d", rank); /* unique */
    }
    MPI_Comm node = MPI_COMM_NULL;
    int n = 0, twice = 0, ok = MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node) ==
                                   MPI_SUCCESS && MPI_Comm_size(node, &n) == MPI_SUCCESS;
    char *all = ok ? (char *)calloc((size_t)n, sizeof bus) : NULL;
    ok = all && MPI_Allgather(bus, (int)sizeof bus, MPI_CHAR, all, (int)sizeof bus, MPI_CHAR, node) == MPI_SUCCESS;
    for (int i = 0; ok && i < n; i++) twice += memcmp(all + (size_t)i * sizeof bus, bus, sizeof bus) == 0;
    free(all);
    if (node != MPI_COMM_NULL) MPI_Comm_free(&node);
    return all_ranks(comm, ok && twice == 1);
}

extern "C" fm_mpi_nccl *fm_mpi_nccl_open(fm_map *local, MPI_Comm comm, char *why, size_t why_len)
{
    int rank = 0, size = 1;
    MPI_Comm_rank(comm, &rank);
    MPI_Comm_size(comm, &size);
    const char *env = getenv("FLASHMAP_NCCL");
    const int disabled = env && strcmp(env, "0") == 0;
    const int cuda = local->backend == FM_BACKEND_CUDA;
    if (!all_ranks(comm, cuda && !disabled)) {
        snprintf(why, why_len, "%s", !cuda ? "the shards are not CUDA tables on every rank"
                                     : disabled ? "FLASHMAP_NCCL=0"
                                                : "FLASHMAP_NCCL=0 on another rank");
        return NULL;
    }
    const int loaded = fm_nccl_api_get() != NULL; /* libnccl opened at run time */
    if (!all_ranks(comm, loaded)) {
        snprintf(why, why_len, "%s", loaded ? "NCCL cannot be loaded on another rank" : fm_nccl_api_error());
        return NULL;
    }
    struct {
        int ok;
        ncclUniqueId id;
    } hello;
    memset(&hello, 0, sizeof hello);
    ncclResult_t r = ncclSuccess;
    if (rank == 0) hello.ok = (r = ncclGetUniqueId(&hello.id)) == ncclSuccess;
    if (MPI_Bcast(&hello, (int)sizeof hello, MPI_BYTE, 0, comm) != MPI_SUCCESS || !hello.ok) {
        snprintf(why, why_len, "ncclGetUniqueId failed on rank 0%s%s", rank == 0 ? ": " : "",
                 rank == 0 ? ncclGetErrorString(r) : "");
        return NULL;
    }
    fm_mpi_nccl *nc = (fm_mpi_nccl *)calloc(1, sizeof *nc);
    int prev = -1, ready = nc != NULL && cudaGetDevice(&prev) == cudaSuccess;
    if (ready) {
        nc->device = fm_cuda_of(local)->device;
        nc->rank = rank;
        nc->size = size;
        /* Blocking, to wait for the caller's default-stream work on the
         * batch (see device_route.cu). */
        ready = cudaSetDevice(nc->device) == cudaSuccess && cudaStreamCreate(&nc->stream) == cudaSuccess;
    }
    /* ncclCommInitRank waits for every rank: all call it or none does. */
    if (!all_ranks(comm, ready)) {
        snprintf(why, why_len, "no device or stream for NCCL on some rank");
        release(nc, 0);
        if (prev >= 0) (void)cudaSetDevice(prev);
        return NULL;
    }
    if (!gpus_distinct(comm, rank, nc->device)) {
        snprintf(why, why_len, "two ranks of a node share a GPU");
        release(nc, 0);
        if (prev >= 0) (void)cudaSetDevice(prev);
        return NULL;
    }
    r = ncclCommInitRank(&nc->comm, size, hello.id, rank);
    if (r != ncclSuccess) nc->comm = NULL;
    if (!all_ranks(comm, r == ncclSuccess)) {
        /* Two ranks on one GPU, for one ("Duplicate GPU detected"). */
        snprintf(why, why_len, "ncclCommInitRank: %s",
                 r != ncclSuccess ? ncclGetErrorString(r) : "failed on another rank");
        release(nc, 1);
        if (prev >= 0) (void)cudaSetDevice(prev);
        return NULL;
    }
    (void)cudaSetDevice(prev);
    snprintf(why, why_len, "NCCL %d.%d.%d", NCCL_MAJOR, NCCL_MINOR, NCCL_PATCH);
    return nc;
}

extern "C" void fm_mpi_nccl_close(fm_mpi_nccl *nc) { release(nc, 0); }

extern "C" void fm_mpi_nccl_abort(fm_mpi_nccl *nc) { release(nc, 1); }

extern "C" int fm_mpi_nccl_device(const fm_mpi_nccl *nc) { return nc ? nc->device : -1; }

/* ---- one bulk call --------------------------------------------------------- */

__global__ void fm_k_nccl_ones(uint64_t *d, size_t n)
{
    const size_t stride = (size_t)gridDim.x * blockDim.x;
    for (size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x; i < n; i += stride) d[i] = 1;
}

/* Everything one call allocates. Host arrays: start (P * R + 1), cnt and
 * rcnt ([p * R + r]: records to and from peer p in round r), and per round
 * sc, so, rc, ro (P each: send and receive counts and offsets). */
typedef struct nccl_call {
    uint32_t P, R;
    size_t ps, rvs; /* payload bytes out, value bytes back */
    int replies;
    uint64_t *start, *cnt, *rcnt, *sc, *so, *rc, *ro;
    uint64_t *order;                    /* device: routed position -> batch index */
    uint8_t *keys, *payload;            /* device, routed order */
    uint8_t *values, *flags;            /* device, results in routed order */
    uint8_t *rkeys, *rpay, *rvals, *rflags; /* device, one round received */
    cudaStream_t stream;                /* the communicator's: scratch is ordered on it */
} nccl_call;

static void call_free(nccl_call *c)
{
    fm_free(c->start);
    fm_free(c->cnt);
    fm_free(c->rcnt);
    fm_free(c->sc);
    uint8_t *dev[] = {(uint8_t *)c->order, c->keys, c->payload, c->values, c->flags,
                      c->rkeys, c->rpay, c->rvals, c->rflags};
    for (size_t i = 0; i < sizeof dev / sizeof dev[0]; i++) fm_cuda_scratch_free(dev[i], c->stream);
}

/* Device scratch of `bytes` when wanted (none when bytes is 0). */
static fm_status alloc_if(fm_map *map, const nccl_call *c, int wanted, uint8_t **p, size_t bytes, const char *what)
{
    *p = NULL;
    return wanted && bytes ? fm_cuda_scratch(map, (void **)p, bytes, what, c->stream) : FM_OK;
}

/* Step 1 (local): sort, gather, counts per peer and round. */
static fm_status route(fm_map *map, fm_mpi_nccl *nc, nccl_call *c, const fm_device_batch *b)
{
    const size_t n = b->n, ks = map->cfg.key_size;
    const uint32_t P = c->P, R = c->R;
    c->start = (uint64_t *)fm_calloc((size_t)P * R + 1, sizeof(uint64_t));
    c->cnt = (uint64_t *)fm_calloc((size_t)P * R, sizeof(uint64_t));
    c->rcnt = (uint64_t *)fm_calloc((size_t)P * R, sizeof(uint64_t));
    c->sc = (uint64_t *)fm_calloc(4 * (size_t)P, sizeof(uint64_t));
    if (!c->start || !c->cnt || !c->rcnt || !c->sc)
        return fm_fail(map, FM_ERR_NOMEM, "no memory to route %zu keys to %u ranks", n, P);
    c->so = c->sc + P;
    c->rc = c->sc + 2 * (size_t)P;
    c->ro = c->sc + 3 * (size_t)P;
    if (n == 0) return FM_OK;
    fm_status st = fm_device_sort(map, nc->stream, b->keys, n, P, R, &c->order, c->start);
    if (st != FM_OK) return st;
    if ((st = fm_cuda_scratch(map, (void **)&c->keys, n * ks, "routed keys", c->stream)) != FM_OK ||
        (st = alloc_if(map, c, c->ps != 0, &c->payload, n * c->ps, "routed values")) != FM_OK ||
        (st = alloc_if(map, c, c->rvs != 0, &c->values, n * c->rvs, "routed results")) != FM_OK ||
        (st = alloc_if(map, c, c->replies, &c->flags, n, "routed results")) != FM_OK)
        return st;
    if ((st = fm_device_permute(map, nc->stream, c->keys, b->keys, c->order, n, ks, 0)) != FM_OK) return st;
    if (c->ps && b->payload)
        st = fm_device_permute(map, nc->stream, c->payload, b->payload, c->order, n, c->ps, 0);
    else if (c->ps) /* an add without deltas: +1 each, like every other rank's deltas */
        FM_LAUNCH(fm_k_nccl_ones, fm_cuda_grid(n < ((size_t)1 << 24) ? n : ((size_t)1 << 24)), FM_CUDA_BLOCK,
                0, nc->stream)((uint64_t *)c->payload, n);
    NOTE_CUDA(cudaGetLastError());
    NOTE_CUDA(cudaStreamSynchronize(nc->stream));
    for (uint32_t rd = 0; rd < R; rd++)
        for (uint32_t p = 0; p < P; p++)
            c->cnt[(size_t)p * R + rd] = c->start[(size_t)rd * P + p + 1] - c->start[(size_t)rd * P + p];
    return st;
}

/* One array of a round's exchange: records of `rec` bytes. */
typedef struct part {
    const uint8_t *send;
    uint8_t *recv;
    size_t rec;
} part;

/* Sends, to every peer p, scnt[p] records at record soff[p] of each part's
 * send buffer and receives rcnt[p] at record roff[p] of its receive
 * buffer: one NCCL group, this rank's own records by a device copy. Blocks
 * until done. Always enters and leaves the group. */
static fm_status exchange(fm_map *map, fm_mpi_nccl *nc, const part *parts, int count, const uint64_t *scnt,
                          const uint64_t *soff, const uint64_t *rcnt, const uint64_t *roff)
{
    fm_status st = FM_OK;
    const int me = nc->rank;
    for (int a = 0; a < count; a++)
        if (parts[a].rec && scnt[me])
            NOTE_CUDA(cudaMemcpyAsync(parts[a].recv + roff[me] * parts[a].rec, parts[a].send + soff[me] * parts[a].rec,
                                      scnt[me] * parts[a].rec, cudaMemcpyDeviceToDevice, nc->stream));
    const ncclResult_t g = ncclGroupStart();
    NOTE_NCCL(g);
    if (g == ncclSuccess) {
        for (int p = 0; p < nc->size; p++) {
            if (p == me) continue;
            for (int a = 0; a < count; a++) {
                const size_t rec = parts[a].rec;
                if (!rec) continue;
                if (scnt[p])
                    NOTE_NCCL(ncclSend(parts[a].send + soff[p] * rec, scnt[p] * rec, ncclUint8, p, nc->comm,
                                       nc->stream));
                if (rcnt[p])
                    NOTE_NCCL(ncclRecv(parts[a].recv + roff[p] * rec, rcnt[p] * rec, ncclUint8, p, nc->comm,
                                       nc->stream));
            }
        }
        NOTE_NCCL(ncclGroupEnd());
    }
    NOTE_CUDA(cudaStreamSynchronize(nc->stream));
    ncclResult_t async = ncclSuccess;
    NOTE_NCCL(ncclCommGetAsyncError(nc->comm, &async));
    NOTE_NCCL(async);
    return st;
}

/* Round rd's counts and offsets: c->sc/so (this rank's records to each
 * peer, at their routed positions) and c->rc/ro (from each peer, packed in
 * rank order). Returns the records received. */
static uint64_t round_plan(nccl_call *c, uint32_t rd)
{
    const uint32_t P = c->P, R = c->R;
    uint64_t q = 0;
    for (uint32_t p = 0; p < P; p++) {
        c->sc[p] = c->cnt[(size_t)p * R + rd];
        c->so[p] = c->start[(size_t)rd * P + p];
        c->rc[p] = c->rcnt[(size_t)p * R + rd];
        c->ro[p] = q;
        q += c->rc[p];
    }
    return q;
}

/* Step 4: one pass of op over every round (OP_COUNT_NEW: keys alone, new
 * keys counted into *fresh). */
static fm_status run_rounds(fm_map *map, fm_mpi_nccl *nc, fm_map *local, nccl_call *c, mpi_op op, uint64_t *fresh)
{
    const size_t ks = map->cfg.key_size;
    fm_status st = FM_OK, pending = FM_OK; /* pending: a failed reply exchange */
    for (uint32_t rd = 0; rd < c->R; rd++) {
        const uint64_t q = round_plan(c, rd);
        const part out[2] = {{c->keys, c->rkeys, ks}, {c->payload, c->rpay, op == OP_COUNT_NEW ? 0 : c->ps}};
        fm_status mine = exchange(map, nc, out, 2, c->sc, c->so, c->rc, c->ro);
        if (mine == FM_OK) mine = pending;
        if (mine == FM_OK && q > 0) {
            uint64_t got = 0;
            switch (op) {
            case OP_COUNT_NEW:
                mine = local->ops->count_new(local, c->rkeys, q, 0, &got);
                *fresh += got;
                break;
            case OP_INSERT: mine = local->ops->insert(local, c->rkeys, c->rpay, q, FM_WRITE_ROOM_MADE); break;
            case OP_ADD:
                mine = local->ops->add_u64(local, c->rkeys, (const uint64_t *)c->rpay, q, FM_WRITE_ROOM_MADE);
                break;
            case OP_GET: mine = local->ops->get(local, c->rkeys, q, c->rvals, c->rflags); break;
            case OP_REMOVE: mine = local->ops->remove(local, c->rkeys, q, c->rflags); break;
            }
            if (mine != FM_OK) fm_fail(map, mine, "%s", fm_error_detail(local->error));
        }
        if ((st = fm_mpi_agree(map, mine)) != FM_OK) return st;
        if (op == OP_GET || op == OP_REMOVE) { /* back to the routed positions they came from */
            const part back[2] = {{c->rvals, c->values, c->rvs}, {c->rflags, c->flags, 1}};
            pending = exchange(map, nc, back, 2, c->rc, c->ro, c->sc, c->so);
        }
    }
    return pending; /* agreed by the caller's last agreement */
}

/* Steps 2-5, after routing was agreed. */
static fm_status exchange_call(fm_map *map, fm_mpi_nccl *nc, fm_map *local, MPI_Comm comm, nccl_call *c, mpi_op op,
                               const fm_device_batch *b)
{
    const size_t ks = map->cfg.key_size;
    const uint32_t P = c->P, R = c->R;
    fm_status st = FM_OK;
    int rc = MPI_Alltoall(c->cnt, (int)R, MPI_UINT64_T, c->rcnt, (int)R, MPI_UINT64_T, comm);
    if (rc != MPI_SUCCESS) {
        char text[MPI_MAX_ERROR_STRING];
        int len = 0;
        if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "code %d", rc);
        return fm_fail(map, FM_ERR_COMM, "MPI_Alltoall failed: %s", text);
    }
    /* Receive buffers for the largest round, and room on every rank. */
    uint64_t most = 0, received = 0;
    for (uint32_t rd = 0; rd < R; rd++) {
        uint64_t q = 0;
        for (uint32_t p = 0; p < P; p++) q += c->rcnt[(size_t)p * R + rd];
        if (q > most) most = q;
        received += q;
    }
    fm_status mine = FM_OK;
    if ((mine = fm_cuda_scratch(map, (void **)&c->rkeys, most * ks, "received keys", c->stream)) == FM_OK &&
        (mine = alloc_if(map, c, c->ps != 0, &c->rpay, most * c->ps, "received values")) == FM_OK &&
        (mine = alloc_if(map, c, c->rvs != 0, &c->rvals, most * c->rvs, "results")) == FM_OK)
        mine = alloc_if(map, c, c->replies, &c->rflags, most, "results");
    int count_first = 0;
    const int writes = op == OP_INSERT || op == OP_ADD;
    if ((st = fm_mpi_room_check(map, local, mine, writes, received, &count_first, NULL)) != FM_OK) return st;
    if (count_first) {
        uint64_t fresh = 0;
        if ((st = run_rounds(map, nc, local, c, OP_COUNT_NEW, &fresh)) != FM_OK) return st;
        if ((st = fm_mpi_room_make(map, local, fresh)) != FM_OK) return st;
    }
    mine = run_rounds(map, nc, local, c, op, NULL);
    if (!c->replies) return mine; /* OK: the last round agreed */
    /* Results in batch order, into the caller's buffers. */
    if (mine == FM_OK && b->n && b->values_out && c->rvs)
        mine = fm_device_permute(map, nc->stream, b->values_out, c->values, c->order, b->n, c->rvs, 1);
    if (mine == FM_OK && b->n && b->flags_out)
        mine = fm_device_permute(map, nc->stream, b->flags_out, c->flags, c->order, b->n, 1, 1);
    st = FM_OK;
    NOTE_CUDA(cudaStreamSynchronize(nc->stream));
    if (mine == FM_OK) mine = st;
    return fm_mpi_agree(map, mine);
}

extern "C" fm_status fm_mpi_nccl_bulk(fm_map *map, fm_mpi_nccl *nc, fm_map *local, MPI_Comm comm, mpi_op op,
                                      const fm_device_batch *b, uint32_t rounds)
{
    const size_t vs = map->cfg.value_size;
    nccl_call c;
    memset(&c, 0, sizeof c);
    c.P = (uint32_t)nc->size;
    c.R = rounds;
    c.ps = op == OP_INSERT ? vs : op == OP_ADD ? sizeof(uint64_t) : 0;
    c.rvs = op == OP_GET ? vs : 0;
    c.replies = op == OP_GET || op == OP_REMOVE;
    c.stream = nc->stream;
    int prev = -1;
    fm_status st = FM_OK, mine = FM_OK;
    NOTE_CUDA(cudaGetDevice(&prev));
    if (st == FM_OK) NOTE_CUDA(cudaSetDevice(nc->device));
    mine = st == FM_OK ? route(map, nc, &c, b) : st;
    if ((st = fm_mpi_agree(map, mine)) == FM_OK) st = exchange_call(map, nc, local, comm, &c, op, b);
    /* Nothing may be in flight when the buffers go. */
    if (cudaStreamSynchronize(nc->stream) != cudaSuccess) (void)cudaGetLastError();
    call_free(&c);
    if (prev >= 0) (void)cudaSetDevice(prev);
    return st;
}
