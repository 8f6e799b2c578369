/* fuzz_html.c - the HTML tokenizer (every initial state, CDATA on and off)
 * on arbitrary bytes, whole and streamed in pieces, which must give the same
 * tokens and errors (a differential check: a mismatch traps); then the
 * Discourse post extractor. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

typedef struct ser {
    cs_buf b;     /* tokens serialized, adjacent characters merged */
    bool in_chars;
    uint64_t errors;
} ser;

static cs_status tok_cb(void *ud, const cs_html_token *tok)
{
    ser *s = ud;
    if (tok->type == CS_HTML_CHARACTER) {
        if (!s->in_chars)
            cs_buf_putc(&s->b, 'C');
        s->in_chars = true;
        cs_buf_append(&s->b, tok->data.ptr, tok->data.len);
        return CS_OK;
    }
    s->in_chars = false;
    cs_buf_printf(&s->b, "\n%d %d%d%d%d%d|", (int)tok->type, tok->self_closing, tok->has_name,
                  tok->has_public_id, tok->has_system_id, tok->force_quirks);
    cs_buf_append(&s->b, tok->name.ptr, tok->name.len);
    cs_buf_putc(&s->b, '|');
    cs_buf_append(&s->b, tok->data.ptr, tok->data.len);
    cs_buf_putc(&s->b, '|');
    cs_buf_append(&s->b, tok->public_id.ptr, tok->public_id.len);
    cs_buf_putc(&s->b, '|');
    cs_buf_append(&s->b, tok->system_id.ptr, tok->system_id.len);
    for (size_t i = 0; i < tok->nattrs; i++) {
        cs_buf_putc(&s->b, '|');
        cs_buf_append(&s->b, tok->attrs[i].name.ptr, tok->attrs[i].name.len);
        cs_buf_putc(&s->b, '=');
        cs_buf_append(&s->b, tok->attrs[i].value.ptr, tok->attrs[i].value.len);
    }
    cs_buf_putc(&s->b, '\n');
    return CS_OK;
}

static void on_err(void *ud, cs_html_error e, size_t off)
{
    ser *s = ud;
    s->errors = s->errors * 31 + (uint64_t)e * 7 + off;
}

CS_FUZZ_TARGET(html)
{
    if (size == 0)
        return 0;
    cs_html_opts o;
    cs_html_opts_init(&o);
    o.initial_state = (cs_html_state)(data[0] % 6);
    o.cdata_allowed = data[0] & 0x10;
    o.switch_states = !(data[0] & 0x20);
    o.last_start_tag = (data[0] & 0x40) ? "script" : "title";
    o.max_value = 4096;
    o.max_comment = 4096;
    o.max_attrs = 8;
    o.on_error = on_err;
    cs_html_tokenizer *t = NULL;
    if (cs_html_tokenizer_new(&t, &o))
        return 0;
    const char *in = (const char *)data + 1;
    size_t n = size - 1;
    ser whole = {{0}, false, 0}, parts = {{0}, false, 0};
    cs_buf_init(&whole.b, 0);
    cs_buf_init(&parts.b, 0);
    cs_status st = cs_html_tokenize(t, in, n, tok_cb, &whole);
    cs_html_stats ws = *cs_html_tokenizer_stats(t);
    size_t chunk = 1 + (size_t)(data[0] >> 7) * 3 + n % 5;
    cs_status st2 = CS_OK;
    for (size_t off = 0; off < n && st2 == CS_OK; off += chunk)
        st2 = cs_html_feed(t, in + off, n - off < chunk ? n - off : chunk, tok_cb, &parts);
    if (st2 == CS_OK)
        st2 = cs_html_finish(t, tok_cb, &parts);
    if (st == CS_OK && st2 == CS_OK) {
        const cs_html_stats *ps = cs_html_tokenizer_stats(t);
        if (whole.b.len != parts.b.len ||
            (whole.b.len && memcmp(whole.b.data, parts.b.data, whole.b.len) != 0) ||
            whole.errors != parts.errors || ws.errors != ps->errors ||
            memcmp(ws.limited, ps->limited, sizeof ws.limited) != 0)
        {
            if (getenv("CS_FUZZ_DEBUG"))
                fprintf(stderr, "MISMATCH chunk %zu len %zu\nWHOLE(%llu)[%.*s]\nPARTS(%llu)[%.*s]\n", chunk, n,
                        (unsigned long long)ws.errors, (int)whole.b.len, whole.b.data,
                        (unsigned long long)ps->errors, (int)parts.b.len, parts.b.data);
            __builtin_trap(); /* streaming must not change the result */
        }
    }
    cs_buf_cleanup(&whole.b);
    cs_buf_cleanup(&parts.b);
    cs_html_tokenizer_free(t);

    cs_html_post p;
    cs_html_post_init(&p);
    bool cut = false;
    st = cs_html_post_extract((const char *)data, size, "https://forum.example/t/1", 4096, NULL,
                              NULL, &p, &cut);
    (void)st;
    cs_html_post_cleanup(&p);
    return 0;
}
