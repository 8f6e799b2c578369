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
    bool failed; /* a write failed (or no memory): later writes are dropped */
    int err;     /* errno of the first failed write; 0 while none */
} cli_out;
void cli_out_init(cli_out *o, int fd);
void cli_out_write(cli_out *o, const void *p, size_t n);
void cli_out_puts(cli_out *o, const char *s);
void cli_out_buf(cli_out *o, const cs_buf *b);
void cli_out_flush(cli_out *o);
void cli_out_cleanup(cli_out *o);
/* Flushes and cleans o up; CLI_EXIT_FATAL when a write failed for another
 * reason than a closed pipe (`| head` is not an error), else 0. */
int cli_out_close(cli_out *o);

/* ---- `crawlset CMD SUB [OPTIONS] FILE...` commands ---- */

/* Answers no arguments and -h/--help with usage, and refuses a subcommand
 * other than `sub` (NULL: the command checks it itself). Returns -1 to go
 * on, else the exit code. */
int cli_subcommand_check(int argc, char **argv, const char *cmd, const char *sub,
                         void (*usage)(FILE *f));
/* True when argv[first..argc) names at least one input; else says so
 * ("CMD SUB: no input files") and the caller exits with CLI_EXIT_USAGE. */
bool cli_have_inputs(int argc, int first, const char *cmd, const char *sub);
/* Bytes in the regular files among paths[0..n) ("-" counts 0): the total
 * for a progress line. */
uint64_t cli_input_bytes(char *const *paths, int n);

/* ---- reading WARC files record by record (warc, wat, wet) ---- */

/* Opens path ("-": standard input) for records of `types` (0: all); when it
 * cannot, prints "PATH: cannot open: why" and returns CLI_EXIT_FATAL. */
int cli_warc_open(const char *path, unsigned types, bool strict, cs_warc_reader **r);
/* Prints a record's error "WHERE: what (why)"; true if reading can go on. */
bool cli_warc_report(cs_warc_reader *r, cs_status st);
/* cli_warc_report, and *rc becomes CLI_EXIT_PARTIAL, or CLI_EXIT_FATAL when
 * reading cannot go on (then false). */
bool cli_warc_failed(cs_warc_reader *r, cs_status st, int *rc);

/* What a cli_record_fn answers besides the exit codes. */
#define CLI_STOP (-1) /* stop reading this file; its exit code stays */

/* Called with each record; returns 0 to go on, CLI_EXIT_PARTIAL after
 * reporting a problem with this record (reading goes on), CLI_EXIT_FATAL to
 * stop with that code, or CLI_STOP. */
typedef int (*cli_record_fn)(void *ud, cs_warc_reader *r, cs_warc_record *rec,
                             const char *path);

/* How cli_warc_run reads its files. */
typedef struct cli_warc_loop {
    unsigned types;       /* record types to read (0: all) */
    bool strict;          /* refuse WARC quirks */
    cli_record_fn record; /* called with each record */
    /* after each file read to its end (not after a fatal error); may be NULL */
    void (*file_done)(void *ud, cs_warc_reader *r);
    void *ud;             /* for record and file_done */
    cli_out *out;         /* no further file once this failed; may be NULL */
    cs_progress *prog;    /* input bytes read, across the files; may be NULL */
    unsigned prog_every;  /* update it every this many records (0: every one) */
} cli_warc_loop;

/* Reads every record of every file in paths[0..n): a file that cannot be
 * opened and malformed records are reported (stderr) and the rest still
 * read. Returns the worst exit code. */
int cli_warc_run(const cli_warc_loop *l, char *const *paths, int n);

#endif
