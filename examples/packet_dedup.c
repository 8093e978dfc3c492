/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Network packet deduplication over several capture points (MPI).
 *
 * Every rank is a capture point that sees a stream of packets, each named
 * by a 32-byte hash of its contents. Once per round every rank
 *   1. asks the shared "seen" map about its whole batch (one fm_bulk_get),
 *   2. forwards the packets not seen before and inserts their hashes with
 *      the round as a first-seen stamp (one fm_bulk_insert).
 * The map is spread over the ranks (fm_create_mpi): every call is
 * collective and sees the packets of all capture points. Packets new in a
 * round may repeat inside the round (within a batch, or at two capture
 * points at once); the growth of fm_size counts each once, so the number of
 * duplicates is exact.
 *
 * Every rank also replays all ranks' streams into a plain array and checks
 * every lookup, every round's count of new packets and, at the end, the
 * stamps of its share of all packets; it exits non-zero on any difference.
 *
 *   mpirun -np 2 ./example_packet_dedup [rounds]        (default 10) */
#include <flashmap_mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { POOL = 150000 /* distinct packets that can occur */, BATCH = 20000 /* per rank per round */ };

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Packet number -> the 32-byte hash of its contents. */
static void packet_hash(uint64_t id, uint8_t h[32])
{
    uint64_t s = id * 0xD1B54A32D192ED03ull + 3;
    for (int w = 0; w < 4; w++) {
        uint64_t v = splitmix64(&s);
        memcpy(h + 8 * w, &v, 8);
    }
}

/* The i-th packet rank r captures in round t: mostly fresh traffic from a
 * window that moves on each round, some retransmissions from anywhere. */
static uint64_t packet_id(int r, int t, size_t i)
{
    uint64_t s = ((uint64_t)r << 48) ^ ((uint64_t)t << 32) ^ i;
    uint64_t x = splitmix64(&s);
    if (x % 4 == 0) return (x >> 8) % POOL;
    return ((uint64_t)t * 12000 + (x >> 8) % 30000) % POOL;
}

static void check(fm_status st, const fm_map *map, const char *what)
{
    if (st != FM_OK) {
        fprintf(stderr, "packet_dedup: %s failed: %s: %s\n", what, fm_status_str(st), fm_last_error(map));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
    int rounds = argc > 1 ? atoi(argv[1]) : 10;
    if (rounds < 1 || rounds > 1000) {
        if (rank == 0) fprintf(stderr, "usage: %s [rounds 1..1000]\n", argv[0]);
        MPI_Finalize();
        return 2;
    }

    fm_config cfg = fm_config_default(32, 8, POOL); /* hash -> first-seen round */
    fm_map *seen = NULL;
    check(fm_create_mpi(MPI_COMM_WORLD, &cfg, &seen), NULL, "fm_create_mpi");

    uint8_t *hashes = malloc((size_t)POOL * 32), *fresh = malloc((size_t)BATCH * 32);
    uint8_t *found = malloc(POOL);
    uint64_t *ids = malloc(POOL * sizeof *ids), *stamps = malloc(POOL * sizeof *stamps);
    int32_t *first = malloc(POOL * sizeof *first); /* reference: first-seen round or -1 */
    if (!hashes || !fresh || !found || !ids || !stamps || !first) {
        fprintf(stderr, "packet_dedup: out of memory\n");
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
    for (size_t i = 0; i < POOL; i++) first[i] = -1;

    uint64_t errors = 0, forwarded = 0, dropped = 0, total_new = 0;
    for (int t = 0; t < rounds; t++) {
        for (size_t i = 0; i < BATCH; i++) {
            ids[i] = packet_id(rank, t, i);
            packet_hash(ids[i], hashes + 32 * i);
        }
        /* 1. Seen before? */
        check(fm_bulk_get(seen, hashes, BATCH, stamps, found), seen, "lookup");
        size_t nf = 0;
        for (size_t i = 0; i < BATCH; i++) {
            int32_t want = first[ids[i]];
            if ((found[i] != (want >= 0) || (found[i] && stamps[i] != (uint64_t)want)) && errors++ < 5)
                fprintf(stderr, "rank %d round %d: packet %llu found %d stamp %llu, want stamp %d\n",
                        rank, t, (unsigned long long)ids[i], found[i], (unsigned long long)stamps[i],
                        want);
            if (!found[i]) memcpy(fresh + 32 * nf++, hashes + 32 * i, 32);
        }
        /* 2. Forward the new ones and remember them. */
        for (size_t i = 0; i < nf; i++) stamps[i] = (uint64_t)t;
        uint64_t before = fm_size(seen);
        check(fm_bulk_insert(seen, fresh, stamps, nf), seen, "insert");
        uint64_t new_packets = fm_size(seen) - before;
        forwarded += nf;
        dropped += BATCH - nf;
        total_new += new_packets;

        /* The reference: all ranks' packets of this round, in rank order. */
        uint64_t want_new = 0;
        for (int r = 0; r < size; r++)
            for (size_t i = 0; i < BATCH; i++) {
                uint64_t id = packet_id(r, t, i);
                if (first[id] < 0) {
                    first[id] = t;
                    want_new++;
                }
            }
        if (new_packets != want_new && errors++ < 5)
            fprintf(stderr, "rank %d round %d: %llu new packets, want %llu\n", rank, t,
                    (unsigned long long)new_packets, (unsigned long long)want_new);
    }

    /* Every rank checks the stamps of its share of all possible packets. */
    size_t n = 0;
    for (uint64_t id = (uint64_t)rank; id < POOL; id += (uint64_t)size) {
        ids[n] = id;
        packet_hash(id, hashes + 32 * n++);
    }
    check(fm_bulk_get(seen, hashes, n, stamps, found), seen, "final lookup");
    for (size_t i = 0; i < n; i++) {
        int32_t want = first[ids[i]];
        if ((found[i] != (want >= 0) || (found[i] && stamps[i] != (uint64_t)want)) && errors++ < 5)
            fprintf(stderr, "rank %d: packet %llu has stamp %llu (found %d), want %d\n", rank,
                    (unsigned long long)ids[i], (unsigned long long)stamps[i], found[i], want);
    }
    uint64_t unique = fm_size(seen);
    if (unique != total_new && errors++ < 5)
        fprintf(stderr, "rank %d: %llu packets in the map, %llu counted new\n", rank,
                (unsigned long long)unique, (unsigned long long)total_new);

    uint64_t mine[3] = {forwarded, dropped, errors}, sums[3];
    MPI_Allreduce(mine, sums, 3, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) {
        uint64_t packets = (uint64_t)size * BATCH * (uint64_t)rounds;
        printf("packet_dedup: %d capture points x %d rounds x %d packets = %llu packets; %llu unique, "
               "%llu duplicates (%llu dropped as seen in an earlier round, %llu repeats within a "
               "round): %s\n",
               size, rounds, BATCH, (unsigned long long)packets, (unsigned long long)unique,
               (unsigned long long)(packets - unique), (unsigned long long)sums[1],
               (unsigned long long)(sums[0] - unique), sums[2] ? "FAILED" : "ok");
    }

    fm_destroy(seen);
    free(hashes);
    free(fresh);
    free(found);
    free(ids);
    free(stamps);
    free(first);
    MPI_Finalize();
    return sums[2] ? 1 : 0;
}
