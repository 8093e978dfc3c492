/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* The failure counter and CHECK macros of the single-file tests: a failed
 * check prints where and what, counts, and the test goes on (main returns
 * non-zero when g_failures > 0). */
#ifndef FLASHMAP_TESTS_TEST_CHECK_H
#define FLASHMAP_TESTS_TEST_CHECK_H

#include <flashmap.h>
#include <stdio.h>

static int g_failures;

#define CHECK(cond)                                                                     \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);    \
            g_failures++;                                                               \
        }                                                                               \
    } while (0)

/* Like CHECK, for calls: prints the status and the map's last error. */
#define CHECK_OK(map, call)                                                             \
    do {                                                                                \
        fm_status st_ = (call);                                                         \
        if (st_ != FM_OK) {                                                             \
            fprintf(stderr, "%s:%d: %s returned %d (%s): %s\n", __FILE__, __LINE__,     \
                    #call, st_, fm_status_str(st_), fm_last_error(map));                \
            g_failures++;                                                               \
        }                                                                               \
    } while (0)

/* A result that differs from what it must be: prints "MISMATCH: " (a word
 * the CTest fail patterns look for) and the message, and counts. */
#define MISMATCH(...)                                                                   \
    do {                                                                                \
        fprintf(stderr, "MISMATCH: " __VA_ARGS__);                                      \
        fprintf(stderr, "\n");                                                          \
        g_failures++;                                                                   \
    } while (0)

#endif
