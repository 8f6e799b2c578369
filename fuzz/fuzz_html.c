/* fuzz_html.c - the HTML tokenizer (every initial state, CDATA on and off)
 * and the Discourse post extractor on arbitrary bytes. */
#include "fuzz.h"

static cs_status tok_cb(void *ud, const cs_html_token *tok)
{
    size_t *sum = ud;
    *sum += tok->name.len + tok->data.len + tok->nattrs;
    for (size_t i = 0; i < tok->nattrs; i++)
        *sum += tok->attrs[i].name.len + tok->attrs[i].value.len;
    return CS_OK;
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
    cs_html_tokenizer *t = NULL;
    if (cs_html_tokenizer_new(&t, &o))
        return 0;
    size_t sum = 0;
    cs_status st = cs_html_tokenize(t, (const char *)data + 1, size - 1, tok_cb, &sum);
    (void)st;
    cs_html_tokenizer_free(t);

    cs_html_post p;
    cs_html_post_init(&p);
    bool cut = false;
    st = cs_html_post_extract((const char *)data, size, "https://forum.example/t/1", 4096,
                               NULL, NULL, &p, &cut);
    (void)st;
    cs_html_post_cleanup(&p);
    return 0;
}
