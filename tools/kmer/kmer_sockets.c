/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Under Open MPI's launcher a rank talks to its node's launcher daemon
 * (PMIx) over a loopback TCP socket that has Nagle's algorithm on. The
 * requests of MPI_Finalize go out as several small writes, and the second
 * waits for the daemon's delayed ACK: 40 ms, on Linux, in every run, a
 * fifth of counting gasic-examples' reads on 2 ranks (docs/kmer.md).
 * flashmap-kmer opens no socket of its own, so every TCP socket here
 * belongs to the MPI library; sending small writes at once is what its own
 * TCP transport already asks for. Sockets it opens later are its own
 * business. */
#include "kmer_sockets.h"

#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <sys/socket.h>

static int is_tcp_socket(int fd)
{
    int type = 0;
    socklen_t len = sizeof type;
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) return 0;
    struct sockaddr_storage addr;
    len = sizeof addr;
    if (getsockname(fd, (struct sockaddr *)&addr, &len) != 0) return 0;
    return addr.ss_family == AF_INET || addr.ss_family == AF_INET6;
}

int km_tcp_sockets_nodelay(void)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return 0;
    const int own = dirfd(dir);
    int set = 0;
    for (struct dirent *entry; (entry = readdir(dir)) != NULL;) {
        char *end = NULL;
        const long fd = strtol(entry->d_name, &end, 10);
        if (end == entry->d_name || *end != '\0' || fd == own || !is_tcp_socket((int)fd)) continue;
        const int one = 1;
        if (setsockopt((int)fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0) set++;
    }
    closedir(dir);
    return set;
}
