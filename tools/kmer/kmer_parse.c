/* SPDX-License-Identifier: MIT OR Apache-2.0 */
/* FASTA and FASTQ parsing (see kmer_parse.h). The state machine moves line
 * by line (memchr to the next '\n'); only sequence bytes go through the
 * k-mer window, only quality bytes through the quality check. */
#include "kmer_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "kmer_input.h"

enum {
    S_START,    /* at a line start where a record must begin (or blank lines) */
    S_HEADER,   /* inside a header line */
    S_SEQ_LINE, /* at the start of a line after the header or a sequence line */
    S_SEQ,      /* inside a sequence line */
    S_PLUS,     /* inside the FASTQ '+' line */
    S_QUAL_LINE,/* at the start of a quality line */
    S_QUAL,     /* inside a quality line */
};

km_format km_format_of(int first_byte)
{
    return first_byte == '>' ? KM_FORMAT_FASTA : first_byte == '@' ? KM_FORMAT_FASTQ : KM_FORMAT_UNKNOWN;
}

void km_parser_init(km_parser *p, const char *path, km_format format, uint64_t start, uint64_t stop,
                    km_extract *x)
{
    memset(p, 0, sizeof *p);
    p->path = path;
    p->format = format;
    p->start = start;
    p->stop = stop;
    p->state = S_START;
    p->stripes = 1;
    p->x = x;
}

void km_parser_stripe(km_parser *p, unsigned stripe, unsigned stripes)
{
    p->stripe = stripe;
    p->stripes = stripes ? stripes : 1;
}

/* Line numbers in messages count from the start of the file, 1-based. A
 * parser that started mid-file counts the lines before its start only when
 * it has an error to report. */
static unsigned long long abs_line(const km_parser *p, uint64_t line)
{
    return (unsigned long long)(line + 1 + (p->start ? km_input_lines_before(p->path, p->start) : 0));
}

/* "path: line L: <message>". */
static int fail_at(km_parser *p, km_err *err, uint64_t line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int fail_at(km_parser *p, km_err *err, uint64_t line, const char *fmt, ...)
{
    char what[KM_ERR_LEN / 2];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return km_fail(err, "%s: line %llu: %s", p->path, abs_line(p, line), what);
}

/* A byte for a message: 'c' when printable, else its hex value. */
static const char *show_byte(int c, char *buf, size_t n)
{
    if (c >= 0x20 && c < 0x7f) snprintf(buf, n, "'%c'", c);
    else snprintf(buf, n, "byte 0x%02x", (unsigned)c & 0xffu);
    return buf;
}

static void begin_record(km_parser *p)
{
    p->keep = p->stripes == 1 || p->records % p->stripes == p->stripe;
    p->kept += (uint64_t)p->keep;
    if (p->keep) km_extract_reset(p->x);
    p->record_line = p->line;
    p->seq_len = p->qual_len = p->seq_lines = 0;
    p->records++;
    p->state = S_HEADER;
}

/* Checks a finished quality line against the sequence. */
static int end_qual_line(km_parser *p, km_err *err)
{
    if (p->qual_len > p->seq_len || (p->qual_len < p->seq_len && p->seq_lines <= 1))
        return fail_at(p, err, p->line,
                       "the quality has %llu characters but the sequence has %llu (record starting at line %llu)",
                       (unsigned long long)p->qual_len, (unsigned long long)p->seq_len,
                       abs_line(p, p->record_line));
    return 0;
}

/* Index of the first byte in q[0..len) that is not quality text, or -1. */
static ptrdiff_t bad_quality(const uint8_t *q, size_t len)
{
    unsigned bad = 0;
    for (size_t i = 0; i < len; i++) bad |= (unsigned)(q[i] < 33 || q[i] > 126) & (unsigned)(q[i] != '\r');
    if (!bad) return -1;
    for (size_t i = 0; i < len; i++)
        if ((q[i] < 33 || q[i] > 126) && q[i] != '\r') return (ptrdiff_t)i;
    return -1;
}

/* At a record start at or past `stop`, or past `stop` at all: done when
 * it is `stop` itself; past it, `stop` was not a record start
 * (kmer_split.h). */
static int reach_stop(km_parser *p, uint64_t at, km_err *err)
{
    if (at != p->stop)
        return fail_at(p, err, p->line,
                       "the next rank starts reading at byte %llu, which is not a record start (a multi-line "
                       "quality with lines that look like a FASTQ record?); count this file on one rank, or with "
                       "each quality on one line",
                       (unsigned long long)p->stop);
    p->done = 1;
    return 0;
}

ptrdiff_t km_parser_feed(km_parser *p, const uint8_t *buf, size_t len, uint64_t offset, void *keys,
                         size_t *n, km_err *err)
{
    char shown[16];
    size_t i = 0;
    while (i < len && !p->done) {
        const int c = buf[i];
        switch (p->state) {
        case S_START:
            if (c == '\n') {
                p->line++;
                i++;
                break;
            }
            if (offset + i >= p->stop) {
                if (reach_stop(p, offset + i, err) != 0) return -1;
                break;
            }
            if (p->format == KM_FORMAT_UNKNOWN) {
                p->format = km_format_of(c);
                if (p->format == KM_FORMAT_UNKNOWN)
                    return fail_at(p, err, p->line,
                                   "not a FASTA or FASTQ file: it starts with %s, not '>' or '@'",
                                   show_byte(c, shown, sizeof shown));
            }
            if (c != (p->format == KM_FORMAT_FASTA ? '>' : '@'))
                return fail_at(p, err, p->line, "expected a %s record header ('%c'), found %s",
                               p->format == KM_FORMAT_FASTA ? "FASTA" : "FASTQ",
                               p->format == KM_FORMAT_FASTA ? '>' : '@', show_byte(c, shown, sizeof shown));
            begin_record(p);
            i++;
            break;
        case S_HEADER:
        case S_PLUS: {
            const uint8_t *nl = memchr(buf + i, '\n', len - i);
            if (!nl) {
                i = len;
                break;
            }
            i = (size_t)(nl - buf) + 1;
            p->line++;
            p->state = p->state == S_HEADER ? S_SEQ_LINE : S_QUAL_LINE;
            break;
        }
        case S_SEQ_LINE:
            if (c == '\n') {
                p->line++;
                i++;
                break;
            }
            if (p->format == KM_FORMAT_FASTA && c == '>') {
                if (offset + i >= p->stop) {
                    if (reach_stop(p, offset + i, err) != 0) return -1;
                    break;
                }
                begin_record(p);
                i++;
                break;
            }
            if (p->format == KM_FORMAT_FASTQ && c == '+') {
                p->state = S_PLUS;
                i++;
                break;
            }
            if (p->format == KM_FORMAT_FASTQ && c == '@')
                return fail_at(p, err, p->line,
                               "a new record starts here but the record starting at line %llu has no '+' line "
                               "and no quality (missing '+' line?)",
                               abs_line(p, p->record_line));
            p->seq_lines++;
            p->state = S_SEQ;
            break;
        case S_SEQ: {
            const uint8_t *nl = memchr(buf + i, '\n', len - i);
            const size_t end = nl ? (size_t)(nl - buf) : len;
            const ptrdiff_t bad = p->keep ? km_extract_run(p->x, buf + i, end - i, keys, n)
                                          : km_sequence_bad(buf + i, end - i);
            if (bad >= 0)
                return fail_at(p, err, p->line, "%s cannot be in a sequence (binary data?)",
                               show_byte(buf[i + (size_t)bad], shown, sizeof shown));
            p->seq_len += end - i;
            i = end;
            if (nl) {
                i++;
                p->line++;
                p->state = S_SEQ_LINE;
            }
            break;
        }
        case S_QUAL_LINE:
            if (p->qual_len == p->seq_len) {
                p->state = S_START; /* the record is complete */
                break;
            }
            if (c == '\n')
                return fail_at(p, err, p->line,
                               "the quality has %llu characters but the sequence has %llu (record starting at "
                               "line %llu)",
                               (unsigned long long)p->qual_len, (unsigned long long)p->seq_len,
                               abs_line(p, p->record_line));
            p->state = S_QUAL;
            break;
        case S_QUAL: {
            const uint8_t *nl = memchr(buf + i, '\n', len - i);
            const size_t end = nl ? (size_t)(nl - buf) : len;
            const ptrdiff_t bad = bad_quality(buf + i, end - i);
            if (bad >= 0)
                return fail_at(p, err, p->line, "%s cannot be in a quality line (binary data?)",
                               show_byte(buf[i + (size_t)bad], shown, sizeof shown));
            p->qual_len += end - i;
            i = end;
            if (nl) {
                if (end_qual_line(p, err) != 0) return -1;
                i++;
                p->line++;
                p->state = S_QUAL_LINE;
            }
            break;
        }
        }
    }
    /* Past `stop` without meeting a record start there (inside a record
     * that runs on, maybe to the end of the file). */
    if (!p->done && offset + i > p->stop && reach_stop(p, offset + i, err) != 0) return -1;
    return (ptrdiff_t)i;
}

int km_parser_finish(km_parser *p, km_err *err)
{
    if (p->done || p->format != KM_FORMAT_FASTQ) return 0;
    const char *missing = NULL;
    switch (p->state) {
    case S_START: return 0;
    case S_HEADER:
    case S_SEQ_LINE:
    case S_SEQ: missing = "no '+' line and no quality"; break;
    case S_PLUS: missing = "no quality"; break;
    case S_QUAL:
        if (end_qual_line(p, err) != 0) return -1;
        /* fall through */
    case S_QUAL_LINE:
        if (p->qual_len == p->seq_len) return 0;
        if (p->qual_len == 0) {
            missing = "no quality";
            break;
        }
        return fail_at(p, err, p->line,
                       "the file ends inside the record starting at line %llu: %llu of %llu quality characters "
                       "(truncated file?)",
                       abs_line(p, p->record_line), (unsigned long long)p->qual_len,
                       (unsigned long long)p->seq_len);
    }
    return fail_at(p, err, p->line, "the file ends inside the record starting at line %llu: %s (truncated file?)",
                   abs_line(p, p->record_line), missing ? missing : "incomplete");
}
