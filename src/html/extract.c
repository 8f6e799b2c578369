/* extract.c - Discourse "cooked" post HTML to text, on the tokenizer.
 *
 * The text follows chats-crawler's conventions so that its users can switch:
 * images become "[img NAME]", links "[link URL]" (the link's text is
 * replaced, as chats-crawler does), blockquotes `Quote:"..."`, the quote
 * title (avatar + "user:") is dropped. Beyond it: paragraphs and line breaks
 * are kept as newlines, <pre> verbatim, oneboxes become one "[link URL]" of
 * their source, lightbox chrome (file name, size) is dropped and the image
 * named by the lightbox's full-size link, emoji are their alt text, and
 * mentions / hashtags keep their text.
 *
 * Element structure is tracked with a small open-element stack (an end tag
 * closes up to its matching open element, as browsers do for these simple
 * cases); no tree is built. */
#include <string.h>

#include "crawlset/html.h"
#include "crawlset/url.h"

#define MAX_DEPTH 256
#define MAX_LIST 4096 /* images or links kept per post */

enum { F_SKIP = 1, F_PRE = 2, F_QUOTE = 4, F_LIGHTBOX = 8, F_BLOCK2 = 16, F_BLOCK1 = 32 };

typedef struct elem {
    char name[12];
    unsigned flags;
} elem;

typedef struct ex {
    cs_html_post *p;
    const char *base;
    size_t max_text;
    bool truncated;
    cs_html_img_name_fn img_name;
    void *ud;
    elem stack[MAX_DEPTH];
    size_t depth;
    size_t overflow;     /* elements past MAX_DEPTH (not tracked) */
    unsigned skip;       /* open elements with F_SKIP */
    unsigned pre;        /* open <pre> */
    int pending;         /* line breaks wanted before the next text (0-2) */
    bool space;          /* a space wanted before the next text */
    bool onebox_pending; /* an onebox without a source: its first link names it */
    char *lightbox;      /* href of the open a.lightbox (owned) */
    cs_buf scratch;
    cs_status st;
} ex;

void cs_html_post_init(cs_html_post *p)
{
    memset(p, 0, sizeof *p);
    cs_buf_init(&p->text, 0);
}

static void free_list(char **l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cs_free(l[i]);
    cs_free(l);
}

void cs_html_post_cleanup(cs_html_post *p)
{
    if (!p)
        return;
    cs_buf_cleanup(&p->text);
    free_list(p->images, p->nimages);
    free_list(p->links, p->nlinks);
    memset(p, 0, sizeof *p);
}

static bool has_class(const cs_html_token *t, const char *cls)
{
    size_t n = strlen(cls);
    for (size_t i = 0; i < t->nattrs; i++) {
        if (!cs_slice_eq(t->attrs[i].name, "class"))
            continue;
        const char *s = t->attrs[i].value.ptr, *e = s + t->attrs[i].value.len;
        while (s < e) {
            while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\f' || *s == '\r'))
                s++;
            const char *w = s;
            while (s < e && !(*s == ' ' || *s == '\t' || *s == '\n' || *s == '\f' || *s == '\r'))
                s++;
            if ((size_t)(s - w) == n && memcmp(w, cls, n) == 0)
                return true;
        }
    }
    return false;
}

static const cs_slice *attr(const cs_html_token *t, const char *name)
{
    for (size_t i = 0; i < t->nattrs; i++)
        if (cs_slice_eq(t->attrs[i].name, name))
            return &t->attrs[i].value;
    return NULL;
}

/* ---- text building ---- */

static void out(ex *x, const char *s, size_t n)
{
    cs_buf *b = &x->p->text;
    if (x->truncated)
        return;
    if (b->len + n > x->max_text) {
        x->truncated = true;
        n = x->max_text - b->len;
    }
    if (n && cs_buf_append(b, s, n) == CS_ENOMEM)
        x->st = CS_ENOMEM;
}

static void trim_trailing_spaces(ex *x)
{
    cs_buf *b = &x->p->text;
    while (b->len && (b->data[b->len - 1] == ' ' || b->data[b->len - 1] == '\t'))
        b->data[--b->len] = 0;
}

/* Before visible text: the pending breaks or space. */
static void lead(ex *x)
{
    cs_buf *b = &x->p->text;
    if (x->pending && b->len >= 7 && memcmp(b->data + b->len - 7, "Quote:\"", 7) == 0) {
        x->pending = 0; /* the first line of a quote follows its opening */
    } else if (x->pending && b->len) {
        trim_trailing_spaces(x);
        int have = 0;
        while (have < (int)b->len && have < 2 && b->data[b->len - 1 - (size_t)have] == '\n')
            have++;
        for (int i = have; i < x->pending; i++)
            out(x, "\n", 1);
        x->space = false;
    } else if (x->space && b->len && b->data[b->len - 1] != '\n' && b->data[b->len - 1] != ' ') {
        out(x, " ", 1);
    }
    x->pending = 0;
    x->space = false;
}

static void want_break(ex *x, int k)
{
    if (k > x->pending)
        x->pending = k;
}

static bool is_sp(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\f' || c == '\r'; }

static void put_text(ex *x, const char *s, size_t n)
{
    if (x->pre) {
        if (n) {
            lead(x);
            out(x, s, n);
        }
        return;
    }
    size_t i = 0;
    while (i < n) {
        if (is_sp(s[i])) {
            x->space = true;
            while (i < n && is_sp(s[i]))
                i++;
            continue;
        }
        size_t j = i;
        while (j < n && !is_sp(s[j]))
            j++;
        lead(x);
        out(x, s + i, j - i);
        i = j;
    }
}

static void put_lit(ex *x, const char *s)
{
    lead(x);
    out(x, s, strlen(s));
}

/* ---- URLs and lists ---- */

static char *resolve(ex *x, cs_slice ref)
{
    size_t blen = x->base ? strlen(x->base) : 0;
    size_t cap = CS_URL_RESOLVE_MAX(blen, ref.len);
    cs_buf_reset(&x->scratch);
    if (cs_buf_reserve(&x->scratch, cap)) {
        x->st = CS_ENOMEM;
        return NULL;
    }
    size_t n;
    if (cs_url_resolve(x->base, blen, ref.ptr, ref.len, x->scratch.data, cap, &n))
        return NULL;
    char *r = cs_strndup(x->scratch.data, n);
    if (!r)
        x->st = CS_ENOMEM;
    return r;
}

static void add_unique(ex *x, char ***list, size_t *n, const char *s)
{
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*list)[i], s))
            return;
    if (*n >= MAX_LIST)
        return;
    char *d = cs_strdup(s);
    char **nl = d ? cs_realloc(*list, (*n + 1) * sizeof **list) : NULL;
    if (!nl) {
        cs_free(d);
        x->st = CS_ENOMEM;
        return;
    }
    nl[(*n)++] = d;
    *list = nl;
}

static bool has_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    for (size_t i = 0; i < n; i++) {
        char ch = url[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch + 32);
        if (ch != scheme[i])
            return false;
    }
    return true;
}

/* Links that lead somewhere: not javascript: or data: (inline payloads). */
static bool link_ok(const char *url)
{
    return !has_scheme(url, "javascript:") && !has_scheme(url, "data:");
}

/* Images that can be fetched: http(s) only (data: URIs are dropped). */
static bool img_ok(const char *url)
{
    return has_scheme(url, "http://") || has_scheme(url, "https://");
}

static void put_link(ex *x, const char *url)
{
    if (!link_ok(url))
        return;
    add_unique(x, &x->p->links, &x->p->nlinks, url);
    lead(x);
    out(x, "[link ", 6);
    out(x, url, strlen(url));
    out(x, "]", 1);
}

static void put_img(ex *x, const char *url)
{
    if (!img_ok(url))
        return;
    add_unique(x, &x->p->images, &x->p->nimages, url);
    cs_buf name;
    cs_buf_init(&name, 4096);
    bool named = x->img_name && x->img_name(x->ud, url, &name) && name.len;
    lead(x);
    out(x, "[img ", 5);
    if (named)
        out(x, name.data, name.len);
    else
        out(x, url, strlen(url));
    out(x, "]", 1);
    cs_buf_cleanup(&name);
}

/* ---- elements ---- */

static bool is_void(cs_slice n)
{
    static const char *const v[] = {"area", "base", "br", "col", "embed", "hr", "img", "input",
                                    "link", "meta", "source", "track", "wbr", "param", NULL};
    for (int i = 0; v[i]; i++)
        if (cs_slice_eq(n, v[i]))
            return true;
    return false;
}

static int block_kind(cs_slice n)
{
    static const char *const two[] = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "pre",
                                      "blockquote", "ul", "ol", "table", "aside", "details",
                                      NULL};
    static const char *const one[] = {"div", "li", "tr", "dt", "dd", "summary", "header",
                                      "article", "section", "figure", "figcaption", NULL};
    for (int i = 0; two[i]; i++)
        if (cs_slice_eq(n, two[i]))
            return 2;
    for (int i = 0; one[i]; i++)
        if (cs_slice_eq(n, one[i]))
            return 1;
    return 0;
}

static void push(ex *x, cs_slice name, unsigned flags)
{
    if (x->depth >= MAX_DEPTH) {
        x->overflow++;
        return;
    }
    elem *e = &x->stack[x->depth++];
    size_t n = name.len < sizeof e->name - 1 ? name.len : sizeof e->name - 1;
    memcpy(e->name, name.ptr, n);
    e->name[n] = 0;
    e->flags = flags;
    if (flags & F_SKIP)
        x->skip++;
    if (flags & F_PRE)
        x->pre++;
}

static void close_elem(ex *x, elem *e)
{
    if (e->flags & F_SKIP) {
        x->skip--;
        if (!x->skip)
            x->onebox_pending = false;
    }
    if (e->flags & F_PRE)
        x->pre--;
    if (e->flags & F_LIGHTBOX) {
        cs_free(x->lightbox);
        x->lightbox = NULL;
    }
    if (e->flags & F_QUOTE) {
        trim_trailing_spaces(x);
        cs_buf *b = &x->p->text;
        while (b->len && b->data[b->len - 1] == '\n')
            b->data[--b->len] = 0;
        x->pending = 0;
        x->space = false;
        out(x, "\"", 1);
    }
    if (e->flags & F_BLOCK2)
        want_break(x, 2);
    else if (e->flags & F_BLOCK1)
        want_break(x, 1);
}

static void end_tag(ex *x, cs_slice name)
{
    if (x->overflow) {
        x->overflow--;
        return;
    }
    size_t i = x->depth;
    while (i > 0) {
        elem *e = &x->stack[i - 1];
        if (strlen(e->name) == name.len && memcmp(e->name, name.ptr, name.len) == 0)
            break;
        i--;
    }
    if (i == 0)
        return; /* stray end tag */
    while (x->depth >= i) {
        close_elem(x, &x->stack[x->depth - 1]);
        x->depth--;
        if (x->depth == 0)
            break;
    }
}

static void start_tag(ex *x, const cs_html_token *t)
{
    cs_slice n = t->name;
    bool v = is_void(n);
    unsigned flags = 0;
    int bk = block_kind(n);
    if (bk == 2)
        flags |= F_BLOCK2;
    else if (bk == 1)
        flags |= F_BLOCK1;

    if (x->skip) {
        const cs_slice *href = attr(t, "href");
        if (x->onebox_pending && cs_slice_eq(n, "a") && href && href->len) {
            char *u = resolve(x, *href);
            if (u)
                put_link(x, u);
            cs_free(u);
            x->onebox_pending = false;
        }
        if (!v && !t->self_closing)
            push(x, n, flags | F_SKIP);
        return;
    }
    if (bk)
        want_break(x, bk);

    if (cs_slice_eq(n, "br")) {
        lead(x);
        out(x, "\n", 1);
        return;
    }
    if (cs_slice_eq(n, "hr")) {
        want_break(x, 2);
        return;
    }
    if (cs_slice_eq(n, "img")) {
        const cs_slice *src = attr(t, "src");
        if (has_class(t, "emoji")) {
            const cs_slice *alt = attr(t, "alt");
            if (alt)
                put_text(x, alt->ptr, alt->len);
            return;
        }
        if (has_class(t, "avatar") || !src || !src->len)
            return;
        if (x->lightbox) {
            put_img(x, x->lightbox);
            return;
        }
        char *u = resolve(x, *src);
        if (u)
            put_img(x, u);
        cs_free(u);
        return;
    }
    if (v)
        return;

    if (cs_slice_eq(n, "script") || cs_slice_eq(n, "style") || cs_slice_eq(n, "template") ||
        cs_slice_eq(n, "svg") || cs_slice_eq(n, "noscript")) {
        flags |= F_SKIP;
    } else if (cs_slice_eq(n, "pre")) {
        flags |= F_PRE;
    } else if (cs_slice_eq(n, "blockquote")) {
        put_lit(x, "Quote:\"");
        flags |= F_QUOTE;
    } else if (has_class(t, "onebox") || has_class(t, "onebox-body")) {
        const cs_slice *src = attr(t, "data-onebox-src");
        if (!src)
            src = attr(t, "href");
        if (src) {
            char *u = resolve(x, *src);
            if (u)
                put_link(x, u);
            cs_free(u);
        } else {
            x->onebox_pending = true; /* its first link names it */
        }
        flags |= F_SKIP;
    } else if (has_class(t, "title") || has_class(t, "meta") || has_class(t, "quote-controls") ||
               has_class(t, "lightbox-wrapper-meta")) {
        flags |= F_SKIP;
    } else if (cs_slice_eq(n, "a")) {
        const cs_slice *href = attr(t, "href");
        if (has_class(t, "lightbox") && href) {
            cs_free(x->lightbox);
            x->lightbox = resolve(x, *href);
            flags |= F_LIGHTBOX;
        } else if (has_class(t, "mention") || has_class(t, "hashtag") ||
                   has_class(t, "mention-group") || !href || !href->len ||
                   (href->ptr[0] == '#')) {
            /* keep the text */
        } else {
            char *u = resolve(x, *href);
            if (u)
                put_link(x, u);
            cs_free(u);
            flags |= F_SKIP; /* chats-crawler replaces the link's content */
        }
    }
    push(x, n, flags);
}

static cs_status on_tok(void *ud, const cs_html_token *t)
{
    ex *x = ud;
    switch (t->type) {
    case CS_HTML_CHARACTER:
        if (!x->skip)
            put_text(x, t->data.ptr, t->data.len);
        break;
    case CS_HTML_START_TAG:
        start_tag(x, t);
        break;
    case CS_HTML_END_TAG:
        if (cs_slice_eq(t->name, "br") && !x->skip) {
            lead(x);
            out(x, "\n", 1);
        } else {
            end_tag(x, t->name);
        }
        break;
    default:
        break;
    }
    return x->st;
}

cs_status cs_html_post_extract(const char *html, size_t len, const char *base, size_t max_text,
                               cs_html_img_name_fn img_name, void *ud, cs_html_post *p,
                               bool *truncated)
{
    ex *x = cs_calloc(1, sizeof *x);
    if (!x)
        return CS_ENOMEM;
    x->p = p;
    size_t start = p->text.len;
    x->base = base;
    x->max_text = (max_text ? max_text : 1024 * 1024) + p->text.len;
    x->img_name = img_name;
    x->ud = ud;
    cs_buf_init(&x->scratch, 0);
    cs_html_tokenizer *t = NULL;
    cs_html_opts o;
    cs_html_opts_init(&o);
    o.max_value = 64 * 1024;
    cs_status st = cs_html_tokenizer_new(&t, &o);
    if (st == CS_OK)
        st = cs_html_tokenize(t, html, len, on_tok, x);
    while (st == CS_OK && x->depth) {
        close_elem(x, &x->stack[x->depth - 1]);
        x->depth--;
    }
    if (st == CS_OK)
        st = x->st;
    /* trim */
    cs_buf *b = &p->text;
    while (b->len > start && is_sp(b->data[b->len - 1]))
        b->data[--b->len] = 0;
    size_t lead_ws = start;
    while (lead_ws < b->len && is_sp(b->data[lead_ws]))
        lead_ws++;
    if (lead_ws > start) {
        memmove(b->data + start, b->data + lead_ws, b->len - lead_ws + 1);
        b->len -= lead_ws - start;
    }
    if (truncated)
        *truncated = x->truncated;
    cs_html_tokenizer_free(t);
    cs_free(x->lightbox);
    cs_buf_cleanup(&x->scratch);
    cs_free(x);
    return st;
}
