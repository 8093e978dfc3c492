/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* A rank's node: its place there, and the memory it may use for exchange
 * rounds. A round holds the send records, the received records, the keys
 * and payload split out of them and the replies: a few times
 * exchange_bytes, which is why the default takes a sixteenth of a rank's
 * share of the available memory. */
#include "mpi/fm_mpi_node.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

void fm_mpi_node_place(MPI_Comm comm, int rank, int *local_rank, int *local_ranks)
{
    MPI_Comm node = MPI_COMM_NULL;
    *local_rank = rank;
    *local_ranks = 1;
    if (MPI_Comm_split_type(comm, MPI_COMM_TYPE_SHARED, rank, MPI_INFO_NULL, &node) != MPI_SUCCESS)
        return; /* no node information: ranks in order */
    MPI_Comm_rank(node, local_rank);
    MPI_Comm_size(node, local_ranks);
    MPI_Comm_free(&node);
}

/* MemAvailable from /proc/meminfo, else free pages; 0 when unknown. */
static uint64_t node_available(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (f) {
        char line[160];
        unsigned long long kib = 0;
        while (fgets(line, sizeof line, f))
            if (sscanf(line, "MemAvailable: %llu kB", &kib) == 1) break;
        fclose(f);
        if (kib) return (uint64_t)kib << 10;
    }
    const long pages = sysconf(_SC_AVPHYS_PAGES), size = sysconf(_SC_PAGESIZE);
    return pages > 0 && size > 0 ? (uint64_t)pages * (uint64_t)size : 0;
}

/* Reads one unsigned number from a file; 0 when absent or "max". */
static uint64_t read_number(const char *path)
{
    FILE *f = fopen(path, "r");
    unsigned long long v = 0;
    if (!f) return 0;
    if (fscanf(f, "%llu", &v) != 1) v = 0;
    fclose(f);
    return v;
}

/* What this process's cgroup (v2) still lets it take, as under Slurm's
 * memory limits; 0 when there is no limit or no cgroup v2. */
static uint64_t cgroup_room(void)
{
    FILE *f = fopen("/proc/self/cgroup", "r");
    char line[512], dir[600];
    uint64_t room = 0;
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "0::", 3) != 0) continue; /* the v2 hierarchy */
        line[strcspn(line, "\n")] = '\0';
        snprintf(dir, sizeof dir, "/sys/fs/cgroup%s/memory.max", line + 3);
        const uint64_t max = read_number(dir);
        snprintf(dir, sizeof dir, "/sys/fs/cgroup%s/memory.current", line + 3);
        const uint64_t used = read_number(dir);
        if (max) room = max > used ? max - used : 1;
        break;
    }
    fclose(f);
    return room;
}

uint64_t fm_exchange_bytes_for(uint64_t available, int local_ranks)
{
    uint64_t bytes = available / (uint64_t)(local_ranks > 0 ? local_ranks : 1) / 16;
    if (bytes < FM_EXCHANGE_MIN) bytes = FM_EXCHANGE_MIN;
    if (bytes > FM_EXCHANGE_MAX) bytes = FM_EXCHANGE_MAX;
    return bytes;
}

uint64_t fm_mpi_default_exchange_bytes(MPI_Comm comm, int local_ranks)
{
    uint64_t available = node_available();
    const uint64_t cgroup = cgroup_room();
    if (cgroup && (!available || cgroup < available)) available = cgroup;
    /* Unknown memory: the largest default. */
    const uint64_t mine = available ? fm_exchange_bytes_for(available, local_ranks) : FM_EXCHANGE_MAX;
    uint64_t all = mine;
    if (MPI_Allreduce(&mine, &all, 1, MPI_UINT64_T, MPI_MIN, comm) != MPI_SUCCESS) return FM_EXCHANGE_MAX;
    return all;
}
