/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* A tiny program built against an installed flashmap (see CMakeLists.txt
 * and run_install_test.sh beside it). With FM_PROBE_MPI it is an MPI
 * program: every rank inserts its own keys into one MPI map, then reads
 * back every rank's keys and checks values, misses and the global size.
 * Exits non-zero (on every rank) when anything is wrong. */
#include <flashmap.h>
#ifdef FM_PROBE_MPI
#include <flashmap_mpi.h>
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PER_RANK 5000u

static uint64_t value_of(uint64_t key) { return key * 0x9E3779B97F4A7C15ull ^ 0xF1A5u; }

int main(int argc, char **argv)
{
    int rank = 0, size = 1;
#ifdef FM_PROBE_MPI
    MPI_Init(&argc, &argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    MPI_Comm_size(MPI_COMM_WORLD, &size);
#else
    (void)argc;
    (void)argv;
#endif
    unsigned errors = 0;
    if (FLASHMAP_VERSION_MAJOR != 0 || strncmp(fm_version_string(), "flashmap ", 9) != 0) {
        fprintf(stderr, "rank %d: unexpected version %s\n", rank, fm_version_string());
        errors++;
    }

    fm_config cfg = fm_config_default(8, 8, (uint64_t)PER_RANK * (uint64_t)size);
    fm_map *map = NULL;
#ifdef FM_PROBE_MPI
    fm_status st = fm_create_mpi(MPI_COMM_WORLD, &cfg, &map);
#else
    fm_status st = fm_create(&cfg, &map);
#endif
    if (st != FM_OK) {
        fprintf(stderr, "rank %d: create: %s\n", rank, fm_last_error(NULL));
        return 2;
    }

    /* This rank's keys: rank * PER_RANK + i, and one missing key per lookup. */
    size_t n = PER_RANK, total = (size_t)PER_RANK * (size_t)size;
    uint64_t *keys = malloc(total * 8), *vals = malloc(total * 8), *got = malloc(total * 8);
    uint8_t *found = malloc(total);
    if (!keys || !vals || !got || !found) return 2;
    for (size_t i = 0; i < n; i++) {
        keys[i] = (uint64_t)rank * PER_RANK + i;
        vals[i] = value_of(keys[i]);
    }
    if ((st = fm_bulk_insert(map, keys, vals, n)) != FM_OK) {
        fprintf(stderr, "rank %d: insert: %s\n", rank, fm_last_error(map));
        errors++;
    }
    /* Every rank looks up every rank's keys, plus keys nobody inserted. */
    for (size_t i = 0; i < total; i++) keys[i] = i % 7 == 3 ? total + i : i;
    if ((st = fm_bulk_get(map, keys, total, got, found)) != FM_OK) {
        fprintf(stderr, "rank %d: get: %s\n", rank, fm_last_error(map));
        errors++;
    }
    for (size_t i = 0; i < total && st == FM_OK; i++) {
        int want = keys[i] < total;
        uint64_t v = want ? value_of(keys[i]) : 0;
        if (found[i] != want || got[i] != v) {
            if (errors < 5)
                fprintf(stderr, "rank %d: key %llu: found %d value %llu, want %d %llu\n", rank,
                        (unsigned long long)keys[i], found[i], (unsigned long long)got[i], want,
                        (unsigned long long)v);
            errors++;
        }
    }
    uint64_t entries = fm_size(map);
    if (entries != total) {
        fprintf(stderr, "rank %d: fm_size %llu, want %zu\n", rank, (unsigned long long)entries, total);
        errors++;
    }
    fm_destroy(map);
    free(keys);
    free(vals);
    free(got);
    free(found);

    unsigned all = errors;
#ifdef FM_PROBE_MPI
    MPI_Allreduce(&errors, &all, 1, MPI_UNSIGNED, MPI_SUM, MPI_COMM_WORLD);
#endif
    if (rank == 0)
        printf("install probe: %s, %d rank(s), %zu keys, %s\n", fm_version_string(), size, total,
               all ? "FAILED" : "ok");
#ifdef FM_PROBE_MPI
    MPI_Finalize();
#endif
    return all ? 1 : 0;
}
