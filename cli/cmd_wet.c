/* cmd_wet.c - `crawlset wet text [--json] FILE...`: the URI, language and
 * text of each conversion record of Common Crawl WET files. */
#include <getopt.h>
#include <string.h>
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

typedef struct wet_run {
    bool json;    /* --json */
    cli_out *out; /* stdout */
    cs_buf b;     /* the current document's output */
} wet_run;

static int wet_record(void *ud, cs_warc_reader *r, cs_warc_record *rec, const char *path)
{
    (void)path;
    wet_run *w = ud;
    cs_slice block;
    cs_status st = cs_warc_reader_block(r, 0, &block);
    if (st) {
        int rc = 0;
        cli_warc_failed(r, st, &rc);
        return rc;
    }
    cs_wet_doc doc;
    if (cs_wet_doc_from(rec, block, &doc) != CS_OK)
        return 0;
    cs_buf_reset(&w->b);
    put_doc(&w->b, &doc, w->json);
    cli_out_buf(w->out, &w->b);
    return w->out->failed ? CLI_STOP : 0;
}

int cmd_wet(int argc, char **argv)
{
    int rc = cli_subcommand_check(argc, argv, "wet", "text", usage_wet);
    if (rc >= 0)
        return rc;
    bool strict = false, progress = true;
    wet_run w = {0};
    static const struct option longopts[] = {
        {"json", no_argument, NULL, 'j'},        {"strict", no_argument, NULL, 's'},
        {"no-progress", no_argument, NULL, 'P'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'j': w.json = true; break;
        case 's': strict = true; break;
        case 'P': progress = false; break;
        case 'h': usage_wet(stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    int first = optind + 1;
    if (!cli_have_inputs(argc, first, "wet", "text"))
        return CLI_EXIT_USAGE;
    cs_progress prog;
    cs_progress_init(&prog, stderr, "wet text", "B", cli_input_bytes(argv + first, argc - first));
    prog.enabled = prog.enabled && progress && !isatty(STDOUT_FILENO);
    cli_out out;
    cli_out_init(&out, STDOUT_FILENO);
    w.out = &out;
    cs_buf_init(&w.b, 0);
    cli_warc_loop loop = {.types = CS_WARC_CONVERSION, .strict = strict, .record = wet_record,
                          .ud = &w, .out = &out, .prog = &prog};
    rc = cli_warc_run(&loop, argv + first, argc - first);
    cli_out_flush(&out);
    cs_progress_finish(&prog);
    int orc = cli_out_close(&out);
    cs_buf_cleanup(&w.b);
    return orc > rc ? orc : rc;
}
