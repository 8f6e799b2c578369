/* cli.h - shared helpers for the crawlset subcommands. Only cli/ prints. */
#ifndef CS_CLI_H
#define CS_CLI_H

#include <stdbool.h>
#include <stdio.h>

#include "crawlset.h"

enum {
    CLI_EXIT_OK = 0,      /* everything read and written */
    CLI_EXIT_PARTIAL = 1, /* done, but some inputs/records had errors (reported) */
    CLI_EXIT_USAGE = 2,   /* bad command line */
    CLI_EXIT_FATAL = 3,   /* could not go on (I/O, memory) */
};

typedef int (*cli_fn)(int argc, char **argv);
typedef struct cli_command {
    const char *name;
    const char *help;
    cli_fn fn;
} cli_command;

int cmd_warc(int argc, char **argv);
int cmd_wat(int argc, char **argv);
int cmd_wet(int argc, char **argv);
int cmd_cc(int argc, char **argv);
int cmd_download(int argc, char **argv);
int cmd_pairs(int argc, char **argv);
int cmd_tracker(int argc, char **argv);
int cmd_worker(int argc, char **argv);
int cmd_filter(int argc, char **argv);
int cmd_bloom(int argc, char **argv);
int cmd_dedupe(int argc, char **argv);
int cmd_forum(int argc, char **argv);

void cli_init(const char *argv0);
/* Prints "crawlset: message" to stderr. */
void cli_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints and exits with CLI_EXIT_FATAL. */
void cli_die(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));

/* Threads for background work: CRAWLSET_THREADS, else the number of CPUs
 * (at least 1). */
unsigned cli_threads(void);

/* Output building only fails on out of memory: the CLI dies then. */
#define CLI_TRY(x)                                                                        \
    do {                                                                                  \
        if ((x) != CS_OK)                                                                 \
            cli_die("out of memory");                                                     \
    } while (0)

/* Buffered stdout writer (large buffer, write(2) directly). */
typedef struct cli_out {
    int fd;
    char *buf;
    size_t len, cap;
    bool failed;
} cli_out;
void cli_out_init(cli_out *o, int fd);
void cli_out_write(cli_out *o, const void *p, size_t n);
void cli_out_puts(cli_out *o, const char *s);
void cli_out_buf(cli_out *o, const cs_buf *b);
void cli_out_flush(cli_out *o);
void cli_out_cleanup(cli_out *o);

#endif
