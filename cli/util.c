/* util.c - error printing and a fast buffered writer for the CLI. */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void log_to_stderr(cs_log_level level, const char *msg, void *ud)
{
    (void)ud;
    static const char *names[] = {"debug", "info", "warning", "error"};
    fprintf(stderr, "crawlset: %s: %s\n", names[level], msg);
}

void cli_init(const char *argv0)
{
    (void)argv0;
    signal(SIGPIPE, SIG_IGN);
    const char *v = getenv("CRAWLSET_LOG");
    cs_log_level lvl = CS_LOG_WARN;
    if (v && !strcmp(v, "debug"))
        lvl = CS_LOG_DEBUG;
    else if (v && !strcmp(v, "info"))
        lvl = CS_LOG_INFO;
    cs_log_set_handler(log_to_stderr, NULL, lvl);
}

void cli_err(const char *fmt, ...)
{
    va_list ap;
    fputs("crawlset: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_die(const char *fmt, ...)
{
    va_list ap;
    fputs("crawlset: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(CLI_EXIT_FATAL);
}

void cli_out_init(cli_out *o, int fd)
{
    o->fd = fd;
    o->cap = 1 << 20;
    o->buf = malloc(o->cap);
    o->len = 0;
    o->failed = !o->buf;
}

static void write_all(cli_out *o, const char *p, size_t n)
{
    while (n && !o->failed) {
        ssize_t w = write(o->fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            o->failed = true;
            if (errno != EPIPE)
                cli_err("write: %s", strerror(errno));
            return;
        }
        p += w;
        n -= (size_t)w;
    }
}

void cli_out_write(cli_out *o, const void *p, size_t n)
{
    if (o->failed || n == 0)
        return;
    if (o->len + n > o->cap) {
        cli_out_flush(o);
        if (n >= o->cap / 2) {
            write_all(o, p, n);
            return;
        }
    }
    memcpy(o->buf + o->len, p, n);
    o->len += n;
}

void cli_out_puts(cli_out *o, const char *s) { cli_out_write(o, s, strlen(s)); }

void cli_out_buf(cli_out *o, const cs_buf *b) { cli_out_write(o, b->data, b->len); }

void cli_out_flush(cli_out *o)
{
    write_all(o, o->buf, o->len);
    o->len = 0;
}

void cli_out_cleanup(cli_out *o)
{
    cli_out_flush(o);
    free(o->buf);
    o->buf = NULL;
}

unsigned cli_threads(void)
{
    const char *v = getenv("CRAWLSET_THREADS");
    if (v && *v)
        return (unsigned)atoi(v);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1;
}
