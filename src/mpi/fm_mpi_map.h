/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The internals of MPI maps, shared by their files:
 *   mpi_map.c       the backend: bulk calls, the other operations, creation
 *   mpi_agree.c     agreeing on one status (and on sizes) over the ranks,
 *                   and checking that every rank makes the same call
 *   mpi_room.c      room for new keys on every rank (fixed capacity: in all)
 *   mpi_exchange.c  routing a batch and running it in exchange rounds
 *   mpi_adds.c      summing a rank's repeated adds before they travel
 *   mpi_node.c      a rank's node: its place there, default round sizes
 *   mpi_nccl.cu     device batches through NCCL */
#ifndef FM_MPI_MAP_H
#define FM_MPI_MAP_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>

#include <mpi.h>

#include "api/fm_map.h"
#include "mpi/fm_mpi_nccl.h" /* mpi_op, fm_mpi_agree, fm_mpi_agree_max */
#include "shard/fm_partition.h"
#include "shard/fm_stage.h"

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
    uint64_t sent_bytes; /* what this rank's exchanges sent to other ranks (fm_stats) */
    void *ws[WS_COUNT];
    size_t ws_bytes[WS_COUNT];
    /* Device batches (CUDA shards): through NCCL when nccl is set, else
     * staged through the host; nccl_note says why (or NCCL's version). */
    fm_mpi_nccl *nccl;
    char nccl_note[160];
    int force_exchange; /* FLASHMAP_TEST_MPI_EXCHANGE=1: one rank exchanges too */
    /* Adds' deltas travel in the fewest bytes that hold the largest: where
     * the ranks span several nodes (bytes cross a network), or always with
     * FLASHMAP_MPI_NARROW=1 (never with 0). Inside one node the exchange is
     * a memory copy, and finding the largest, narrowing and widening cost
     * more than the 7 bytes a delta they save. */
    int narrow_deltas;
    /* The agreements' reduction (mpi_agree.c) and the collective calls
     * made on this map so far, which every rank counts alike. */
    MPI_Datatype tally_type;
    MPI_Op tally_op;
    uint64_t calls;
    /* Set when some rank destroyed the map while this one made another
     * call: every call then fails at once with closed_why, and
     * fm_destroy frees the handle without meeting the others. */
    int closed;
    char closed_why[FM_ERROR_LEN];
} mpi_map;

static inline mpi_map *mpi_of(fm_map *map) { return (mpi_map *)map->impl; }

/* At least `bytes` of work buffer `which`; NULL when it cannot be had. */
void *fm_mpi_workspace(mpi_map *m, int which, size_t bytes);

/* An int count for MPI, or failure: MPI 3.1 counts are int. */
static inline int fits_int(uint64_t count) { return count <= (uint64_t)INT_MAX; }

/* ---- mpi_agree.c ---- */

/* What one agreement finds over the ranks, in one MPI_Allreduce: the worst
 * status and the lowest rank that had it; the call of the lowest rank and
 * of the lowest rank whose call differs (rank, fm_call, call number; rank
 * FM_MPI_NO_RANK when all calls are the same); whether any rank is
 * destroying the map; the largest of `max` and the sums of `sum`. */
#define FM_MPI_NO_RANK UINT64_MAX
typedef struct fm_mpi_tally {
    uint64_t worst, worst_rank;
    uint64_t first[3], other[3];
    uint64_t leaving;
    uint64_t max[4];
    uint64_t sum[4];
} fm_mpi_tally;

/* Creates and frees the map's reduction of tallies (local calls). */
fm_status fm_mpi_tally_open(fm_map *map);
void fm_mpi_tally_close(mpi_map *m);

/* The first collective of every call on the map (the backend's agree): the
 * caller sets t->max, t->sum and t->leaving (or zeroes them), this sets the
 * rest. Every rank returns the worst status, or FM_ERR_INVALID naming both
 * calls when the ranks' calls differ (a rank destroying the map then
 * closes it on the others). On a closed map: FM_ERR_INVALID at once. */
fm_status fm_mpi_call(fm_map *map, fm_call call, fm_status mine, fm_mpi_tally *t);
/* The same with nothing to add: the backend's agree. */
fm_status fm_mpi_call_agree(fm_map *map, fm_call call, fm_status mine);
/* An agreement inside a call, with the sums of t->sum (and the largest of
 * t->max). */
fm_status fm_mpi_agree_tally(fm_map *map, fm_status mine, fm_mpi_tally *t);

/* Turns an MPI error code into FM_ERR_COMM with MPI's message. */
fm_status fm_mpi_failed(fm_map *map, int rc, const char *what);
#define FM_MPI(map, call)                                                      \
    do {                                                                       \
        int fm_rc_ = (call);                                                   \
        if (fm_rc_ != MPI_SUCCESS) return fm_mpi_failed((map), fm_rc_, #call); \
    } while (0)

/* fm_mpi_agree over any communicator (map creation, before the map has
 * one): every rank returns the most negative status any rank had, with
 * the message of the lowest rank that had it, on `map`. */
fm_status fm_mpi_agree_comm(fm_map *map, MPI_Comm comm, int rank, int size, fm_status mine);

/* ---- mpi_exchange.c ---- */

/* A routed batch: positions sorted by (round, owner) and the counts every
 * rank sends and receives in every round. */
typedef struct fm_mpi_routed {
    fm_partition part;
    uint64_t *scratch;
    uint32_t rounds;
    uint64_t *cnt;  /* [p * rounds + r]: records to p in round r */
    uint64_t *rcnt; /* [p * rounds + r]: records from p in round r */
    /* One round: the keys, then the payloads, in routed order, packed
     * while sorting, so that each goes out as it lies and lands where the
     * owner's table reads it (no splitting of records on either side);
     * or, for a batch already in owner order, the caller's own arrays. */
    uint8_t *packed;
    uint8_t *packed_payload; /* after the n keys; NULL without payload */
    size_t packed_rec;       /* key + payload bytes */
} fm_mpi_routed;

/* The buffers of a pass over the rounds, from the map's work buffers. */
typedef struct fm_mpi_plan {
    size_t big; /* records of the largest round, sent or received, + 1 */
    size_t most_received; /* records of the largest round received */
    uint8_t *sbuf, *rrec, *rkeys, *rpay, *reply;
    uint64_t *disp; /* 4 per peer: send and receive counts and offsets */
    int *ibuf;      /* the same as MPI's int byte counts */
    unsigned write_flags; /* for the local insert or add: FM_WRITE_ROOM_MADE (default) or FM_WRITE_TENTATIVE */
    /* Adds of one round: the bytes each delta travels in (1, 2, 4 or 8),
     * enough for the largest delta any rank sends (fm_mpi_delta_bytes);
     * 0 or 8: as they are. */
    uint32_t delta_bytes;
} fm_mpi_plan;

/* The largest of n 8-byte deltas (unaligned), and the bytes (1, 2, 4 or
 * 8) that a delta up to `largest` travels in. */
uint64_t fm_mpi_largest_delta(const uint8_t *deltas, size_t n, int threads);
uint32_t fm_mpi_delta_bytes(uint64_t largest);

/* Local part of routing, with r->rounds set: hashes, sorts by (round,
 * owner) and counts what goes to every peer in every round. With one
 * round the records (each key and its ps payload bytes) are packed in send
 * order by the sort itself, and the batch order of every position is kept
 * only when `need_order` (replies go back through it). On FM_ERR_NOMEM
 * the caller still frees r with fm_mpi_routed_free. */
fm_status fm_mpi_route(fm_map *map, fm_mpi_routed *r, const uint8_t *keys, const uint8_t *payload, size_t ps,
                       size_t n, int need_order);
void fm_mpi_routed_free(fm_mpi_routed *r);

/* Sizes and takes the buffers of op's pass (and of the counting pass that
 * an insert or add may need first), once every rank knows its receive
 * counts. Local: the caller agrees on the status before the first round. */
fm_status fm_mpi_plan_exchange(fm_map *map, const fm_mpi_routed *r, mpi_op op, fm_mpi_plan *x);

/* Runs one pass of `op` over every round, in the buffers of a plan made
 * for it (or, for OP_COUNT_NEW, for the insert or add it precedes).
 * payload: values (insert) or deltas (add) in batch order. For
 * OP_COUNT_NEW, *fresh gets this rank's new keys. Collective; agrees on
 * every round's status. */
fm_status fm_mpi_run_rounds(fm_map *map, fm_mpi_routed *r, const fm_mpi_plan *x, mpi_op op, const uint8_t *keys,
                            const uint8_t *payload, void *values_out, uint8_t *flags_out, uint64_t *fresh);

/* ---- mpi_adds.c ---- */

/* Adds on the host path: repeats of a key summed on this rank, and ones
 * where the rank passed no deltas (every rank sends deltas). *keys,
 * *deltas and *n describe what to send; *combined_* are freed by the
 * caller. */
fm_status fm_mpi_host_adds(fm_map *map, const fm_stage *sg, size_t n_in, const uint8_t **keys,
                           const uint8_t **deltas, size_t *n, uint8_t **combined_keys, uint64_t **combined_deltas);

#endif
