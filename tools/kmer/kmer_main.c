/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* flashmap-kmer: a k-mer counter on flashmap's MPI maps, with the verbs and
 * flags of Jellyfish 2.3 (count, histo, dump, query, stats). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <flashmap_mpi.h>

#include "kmer_gunzip.h"
#include "kmer_sockets.h"
#include "kmer_verbs.h"

static void usage(FILE *f)
{
    fprintf(f, "Usage: flashmap-kmer <command> [options] ...\n"
               "Commands (the verbs and flags of Jellyfish 2.3):\n"
               "  count -m K -o DB [-C] [-t N] [-s N] [-L N] [-U N] FILE...   count k-mers (alone or under mpirun)\n"
               "  histo [-l N] [-h N] [-i N] [-f] DB                           histogram of counts\n"
               "  dump [-c] [-t] [-L N] [-U N] DB                              k-mers and counts\n"
               "  query DB KMER...                                             counts of some k-mers\n"
               "  stats [-L N] [-U N] DB                                       Unique, Distinct, Total, Max_count\n"
               "  version                                                      versions\n"
               "'flashmap-kmer <command> --help' describes a command.\n");
}

/* Was this process started by an MPI launcher (mpirun, srun with PMI)? */
static int launched_by_mpi(void)
{
    static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMI_RANK", "PMIX_RANK",
                                       "MPI_LOCALNRANKS"};
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (getenv(vars[i])) return 1;
    return 0;
}

/* Each rank of count runs its reading threads beside the thread that
 * calls MPI, so a rank waiting in a collective should give its core to a
 * reader rather than poll: Open MPI polls unless told to yield (2 ranks
 * on 2 cores, bound as mpirun binds them: 3.40-3.98 s against 3.92-4.94
 * s, docs/kmer.md). A value the user set is kept; other MPI libraries
 * ignore the variable. */
static void yield_while_waiting(void)
{
    setenv("OMPI_MCA_mpi_yield_when_idle", "1", 0);
}

/* Do all the ranks run on this node? (Asked under a launcher only.) Open
 * MPI's launcher says so before MPI_Init; a direct launch by srun says how
 * many nodes its step spans. Unknown counts as no. */
static int ranks_on_one_node(void)
{
    const char *size = getenv("OMPI_COMM_WORLD_SIZE"), *local = getenv("OMPI_COMM_WORLD_LOCAL_SIZE");
    if (size) return local && strcmp(size, local) == 0;
    const char *nodes = getenv("SLURM_STEP_NUM_NODES");
    return nodes && strcmp(nodes, "1") == 0;
}

/* Open MPI's default choice of point-to-point layer probes the network
 * providers of its `cm` layer in MPI_Init: 0.2 s on the test machine,
 * as long as counting 100,000 reads. Ranks of one node need only shared
 * memory, which the `ob1` layer (its vader and self transports) gives at
 * once: so count asks for ob1 there, unless the user chose a layer
 * (OMPI_MCA_pml set, even empty). Ranks on several nodes keep the site's
 * choice; other MPI libraries ignore the variable. */
static void one_node_transport(void)
{
#ifdef OPEN_MPI
    if (ranks_on_one_node()) setenv("OMPI_MCA_pml", "ob1", 0);
#endif
}

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    const char *verb = argv[1];
    if (strcmp(verb, "version") == 0 || strcmp(verb, "--version") == 0) {
        printf("flashmap-kmer (%s; gzip: %s)\n", fm_version_string(), km_gunzip_library());
        return 0;
    }
    static const struct {
        const char *name;
        int (*run)(int, char **, const km_ctx *);
    } verbs[] = {{"count", km_count_main}, {"histo", km_histo_main}, {"dump", km_dump_main},
                 {"query", km_query_main}, {"stats", km_stats_main}};
    int (*run)(int, char **, const km_ctx *) = NULL;
    for (size_t i = 0; i < sizeof verbs / sizeof verbs[0]; i++)
        if (strcmp(verb, verbs[i].name) == 0) run = verbs[i].run;
    if (!run) {
        fprintf(stderr, "flashmap-kmer: unknown command '%s'\n", verb);
        usage(stderr);
        return 2;
    }
    km_ctx ctx = {0, 0, 1};
    /* Alone, no verb starts MPI: its start (0.1 s on the test machine, as
     * long as counting the 100,000 reads of gasic-examples) buys nothing
     * for one process. */
    if (launched_by_mpi()) {
        /* Only the main thread calls MPI; count's reading thread never does. */
        yield_while_waiting();
        if (run == km_count_main) one_node_transport();
        int provided = 0;
        if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
            fprintf(stderr, "flashmap-kmer: MPI_Init_thread failed\n");
            return 1;
        }
        km_tcp_sockets_nodelay();
        ctx.mpi = 1;
        MPI_Comm_rank(MPI_COMM_WORLD, &ctx.rank);
        MPI_Comm_size(MPI_COMM_WORLD, &ctx.size);
    }
    const int rc = run(argc - 1, argv + 1, &ctx);
    if (ctx.mpi) MPI_Finalize();
    return rc;
}
