/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The verbs of flashmap-kmer, each in its own file. */
#ifndef KMER_VERBS_H
#define KMER_VERBS_H

#include "kmer_ctx.h"

/* Each returns the process exit status: 0 success, 1 failure, 2 usage. */
int km_count_main(int argc, char **argv, const km_ctx *ctx);
int km_histo_main(int argc, char **argv, const km_ctx *ctx);
int km_dump_main(int argc, char **argv, const km_ctx *ctx);
int km_query_main(int argc, char **argv, const km_ctx *ctx);
int km_stats_main(int argc, char **argv, const km_ctx *ctx);

#endif
