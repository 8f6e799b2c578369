/* test_html5lib.c - runs every test of html5lib's tokenizer suite
 * (../shared/corpus/html5lib/tokenizer/ *.test) against cs_html_tokenize:
 * each initial state, lastStartTag, doubleEscaped inputs and outputs, the
 * token lists (adjacent characters merged, as the suite writes them) and the
 * parse error codes (compared as multisets; positions not compared). */
#include <dirent.h>
#include <jansson.h>

#include "../test.h"

typedef struct run {
    json_t *out;    /* token list being built */
    cs_buf chars;   /* pending character data */
    bool in_chars;
    json_t *errors; /* error code strings */
} run;

static json_t *jstr(cs_slice s) { return json_stringn(s.ptr, s.len); }

static void flush_chars(run *r)
{
    if (!r->in_chars)
        return;
    json_t *t = json_array();
    json_array_append_new(t, json_string("Character"));
    json_array_append_new(t, json_stringn(r->chars.data ? r->chars.data : "", r->chars.len));
    json_array_append_new(r->out, t);
    cs_buf_reset(&r->chars);
    r->in_chars = false;
}

static cs_status on_token(void *ud, const cs_html_token *tok)
{
    run *r = ud;
    if (tok->type == CS_HTML_CHARACTER) {
        if (cs_buf_append(&r->chars, tok->data.ptr, tok->data.len))
            return CS_ENOMEM;
        r->in_chars = true;
        return CS_OK;
    }
    flush_chars(r);
    json_t *t = json_array();
    switch (tok->type) {
    case CS_HTML_DOCTYPE:
        json_array_append_new(t, json_string("DOCTYPE"));
        json_array_append_new(t, tok->has_name ? jstr(tok->name) : json_null());
        json_array_append_new(t, tok->has_public_id ? jstr(tok->public_id) : json_null());
        json_array_append_new(t, tok->has_system_id ? jstr(tok->system_id) : json_null());
        json_array_append_new(t, json_boolean(!tok->force_quirks));
        break;
    case CS_HTML_START_TAG: {
        json_array_append_new(t, json_string("StartTag"));
        json_array_append_new(t, jstr(tok->name));
        json_t *a = json_object();
        for (size_t i = 0; i < tok->nattrs; i++) {
            char *k = cs_strndup(tok->attrs[i].name.ptr, tok->attrs[i].name.len);
            json_object_set_new(a, k, jstr(tok->attrs[i].value));
            cs_free(k);
        }
        json_array_append_new(t, a);
        if (tok->self_closing)
            json_array_append_new(t, json_true());
        break;
    }
    case CS_HTML_END_TAG:
        json_array_append_new(t, json_string("EndTag"));
        json_array_append_new(t, jstr(tok->name));
        break;
    case CS_HTML_COMMENT:
        json_array_append_new(t, json_string("Comment"));
        json_array_append_new(t, jstr(tok->data));
        break;
    default:
        break;
    }
    json_array_append_new(r->out, t);
    return CS_OK;
}

static void on_error(void *ud, cs_html_error e, size_t off)
{
    (void)off;
    run *r = ud;
    json_array_append_new(r->errors, json_string(cs_html_error_name(e)));
}

/* Undoes the suite's doubleEscaped form: \uXXXX escapes (lone surrogates
 * written as their 3-byte generalized UTF-8 form). */
static char *unescape(const char *s, size_t n, size_t *outlen)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 5 < n + 0 && s[i + 1] == 'u') {
            unsigned v = 0;
            sscanf(s + i + 2, "%4x", &v);
            i += 5;
            if (v >= 0xD800 && v <= 0xDBFF && i + 6 < n && s[i + 1] == '\\' && s[i + 2] == 'u') {
                unsigned lo = 0;
                sscanf(s + i + 3, "%4x", &lo);
                if (lo >= 0xDC00 && lo <= 0xDFFF) {
                    v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
                    i += 6;
                }
            }
            if (v >= 0xD800 && v <= 0xDFFF) {
                char u[3] = {(char)(0xE0 | (v >> 12)), (char)(0x80 | ((v >> 6) & 0x3F)),
                             (char)(0x80 | (v & 0x3F))};
                cs_buf_append(&b, u, 3);
            } else {
                cs_html_put_utf8(&b, v);
            }
        } else {
            cs_buf_putc(&b, s[i]);
        }
    }
    return cs_buf_take(&b, outlen);
}

static json_t *unescape_json(json_t *v)
{
    if (json_is_string(v)) {
        size_t n;
        char *s = unescape(json_string_value(v), json_string_length(v), &n);
        json_t *r = json_stringn(s ? s : "", n);
        cs_free(s);
        return r;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) json_array_append_new(a, unescape_json(x));
        return a;
    }
    if (json_is_object(v)) {
        json_t *o = json_object();
        const char *k;
        json_t *x;
        json_object_foreach(v, k, x)
        {
            size_t n;
            char *kk = unescape(k, strlen(k), &n);
            json_object_set_new(o, kk, unescape_json(x));
            cs_free(kk);
        }
        return o;
    }
    return json_incref(v);
}

static int state_of(const char *s)
{
    if (!strcmp(s, "Data state"))
        return CS_HTML_STATE_DATA;
    if (!strcmp(s, "PLAINTEXT state"))
        return CS_HTML_STATE_PLAINTEXT;
    if (!strcmp(s, "RCDATA state"))
        return CS_HTML_STATE_RCDATA;
    if (!strcmp(s, "RAWTEXT state"))
        return CS_HTML_STATE_RAWTEXT;
    if (!strcmp(s, "Script data state"))
        return CS_HTML_STATE_SCRIPT_DATA;
    if (!strcmp(s, "CDATA section state"))
        return CS_HTML_STATE_CDATA_SECTION;
    return -1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted multiset equality of two arrays of strings. */
static bool same_codes(json_t *got, json_t *want)
{
    size_t n = json_array_size(got);
    if (n != json_array_size(want))
        return false;
    const char **a = calloc(n + 1, sizeof *a), **b = calloc(n + 1, sizeof *b);
    for (size_t i = 0; i < n; i++) {
        a[i] = json_string_value(json_array_get(got, i));
        json_t *w = json_array_get(want, i);
        b[i] = json_string_value(json_is_object(w) ? json_object_get(w, "code") : w);
        if (!b[i])
            b[i] = "";
    }
    qsort(a, n, sizeof *a, cmp_str);
    qsort(b, n, sizeof *b, cmp_str);
    bool same = true;
    for (size_t i = 0; i < n && same; i++)
        same = strcmp(a[i], b[i]) == 0;
    free(a);
    free(b);
    return same;
}

TEST_T(html5lib_tokenizer_suite, 120)
{
    const char *dir = cs_test_corpus("html5lib/tokenizer");
    DIR *d = opendir(dir);
    ASSERT(d);
    struct dirent *e;
    char *names[64];
    size_t nfiles = 0;
    while ((e = readdir(d)) && nfiles < 64) {
        size_t l = strlen(e->d_name);
        if (l > 5 && !strcmp(e->d_name + l - 5, ".test"))
            names[nfiles++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, nfiles, sizeof *names, cmp_str);
    ASSERT(nfiles >= 10);

    /* whole input, then streamed in pieces of 1, 2 and 5 bytes */
    static const size_t chunks[] = {0, 1, 2, 5};
    size_t runs = 0, tok_pass = 0, err_pass = 0, err_runs = 0, loaded_tests = 0;
    int failures_shown = 0;
    cs_html_tokenizer *t = NULL;
    for (size_t f = 0; f < nfiles; f++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, names[f]);
        json_error_t jerr;
        json_t *root = json_load_file(path, JSON_ALLOW_NUL, &jerr);
        if (!root)
            FAIL("%s: %s (line %d)", names[f], jerr.text, jerr.line);
        json_t *tests = json_object_get(root, "tests");
        if (!tests) /* xmlViolation.test has "xmlViolationTests" only */
            tests = json_object_get(root, "xmlViolationTests") ? json_array() : NULL;
        else
            json_incref(tests);
        ASSERT(tests);
        size_t i;
        json_t *tc;
        json_array_foreach(tests, i, tc)
        {
            loaded_tests++;
            bool dbl = json_is_true(json_object_get(tc, "doubleEscaped"));
            json_t *jin = json_object_get(tc, "input");
            json_t *want = json_object_get(tc, "output");
            json_t *want_err = json_object_get(tc, "errors");
            size_t inlen = json_string_length(jin);
            char *input = dbl ? unescape(json_string_value(jin), inlen, &inlen)
                              : cs_strndup(json_string_value(jin), inlen);
            want = dbl ? unescape_json(want) : json_incref(want);
            json_t *states = json_object_get(tc, "initialStates");
            json_t *lst = json_object_get(tc, "lastStartTag");
            size_t ns = states ? json_array_size(states) : 1;
            for (size_t s = 0; s < ns; s++) {
                int st = states ? state_of(json_string_value(json_array_get(states, s)))
                                : CS_HTML_STATE_DATA;
                ASSERT(st >= 0);
                cs_html_opts o;
                cs_html_opts_init(&o);
                o.initial_state = (cs_html_state)st;
                o.switch_states = false;
                o.last_start_tag = lst ? json_string_value(lst) : NULL;
                o.on_error = on_error;
                ASSERT_OK(cs_html_tokenizer_new(&t, &o));
              for (size_t ci = 0; ci < sizeof chunks / sizeof chunks[0]; ci++) {
                size_t chunk = chunks[ci];
                run r = {json_array(), {0}, false, json_array()};
                cs_buf_init(&r.chars, 0);
                if (chunk == 0) {
                    ASSERT_OK(cs_html_tokenize(t, input, inlen, on_token, &r));
                } else {
                    /* streamed: the input in pieces of `chunk` bytes */
                    for (size_t off = 0; off < inlen; off += chunk)
                        ASSERT_OK(cs_html_feed(t, input + off,
                                               inlen - off < chunk ? inlen - off : chunk,
                                               on_token, &r));
                    ASSERT_OK(cs_html_finish(t, on_token, &r));
                }
                flush_chars(&r);
                runs++;
                bool ok = json_equal(r.out, want);
                if (ok)
                    tok_pass++;
                json_t *none = json_array();
                bool eok = same_codes(r.errors, want_err ? want_err : none);
                json_decref(none);
                err_runs++;
                if (eok)
                    err_pass++;
                if ((!ok || !eok) && failures_shown++ < 30) {
                    char *g = json_dumps(r.out, JSON_COMPACT | JSON_ENSURE_ASCII);
                    char *w = json_dumps(want, JSON_COMPACT | JSON_ENSURE_ASCII);
                    char *ge = json_dumps(r.errors, JSON_COMPACT);
                    char *we = want_err ? json_dumps(want_err, JSON_COMPACT) : strdup("[]");
                    fprintf(stderr, "%s: %s [%s, chunk %zu]\n  got  %s\n  want %s\n  errs %s\n  want %s\n",
                            names[f],
                            json_string_value(json_object_get(tc, "description")),
                            states ? json_string_value(json_array_get(states, s)) : "Data",
                            chunk, g, w, ge, we);
                    free(g);
                    free(w);
                    free(ge);
                    free(we);
                }
                json_decref(r.out);
                json_decref(r.errors);
                cs_buf_cleanup(&r.chars);
              }
                cs_html_tokenizer_free(t);
                t = NULL;
            }
            json_decref(want);
            cs_free(input);
        }
        json_decref(tests);
        json_decref(root);
        free(names[f]);
    }
    fprintf(stderr,
            "html5lib tokenizer: %zu tests, %zu runs (test x initial state x {whole, "
            "streamed in 1, 2, 5-byte pieces}): tokens %zu/%zu, errors %zu/%zu\n",
            loaded_tests, runs, tok_pass, runs, err_pass, err_runs);
    if (getenv("CS_TEST_SHOW"))
        FAIL("shown on request");
    ASSERT(loaded_tests > 6000);
    ASSERT_EQ(tok_pass, runs);
    ASSERT_EQ(err_pass, err_runs);
}
