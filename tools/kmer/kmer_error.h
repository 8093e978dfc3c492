/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Error messages: a failing step writes what went wrong, naming the file
 * and the place in it, into a km_err; the verb prints it once. */
#ifndef KMER_ERROR_H
#define KMER_ERROR_H

#include <stddef.h>

#define KM_ERR_LEN 1024

typedef struct km_err {
    char msg[KM_ERR_LEN]; /* "" while nothing failed */
} km_err;

/* Formats a message into err (when err is not NULL); returns -1 so that
 * callers can write `return km_fail(err, ...)`. */
int km_fail(km_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints "flashmap-kmer: <msg>" to stderr. */
void km_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A library message (fm_last_error) as the user should see it: without the
 * source locations " (file.c:123)" and the status texts ("invalid argument:
 * ") the library puts in for developers; as it is after
 * km_set_verbose_errors(1) (count -v). The result stays valid until the
 * thread's next call. */
const char *km_user_error(const char *lib_msg);
void km_set_verbose_errors(int on);

#endif
