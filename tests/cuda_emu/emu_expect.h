/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* EXPECT(cond, fmt, ...) for the emulation's tests: a failed expectation
 * prints "FAIL file:line: message" and counts in `failures`, which the
 * test prints last ("<test>: N failures"). */
#ifndef FM_EMU_EXPECT_H
#define FM_EMU_EXPECT_H

#include <stdio.h>

static int failures;

#define EXPECT(cond, ...)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            printf("FAIL %s:%d: ", __FILE__, __LINE__);                        \
            printf(__VA_ARGS__);                                               \
            printf("\n");                                                      \
            failures++;                                                        \
        }                                                                      \
    } while (0)

#endif
