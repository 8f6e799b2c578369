/* cmd_wat.c - `crawlset wat links [--images] [--head] [--strict] FILE...`:
 * the links (or image candidates) of Common Crawl WAT files as JSON Lines. */
#include <errno.h>
#include <getopt.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static void usage_wat(FILE *f)
{
    fprintf(f,
            "usage: crawlset wat links [OPTIONS] FILE...\n"
            "\n"
            "Prints the links found in Common Crawl WAT files (the HTML-Metadata of each\n"
            "response) as JSON Lines, one object per link:\n"
            "\n"
            "  {\"page\":\"https://www.example.com/\",\"path\":\"IMG@/src\",\n"
            "   \"url\":\"https://www.example.com/img/logo.png\",\"alt\":\"Example logo\"}\n"
            "\n"
            "page is the page's URI; path says where the link was found (A@/href,\n"
            "IMG@/src, FORM@/action, ...); url is resolved against the page's <base> or\n"
            "URI (RFC 3986); alt, title and text appear when the page had them. Links\n"
            "that cannot be resolved to an absolute URL are left out.\n"
            "FILE may be plain or gzipped (one member per record), or '-' for standard input.\n"
            "\n"
            "options:\n"
            "  --images        only image candidates: IMG@/src links with a non-blank alt\n"
            "  --head          also the <link> elements of the page head (LINK@/href)\n"
            "  --strict        refuse WARC quirks, and WAT members of unexpected JSON types\n"
            "  --no-progress   no progress line (it is drawn only when stderr is a terminal\n"
            "                  and stdout is not)\n"
            "  -h, --help      this help\n"
            "\n"
            "Malformed records are reported on stderr as 'FILE: offset N: what' and skipped.\n"
            "Exit codes: 0 ok, 1 some records had errors, 2 usage error, 3 fatal error\n"
            "(unreadable file, write error, out of memory).\n");
}

typedef struct wat_run {
    cli_out *out;
    cs_buf line;     /* links are formatted here and handed to out in big pieces */
    cs_buf page;     /* the current page URI as a JSON string */
    bool page_ready; /* page holds this record's URI */
    int write_errno; /* errno of the first failed write; 0 while none */
    uint64_t links;  /* links written */
    uint64_t skipped;/* links left out because their URL could not be resolved */
} wat_run;

#define LINE_FLUSH (256u << 10)

static void put_member(cs_buf *b, const char *key, cs_slice v)
{
    if (!v.ptr)
        return;
    CLI_TRY(cs_buf_puts(b, key));
    CLI_TRY(cs_json_put_str(b, v.ptr, v.len));
}

/* Hands the formatted lines to the writer; false once writing failed. */
static bool flush_lines(wat_run *w)
{
    if (w->line.len) /* (an empty cs_buf has no data pointer at all) */
        cli_out_buf(w->out, &w->line);
    cs_buf_reset(&w->line);
    if (w->out->failed && !w->write_errno)
        w->write_errno = errno ? errno : EIO;
    return !w->out->failed;
}

static int emit_link(void *ud, const cs_wat_page *page, const cs_wat_link *l)
{
    wat_run *w = ud;
    if (!l->url.ptr) {
        w->skipped++;
        return 0;
    }
    if (!w->page_ready) {
        cs_buf_reset(&w->page);
        CLI_TRY(cs_json_put_str(&w->page, page->target_uri.ptr ? page->target_uri.ptr : "",
                                page->target_uri.len));
        w->page_ready = true;
    }
    cs_buf *b = &w->line;
    CLI_TRY(cs_buf_puts(b, "{\"page\":"));
    CLI_TRY(cs_buf_append(b, w->page.data, w->page.len));
    CLI_TRY(cs_buf_puts(b, ",\"path\":"));
    CLI_TRY(cs_json_put_str(b, l->path.ptr ? l->path.ptr : "", l->path.len));
    put_member(b, ",\"url\":", l->url);
    put_member(b, ",\"alt\":", l->alt);
    put_member(b, ",\"title\":", l->title);
    put_member(b, ",\"text\":", l->text);
    CLI_TRY(cs_buf_puts(b, "}\n"));
    w->links++;
    if (b->len >= LINE_FLUSH && !flush_lines(w))
        return 1; /* stop: nowhere to write */
    return 0;
}

static bool is_json(const char *ct)
{
    if (!ct)
        return true; /* be lenient: try to parse it */
    while (*ct == ' ')
        ct++;
    return strncasecmp(ct, "application/json", 16) == 0;
}

/* Reads one WAT file; returns the exit code it deserves. */
static int wat_file(const char *path, const cs_wat_opts *wo, bool strict, cs_progress *prog,
                    uint64_t prog_base, wat_run *w)
{
    cs_warc_reader_opts ro = {0};
    ro.types = CS_WARC_METADATA;
    ro.strict = strict;
    cs_warc_reader *r;
    cs_status st = cs_warc_reader_open(&r, path, &ro);
    if (st) {
        cli_err("%s: cannot open: %s", path,
                st == CS_ENOTFOUND ? "no such file" : cs_strerror(st));
        return CLI_EXIT_FATAL;
    }
    cs_arena arena;
    cs_arena_init(&arena, (size_t)1 << 30); /* a record's link table and scratch */
    int rc = 0;
    char err[256];
    for (;;) {
        cs_warc_record *rec;
        st = cs_warc_reader_next(r, &rec);
        if (st == CS_DONE)
            break;
        if (st) {
            cli_err("%s (%s)", cs_warc_reader_errmsg(r), cs_strerror(st));
            if (st == CS_EIO || st == CS_ENOMEM) {
                rc = CLI_EXIT_FATAL;
                break;
            }
            rc = CLI_EXIT_PARTIAL;
            continue;
        }
        if (!is_json(rec->content_type))
            continue;
        cs_slice block;
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
        const char *uri = rec->target_uri && rec->target_uri[0] ? rec->target_uri : NULL;
        cs_arena_reset(&arena);
        w->page_ready = false;
        st = cs_wat_extract(block.ptr, block.len, uri, wo, emit_link, w, &arena, NULL, err,
                            sizeof err);
        if (st == CS_ECANCELED)
            break; /* output failed */
        if (st) {
            cli_err("%s: offset %llu: WAT JSON %s (%s)", path, (unsigned long long)rec->offset,
                    err, cs_strerror(st));
            rc = CLI_EXIT_PARTIAL;
        }
        if (prog->enabled) {
            cs_warc_reader_stats stats;
            cs_warc_reader_stats_get(r, &stats);
            cs_progress_update(prog, prog_base + stats.bytes_in);
        }
        if (w->out->failed)
            break;
    }
    cs_warc_reader_stats stats;
    cs_warc_reader_stats_get(r, &stats);
    prog->done = prog_base + stats.bytes_in;
    cs_arena_cleanup(&arena);
    cs_warc_reader_free(r);
    return rc;
}

int cmd_wat(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage_wat(argc < 2 ? stderr : stdout);
        return argc < 2 ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    if (strcmp(argv[1], "links") != 0) {
        cli_err("wat: unknown subcommand '%s'", argv[1]);
        usage_wat(stderr);
        return CLI_EXIT_USAGE;
    }
    cs_wat_opts wo = {0};
    bool strict = false, progress = true;
    static const struct option longopts[] = {
        {"images", no_argument, NULL, 'i'},      {"head", no_argument, NULL, 'H'},
        {"strict", no_argument, NULL, 's'},      {"no-progress", no_argument, NULL, 'P'},
        {"help", no_argument, NULL, 'h'},        {NULL, 0, NULL, 0},
    };
    optind = 1;
    int c;
    while ((c = getopt_long(argc - 1, argv + 1, "h", longopts, NULL)) != -1) {
        switch (c) {
        case 'i': wo.images_only = true; break;
        case 'H': wo.head_links = true; break;
        case 's': strict = wo.strict = true; break;
        case 'P': progress = false; break;
        case 'h': usage_wat(stdout); return CLI_EXIT_OK;
        default: return CLI_EXIT_USAGE;
        }
    }
    int first = optind + 1;
    if (first >= argc) {
        cli_err("wat links: no input files (use '-' for standard input)");
        return CLI_EXIT_USAGE;
    }

    uint64_t total = 0;
    for (int i = first; i < argc; i++) {
        struct stat sb;
        if (strcmp(argv[i], "-") != 0 && stat(argv[i], &sb) == 0 && S_ISREG(sb.st_mode))
            total += (uint64_t)sb.st_size;
    }
    cs_progress prog;
    cs_progress_init(&prog, stderr, "wat links", "B", total);
    prog.enabled = prog.enabled && progress && !isatty(STDOUT_FILENO);

    cli_out out;
    cli_out_init(&out, STDOUT_FILENO);
    wat_run w;
    memset(&w, 0, sizeof w);
    w.out = &out;
    cs_buf_init(&w.line, 0);
    cs_buf_init(&w.page, 0);
    int rc = CLI_EXIT_OK;
    for (int i = first; i < argc && !out.failed; i++) {
        int frc = wat_file(argv[i], &wo, strict, &prog, prog.done, &w);
        if (frc > rc)
            rc = frc;
    }
    if (flush_lines(&w)) {
        cli_out_flush(&out);
        if (out.failed && !w.write_errno)
            w.write_errno = errno ? errno : EIO;
    }
    cs_progress_finish(&prog);
    cli_out_cleanup(&out);
    /* a closed pipe (| head) is not an error; other write errors are fatal */
    if (w.write_errno && w.write_errno != EPIPE && rc < CLI_EXIT_FATAL)
        rc = CLI_EXIT_FATAL;
    cs_buf_cleanup(&w.line);
    cs_buf_cleanup(&w.page);
    return rc;
}
