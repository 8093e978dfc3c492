/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Database index with a join probe (MPI): 32-byte keys -> u64 row ids.
 *
 * Two tables are spread over the ranks: rank r holds a slice of the
 * customers table and a slice of the orders table. The customers' key
 * column (a 32-byte hash of the customer's identity, as a database would
 * keep for an e-mail address) is indexed in one flashmap spread over the
 * ranks: each rank inserts its own rows (one collective fm_bulk_insert).
 * The join orders JOIN customers ON orders.customer = customers.key is one
 * collective fm_bulk_get of each rank's orders: it returns the matching
 * customer row id, or not found for orders whose customer does not exist.
 * Each matched order then belongs with the rank that holds its customer
 * row; the ranks swap counts (MPI_Alltoall) as a real join would swap rows.
 * Then 1% of the customers are deleted (fm_bulk_remove by their owners) and
 * the join runs again.
 *
 * Every rank knows from the data generator which orders must match which
 * row; the program checks every probe result and the global counts and
 * exits non-zero on any difference.
 *
 *   mpirun -np 2 ./example_db_index_join */
#include <flashmap_mpi.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { CUSTOMERS = 100000, ORDERS = 200000, ORPHAN_PERCENT = 5 };

static uint64_t splitmix64(uint64_t *s)
{
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Customer number -> 32-byte key (customer c is row c of the table). */
static void customer_key(uint64_t c, uint8_t key[32])
{
    uint64_t s = c * 0x9FB21C651E98DF25ull + 11;
    for (int w = 0; w < 4; w++) {
        uint64_t v = splitmix64(&s);
        memcpy(key + 8 * w, &v, 8);
    }
}

/* Order j refers to this customer number; >= CUSTOMERS: none exists. */
static uint64_t order_customer(uint64_t j)
{
    uint64_t s = j ^ 0x0DDBA11ull, x = splitmix64(&s);
    if (x % 100 < ORPHAN_PERCENT) return CUSTOMERS + (x >> 8) % 1000;
    return (x >> 8) % CUSTOMERS;
}

static int deleted(uint64_t c) { return c % 100 == 42; }

/* Rank r holds rows [slice(r), slice(r + 1)) of a table of n rows. */
static uint64_t slice(uint64_t n, int r, int size) { return n * (uint64_t)r / (uint64_t)size; }

static void check(fm_status st, const fm_map *map, const char *what)
{
    if (st != FM_OK) {
        fprintf(stderr, "db_index_join: %s failed: %s: %s\n", what, fm_status_str(st), fm_last_error(map));
        MPI_Abort(MPI_COMM_WORLD, 1);
    }
}

/* One join: probe, check, ship counts to the row owners. Returns matches
 * this rank found; *received gets the matches other ranks found for this
 * rank's rows. */
static uint64_t join(fm_map *index, const uint8_t *keys, const uint64_t *customer, size_t n,
                     int after_delete, int rank, int size, uint64_t *received, uint64_t *errors)
{
    uint64_t *row = malloc((n ? n : 1) * sizeof *row);
    uint8_t *found = malloc(n ? n : 1);
    uint64_t *send = calloc((size_t)size, sizeof *send), *recv = calloc((size_t)size, sizeof *recv);
    if (!row || !found || !send || !recv) MPI_Abort(MPI_COMM_WORLD, 1);
    check(fm_bulk_get(index, keys, n, row, found), index, "join probe");
    uint64_t matches = 0;
    for (size_t i = 0; i < n; i++) {
        int want = customer[i] < CUSTOMERS && !(after_delete && deleted(customer[i]));
        if ((found[i] != want || (want && row[i] != customer[i])) && (*errors)++ < 5)
            fprintf(stderr, "rank %d: order for customer %llu: found %d row %llu\n", rank,
                    (unsigned long long)customer[i], found[i], (unsigned long long)row[i]);
        if (!found[i]) continue;
        matches++;
        int owner = 0;
        while (owner + 1 < size && row[i] >= slice(CUSTOMERS, owner + 1, size)) owner++;
        send[owner]++;
    }
    MPI_Alltoall(send, 1, MPI_UINT64_T, recv, 1, MPI_UINT64_T, MPI_COMM_WORLD);
    *received = 0;
    for (int r = 0; r < size; r++) *received += recv[r];
    free(row);
    free(found);
    free(send);
    free(recv);
    return matches;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank, size;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);

    fm_config cfg = fm_config_default(32, 8, CUSTOMERS);
    fm_map *index = NULL;
    check(fm_create_mpi(MPI_COMM_WORLD, &cfg, &index), NULL, "fm_create_mpi");

    /* Build the index from this rank's customer rows. */
    uint64_t c_lo = slice(CUSTOMERS, rank, size), c_hi = slice(CUSTOMERS, rank + 1, size);
    size_t nc = (size_t)(c_hi - c_lo);
    uint8_t *ckeys = malloc((nc ? nc : 1) * 32);
    uint64_t *rows = malloc((nc ? nc : 1) * sizeof *rows);
    /* This rank's orders and the key of the customer each refers to. */
    uint64_t o_lo = slice(ORDERS, rank, size), o_hi = slice(ORDERS, rank + 1, size);
    size_t no = (size_t)(o_hi - o_lo);
    uint8_t *okeys = malloc((no ? no : 1) * 32);
    uint64_t *ocust = malloc((no ? no : 1) * sizeof *ocust);
    uint8_t *removed = malloc(nc ? nc : 1);
    if (!ckeys || !rows || !okeys || !ocust || !removed) MPI_Abort(MPI_COMM_WORLD, 1);
    for (size_t i = 0; i < nc; i++) {
        rows[i] = c_lo + i;
        customer_key(rows[i], ckeys + 32 * i);
    }
    check(fm_bulk_insert(index, ckeys, rows, nc), index, "index build");
    uint64_t errors = 0, indexed = fm_size(index);
    if (indexed != CUSTOMERS && errors++ < 5)
        fprintf(stderr, "rank %d: index holds %llu keys\n", rank, (unsigned long long)indexed);

    uint64_t want[2] = {0, 0}; /* matches before and after the delete */
    for (size_t i = 0; i < no; i++) {
        ocust[i] = order_customer(o_lo + i);
        customer_key(ocust[i], okeys + 32 * i);
        want[0] += ocust[i] < CUSTOMERS;
        want[1] += ocust[i] < CUSTOMERS && !deleted(ocust[i]);
    }

    uint64_t got[2], recv[2];
    got[0] = join(index, okeys, ocust, no, 0, rank, size, &recv[0], &errors);

    /* Delete 1% of the customers: each rank removes its own rows. */
    size_t nd = 0;
    for (size_t i = 0; i < nc; i++)
        if (deleted(rows[i])) memmove(ckeys + 32 * nd++, ckeys + 32 * i, 32);
    check(fm_bulk_remove(index, ckeys, nd, removed), index, "delete");
    for (size_t i = 0; i < nd; i++)
        if (!removed[i] && errors++ < 5) fprintf(stderr, "rank %d: a delete missed its key\n", rank);
    got[1] = join(index, okeys, ocust, no, 1, rank, size, &recv[1], &errors);
    uint64_t remaining = fm_size(index);

    /* Global: what was found, what had to be, what the owners received. */
    uint64_t mine[7] = {got[0], got[1], want[0], want[1], recv[0], recv[1], errors}, sum[7];
    MPI_Allreduce(mine, sum, 7, MPI_UINT64_T, MPI_SUM, MPI_COMM_WORLD);
    uint64_t deleted_rows = CUSTOMERS - remaining;
    if (rank == 0 && (sum[0] != sum[2] || sum[1] != sum[3] || sum[4] != sum[0] || sum[5] != sum[1] ||
                      deleted_rows != CUSTOMERS / 100)) {
        fprintf(stderr, "db_index_join: matches %llu/%llu, want %llu/%llu; shipped %llu/%llu; "
                "%llu rows deleted\n", (unsigned long long)sum[0], (unsigned long long)sum[1],
                (unsigned long long)sum[2], (unsigned long long)sum[3], (unsigned long long)sum[4],
                (unsigned long long)sum[5], (unsigned long long)deleted_rows);
        sum[6]++;
    }
    MPI_Bcast(&sum[6], 1, MPI_UINT64_T, 0, MPI_COMM_WORLD);
    if (rank == 0)
        printf("db_index_join: %d ranks; %d customers indexed, %d orders probed: %llu matched, "
               "%llu orphans; after deleting %llu customers: %llu matched: %s\n",
               size, CUSTOMERS, ORDERS, (unsigned long long)sum[0],
               (unsigned long long)(ORDERS - sum[0]), (unsigned long long)deleted_rows,
               (unsigned long long)sum[1], sum[6] ? "FAILED" : "ok");

    fm_destroy(index);
    free(ckeys);
    free(rows);
    free(okeys);
    free(ocust);
    free(removed);
    MPI_Finalize();
    return sum[6] ? 1 : 0;
}
