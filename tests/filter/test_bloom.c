/* test_bloom.c - Bloom filter files: sizing, measured false-positive rate
 * at capacity, merge == build from the union (byte for byte), corrupt and
 * mismatched files, and the tracker flow with two workers against files. */
#include <sys/wait.h>
#include <unistd.h>

#include "../test.h"

static char *path_in(const char *name)
{
    static char buf[8][600];
    static int i;
    char *p = buf[i++ % 8];
    snprintf(p, 600, "%s/%s", cs_test_tmpdir(), name);
    return p;
}

TEST(bloom_sizing)
{
    cs_bloom *b;
    ASSERT_OK(cs_bloom_new(&b, 0, 0)); /* the defaults: 100M at 1% */
    cs_bloom_info in;
    cs_bloom_info_get(b, &in);
    ASSERT_UEQ(in.m, 958505984ull);
    ASSERT_UEQ(in.k, 7);
    ASSERT_UEQ(in.capacity, 100000000ull);
    ASSERT_UEQ(in.bits_set, 0);
    cs_bloom_free(b);
    ASSERT_OK(cs_bloom_new(&b, 1000, 0.001));
    cs_bloom_info_get(b, &in);
    ASSERT_UEQ(in.m, 14848); /* ceil(14377.6) rounded up to 512 */
    ASSERT_UEQ(in.k, 10);
    cs_bloom_free(b);
    ASSERT_ST(cs_bloom_new(&b, 10, 0.9), CS_EINVAL);
    ASSERT_ST(cs_bloom_new(&b, 10, -1), CS_EINVAL);
    ASSERT_ST(cs_bloom_new(&b, UINT64_MAX / 2, 1e-9), CS_EINVAL);
}

/* Adds n keys, then asks about 2n others: no false negatives, and the
 * measured false-positive rate within 20% of the configured one. */
static void fp_at_capacity(uint64_t n, double p)
{
    cs_bloom *b;
    ASSERT_OK(cs_bloom_new(&b, n, p));
    char key[64];
    for (uint64_t i = 0; i < n; i++) {
        int l = snprintf(key, sizeof key, "https://example.com/img/%llu.jpg", (unsigned long long)i);
        cs_bloom_add(b, key, (size_t)l);
    }
    for (uint64_t i = 0; i < n; i++) {
        int l = snprintf(key, sizeof key, "https://example.com/img/%llu.jpg", (unsigned long long)i);
        ASSERT(cs_bloom_query(b, key, (size_t)l));
    }
    uint64_t fp = 0, q = 2 * n;
    for (uint64_t i = 0; i < q; i++) {
        int l = snprintf(key, sizeof key, "https://other.example.org/%llu", (unsigned long long)i);
        fp += cs_bloom_query(b, key, (size_t)l);
    }
    double rate = (double)fp / (double)q;
    printf("capacity %llu at %g: measured false-positive rate %.5f (%llu of %llu)\n",
           (unsigned long long)n, p, rate, (unsigned long long)fp, (unsigned long long)q);
    fflush(stdout);
    if (rate < 0.8 * p || rate > 1.2 * p)
        FAIL("false-positive rate %.5f not within 20%% of %g", rate, p);
    cs_bloom_info in;
    cs_bloom_info_get(b, &in);
    if (in.est_count < 0.97 * (double)n || in.est_count > 1.03 * (double)n)
        FAIL("estimated count %.0f for %llu keys", in.est_count, (unsigned long long)n);
    cs_bloom_free(b);
}

TEST_T(bloom_false_positive_rate_at_capacity, 60)
{
    fp_at_capacity(200000, 0.01);
    fp_at_capacity(100000, 0.05);
    fp_at_capacity(100000, 0.001);
}

static void add_range(cs_bloom *b, int from, int to)
{
    char key[64];
    for (int i = from; i < to; i++) {
        int l = snprintf(key, sizeof key, "key-%d", i);
        cs_bloom_add(b, key, (size_t)l);
    }
}

static bool same_file(const char *a, const char *b)
{
    size_t la, lb;
    char *x = cs_test_read_file(a, &la), *y = cs_test_read_file(b, &lb);
    bool same = la == lb && memcmp(x, y, la) == 0;
    cs_free(x);
    cs_free(y);
    return same;
}

TEST(bloom_merge_equals_union_build)
{
    cs_bloom *a, *b, *u;
    char err[512];
    ASSERT_OK(cs_bloom_new(&a, 50000, 0.01));
    ASSERT_OK(cs_bloom_new_like(&b, a));
    ASSERT_OK(cs_bloom_new_like(&u, a));
    add_range(a, 0, 30000);
    add_range(b, 20000, 60000);
    add_range(u, 0, 60000);
    ASSERT_OK(cs_bloom_save(a, path_in("a.bloom"), err, sizeof err));
    ASSERT_OK(cs_bloom_save(b, path_in("b.bloom"), err, sizeof err));
    ASSERT_OK(cs_bloom_save(u, path_in("u.bloom"), err, sizeof err));
    /* in memory */
    ASSERT_OK(cs_bloom_merge(a, b));
    ASSERT_OK(cs_bloom_save(a, path_in("ab.bloom"), err, sizeof err));
    ASSERT(same_file(path_in("ab.bloom"), path_in("u.bloom")));
    /* the command, B into A, and the merge is commutative and idempotent */
    char args[2048];
    snprintf(args, sizeof args, "bloom merge '%s' '%s' '%s'", path_in("ba.bloom"),
             path_in("b.bloom"), path_in("a.bloom"));
    ASSERT_EQ(cs_test_crawlset(args, NULL, NULL), 0);
    ASSERT(same_file(path_in("ba.bloom"), path_in("u.bloom")));
    snprintf(args, sizeof args, "bloom merge '%s' '%s' '%s'", path_in("ba.bloom"),
             path_in("ba.bloom"), path_in("b.bloom"));
    ASSERT_EQ(cs_test_crawlset(args, NULL, NULL), 0);
    ASSERT(same_file(path_in("ba.bloom"), path_in("u.bloom")));
    cs_bloom_free(a);
    cs_bloom_free(b);
    cs_bloom_free(u);
    /* read-only mmap in two processes at once */
    for (int i = 0; i < 2; i++) {
        pid_t pid = fork();
        if (pid == 0) {
            cs_bloom *r;
            char e[256];
            if (cs_bloom_open(&r, path_in("u.bloom"), CS_BLOOM_VERIFY, e, sizeof e))
                _exit(2);
            char key[32];
            for (int k = 0; k < 60000; k++) {
                int l = snprintf(key, sizeof key, "key-%d", k);
                if (!cs_bloom_query(r, key, (size_t)l))
                    _exit(3);
            }
            cs_bloom_add(r, "new key", 7); /* read-only: must not write */
            cs_bloom_free(r);
            _exit(0);
        }
        int status;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
}

TEST(bloom_bad_files)
{
    cs_bloom *a, *b, *r = NULL;
    char err[512];
    ASSERT_OK(cs_bloom_new(&a, 1000, 0.01));
    add_range(a, 0, 500);
    ASSERT_OK(cs_bloom_save(a, path_in("a.bloom"), err, sizeof err));
    ASSERT_OK(cs_bloom_new(&b, 2000, 0.01));
    ASSERT_ST(cs_bloom_merge(a, b), CS_EINVAL); /* other parameters */
    ASSERT_OK(cs_bloom_save(b, path_in("b.bloom"), err, sizeof err));
    char args[2048];
    snprintf(args, sizeof args, "bloom merge '%s' '%s' '%s'", path_in("c.bloom"),
             path_in("a.bloom"), path_in("b.bloom"));
    char *e = NULL;
    ASSERT_EQ(cs_test_crawlset(args, NULL, &e), 3);
    ASSERT_CONTAINS(e, "other parameters");
    cs_free(e);
    cs_bloom_free(b);
    size_t len;
    char *data = cs_test_read_file(path_in("a.bloom"), &len);
    /* a flipped bit in the array: found with VERIFY only */
    data[4096 + 7] ^= 0x10;
    cs_test_write_file(path_in("flip.bloom"), data, len);
    ASSERT_OK(cs_bloom_open(&r, path_in("flip.bloom"), 0, err, sizeof err));
    cs_bloom_free(r);
    ASSERT_ST(cs_bloom_open(&r, path_in("flip.bloom"), CS_BLOOM_VERIFY, err, sizeof err),
              CS_EFORMAT);
    ASSERT_CONTAINS(err, "checksum");
    data[4096 + 7] ^= 0x10;
    /* header damage, truncation, wrong magic, empty file */
    data[16] ^= 1;
    cs_test_write_file(path_in("hdr.bloom"), data, len);
    ASSERT_ST(cs_bloom_open(&r, path_in("hdr.bloom"), 0, err, sizeof err), CS_EFORMAT);
    data[16] ^= 1;
    cs_test_write_file(path_in("short.bloom"), data, len - 8);
    ASSERT_ST(cs_bloom_open(&r, path_in("short.bloom"), 0, err, sizeof err), CS_EFORMAT);
    ASSERT_CONTAINS(err, "bad Bloom header");
    cs_test_write_file(path_in("empty.bloom"), "", 0);
    ASSERT_ST(cs_bloom_open(&r, path_in("empty.bloom"), 0, err, sizeof err), CS_EFORMAT);
    cs_test_write_file(path_in("text.bloom"), "hello world, this is not a bloom filter file at all!!!!!!!!!!!", 63);
    ASSERT_ST(cs_bloom_open(&r, path_in("text.bloom"), 0, err, sizeof err), CS_EFORMAT);
    ASSERT_ST(cs_bloom_open(&r, path_in("missing.bloom"), 0, err, sizeof err), CS_EIO);
    ASSERT(r == NULL);
    cs_free(data);
    cs_bloom_free(a);
    ASSERT_EQ(cs_test_crawlset("bloom", NULL, NULL), 2);
    ASSERT_EQ(cs_test_crawlset("bloom frob x", NULL, NULL), 2);
    ASSERT_EQ(cs_test_crawlset("bloom create x --error-rate 2", NULL, NULL), 2);
}

/* The tracker flow of filter.h with two workers: each filters its part of
 * the candidates against the master and writes a delta of what it kept;
 * the tracker merges both deltas into the master. Then the master holds
 * every URL either kept (no false negatives), equals byte for byte a filter
 * built by `bloom add` from the union of what they kept, and a worker
 * running after the merge drops all of those URLs. */
TEST_T(bloom_tracker_flow_two_workers, 60)
{
    const char *t = cs_test_tmpdir();
    /* 600 candidates; worker 1 gets rows 0-399, worker 2 rows 200-599 */
    FILE *w1 = fopen(path_in("w1.jsonl"), "w"), *w2 = fopen(path_in("w2.jsonl"), "w");
    ASSERT(w1 && w2);
    for (int i = 0; i < 600; i++) {
        char line[256];
        snprintf(line, sizeof line,
                 "{\"url\":\"https://img%d.example.com/p/%d.jpg\",\"alt\":\"Picture number %d of a cat\"}\n",
                 i % 7, i, i);
        if (i < 400)
            fputs(line, w1);
        if (i >= 200)
            fputs(line, w2);
    }
    fclose(w1);
    fclose(w2);
    char args[2048];
    char *out = NULL;
    snprintf(args, sizeof args, "bloom create '%s/master.bloom' --capacity 10000 --error-rate 0.001", t);
    ASSERT_EQ(cs_test_crawlset(args, NULL, NULL), 0);
    /* the two workers run at the same time (both map the master) */
    snprintf(args, sizeof args,
             "filter --bloom '%s/master.bloom' --bloom-delta '%s/d1.bloom' <'%s/w1.jsonl' >'%s/k1.jsonl' & "
             "'%s/crawlset' filter --bloom '%s/master.bloom' --bloom-delta '%s/d2.bloom' <'%s/w2.jsonl' >'%s/k2.jsonl'; wait",
             t, t, t, t, CS_BUILD_DIR, t, t, t, t);
    ASSERT_EQ(cs_test_crawlset(args, NULL, NULL), 0);
    /* the tracker merges what they sent back */
    snprintf(args, sizeof args, "bloom merge '%s/master.bloom' '%s/master.bloom' '%s/d1.bloom' '%s/d2.bloom'",
             t, t, t, t);
    ASSERT_EQ(cs_test_crawlset(args, NULL, NULL), 0);
    /* (the first worker's output went to k1 through the shell; the second's too) */
    size_t l1, l2;
    char *k1 = cs_test_read_file(path_in("k1.jsonl"), &l1), *k2 = cs_test_read_file(path_in("k2.jsonl"), &l2);
    size_t n1 = 0, n2 = 0;
    for (size_t i = 0; i < l1; i++)
        n1 += k1[i] == '\n';
    for (size_t i = 0; i < l2; i++)
        n2 += k2[i] == '\n';
    ASSERT_UEQ(n1, 400);
    ASSERT_UEQ(n2, 400);
    cs_free(k1);
    cs_free(k2);
    /* every kept URL is in the master */
    snprintf(args, sizeof args, "bloom query '%s/master.bloom' '%s/k1.jsonl' '%s/k2.jsonl'", t, t, t);
    ASSERT_EQ(cs_test_crawlset(args, &out, NULL), 0);
    ASSERT_STR_EQ(out, "");
    cs_free(out);
    /* master == a fresh filter built from the union of the kept rows */
    snprintf(args, sizeof args,
             "bloom create '%s/u.bloom' --capacity 10000 --error-rate 0.001 >/dev/null && "
             "'%s/crawlset' bloom add '%s/u.bloom' '%s/k1.jsonl' '%s/k2.jsonl'",
             t, CS_BUILD_DIR, t, t, t);
    ASSERT_EQ(cs_test_crawlset(args, NULL, NULL), 0);
    ASSERT(same_file(path_in("master.bloom"), path_in("u.bloom")));
    /* a later worker drops them all, as "seen" in the bloom filter */
    snprintf(args, sizeof args, "filter --bloom '%s/master.bloom' --stats '%s/s.json' <'%s/w2.jsonl'", t, t, t);
    ASSERT_EQ(cs_test_crawlset(args, &out, NULL), 0);
    ASSERT_STR_EQ(out, "");
    cs_free(out);
    char *st = cs_test_read_file(path_in("s.json"), NULL);
    ASSERT_CONTAINS(st, "{\"name\":\"bloom\",\"in\":400,\"out\":0,\"failed\":400,\"reasons\":{\"seen\":400}");
    cs_free(st);
    /* info reads the merged master, checksum verified */
    snprintf(args, sizeof args, "bloom info '%s/master.bloom' --verify", t);
    ASSERT_EQ(cs_test_crawlset(args, &out, NULL), 0);
    ASSERT_CONTAINS(out, "\"k\":10");
    cs_free(out);
}
