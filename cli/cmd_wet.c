/* cmd_wet.c - `crawlset wet text [--json] FILE...`: the URI, language and
 * text of each conversion record of Common Crawl WET files. */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void usage_wet(FILE *f)
{
    fprintf(f,
            "usage: crawlset wet text [OPTIONS] FILE...\n"
            "\n"
            "Prints the text of each page (conversion record) of Common Crawl WET files,\n"
            "with its URI and language (WARC-Identified-Content-Language: ISO 639-3 codes,\n"
            "most likely first, e.g. \"spa\" or \"spa,eng\"). Readable form:\n"
            "\n"
            "  ==> https://an.wikipedia.org/wiki/Escopete [spa] <==\n"
            "  the text, as in the record\n"
            "  (a blank line)\n"
            "\n"
            "FILE may be plain or gzipped (one member per record), or '-' for standard input.\n"
            "\n"
            "options:\n"
            "  --json          JSON Lines instead: {\"uri\":...,\"lang\":...,\"text\":...}\n"
            "                  (lang is null when the record has none)\n"
            "  --strict        refuse WARC quirks instead of tolerating them\n"
            "  --no-progress   no progress line (drawn only when stderr is a terminal and\n"
            "                  stdout is not)\n"
            "  -h, --help      this help\n"
            "\n"
            "Malformed records are reported on stderr as 'FILE: offset N: what' and skipped.\n"
            "Exit codes: 0 ok, 1 some records had errors, 2 usage error, 3 fatal error\n"
            "(unreadable file, write error, out of memory).\n");
}

static void put_doc(cs_buf *b, const cs_wet_doc *d, bool json)
{
    if (json) {
        CLI_TRY(cs_buf_puts(b, "{\"uri\":"));
        if (d->uri.ptr)
            CLI_TRY(cs_json_put_str(b, d->uri.ptr, d->uri.len));
        else
            CLI_TRY(cs_buf_puts(b, "null"));
        CLI_TRY(cs_buf_puts(b, ",\"lang\":"));
        if (d->lang.ptr)
            CLI_TRY(cs_json_put_str(b, d->lang.ptr, d->lang.len));
        else
            CLI_TRY(cs_buf_puts(b, "null"));
        CLI_TRY(cs_buf_puts(b, ",\"text\":"));
        CLI_TRY(cs_json_put_str(b, d->text.ptr, d->text.len));
        CLI_TRY(cs_buf_puts(b, "}\n"));
        return;
    }
    CLI_TRY(cs_buf_puts(b, "==> "));
    CLI_TRY(cs_buf_append(b, d->uri.ptr ? d->uri.ptr : "(no URI)", d->uri.ptr ? d->uri.len : 8));
    if (d->lang.ptr) {
        CLI_TRY(cs_buf_puts(b, " ["));
        CLI_TRY(cs_buf_append(b, d->lang.ptr, d->lang.len));
        CLI_TRY(cs_buf_putc(b, ']'));
    }
    CLI_TRY(cs_buf_puts(b, " <==\n"));
    CLI_TRY(cs_buf_append(b, d->text.ptr, d->text.len));
    if (d->text.len && d->text.ptr[d->text.len - 1] != '\n')
        CLI_TRY(cs_buf_putc(b, '\n'));
    CLI_TRY(cs_buf_putc(b, '\n'));
}

static int wet_file(const char *path, bool json, bool strict, cs_progress *prog,
                    uint64_t prog_base, cli_out *out, int *write_errno)
{
    cs_warc_reader_opts ro = {0};
    ro.types = CS_WARC_CONVERSION;
    ro.strict = strict;
    ro.threads = cli_threads(); /* inflate on a helper thread when there are CPUs */
    cs_warc_reader *r;
    cs_status st = cs_warc_reader_open(&r, path, &ro);
    if (st) {
        cli_err("%s: cannot open: %s", path,
                st == CS_ENOTFOUND ? "no such file" : cs_strerror(st));
        return CLI_EXIT_FATAL;
    }
    int rc = 0;
    cs_buf b;
    cs_buf_init(&b, 0);
    for (;;) {
        cs_warc_record *rec;
        st = cs_warc_reader_next(r, &rec);
        if (st == CS_DONE)
            break;
        cs_slice block = {NULL, 0};
        if (st == CS_OK)
            st = cs_warc_reader_block(r, 0, &block);
        if (st) {
            cli_err("%s (%s)", cs_warc_reader_errmsg(r), cs_strerror(st));
            if (st == CS_EIO || st == CS_ENOMEM) {
                rc = CLI_EXIT_FATAL;
                break;
            }
            rc = CLI_EXIT_PARTIAL;
            continue;
        }
        cs_wet_doc doc;
        if (cs_wet_doc_from(rec, block, &doc) != CS_OK)
            continue;
        cs_buf_reset(&b);
        put_doc(&b, &doc, json);
        cli_out_buf(out, &b);
        if (out->failed) {
            if (!*write_errno)
                *write_errno = errno ? errno : EIO;
            break;
        }
        if (prog->enabled) {
            cs_warc_reader_stats stats;
            cs_warc_reader_stats_get(r, &stats);
            cs_progress_update(prog, prog_base + stats.bytes_in);
        }
    }
    cs_warc_reader_stats stats;
    cs_warc_reader_stats_get(r, &stats);
    prog->done = prog_base + stats.bytes_in;
    cs_buf_cleanup(&b);
    cs_warc_reader_free(r);
    return rc;
}

int cmd_wet(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage_wet(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "text") != 0) {
        cli_err("wet: unknown subcommand '%s'", argv[1]);
        usage_wet(stderr);
        return CLI_EXIT_USAGE;
    }
    bool json = false, strict = false, progress = true;
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},        {"strict", no_argument, NULL, 's'},
        {"no-progress", no_argument, NULL, 'P'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': json = true; break;
        case 's': strict = true; break;
        case 'P': progress = false; break;
        case 'h': usage_wet(stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    int first = optind + 1;
    if (first >= argc) {
        cli_err("wet text: no input files (use '-' for standard input)");
        return CLI_EXIT_USAGE;
    }
    uint64_t total = 0;
    for (int i = first; i < argc; i++) {
        struct stat sb;
        if (strcmp(argv[i], "-") != 0 && stat(argv[i], &sb) == 0 && S_ISREG(sb.st_mode))
            total += (uint64_t)sb.st_size;
    }
    cs_progress prog;
    cs_progress_init(&prog, stderr, "wet text", "B", total);
    prog.enabled = prog.enabled && progress && !isatty(STDOUT_FILENO);
    cli_out out;
    cli_out_init(&out, STDOUT_FILENO);
    int rc = CLI_EXIT_OK, write_errno = 0;
    for (int i = first; i < argc && !out.failed; i++) {
        int frc = wet_file(argv[i], json, strict, &prog, prog.done, &out, &write_errno);
        if (frc > rc)
            rc = frc;
    }
    if (!out.failed) {
        cli_out_flush(&out);
        if (out.failed && !write_errno)
            write_errno = errno ? errno : EIO;
    }
    cs_progress_finish(&prog);
    cli_out_cleanup(&out);
    if (write_errno && write_errno != EPIPE && rc < CLI_EXIT_FATAL)
        rc = CLI_EXIT_FATAL;
    return rc;
}
