/* SPDX-License-Identifier: MIT OR Apache-2.0 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "api/fm_error.h"
#include "api/fm_map.h"

/* Messages of failures that have no map (fm_create, fm_load). */
static _Thread_local char thread_error[FM_ERROR_LEN];

const char *fm_status_str(fm_status s)
{
    switch (s) {
#define FM_STATUS_CASE_(name, code, msg)                                       \
    case name: return msg;
        FM_STATUS_MAP(FM_STATUS_CASE_)
#undef FM_STATUS_CASE_
    }
    return "unknown status";
}

fm_status fm_fail_at(fm_map *map, fm_status status, const char *file, int line,
                     const char *fmt, ...)
{
    char *buf = map ? map->error : thread_error;
    const char *base = strrchr(file, '/');
    base = base ? base + 1 : file;
    int used = snprintf(buf, FM_ERROR_LEN, "%s: ", fm_status_str(status));
    if (used < 0 || used >= FM_ERROR_LEN) return status;
    va_list ap;
    va_start(ap, fmt);
    int more = vsnprintf(buf + used, FM_ERROR_LEN - (size_t)used, fmt, ap);
    va_end(ap);
    if (more >= 0 && used + more < FM_ERROR_LEN)
        snprintf(buf + used + more, FM_ERROR_LEN - (size_t)(used + more), " (%s:%d)", base, line);
    return status;
}

const char *fm_last_error(const fm_map *map) { return map ? map->error : thread_error; }

const char *fm_error_detail(const char *message)
{
    const char *colon = strstr(message, ": ");
    if (!colon) return message;
    for (int code = 0; code >= -16; code--) {
        const char *text = fm_status_str((fm_status)code);
        if ((size_t)(colon - message) == strlen(text) && strncmp(message, text, strlen(text)) == 0)
            return colon + 2;
    }
    return message;
}
