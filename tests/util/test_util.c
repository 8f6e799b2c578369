/* test_util.c - status strings, buffers, arenas, codecs, JSON output. */
#include "test.h"
#include "util/utf8.h"

TEST(strerror_covers_every_status)
{
    for (int s = 0; s < CS__STATUS_COUNT; s++) {
        ASSERT(strcmp(cs_strerror((cs_status)s), "unknown status") != 0);
        ASSERT(strcmp(cs_status_name((cs_status)s), "UNKNOWN") != 0);
    }
    ASSERT_STR_EQ(cs_status_name(CS_EFORMAT), "EFORMAT");
    ASSERT_STR_EQ(cs_strerror(CS_OK), "success");
}

TEST(buf_respects_max)
{
    cs_buf b;
    cs_buf_init(&b, 10);
    ASSERT_OK(cs_buf_append(&b, "12345", 5));
    ASSERT_OK(cs_buf_printf(&b, "%d", 6789));
    ASSERT_ST(cs_buf_append(&b, "xx", 2), CS_ETOOBIG);
    ASSERT_OK(cs_buf_putc(&b, '0'));
    ASSERT_STR_EQ(b.data, "1234567890");
    size_t n;
    char *d = cs_buf_take(&b, &n);
    ASSERT_EQ(n, 10);
    ASSERT(b.data == NULL);
    cs_free(d);
}

TEST(arena_reset_reuses_and_limits)
{
    cs_arena a;
    cs_arena_init(&a, 100000);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 100; i++) {
            char *p = cs_arena_alloc(&a, 500);
            ASSERT(p);
            ASSERT(((uintptr_t)p & 15) == 0);
            memset(p, i, 500);
        }
        ASSERT(cs_arena_alloc(&a, 60000) == NULL); /* over the max */
        cs_arena_reset(&a);
    }
    char *s = cs_arena_strndup(&a, "hello world", 5);
    ASSERT_STR_EQ(s, "hello");
    cs_arena_cleanup(&a);
}

TEST(base32_roundtrip_and_known_values)
{
    char out[64];
    cs_base32_encode((const uint8_t *)"foobar", 6, out);
    ASSERT_STR_EQ(out, "MZXW6YTBOI======");
    uint8_t dec[16];
    ASSERT_EQ(cs_base32_decode("MZXW6YTBOI======", 16, dec, sizeof dec), 6);
    ASSERT_MEM_EQ(dec, 6, "foobar", 6);
    ASSERT_EQ(cs_base32_decode("MZXW6YTBOI", 10, dec, sizeof dec), 6);
    ASSERT_EQ(cs_base32_decode("MZ!W", 4, dec, sizeof dec), (size_t)-1);
    cs_base64_encode((const uint8_t *)"foob", 4, out);
    ASSERT_STR_EQ(out, "Zm9vYg==");
    ASSERT_EQ(cs_base64_decode("Zm9vYg", 6, dec, sizeof dec), 4);
}

TEST(base32_base64_decode_round_trip_and_limits)
{
    uint8_t in[40] = {0}, dec[40];
    char enc[80];
    for (size_t n = 0; n <= sizeof in; n++) {
        for (size_t i = 0; i < n; i++)
            in[i] = (uint8_t)(i * 37 + n * 11 + 0xA5);
        size_t el = cs_base32_encode(in, n, enc);
        ASSERT_UEQ(cs_base32_decode(enc, el, dec, sizeof dec), n);
        ASSERT_MEM_EQ(dec, n, in, n);
        for (size_t i = 0; i < el; i++) /* lower case decodes the same */
            enc[i] = (char)(enc[i] >= 'A' && enc[i] <= 'Z' ? enc[i] + 32 : enc[i]);
        ASSERT_UEQ(cs_base32_decode(enc, el, dec, sizeof dec), n);
        ASSERT_MEM_EQ(dec, n, in, n);
        if (n)
            ASSERT_UEQ(cs_base32_decode(enc, el, dec, n - 1), (size_t)-1);
        el = cs_base64_encode(in, n, enc);
        ASSERT_UEQ(cs_base64_decode(enc, el, dec, sizeof dec), n);
        ASSERT_MEM_EQ(dec, n, in, n);
        for (size_t i = 0; i < el; i++) /* the URL-safe alphabet decodes the same */
            enc[i] = enc[i] == '+' ? '-' : enc[i] == '/' ? '_' : enc[i];
        ASSERT_UEQ(cs_base64_decode(enc, el, dec, sizeof dec), n);
        ASSERT_MEM_EQ(dec, n, in, n);
        if (n)
            ASSERT_UEQ(cs_base64_decode(enc, el, dec, n - 1), (size_t)-1);
    }
    ASSERT_UEQ(cs_base64_decode("Zm9v!mFy", 8, dec, sizeof dec), (size_t)-1);
    ASSERT_UEQ(cs_base64_decode("////", 4, dec, sizeof dec), 3);
    ASSERT_MEM_EQ(dec, 3, "\xff\xff\xff", 3);
}

TEST(json_string_escapes_and_repairs_utf8)
{
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_OK(cs_json_put_str(&b, "a\"b\\c\n\x01\xc3\xa9\xff", 10));
    ASSERT_STR_EQ(b.data, "\"a\\\"b\\\\c\\n\\u0001\xc3\xa9\xef\xbf\xbd\"");
    cs_buf_cleanup(&b);
}

static int g_fail_after = -1;
static void *failing_malloc(size_t n, void *ud)
{
    (void)ud;
    if (g_fail_after == 0)
        return NULL;
    if (g_fail_after > 0)
        g_fail_after--;
    return malloc(n);
}
static void *failing_realloc(void *p, size_t n, void *ud)
{
    (void)ud;
    if (g_fail_after == 0)
        return NULL;
    if (g_fail_after > 0)
        g_fail_after--;
    return realloc(p, n);
}

TEST(allocator_hook_fails_cleanly)
{
    cs_allocator a = {failing_malloc, failing_realloc, NULL, NULL};
    cs_set_allocator(&a);
    g_fail_after = 0;
    cs_buf b;
    cs_buf_init(&b, 0);
    ASSERT_ST(cs_buf_append(&b, "x", 1), CS_ENOMEM);
    ASSERT(cs_strdup("x") == NULL);
    g_fail_after = -1;
    ASSERT_OK(cs_buf_append(&b, "x", 1));
    cs_buf_cleanup(&b);
    cs_set_allocator(NULL);
}

TEST(utf8_seq_lengths_and_rejections)
{
    static const struct {
        const char *s;
        size_t want;
    } cases[] = {
        {"a", 1},           {"\xC3\xA9", 2},         {"\xE2\x82\xAC", 3}, {"\xF0\x9F\x98\x80", 4},
        {"\xC0\xAF", 0},     /* overlong */           {"\xE0\x80\xAF", 0}, {"\xF0\x80\x80\xAF", 0},
        {"\xED\xA0\x80", 0}, /* surrogate */          {"\xF4\x90\x80\x80", 0}, /* past U+10FFFF */
        {"\xC3", 0},         /* cut off */            {"\xE2\x82", 0},     {"\x80", 0},
        {"\xFF", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        ASSERT_UEQ(cs__utf8_seq((const unsigned char *)cases[i].s, strlen(cases[i].s)),
                   cases[i].want);
}
