/* watrows.c - WAT files as a row source: the image candidates of each
 * metadata record (IMG@/src with a non-empty alt), as rows with the
 * resolved URL, the alt text as caption and the page URL as column "page". */
#include <string.h>

#include "crawlset/pipe.h"
#include "crawlset/wat.h"
#include "crawlset/warc.h"

typedef struct cand {
    const char *url, *alt, *page; /* in the arena */
} cand;

struct cs_pipe_wat_rows {
    char **paths;
    size_t npaths, next_path;
    unsigned threads;
    cs_warc_reader *r;
    cs_arena arena;        /* per record: the extractor's scratch and our copies */
    cand *cands;           /* this record's candidates */
    size_t ncands, capcands, pos;
    cs_urllist_row row;    /* handed out */
    cs_urllist_column col; /* "page" */
    uint64_t next_index;
    uint64_t records, errors;
    bool oom;
};

cs_status cs_pipe_wat_rows_new(cs_pipe_wat_rows **out, const char *const *paths, size_t npaths,
                          unsigned threads)
{
    cs_pipe_wat_rows *w = cs_calloc(1, sizeof *w);
    if (!w)
        return CS_ENOMEM;
    w->paths = cs_calloc(npaths ? npaths : 1, sizeof *w->paths);
    if (!w->paths) {
        cs_free(w);
        return CS_ENOMEM;
    }
    for (size_t i = 0; i < npaths; i++) {
        w->paths[i] = cs_strdup(paths[i]);
        if (!w->paths[i]) {
            w->npaths = i;
            cs_pipe_wat_rows_free(w);
            return CS_ENOMEM;
        }
    }
    w->npaths = npaths;
    w->threads = threads;
    cs_arena_init(&w->arena, 256u << 20);
    *out = w;
    return CS_OK;
}

void cs_pipe_wat_rows_free(cs_pipe_wat_rows *w)
{
    if (!w)
        return;
    cs_warc_reader_free(w->r);
    for (size_t i = 0; i < w->npaths; i++)
        cs_free(w->paths[i]);
    cs_free(w->paths);
    cs_free(w->cands);
    cs_arena_cleanup(&w->arena);
    cs_free(w);
}

void cs_pipe_wat_rows_counts(const cs_pipe_wat_rows *w, uint64_t *records, uint64_t *errors)
{
    if (records)
        *records = w->records;
    if (errors)
        *errors = w->errors;
}

static int on_link(void *ud, const cs_wat_page *page, const cs_wat_link *l)
{
    cs_pipe_wat_rows *w = ud;
    if (!l->url.ptr)
        return 0; /* not resolvable */
    if (w->ncands == w->capcands) {
        size_t nc = w->capcands ? w->capcands * 2 : 64;
        cand *c = cs_realloc(w->cands, nc * sizeof *c);
        if (!c) {
            w->oom = true;
            return 1;
        }
        w->cands = c;
        w->capcands = nc;
    }
    cand *c = &w->cands[w->ncands];
    cs_slice alt = cs_slice_trim(l->alt);
    c->url = cs_arena_strndup(&w->arena, l->url.ptr, l->url.len);
    c->alt = cs_arena_strndup(&w->arena, alt.ptr, alt.len);
    c->page = page->target_uri.ptr
                  ? cs_arena_strndup(&w->arena, page->target_uri.ptr, page->target_uri.len)
                  : NULL;
    if (!c->url || !c->alt) {
        w->oom = true;
        return 1;
    }
    w->ncands++;
    return 0;
}

/* Reads records until one yields candidates; false at the end of input. */
static cs_status refill(cs_pipe_wat_rows *w)
{
    for (;;) {
        if (!w->r) {
            if (w->next_path >= w->npaths)
                return CS_DONE;
            cs_warc_reader_opts ro = {.types = CS_WARC_METADATA, .threads = w->threads};
            const char *p = w->paths[w->next_path++];
            cs_status st = cs_warc_reader_open(&w->r, p, &ro);
            if (st) {
                cs_log(CS_LOG_ERROR, "%s: cannot open: %s", p, cs_strerror(st));
                w->errors++;
                w->r = NULL;
                continue;
            }
        }
        cs_warc_record *rec;
        cs_status st = cs_warc_reader_next(w->r, &rec);
        if (st == CS_DONE) {
            cs_warc_reader_free(w->r);
            w->r = NULL;
            continue;
        }
        if (st == CS_EIO || st == CS_ENOMEM)
            return st;
        if (st) {
            cs_log(CS_LOG_WARN, "%s", cs_warc_reader_errmsg(w->r));
            w->errors++;
            continue;
        }
        w->records++;
        cs_slice block;
        st = cs_warc_reader_block(w->r, 0, &block);
        if (st) {
            cs_log(CS_LOG_WARN, "%s", cs_warc_reader_errmsg(w->r));
            w->errors++;
            continue;
        }
        if (!rec->content_type || !strstr(rec->content_type, "json"))
            continue;
        cs_arena_reset(&w->arena);
        w->ncands = w->pos = 0;
        cs_wat_opts wo = {.images_only = true};
        char err[CS_ERRMSG_MAX];
        st = cs_wat_extract(block.ptr, block.len, rec->target_uri, &wo, on_link, w, &w->arena,
                            NULL, err, sizeof err);
        if (w->oom)
            return CS_ENOMEM;
        if (st) {
            cs_log(CS_LOG_WARN, "%s: offset %llu: WAT JSON %s", cs_warc_reader_name(w->r),
                   (unsigned long long)rec->offset, err);
            w->errors++;
            w->ncands = 0;
            continue;
        }
        if (w->ncands)
            return CS_OK;
    }
}

cs_status cs_pipe_wat_rows_next(void *ud, const cs_urllist_row **row)
{
    cs_pipe_wat_rows *w = ud;
    if (w->pos >= w->ncands) {
        cs_status st = refill(w);
        if (st)
            return st;
    }
    cand *c = &w->cands[w->pos++];
    w->col.name = "page";
    w->col.value = c->page;
    w->col.json = NULL;
    w->row.index = w->next_index++;
    w->row.url = c->url;
    w->row.caption = c->alt;
    w->row.columns = &w->col;
    w->row.ncolumns = 1;
    w->row.line = 0;
    *row = &w->row;
    return CS_OK;
}
