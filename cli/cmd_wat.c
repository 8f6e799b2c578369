/* cmd_wat.c - `crawlset wat links [--images] [--head] [--strict] FILE...`:
 * the links (or image candidates) of Common Crawl WAT files as JSON Lines. */
#include <getopt.h>
#include <string.h>
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
    const cs_wat_opts *wo; /* what to extract */
    cs_arena arena;  /* a record's link table and scratch */
    cs_buf line;     /* links are formatted here and handed to out in big pieces */
    cs_buf page;     /* the line prefix for the current page: {"page":URI,"path": */
    bool page_ready; /* page holds this record's prefix */
    uint64_t links;  /* links written */
    uint64_t skipped;/* links left out because their URL could not be resolved */
} wat_run;

/* Lines are handed to the writer in pieces this big: above half of its
 * buffer, so it writes them straight out instead of copying them. */
#define LINE_FLUSH (640u << 10)

/* True when s needs no JSON escaping: printable ASCII without '"' or '\\'
 * (URLs and most text). Eight bytes at a time (SWAR): the strings are
 * short, and most of them are checked once per output line. */
static inline bool plain_ascii(const char *s, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t x;
        memcpy(&x, s + i, 8);
        uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
        /* any byte < 0x20, == '"', == '\\' or >= 0x80 (exact "any byte" tests) */
        uint64_t bad = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b);
        if ((bad | x) & highs)
            return false;
    }
    for (; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
            return false;
    }
    return true;
}

/* Appends s as a JSON string: copied when plain, else escaped (and made
 * valid UTF-8) by cs_json_put_str. */
static void put_str(cs_buf *b, const char *s, size_t n)
{
    if (!plain_ascii(s, n)) {
        CLI_TRY(cs_json_put_str(b, s, n));
        return;
    }
    CLI_TRY(cs_buf_reserve(b, n + 2));
    char *w = b->data + b->len;
    *w++ = '"';
    memcpy(w, s, n);
    w[n] = '"';
    b->len += n + 2;
    b->data[b->len] = '\0';
}

/* Whether no byte of the word needs escaping (< 0x20, '"', '\\', >= 0x80). */
static inline bool word_plain(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    uint64_t bad = ((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b);
    return ((bad | x) & highs) == 0;
}

/* Copies s[0..n) to d while checking that it is plain (see plain_ascii);
 * false at the first byte that needs escaping (d then holds junk). One pass
 * instead of a check and a copy; the last partial word is done as an
 * overlapping whole one. */
static inline bool copy_plain(char *d, const char *s, size_t n)
{
    uint64_t x;
    if (n < 8) {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c < 0x20 || c >= 0x80 || c == '"' || c == '\\')
                return false;
            d[i] = (char)c;
        }
        return true;
    }
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, s + i, 8);
        if (!word_plain(x))
            return false;
        memcpy(d + i, &x, 8);
    }
    if (i < n) {
        memcpy(&x, s + n - 8, 8);
        if (!word_plain(x))
            return false;
        memcpy(d + n - 8, &x, 8);
    }
    return true;
}

/* Appends the literal key (with its quotes and colon) and the value. The
 * caller reserved `room` bytes, enough for every member copied as is (plus
 * 8 spare); escaping may take more, so room is reserved again after it. */
static inline void put_member(cs_buf *b, const char *key, size_t klen, cs_slice v, size_t room)
{
    if (!v.ptr)
        return;
    char *w = b->data + b->len;
    memcpy(w, key, klen);
    w[klen] = '"';
    if (copy_plain(w + klen + 1, v.ptr, v.len)) {
        w[klen + 1 + v.len] = '"';
        b->len += klen + v.len + 2;
        return;
    }
    b->len += klen;
    CLI_TRY(cs_json_put_str(b, v.ptr, v.len));
    CLI_TRY(cs_buf_reserve(b, room));
}
#define PUT_MEMBER(b, key, v, room) put_member((b), key, sizeof(key) - 1, (v), (room))
/* Hands the formatted lines to the writer; false once writing failed. */
static bool flush_lines(wat_run *w)
{
    if (w->line.len) /* (an empty cs_buf has no data pointer at all) */
        cli_out_buf(w->out, &w->line);
    cs_buf_reset(&w->line);
    return !w->out->failed;
}

static int emit_link(void *ud, const cs_wat_page *page, const cs_wat_link *l)
{
    wat_run *w = ud;
    if (!l->url.ptr) {
        w->skipped++;
        return 0;
    }
    if (!w->page_ready) { /* the line prefix, once per page */
        cs_buf_reset(&w->page);
        CLI_TRY(cs_buf_append(&w->page, "{\"page\":", 8));
        put_str(&w->page, page->target_uri.ptr ? page->target_uri.ptr : "",
                page->target_uri.len);
        CLI_TRY(cs_buf_append(&w->page, ",\"path\":", 8));
        w->page_ready = true;
    }
    cs_buf *b = &w->line;
    /* room for everything when nothing needs escaping */
    size_t need = w->page.len + l->path.len + l->url.len + l->alt.len + l->title.len +
                  l->text.len + 80;
    CLI_TRY(cs_buf_reserve(b, need));
    memcpy(b->data + b->len, w->page.data, w->page.len); /* {"page":"...","path": */
    b->len += w->page.len;
    cs_slice path = l->path.ptr ? l->path : (cs_slice){"", 0};
    put_member(b, "", 0, path, need);
    PUT_MEMBER(b, ",\"url\":", l->url, need);
    PUT_MEMBER(b, ",\"alt\":", l->alt, need);
    PUT_MEMBER(b, ",\"title\":", l->title, need);
    PUT_MEMBER(b, ",\"text\":", l->text, need);
    memcpy(b->data + b->len, "}\n", 3); /* with the NUL */
    b->len += 2;
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

static int wat_record(void *ud, cs_warc_reader *r, cs_warc_record *rec, const char *path)
{
    wat_run *w = ud;
    if (!is_json(rec->content_type))
        return 0;
    int rc = 0;
    cs_slice block;
    cs_status st = cs_warc_reader_block(r, 0, &block);
    if (st) {
        cli_warc_failed(r, st, &rc);
        return rc;
    }
    const char *uri = rec->target_uri && rec->target_uri[0] ? rec->target_uri : NULL;
    cs_arena_reset(&w->arena);
    w->page_ready = false;
    char err[256];
    st = cs_wat_extract(block.ptr, block.len, uri, w->wo, emit_link, w, &w->arena, NULL, err,
                        sizeof err);
    if (st == CS_ECANCELED)
        return CLI_STOP; /* output failed */
    if (st) {
        cli_err("%s: offset %llu: WAT JSON %s (%s)", path, (unsigned long long)rec->offset, err,
                cs_strerror(st));
        rc = CLI_EXIT_PARTIAL;
    }
    return w->out->failed ? CLI_STOP : rc;
}

int cmd_wat(int argc, char **argv)
{
    int rc = cli_subcommand_check(argc, argv, "wat", "links", usage_wat);
    if (rc >= 0)
        return rc;
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
    if (!cli_have_inputs(argc, first, "wat", "links"))
        return CLI_EXIT_USAGE;
    cs_progress prog;
    cs_progress_init(&prog, stderr, "wat links", "B", cli_input_bytes(argv + first, argc - first));
    prog.enabled = prog.enabled && progress && !isatty(STDOUT_FILENO);

    cli_out out;
    cli_out_init(&out, STDOUT_FILENO);
    wat_run w;
    memset(&w, 0, sizeof w);
    w.out = &out;
    w.wo = &wo;
    cs_arena_init(&w.arena, (size_t)1 << 30);
    cs_buf_init(&w.line, 0);
    cs_buf_init(&w.page, 0);
    cli_warc_loop loop = {.types = CS_WARC_METADATA, .strict = strict, .record = wat_record,
                          .ud = &w, .out = &out, .prog = &prog};
    rc = cli_warc_run(&loop, argv + first, argc - first);
    if (flush_lines(&w))
        cli_out_flush(&out);
    cs_progress_finish(&prog);
    int orc = cli_out_close(&out);
    cs_arena_cleanup(&w.arena);
    cs_buf_cleanup(&w.line);
    cs_buf_cleanup(&w.page);
    return orc > rc ? orc : rc;
}
