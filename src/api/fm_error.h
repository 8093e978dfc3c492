/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Error reporting inside flashmap: every failure becomes a status plus a
 * message with the file and line where it was detected. */
#ifndef FM_ERROR_H
#define FM_ERROR_H

#include <flashmap.h>

#define FM_ERROR_LEN 512

#ifdef __cplusplus
extern "C" {
#endif

/* Records a message for `map` (or for the calling thread when map is NULL)
 * and returns `status`, so call sites read: return fm_fail(map, ...). */
fm_status fm_fail_at(fm_map *map, fm_status status, const char *file, int line,
                     const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
#define fm_fail(map, status, ...) fm_fail_at((map), (status), __FILE__, __LINE__, __VA_ARGS__)

/* A recorded message without its leading "<status text>: ", for wrapping
 * it in another message that adds the status again. */
const char *fm_error_detail(const char *message);

#ifdef __cplusplus
}
#endif

#endif
