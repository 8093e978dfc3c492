/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* Error messages (see kmer_error.h). */
#include "kmer_error.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <flashmap.h>

int km_fail(km_err *err, const char *fmt, ...)
{
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

void km_report(const char *fmt, ...)
{
    char line[KM_ERR_LEN + 64];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    /* One write per message, so that ranks do not interleave mid-line. */
    fprintf(stderr, "flashmap-kmer: %s\n", line);
    fflush(stderr);
}

static int verbose_errors;

void km_set_verbose_errors(int on) { verbose_errors = on; }

/* Length of a " (file.c:123)" source location at p, else 0. */
static size_t location_at(const char *p)
{
    if (p[0] != ' ' || p[1] != '(') return 0;
    size_t i = 2;
    while (isalnum((unsigned char)p[i]) || p[i] == '_' || p[i] == '-') i++;
    if (p[i] != '.' || i == 2) return 0;
    for (i++; isalpha((unsigned char)p[i]); i++) {}
    if (p[i] != ':' || !isdigit((unsigned char)p[i + 1])) return 0;
    for (i++; isdigit((unsigned char)p[i]); i++) {}
    return p[i] == ')' ? i + 1 : 0;
}

/* Length of a "<status message>: " prefix at p (fm_status_str's texts), else 0. */
static size_t status_at(const char *p)
{
    for (int code = -1; code >= -16; code--) {
        const char *text = fm_status_str((fm_status)code);
        const size_t n = strlen(text);
        if (strcmp(text, "unknown status") != 0 && strncmp(p, text, n) == 0 && p[n] == ':' && p[n + 1] == ' ')
            return n + 2;
    }
    return 0;
}

const char *km_user_error(const char *lib_msg)
{
    static _Thread_local char out[KM_ERR_LEN];
    if (verbose_errors) return lib_msg;
    size_t o = 0;
    for (const char *p = lib_msg; *p && o + 1 < sizeof out;) {
        const int at_part = p == lib_msg || (p - lib_msg >= 2 && p[-1] == ' ' && p[-2] == ':');
        const size_t skip = at_part ? status_at(p) : location_at(p);
        if (skip) p += skip;
        else out[o++] = *p++;
    }
    out[o] = '\0';
    return out;
}
