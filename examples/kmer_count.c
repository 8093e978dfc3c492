/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* k-mer counting with the library API (MPI).
 *
 * A small genome is generated (random bases plus a repeated motif), and
 * sequencing reads are sampled from both strands with a few errors. The
 * reads are dealt to the ranks; every rank turns its reads into canonical
 * 31-mers (2 bits a base in a u64, the smaller of the k-mer and its reverse
 * complement) and counts them in one map spread over all ranks with
 * fm_bulk_add_u64 (NULL deltas: +1 for each occurrence; repeats add up).
 * Reads go in chunks: the calls are collective, so every rank makes the
 * same number of calls, an empty one when it has nothing left.
 *
 * Every rank also counts all reads' k-mers by sorting, then checks the
 * number of distinct k-mers (fm_size), the counts of its share of them
 * (fm_bulk_get) and the most frequent k-mer (found from each rank's part of
 * the map with fm_export), and exits non-zero on any difference.
 *
 *   mpirun -np 2 ./example_kmer_count */
#include <flashmap_mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    K = 31,
    GENOME = 40000,
    READS = 3000,
    READ_LEN = 150,
    MOTIF = 300,        /* a repeat: MOTIF_COPIES copies in the genome */
    MOTIF_COPIES = 12,
    CHUNK = 400,        /* reads per fm_bulk_add_u64 call */
    KMERS_PER_READ = READ_LEN - K + 1
};
#define KMASK ((1ull << (2 * K)) - 1)

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static const char BASES[4] = {'A', 'C', 'G', 'T'};

/* The genome as 2-bit codes (A=0 C=1 G=2 T=3). */
static void make_genome(uint8_t *g)
{
    uint64_t s = 2024;
    for (size_t i = 0; i < GENOME; i++) g[i] = (uint8_t)(splitmix64(&s) & 3);
    for (size_t c = 1; c <= MOTIF_COPIES; c++) memcpy(g + c * 3000, g, MOTIF);
}

/* Read i: READ_LEN bases from a random place, either strand, with 0.5%
 * substitution errors. */
static void make_read(const uint8_t *g, size_t i, uint8_t *read)
{
    uint64_t s = i * 0x94D049BB133111EBull + 5, x = splitmix64(&s);
    size_t start = (size_t)(x % (GENOME - READ_LEN + 1));
    int reverse = (int)((x >> 40) & 1);
    for (size_t j = 0; j < READ_LEN; j++)
        read[j] = reverse ? (uint8_t)(3 - g[start + READ_LEN - 1 - j]) : g[start + j];
    for (size_t j = 0; j < READ_LEN; j++)
        if (splitmix64(&s) % 200 == 0) read[j] = (uint8_t)((read[j] + 1 + splitmix64(&s) % 3) & 3);
}

/* The canonical k-mers of one read, rolling both strands. */
static size_t read_kmers(const uint8_t *read, uint64_t *out)
{
    uint64_t fw = 0, rc = 0;
    size_t n = 0;
    for (size_t j = 0; j < READ_LEN; j++) {
        fw = ((fw << 2) | read[j]) & KMASK;
        rc = (rc >> 2) | ((uint64_t)(3 - read[j]) << (2 * (K - 1)));
        if (j + 1 >= K) out[n++] = fw < rc ? fw : rc;
    }
    return n;
}

static void decode(uint64_t kmer, char *s)
{
    for (int j = 0; j < K; j++) s[j] = BASES[(kmer >> (2 * (K - 1 - j))) & 3];
    s[K] = '\0';
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

static void check(fm_status st, const fm_map *map, const char *what)
{
    if (st != FM_OK) {
        fprintf(stderr, "kmer_count: %s failed: %s: %s\n", what, fm_status_str(st), fm_last_error(map));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

/* (count, k-mer) a is better than b: higher count, then smaller k-mer. */
static int better(const uint64_t a[2], const uint64_t b[2])
{
    return a[0] > b[0] || (a[0] == b[0] && a[1] < b[1]);
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    uint8_t *genome = malloc(GENOME), read[READ_LEN];
    uint64_t *all = malloc((size_t)READS * KMERS_PER_READ * sizeof *all);
    uint64_t *batch = malloc((size_t)CHUNK * KMERS_PER_READ * sizeof *batch);
    if (!genome || !all || !batch) MPI_Abort(MPI_COMM_WORLD, 1);
    make_genome(genome);

    fm_config cfg = fm_config_default(8, 8, 1u << 18); /* 31-mer -> count; grows if needed */
    fm_map *counts = NULL;
    check(fm_create_mpi(MPI_COMM_WORLD, &cfg, &counts), NULL, "fm_create_mpi");

    /* Rank r counts reads r, r + size, ...; CHUNK of them per call. */
    size_t mine = READS / (size_t)size + ((size_t)rank < READS % (size_t)size);
    size_t calls = (READS + (size_t)size - 1) / (size_t)size; /* the most any rank has */
    calls = (calls + CHUNK - 1) / CHUNK;
    size_t next = 0;
    for (size_t c = 0; c < calls; c++) {
        size_t n = 0;
        for (size_t r = 0; r < CHUNK && next < mine; r++, next++) {
            make_read(genome, (size_t)rank + next * (size_t)size, read);
            n += read_kmers(read, batch + n);
        }
        check(fm_bulk_add_u64(counts, batch, NULL, n), counts, "fm_bulk_add_u64");
    }
    uint64_t distinct = fm_size(counts);

    /* The reference: every read's k-mers, sorted, run lengths = counts. */
    size_t total = 0;
    for (size_t i = 0; i < READS; i++) {
        make_read(genome, i, read);
        total += read_kmers(read, all + total);
    }
    qsort(all, total, sizeof *all, cmp_u64);
    size_t nd = 0;
    uint64_t *ref_count = malloc(total * sizeof *ref_count);
    uint64_t best[2] = {0, 0}, singletons = 0;
    if (!ref_count) MPI_Abort(MPI_COMM_WORLD, 1);
    for (size_t i = 0; i < total;) {
        size_t j = i;
        while (j < total && all[j] == all[i]) j++;
        all[nd] = all[i];
        ref_count[nd] = j - i;
        uint64_t cand[2] = {ref_count[nd], all[nd]};
        if (better(cand, best)) memcpy(best, cand, sizeof best);
        singletons += ref_count[nd] == 1;
        nd++;
        i = j;
    }

    uint64_t errors = 0;
    if (distinct != nd && errors++ < 5)
        fprintf(stderr, "rank %d: %llu distinct k-mers, want %zu\n", rank, (unsigned long long)distinct, nd);
    /* This rank checks distinct k-mers rank, rank + size, ... */
    size_t nq = 0;
    for (size_t i = (size_t)rank; i < nd; i += (size_t)size) all[nq++] = all[i];
    uint64_t *got = malloc((nq ? nq : 1) * sizeof *got);
    uint8_t *found = malloc(nq ? nq : 1);
    if (!got || !found) MPI_Abort(MPI_COMM_WORLD, 1);
    check(fm_bulk_get(counts, all, nq, got, found), counts, "fm_bulk_get");
    for (size_t i = 0, q = (size_t)rank; i < nq; i++, q += (size_t)size)
        if ((!found[i] || got[i] != ref_count[q]) && errors++ < 5)
            fprintf(stderr, "rank %d: k-mer %llx counted %llu, want %llu\n", rank,
                    (unsigned long long)all[i], (unsigned long long)got[i],
                    (unsigned long long)ref_count[q]);

    /* The most frequent k-mer: each rank scans the entries fm_export gives
     * it (on an MPI map, its own part), then the ranks compare. */
    uint64_t top[2] = {0, 0}, cursor = 0, kbuf[1024], vbuf[1024];
    size_t n_out = 0;
    do {
        check(fm_export(counts, &cursor, kbuf, vbuf, 1024, &n_out), counts, "fm_export");
        for (size_t i = 0; i < n_out; i++) {
            uint64_t cand[2] = {vbuf[i], kbuf[i]};
            if (better(cand, top)) memcpy(top, cand, sizeof top);
        }
    } while (cursor != 0);
    uint64_t *tops = malloc((size_t)size * sizeof top);
    if (!tops) MPI_Abort(MPI_COMM_WORLD, 1);
    MPI_Allgather(top, 2, MPI_UINT64_T, tops, 2, MPI_UINT64_T, MPI_COMM_WORLD);
    for (int r = 0; r < size; r++)
        if (better(tops + 2 * r, top)) memcpy(top, tops + 2 * r, sizeof top);
    if ((top[0] != best[0] || top[1] != best[1]) && errors++ < 5)
        fprintf(stderr, "rank %d: top k-mer %llx x%llu, want %llx x%llu\n", rank,
                (unsigned long long)top[1], (unsigned long long)top[0], (unsigned long long)best[1],
                (unsigned long long)best[0]);

    uint64_t all_errors = 0;
    MPI_Allreduce(&errors, &all_errors, 1, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    if (rank == 0) {
        char s[K + 1];
        decode(top[1], s);
        printf("kmer_count: %d ranks, %d reads of %d bases, k = %d: %zu k-mers, %llu distinct "
               "(%llu seen once, mostly read errors); most frequent %s x%llu: %s\n",
               size, READS, READ_LEN, K, total, (unsigned long long)distinct,
               (unsigned long long)singletons, s, (unsigned long long)top[0],
               all_errors ? "FAILED" : "ok");
    }

    fm_destroy(counts);
    free(genome);
    free(all);
    free(batch);
    free(ref_count);
    free(got);
    free(found);
    free(tops);
    MPI_Finalize();
    return all_errors ? 1 : 0;
}
