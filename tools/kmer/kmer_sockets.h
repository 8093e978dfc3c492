/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The TCP sockets an MPI library opened in this process, sent at once. */
#ifndef FLASHMAP_KMER_SOCKETS_H
#define FLASHMAP_KMER_SOCKETS_H

/* Sets TCP_NODELAY on every TCP socket this process holds; returns how
 * many. Call after MPI_Init (kmer_sockets.c says why). */
int km_tcp_sockets_nodelay(void);

#endif
