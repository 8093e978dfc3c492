/* Error messages (see kmer_error.h). */
#include "kmer_error.h"

#include <stdarg.h>
#include <stdio.h>

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
