/* test.h - the test registry and typed asserts. Each TEST runs in a forked
 * child with a timeout (see runner.c); a failed assert exits the child. */
#ifndef CS_TEST_H
#define CS_TEST_H

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crawlset.h"

typedef void (*cs_test_fn)(void);
void cs_test_register(const char *name, const char *file, cs_test_fn fn, int timeout_s);
void cs_test_fail(const char *file, int line, const char *fmt, ...)
    __attribute__((noreturn, format(printf, 3, 4)));

/* Paths: corpus file (../shared/corpus/REL), source-tree file, scratch dir. */
const char *cs_test_corpus(const char *rel);
const char *cs_test_source(const char *rel);
/* A fresh empty directory for this test, removed when the child ends. */
const char *cs_test_tmpdir(void);
/* Reads a whole file into a cs_malloc'd buffer (NUL-terminated); fails the test on error. */
char *cs_test_read_file(const char *path, size_t *len);
void cs_test_write_file(const char *path, const void *data, size_t len);

/* Frees p (with free(); cs_malloc's default) when the current test ends:
 * for test-lifetime data, so the per-test leak check sees only real leaks.
 * Returns p. */
void *cs_test_keep(void *p);

/* Runs `crawlset ARGS` (ARGS is shell text) from the source directory with
 * stdin from /dev/null; returns its exit code (-1 if it died) and the
 * captured stdout/stderr (cs_malloc'd, NUL-terminated; pointers may be NULL). */
int cs_test_crawlset(const char *args, char **out, char **err);
/* The same with the length of stdout (which may hold NUL bytes) in
 * *out_len (may be NULL). */
int cs_test_crawlset_n(const char *args, char **out, size_t *out_len, char **err);

#define TEST_T(name, timeout)                                                             \
    static void test_##name(void);                                                        \
    __attribute__((constructor)) static void reg_##name(void)                             \
    {                                                                                     \
        cs_test_register(#name, __FILE__, test_##name, timeout);                          \
    }                                                                                     \
    static void test_##name(void)
#define TEST(name) TEST_T(name, 0)

#define FAIL(...) cs_test_fail(__FILE__, __LINE__, __VA_ARGS__)
#define ASSERT(c)                                                                         \
    do {                                                                                  \
        if (!(c))                                                                         \
            FAIL("assertion failed: %s", #c);                                             \
    } while (0)
#define ASSERT_EQ(a, b)                                                                   \
    do {                                                                                  \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                  \
        if (a_ != b_)                                                                     \
            FAIL("%s == %s: %jd != %jd", #a, #b, a_, b_);                                 \
    } while (0)
#define ASSERT_NE(a, b)                                                                   \
    do {                                                                                  \
        intmax_t a_ = (intmax_t)(a), b_ = (intmax_t)(b);                                  \
        if (a_ == b_)                                                                     \
            FAIL("%s != %s: both %jd", #a, #b, a_);                                       \
    } while (0)
#define ASSERT_UEQ(a, b)                                                                  \
    do {                                                                                  \
        uintmax_t a_ = (uintmax_t)(a), b_ = (uintmax_t)(b);                               \
        if (a_ != b_)                                                                     \
            FAIL("%s == %s: %ju != %ju", #a, #b, a_, b_);                                 \
    } while (0)
#define ASSERT_STR_EQ(a, b)                                                               \
    do {                                                                                  \
        const char *a_ = (a), *b_ = (b);                                                  \
        if (!a_ || !b_ || strcmp(a_, b_) != 0)                                            \
            FAIL("%s == %s: \"%s\" != \"%s\"", #a, #b, a_ ? a_ : "(null)",                \
                 b_ ? b_ : "(null)");                                                     \
    } while (0)
#define ASSERT_MEM_EQ(a, alen, b, blen)                                                   \
    do {                                                                                  \
        size_t al_ = (alen), bl_ = (blen);                                                \
        if (al_ != bl_ || memcmp((a), (b), al_) != 0)                                     \
            FAIL("%s (%zu bytes) != %s (%zu bytes)", #a, al_, #b, bl_);                   \
    } while (0)
#define ASSERT_CONTAINS(hay, needle)                                                      \
    do {                                                                                  \
        const char *h_ = (hay), *n_ = (needle);                                           \
        if (!h_ || !strstr(h_, n_))                                                       \
            FAIL("%s does not contain \"%s\"", #hay, n_);                                 \
    } while (0)
#define ASSERT_ST(st, want)                                                               \
    do {                                                                                  \
        cs_status s_ = (st), w_ = (want);                                                 \
        if (s_ != w_)                                                                     \
            FAIL("%s: got %s (%s), want %s", #st, cs_status_name(s_), cs_strerror(s_),     \
                 cs_status_name(w_));                                                     \
    } while (0)
#define ASSERT_OK(st) ASSERT_ST(st, CS_OK)

#endif
