/* test_tokenizer.c - the tokenizer's own promises beyond the html5lib suite:
 * zero-copy slices, bounded memory on hostile input (counted cuts), the
 * tree-builder state switches, stopping from the callback, the entity API. */
#include "../test.h"

typedef struct col {
    const char *in;
    size_t tokens, starts, chars_zero_copy, chars_copied;
    size_t max_attrs_seen, max_value_len, max_name_len;
    cs_buf text;
    int stop_after;
} col;

static cs_status collect(void *ud, const cs_html_token *tok)
{
    col *c = ud;
    c->tokens++;
    if (tok->type == CS_HTML_CHARACTER) {
        bool inside = tok->data.ptr >= c->in && tok->data.ptr < c->in + strlen(c->in);
        if (inside)
            c->chars_zero_copy++;
        else
            c->chars_copied++;
        cs_buf_append(&c->text, tok->data.ptr, tok->data.len);
    }
    if (tok->type == CS_HTML_START_TAG) {
        c->starts++;
        if (tok->nattrs > c->max_attrs_seen)
            c->max_attrs_seen = tok->nattrs;
        for (size_t i = 0; i < tok->nattrs; i++) {
            if (tok->attrs[i].value.len > c->max_value_len)
                c->max_value_len = tok->attrs[i].value.len;
            if (tok->attrs[i].name.len > c->max_name_len)
                c->max_name_len = tok->attrs[i].name.len;
        }
        if (tok->name.len > c->max_name_len)
            c->max_name_len = tok->name.len;
    }
    if (c->stop_after && (int)c->tokens >= c->stop_after)
        return CS_ECANCELED;
    return CS_OK;
}

static cs_html_tokenizer *mk(const cs_html_opts *o)
{
    cs_html_tokenizer *t = NULL;
    ASSERT_OK(cs_html_tokenizer_new(&t, o));
    return t;
}

TEST(html_zero_copy_slices)
{
    const char *in = "<p class=x>Hello <b>world</b> &amp; more</p>";
    col c = {.in = in};
    cs_buf_init(&c.text, 0);
    cs_html_tokenizer *t = mk(NULL);
    ASSERT_OK(cs_html_tokenize(t, in, strlen(in), collect, &c));
    ASSERT_STR_EQ(c.text.data, "Hello world & more");
    ASSERT_EQ(c.chars_zero_copy, 2); /* "Hello ", "world" */
    ASSERT_EQ(c.chars_copied, 1);    /* " & more" goes through the reference */
    ASSERT_EQ(cs_html_tokenizer_stats(t)->errors, 0);
    cs_html_tokenizer_free(t);
    cs_buf_cleanup(&c.text);
}

TEST(html_bomb_is_bounded_and_counted)
{
    /* a 4 MB attribute value, a 100 KB tag name, 5,000 attributes, a 3 MB comment */
    size_t big = 4u << 20;
    cs_buf in;
    cs_buf_init(&in, 0);
    cs_buf_puts(&in, "<a href=\"");
    for (size_t i = 0; i < big; i++)
        cs_buf_putc(&in, (char)('a' + i % 26));
    cs_buf_puts(&in, "\">x</a><");
    for (size_t i = 0; i < 100000; i++)
        cs_buf_putc(&in, 'T');
    cs_buf_puts(&in, "><div");
    for (int i = 0; i < 5000; i++)
        cs_buf_printf(&in, " a%d=1", i);
    cs_buf_puts(&in, "><!--");
    for (size_t i = 0; i < (3u << 20); i++)
        cs_buf_putc(&in, 'c');
    cs_buf_puts(&in, "-->end");
    col c = {.in = in.data};
    cs_buf_init(&c.text, 0);
    cs_html_tokenizer *t = mk(NULL);
    ASSERT_OK(cs_html_tokenize(t, in.data, in.len, collect, &c));
    const cs_html_stats *st = cs_html_tokenizer_stats(t);
    ASSERT_EQ(st->limited[CS_HTML_LIMIT_VALUE], 1);
    ASSERT_EQ(st->limited[CS_HTML_LIMIT_NAME], 1);
    ASSERT_EQ(st->limited[CS_HTML_LIMIT_ATTRS], 1);
    ASSERT_EQ(st->limited[CS_HTML_LIMIT_COMMENT], 1);
    ASSERT_EQ(c.max_value_len, 1024 * 1024);
    ASSERT_EQ(c.max_name_len, 1024);
    ASSERT_EQ(c.max_attrs_seen, 256);
    ASSERT_STR_EQ(c.text.data, "xend");
    cs_html_tokenizer_free(t);
    cs_buf_cleanup(&c.text);
    cs_buf_cleanup(&in);
}

TEST(html_switch_states_like_a_tree_builder)
{
    const char *in = "<title>a<b>&amp;</title><script>if (a<b) x = '</p>';</script>"
                     "<style>p > a {}</style><textarea><i></textarea>";
    col c = {.in = in};
    cs_buf_init(&c.text, 0);
    cs_html_tokenizer *t = mk(NULL);
    ASSERT_OK(cs_html_tokenize(t, in, strlen(in), collect, &c));
    ASSERT_STR_EQ(c.text.data, "a<b>&if (a<b) x = '</p>';p > a {}<i>");
    ASSERT_EQ(c.starts, 4);
    cs_html_tokenizer_free(t);
    cs_buf_cleanup(&c.text);
}

TEST(html_callback_stops_run)
{
    const char *in = "<a><b><c><d>";
    col c = {.in = in, .stop_after = 2};
    cs_buf_init(&c.text, 0);
    cs_html_tokenizer *t = mk(NULL);
    ASSERT_ST(cs_html_tokenize(t, in, strlen(in), collect, &c), CS_ECANCELED);
    ASSERT_EQ(c.tokens, 2);
    cs_html_tokenizer_free(t);
    cs_buf_cleanup(&c.text);
}

TEST(html_entity_longest_prefix)
{
    uint32_t cp[2];
    ASSERT_EQ(cs_html_entity_match("notin;x", 7, cp), 6);
    ASSERT_EQ(cp[0], 0x2209);
    ASSERT_EQ(cs_html_entity_match("notit;", 6, cp), 3); /* legacy "not" */
    ASSERT_EQ(cp[0], 0xAC);
    ASSERT_EQ(cs_html_entity_match("NotEqualTilde;", 14, cp), 14);
    ASSERT_EQ(cp[0], 0x2242);
    ASSERT_EQ(cp[1], 0x338);
    ASSERT_EQ(cs_html_entity_match("zzz", 3, cp), 0);
    ASSERT_EQ(cs_html_entity_match("CounterClockwiseContourIntegral;", 32, cp), 32);
}

/* The bomb again, streamed in 4 KiB chunks: same cuts, same text; a
 * document after it starts clean (state, counts, last start tag). */
TEST(html_streamed_bomb_same_result)
{
    cs_buf in;
    cs_buf_init(&in, 0);
    cs_buf_puts(&in, "<a href=\"");
    for (size_t i = 0; i < (3u << 20); i++)
        cs_buf_putc(&in, (char)('a' + i % 26));
    cs_buf_puts(&in, "\">x&amp;y</a><!--");
    for (size_t i = 0; i < (2u << 20); i++)
        cs_buf_putc(&in, '-');
    cs_buf_puts(&in, "-->end\r\n&notin;");
    col c = {.in = ""};
    cs_buf_init(&c.text, 0);
    cs_html_tokenizer *t = mk(NULL);
    for (size_t off = 0; off < in.len; off += 4096)
        ASSERT_OK(cs_html_feed(t, in.data + off, in.len - off < 4096 ? in.len - off : 4096,
                               collect, &c));
    ASSERT_OK(cs_html_finish(t, collect, &c));
    const cs_html_stats *st = cs_html_tokenizer_stats(t);
    ASSERT_EQ(st->limited[CS_HTML_LIMIT_VALUE], 1);
    ASSERT_EQ(st->limited[CS_HTML_LIMIT_COMMENT], 1);
    ASSERT_EQ(c.max_value_len, 1024 * 1024);
    ASSERT_STR_EQ(c.text.data, "x&yend\n\xE2\x88\x89");
    /* the next document */
    cs_buf_reset(&c.text);
    ASSERT_OK(cs_html_feed(t, "<p>ne", 5, collect, &c));
    ASSERT_OK(cs_html_feed(t, "xt</p>", 6, collect, &c));
    ASSERT_OK(cs_html_finish(t, collect, &c));
    ASSERT_STR_EQ(c.text.data, "next");
    ASSERT_EQ(cs_html_tokenizer_stats(t)->limited[CS_HTML_LIMIT_VALUE], 0);
    cs_html_tokenizer_free(t);
    cs_buf_cleanup(&c.text);
    cs_buf_cleanup(&in);
}
