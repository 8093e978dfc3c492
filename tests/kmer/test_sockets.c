/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* km_tcp_sockets_nodelay after MPI_Init: every TCP socket of the process,
 * the MPI library's and a loopback pair opened here with Nagle on, ends
 * with TCP_NODELAY set; the count it returns is the number of TCP
 * sockets; UDP and UNIX sockets are left alone. Prints how many of the
 * MPI library's sockets had Nagle on before. */
#include <arpa/inet.h>
#include <dirent.h>
#include <mpi.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kmer_sockets.h"

static int failures;

static void check(int ok, const char *what)
{
    if (!ok) {
        printf("FAIL %s\n", what);
        failures++;
    }
}

static int nodelay_of(int fd)
{
    int on = -1;
    socklen_t len = sizeof on;
    return getsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, &len) == 0 ? on != 0 : -1;
}

/* TCP sockets of this process, and how many of them have Nagle on. */
static int tcp_sockets(int *nagle_on)
{
    DIR *dir = opendir("/proc/self/fd");
    if (!dir) return -1;
    int n = 0;
    *nagle_on = 0;
    for (struct dirent *e; (e = readdir(dir)) != NULL;) {
        char *end = NULL;
        const long fd = strtol(e->d_name, &end, 10);
        int type = 0;
        socklen_t len = sizeof type;
        struct sockaddr_storage addr;
        socklen_t alen = sizeof addr;
        if (end == e->d_name || *end || fd == dirfd(dir)) continue;
        if (getsockopt((int)fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) continue;
        if (getsockname((int)fd, (struct sockaddr *)&addr, &alen) != 0) continue;
        if (addr.ss_family != AF_INET && addr.ss_family != AF_INET6) continue;
        n++;
        if (nodelay_of((int)fd) == 0) (*nagle_on)++;
    }
    closedir(dir);
    return n;
}

/* A connected loopback TCP pair with Nagle on: listener, client, server. */
static int loopback_pair(int fds[3])
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    fds[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[0] < 0 || bind(fds[0], (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fds[0], 1) != 0 ||
        getsockname(fds[0], (struct sockaddr *)&addr, &len) != 0)
        return -1;
    fds[1] = socket(AF_INET, SOCK_STREAM, 0);
    if (fds[1] < 0 || connect(fds[1], (struct sockaddr *)&addr, sizeof addr) != 0) return -1;
    fds[2] = accept(fds[0], NULL, NULL);
    return fds[2] < 0 ? -1 : 0;
}

int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    int rank = 0;
    MPI_Comm_rank(MPI_COMM_WORLD, &rank);
    int mpi_nagle = 0;
    const int mpi_tcp = tcp_sockets(&mpi_nagle);
    check(mpi_tcp >= 0, "/proc/self/fd readable");

    int pair[3] = {-1, -1, -1}, unix_pair[2] = {-1, -1};
    check(loopback_pair(pair) == 0, "loopback TCP pair");
    check(socketpair(AF_UNIX, SOCK_STREAM, 0, unix_pair) == 0, "UNIX socket pair");
    const int udp = socket(AF_INET, SOCK_DGRAM, 0);
    check(udp >= 0, "UDP socket");
    check(nodelay_of(pair[1]) == 0 && nodelay_of(pair[2]) == 0, "a new TCP socket has Nagle on");
    int before_nagle = 0;
    const int before = tcp_sockets(&before_nagle);
    check(before == mpi_tcp + 3 && before_nagle >= 3, "the pair and its listener are TCP sockets");

    const int set = km_tcp_sockets_nodelay();
    int after_nagle = 0;
    const int after = tcp_sockets(&after_nagle);
    check(set == before, "returns the number of TCP sockets");
    check(after == before && after_nagle == 0, "no TCP socket keeps Nagle on");
    check(nodelay_of(pair[1]) == 1 && nodelay_of(pair[2]) == 1, "the pair has TCP_NODELAY");
    check(nodelay_of(unix_pair[0]) == -1 && nodelay_of(udp) == -1, "UNIX and UDP sockets are not TCP");

    const char byte = 'x';
    char got = 0;
    check(write(pair[1], &byte, 1) == 1 && read(pair[2], &got, 1) == 1 && got == 'x', "the pair still works");
    for (int i = 0; i < 3; i++) close(pair[i]);
    close(unix_pair[0]);
    close(unix_pair[1]);
    close(udp);

    int all = 0;
    MPI_Allreduce(&failures, &all, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
    printf("test_sockets: rank %d: %d TCP sockets from MPI, %d with Nagle on; %d failures\n", rank, mpi_tcp,
           mpi_nagle, failures);
    MPI_Finalize();
    return all ? 1 : 0;
}
