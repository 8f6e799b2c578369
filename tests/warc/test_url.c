/* test_url.c - RFC 3986 reference resolution: the section 5.4 examples, the
 * crawler-commons resolution table, and the WHATWG URL tests where the two
 * standards agree. */
#include <jansson.h>

#include "crawlset/url.h"
#include "test.h"

/* cs_url_resolve_with() against the same base must give the same answer:
 * the batch path (pre-split base, zero-copy for clean absolute hrefs). */
static void check_with(const char *base, const char *ref, const char *want)
{
    static char bbuf[8192], out[8192];
    size_t bl = base ? strlen(base) : 0, rl = strlen(ref), bn;
    cs_url_base b;
    const cs_url_base *bp = NULL;
    if (base) {
        bn = cs_url_clean(base, bl, bbuf);
        if (cs_url_base_init(&b, bbuf, bn) == CS_OK)
            bp = &b;
    }
    cs_slice res;
    cs_status st = cs_url_resolve_with(bp, ref, rl, out, sizeof out, &res);
    if (!want) {
        ASSERT_ST(st, CS_EINVAL);
        return;
    }
    ASSERT_OK(st);
    if (res.len != strlen(want) || memcmp(res.ptr, want, res.len) != 0)
        FAIL("resolve_with(%s, %s) = %.*s, want %s", base ? base : "NULL", ref, (int)res.len,
             res.ptr, want);
    ASSERT((res.ptr >= ref && res.ptr < ref + rl) || (res.ptr >= out && res.ptr < out + sizeof out));
}

/* Resolves ref against base; returns a static copy or NULL when unresolvable. */
static const char *resolve(const char *base, const char *ref)
{
    static char out[8192];
    size_t bl = base ? strlen(base) : 0, rl = strlen(ref), n;
    ASSERT(CS_URL_RESOLVE_MAX(bl, rl) <= sizeof out);
    cs_status st = cs_url_resolve(base, bl, ref, rl, out, CS_URL_RESOLVE_MAX(bl, rl), &n);
    if (st == CS_EINVAL) {
        check_with(base, ref, NULL);
        return NULL;
    }
    ASSERT_OK(st);
    ASSERT_EQ(strlen(out), n);
    ASSERT(n + 1 <= bl + rl + 8);
    check_with(base, ref, out);
    return out;
}

#define RES(ref, want) ASSERT_STR_EQ(resolve("http://a/b/c/d;p?q", ref), want)

TEST(url_rfc3986_normal_examples)
{
    /* RFC 3986 section 5.4.1 */
    RES("g:h", "g:h");
    RES("g", "http://a/b/c/g");
    RES("./g", "http://a/b/c/g");
    RES("g/", "http://a/b/c/g/");
    RES("/g", "http://a/g");
    RES("//g", "http://g");
    RES("?y", "http://a/b/c/d;p?y");
    RES("g?y", "http://a/b/c/g?y");
    RES("#s", "http://a/b/c/d;p?q#s");
    RES("g#s", "http://a/b/c/g#s");
    RES("g?y#s", "http://a/b/c/g?y#s");
    RES(";x", "http://a/b/c/;x");
    RES("g;x", "http://a/b/c/g;x");
    RES("g;x?y#s", "http://a/b/c/g;x?y#s");
    RES("", "http://a/b/c/d;p?q");
    RES(".", "http://a/b/c/");
    RES("./", "http://a/b/c/");
    RES("..", "http://a/b/");
    RES("../", "http://a/b/");
    RES("../g", "http://a/b/g");
    RES("../..", "http://a/");
    RES("../../", "http://a/");
    RES("../../g", "http://a/g");
}

TEST(url_rfc3986_abnormal_examples)
{
    /* RFC 3986 section 5.4.2 */
    RES("../../../g", "http://a/g");
    RES("../../../../g", "http://a/g");
    RES("/./g", "http://a/g");
    RES("/../g", "http://a/g");
    RES("g.", "http://a/b/c/g.");
    RES(".g", "http://a/b/c/.g");
    RES("g..", "http://a/b/c/g..");
    RES("..g", "http://a/b/c/..g");
    RES("./../g", "http://a/b/g");
    RES("./g/.", "http://a/b/c/g/");
    RES("g/./h", "http://a/b/c/g/h");
    RES("g/../h", "http://a/b/c/h");
    RES("g;x=1/./y", "http://a/b/c/g;x=1/y");
    RES("g;x=1/../y", "http://a/b/c/y");
    RES("g?y/./x", "http://a/b/c/g?y/./x");
    RES("g?y/../x", "http://a/b/c/g?y/../x");
    RES("g#s/./x", "http://a/b/c/g#s/./x");
    RES("g#s/../x", "http://a/b/c/g#s/../x");
    RES("http:g", "http:g"); /* strict parser */
}

TEST(url_remove_dot_segments)
{
    /* the two worked examples of section 5.2.4 */
    char buf[64];
    const char *in = "/a/b/c/./../../g";
    size_t n = cs_url_remove_dot_segments(in, strlen(in), buf);
    ASSERT_MEM_EQ(buf, n, "/a/g", 4);
    in = "mid/content=5/../6";
    n = cs_url_remove_dot_segments(in, strlen(in), buf);
    ASSERT_MEM_EQ(buf, n, "mid/6", 5);
    /* in place */
    strcpy(buf, "/x/./y/../../z/.");
    n = cs_url_remove_dot_segments(buf, strlen(buf), buf);
    ASSERT_MEM_EQ(buf, n, "/z/", 3);
    n = cs_url_remove_dot_segments("..", 2, buf);
    ASSERT_EQ(n, 0);
    n = cs_url_remove_dot_segments("/..", 3, buf);
    ASSERT_MEM_EQ(buf, n, "/", 1);
}

TEST(url_split_components)
{
    cs_url_parts p;
    const char *s = "https://user@example.com:8080/a/b?x=1&y#frag";
    cs_url_split(s, strlen(s), &p);
    ASSERT(p.has_scheme && cs_slice_eq(p.scheme, "https"));
    ASSERT(p.has_authority && cs_slice_eq(p.authority, "user@example.com:8080"));
    ASSERT(cs_slice_eq(p.path, "/a/b"));
    ASSERT(p.has_query && cs_slice_eq(p.query, "x=1&y"));
    ASSERT(p.has_fragment && cs_slice_eq(p.fragment, "frag"));
    /* not a scheme: starts with a digit, or holds a space */
    s = "1ab:c";
    cs_url_split(s, strlen(s), &p);
    ASSERT(!p.has_scheme && cs_slice_eq(p.path, "1ab:c"));
    s = "a b:c";
    cs_url_split(s, strlen(s), &p);
    ASSERT(!p.has_scheme);
    /* empty query and fragment are present */
    s = "/p?#";
    cs_url_split(s, strlen(s), &p);
    ASSERT(p.has_query && p.query.len == 0 && p.has_fragment && p.fragment.len == 0);
    s = "";
    cs_url_split(s, 0, &p);
    ASSERT(!p.has_scheme && !p.has_authority && p.path.len == 0 && !p.has_query);
}

TEST(url_real_world_references)
{
    const char *b = "https://www.example.com/dir/page.html?q=1#top";
    /* scheme-relative */
    ASSERT_STR_EQ(resolve(b, "//cdn.example.org/img/a.jpg"), "https://cdn.example.org/img/a.jpg");
    /* query only keeps the path, drops base fragment */
    ASSERT_STR_EQ(resolve(b, "?page=2"), "https://www.example.com/dir/page.html?page=2");
    /* fragment only keeps query */
    ASSERT_STR_EQ(resolve(b, "#sec"), "https://www.example.com/dir/page.html?q=1#sec");
    /* whitespace around and TAB/LF/CR inside are removed */
    ASSERT_STR_EQ(resolve(b, "  \n img/a\n.jpg \t"), "https://www.example.com/dir/img/a.jpg");
    ASSERT_STR_EQ(resolve(" https://x.org/a/b\r\n", "c"), "https://x.org/a/c");
    /* a space inside stays (no percent-encoding here) */
    ASSERT_STR_EQ(resolve(b, "my pic.jpg"), "https://www.example.com/dir/my pic.jpg");
    /* backslashes are data, not separators */
    ASSERT_STR_EQ(resolve(b, "..\\x\\y.png"), "https://www.example.com/dir/..\\x\\y.png");
    /* base with authority and empty path: merge adds "/" */
    ASSERT_STR_EQ(resolve("http://example.org", "a.png"), "http://example.org/a.png");
    ASSERT_STR_EQ(resolve("http://example.org?x", ""), "http://example.org?x");
    /* absolute references need no base, keep their own case */
    ASSERT_STR_EQ(resolve(NULL, "HTTP://Example.COM/A/../B"), "HTTP://Example.COM/B");
    ASSERT_STR_EQ(resolve("", "mailto:someone@example.com"), "mailto:someone@example.com");
    ASSERT_STR_EQ(resolve(b, "javascript:void(0)"), "javascript:void(0)");
    ASSERT_STR_EQ(resolve(b, "data:image/gif;base64,R0lGOD=="), "data:image/gif;base64,R0lGOD==");
    /* a base without path segments other than the last */
    ASSERT_STR_EQ(resolve("foo:bar", "baz"), "foo:baz");
    ASSERT_STR_EQ(resolve("http://a/b", "../../../c"), "http://a/c");
}

TEST(url_resolve_with_zero_copy)
{
    char bbuf[64], out[256];
    cs_url_base b;
    ASSERT_ST(cs_url_base_init(&b, "/no/scheme", 10), CS_EINVAL);
    strcpy(bbuf, "https://www.example.com/dir/page.html");
    ASSERT_OK(cs_url_base_init(&b, bbuf, strlen(bbuf)));
    const char *abs = "https://cdn.example.org/img/a.jpg?x=1#f";
    cs_slice r;
    ASSERT_OK(cs_url_resolve_with(&b, abs, strlen(abs), out, sizeof out, &r));
    ASSERT(r.ptr == abs && r.len == strlen(abs)); /* nothing copied */
    /* not already resolved: dot segments, surrounding space, TAB inside */
    const char *cases[][2] = {
        {"https://x.example/a/./b", "https://x.example/a/b"},
        {"https://x.example/a/../b/..", "https://x.example/"},
        {" https://x.example/a ", "https://x.example/a"},
        {"https://x.exa\tmple/a", "https://x.example/a"},
        {"https://x.example/a?q=/./", "https://x.example/a?q=/./"},
        {"https://x.example/.well-known/x", "https://x.example/.well-known/x"},
        {"mailto:.x", "mailto:.x"},
        {"foo:./x", "foo:x"},
        {"rel/./x", "https://www.example.com/dir/rel/x"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        const char *ref = cases[i][0];
        size_t k = strlen(ref);
        ASSERT_OK(cs_url_resolve_with(&b, ref, k, out, sizeof out, &r));
        if (r.len != strlen(cases[i][1]) || memcmp(r.ptr, cases[i][1], r.len) != 0)
            FAIL("case %zu: got %.*s want %s", i, (int)r.len, r.ptr, cases[i][1]);
    }
    /* without a base only absolute references resolve */
    ASSERT_ST(cs_url_resolve_with(NULL, "x", 1, out, sizeof out, &r), CS_EINVAL);
    ASSERT_OK(cs_url_resolve_with(NULL, "http://h/./a", 12, out, sizeof out, &r));
    ASSERT(cs_slice_eq(r, "http://h/a"));
    /* a base is used as given, dot segments and all (RFC 3986 5.2.2 merges
     * with Base.path unnormalised) */
    char base2[] = " s:a/b/..\t ";
    size_t bl2 = cs_url_clean(base2, strlen(base2), base2);
    ASSERT_MEM_EQ(base2, bl2, "s:a/b/..", 8);
    ASSERT_OK(cs_url_base_init(&b, base2, bl2));
    ASSERT_OK(cs_url_resolve_with(&b, "x", 1, out, sizeof out, &r));
    ASSERT(cs_slice_eq(r, "s:a/b/x")); /* merge keeps "a/b/", the last segment ".." goes */
    ASSERT_STR_EQ(resolve(" s:a/b/..\t ", "x"), "s:a/b/x");
    /* the buffer must be big enough */
    ASSERT_ST(cs_url_resolve_with(&b, "x", 1, out, 8, &r), CS_ETOOBIG);
}

TEST(url_unresolvable_and_limits)
{
    /* relative reference and no usable base */
    ASSERT(resolve(NULL, "a/b") == NULL);
    ASSERT(resolve("", "/a") == NULL);
    ASSERT(resolve("/just/a/path", "x") == NULL);
    ASSERT(resolve("//host/only", "x") == NULL);
    ASSERT(resolve("1http://bad-scheme/", "x") == NULL);
    ASSERT(resolve("   ", "  ") == NULL);
    /* a buffer below CS_URL_RESOLVE_MAX is refused, not overrun */
    char small[8];
    size_t n;
    ASSERT_ST(cs_url_resolve("http://a/", 9, "b", 1, small, sizeof small, &n), CS_ETOOBIG);
    /* every byte value in a reference: never a crash, output bounded */
    char ref[256], base[] = "http://h/p/q";
    for (int i = 0; i < 256; i++)
        ref[i] = (char)i;
    char *out = malloc(CS_URL_RESOLVE_MAX(sizeof base - 1, sizeof ref));
    ASSERT_OK(cs_url_resolve(base, sizeof base - 1, ref, sizeof ref, out,
                             CS_URL_RESOLVE_MAX(sizeof base - 1, sizeof ref), &n));
    ASSERT(n <= sizeof base - 1 + sizeof ref + 7);
    free(out);
}

/* ---- crawler-commons url-resolve.csv ------------------------------------ */

/* Reads one CSV field (optionally double-quoted) into out; returns the rest. */
static const char *csv_field(const char *p, char *out, size_t cap)
{
    while (*p == ' ')
        p++;
    size_t n = 0;
    if (*p == '"') {
        p++;
        while (*p && *p != '"' && n + 1 < cap)
            out[n++] = *p++;
        if (*p == '"')
            p++;
        while (*p && *p != ',')
            p++;
    } else {
        while (*p && *p != ',' && *p != '\n' && n + 1 < cap)
            out[n++] = *p++;
        while (n && (out[n - 1] == ' ' || out[n - 1] == '\r'))
            n--;
    }
    out[n] = 0;
    return *p == ',' ? p + 1 : p;
}

TEST(url_crawler_commons_resolve_table)
{
    size_t len;
    char *data = cs_test_read_file(cs_test_corpus("urls/url-resolve.csv"), &len);
    int cases = 0;
    for (char *line = strtok(data, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '#' || line[0] == '\0' || line[0] == '\r')
            continue;
        char in[1024], base[1024], want[1024];
        const char *p = csv_field(line, in, sizeof in);
        p = csv_field(p, base, sizeof base);
        csv_field(p, want, sizeof want);
        const char *got = resolve(base[0] ? base : NULL, in);
        if (!got || strcmp(got, want) != 0)
            FAIL("resolve(%s, %s) = %s, want %s", base, in, got ? got : "(unresolvable)", want);
        cases++;
    }
    cs_free(data);
    printf("%d cases\n", cases);
    ASSERT(cases >= 20);
}

/* ---- WHATWG URL tests where RFC 3986 gives the same answer ---------------- */

static bool plain_ascii(const char *s, bool allow_empty)
{
    if (!*s && !allow_empty)
        return false;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        /* leave out what WHATWG rewrites: controls, space, '\\' (a
         * separator there), and the characters it percent-encodes */
        if (c <= 0x20 || c >= 0x7F || strchr("\\\"<>`{}", c))
            return false;
    }
    return true;
}

/* A Windows drive letter ("C:" or "C|" as a whole path segment): WHATWG
 * keeps it through "..", RFC 3986 knows nothing of it. */
static bool has_drive_letter(const char *s)
{
    for (size_t i = 0; s[i]; i++) {
        bool at_seg = i == 0 || s[i - 1] == '/';
        char c = (char)(s[i] | 0x20);
        if (at_seg && c >= 'a' && c <= 'z' && (s[i + 1] == ':' || s[i + 1] == '|') &&
            (s[i + 2] == 0 || strchr("/?#", s[i + 2])))
            return true;
    }
    return false;
}

/* Bases of the hierarchical schemes both standards treat alike. */
static bool usable_base(const char *b)
{
    if (!strncmp(b, "http://", 7) || !strncmp(b, "https://", 8))
        return true;
    return !strncmp(b, "file://", 7) && !has_drive_letter(b + 7);
}

TEST(url_whatwg_agreeing_subset)
{
    json_error_t je;
    json_t *root = json_load_file(cs_test_corpus("urls/wpt-urltestdata.json"), JSON_ALLOW_NUL, &je);
    if (!root)
        FAIL("wpt-urltestdata.json: %s", je.text);
    size_t i, checked = 0, bad = 0;
    json_t *t;
    json_array_foreach(root, i, t)
    {
        if (!json_is_object(t))
            continue;
        const char *in = json_string_value(json_object_get(t, "input"));
        const char *base = json_string_value(json_object_get(t, "base"));
        const char *href = json_string_value(json_object_get(t, "href"));
        if (!in || !base || !href || json_object_get(t, "failure"))
            continue;
        /* The subset: an http(s) or file base, and a relative-path, absolute-
         * path, query or fragment reference made of printable ASCII that
         * WHATWG does not rewrite (no '\\' or percent-encoded characters),
         * with no Windows drive letter. Left out because the standards
         * differ there: scheme-relative and absolute references (WHATWG
         * normalises hosts, ports, case; "http:g" is special), whitespace
         * inside (WHATWG percent-encodes a space), and drive letters. */
        if (!plain_ascii(in, true) || !usable_base(base) || has_drive_letter(in))
            continue;
        cs_url_parts rp;
        cs_url_split(in, strlen(in), &rp);
        if (rp.has_scheme || rp.has_authority)
            continue;
        const char *got = resolve(base, in);
        if (!got || strcmp(got, href) != 0) {
            fprintf(stderr, "input '%s' base '%s': RFC 3986 gives '%s', WHATWG '%s'\n", in, base,
                   got ? got : "(unresolvable)", href);
            bad++;
        }
        checked++;
    }
    json_decref(root);
    fprintf(stderr, "%zu WHATWG cases checked, %zu differ\n", checked, bad);
    ASSERT_EQ(bad, 0);
    ASSERT(checked >= 45); /* 49 in the copy of the corpus this was written with */
}
