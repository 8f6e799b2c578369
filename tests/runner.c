/* runner.c - runs every registered test in a forked child with a timeout and
 * prints "N passed, N failed" last. Usage: cs_tests [--list] [--timeout S]
 * [--jobs N] [--summary FILE] [SUBSTRING...] */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define CS_TEST_LSAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define CS_TEST_LSAN 1
#endif
#ifdef CS_TEST_LSAN
#include <sanitizer/lsan_interface.h>
#endif

typedef struct test_entry {
    const char *name;
    const char *file;
    cs_test_fn fn;
    int timeout;
} test_entry;

static test_entry *g_tests;
static size_t g_ntests, g_captests;
static char g_tmpdir[512];

void cs_test_register(const char *name, const char *file, cs_test_fn fn, int timeout_s)
{
    if (g_ntests == g_captests) {
        g_captests = g_captests ? g_captests * 2 : 256;
        g_tests = realloc(g_tests, g_captests * sizeof *g_tests);
        if (!g_tests)
            abort();
    }
    g_tests[g_ntests++] = (test_entry){name, file, fn, timeout_s};
}

void cs_test_fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "  %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    _exit(1);
}

const char *cs_test_corpus(const char *rel)
{
    static char buf[8][1024];
    static int i;
    const char *base = getenv("CS_CORPUS");
    if (!base)
        base = CS_CORPUS_DIR;
    char *b = buf[i++ & 7];
    snprintf(b, 1024, "%s/%s", base, rel);
    return b;
}

const char *cs_test_source(const char *rel)
{
    static char buf[8][1024];
    static int i;
    char *b = buf[i++ & 7];
    snprintf(b, 1024, "%s/%s", CS_SOURCE_DIR, rel);
    return b;
}

const char *cs_test_tmpdir(void)
{
    if (!g_tmpdir[0]) {
        const char *t = getenv("TMPDIR");
        snprintf(g_tmpdir, sizeof g_tmpdir, "%s/cs_test.XXXXXX", t ? t : "/tmp");
        if (!mkdtemp(g_tmpdir))
            FAIL("mkdtemp: %s", strerror(errno));
    }
    return g_tmpdir;
}

char *cs_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        FAIL("open %s: %s", path, strerror(errno));
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *d = cs_malloc((size_t)n + 1);
    if (!d || fread(d, 1, (size_t)n, f) != (size_t)n)
        FAIL("read %s", path);
    d[n] = 0;
    fclose(f);
    if (len)
        *len = (size_t)n;
    return d;
}

void cs_test_write_file(const char *path, const void *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, len, f) != len || fclose(f) != 0)
        FAIL("write %s: %s", path, strerror(errno));
}

static void **g_keep;
static size_t g_nkeep, g_capkeep;

void *cs_test_keep(void *p)
{
    if (!p)
        return p;
    if (g_nkeep == g_capkeep) {
        g_capkeep = g_capkeep ? g_capkeep * 2 : 64;
        g_keep = realloc(g_keep, g_capkeep * sizeof *g_keep);
        if (!g_keep)
            abort();
    }
    g_keep[g_nkeep++] = p;
    return p;
}

static void free_kept(void)
{
    for (size_t i = 0; i < g_nkeep; i++)
        free(g_keep[i]);
    free(g_keep);
    g_keep = NULL;
    g_nkeep = g_capkeep = 0;
}

int cs_test_crawlset(const char *args, char **out, char **err)
{
    return cs_test_crawlset_n(args, out, NULL, err);
}

int cs_test_crawlset_n(const char *args, char **out, size_t *out_len, char **err)
{
    char op[600], ep[600], cmd[8192];
    snprintf(op, sizeof op, "%s/crawlset.out", cs_test_tmpdir());
    snprintf(ep, sizeof ep, "%s/crawlset.err", cs_test_tmpdir());
    /* </dev/null first: a redirection in args wins */
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s/crawlset' </dev/null %s >'%s' 2>'%s'", CS_SOURCE_DIR,
             CS_BUILD_DIR, args, op, ep);
    int rc = system(cmd);
    if (out)
        *out = cs_test_read_file(op, out_len);
    if (err)
        *err = cs_test_read_file(ep, NULL);
    if (rc == -1 || !WIFEXITED(rc))
        return -1;
    return WEXITSTATUS(rc);
}

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

static int cmp_tests(const void *a, const void *b)
{
    const test_entry *x = a, *y = b;
    int c = strcmp(x->file, y->file);
    return c ? c : strcmp(x->name, y->name);
}

typedef struct running {
    pid_t pid;
    size_t idx;
    double start;
    int outfd;
    char outpath[256];
} running;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static bool matches(const test_entry *t, int nf, char **filters)
{
    if (nf == 0)
        return true;
    for (int i = 0; i < nf; i++)
        if (strstr(t->name, filters[i]) || strstr(t->file, filters[i]))
            return true;
    return false;
}

static const char *short_file(const char *f)
{
    const char *p = strstr(f, "/tests/");
    if (!p)
        p = strstr(f, "/fuzz/");
    return p ? p + 1 : f;
}

int main(int argc, char **argv)
{
    int timeout = 120, jobs = 2;
    bool list = false;
    const char *summary = NULL;
    char **filters = calloc((size_t)argc, sizeof *filters);
    int nf = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--list"))
            list = true;
        else if (!strcmp(argv[i], "--timeout") && i + 1 < argc)
            timeout = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--jobs") && i + 1 < argc)
            jobs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--summary") && i + 1 < argc)
            summary = argv[++i];
        else if (!strcmp(argv[i], "--help")) {
            printf("usage: %s [--list] [--timeout S] [--jobs N] [--summary FILE] [FILTER...]\n",
                   argv[0]);
            return 0;
        } else
            filters[nf++] = argv[i];
    }
    if (getenv("CS_TEST_JOBS"))
        jobs = atoi(getenv("CS_TEST_JOBS"));
    if (jobs < 1)
        jobs = 1;
    qsort(g_tests, g_ntests, sizeof *g_tests, cmp_tests);
    if (list) {
        for (size_t i = 0; i < g_ntests; i++)
            if (matches(&g_tests[i], nf, filters))
                printf("%s %s\n", short_file(g_tests[i].file), g_tests[i].name);
        free(filters);
        free(g_tests);
        return 0;
    }
    signal(SIGPIPE, SIG_IGN);
    size_t passed = 0, failed = 0, next = 0;
    running *run = calloc((size_t)jobs, sizeof *run);
    int active = 0;
    char **failures = calloc(g_ntests + 1, sizeof *failures);
    size_t nfailures = 0;
    double t0 = now();
    for (;;) {
        while (active < jobs && next < g_ntests) {
            size_t idx = next++;
            if (!matches(&g_tests[idx], nf, filters))
                continue;
            int slot = 0;
            while (run[slot].pid)
                slot++;
            running *r = &run[slot];
            snprintf(r->outpath, sizeof r->outpath, "/tmp/cs_test_out.%d.%zu", (int)getpid(), idx);
            r->outfd = open(r->outpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
            fflush(stdout);
            fflush(stderr);
            pid_t pid = fork();
            if (pid == 0) {
                setpgid(0, 0);
                dup2(r->outfd, 1);
                dup2(r->outfd, 2);
                g_tmpdir[0] = 0;
                g_tests[idx].fn();
                fflush(stdout);
                free_kept();
#ifdef CS_TEST_LSAN
                /* children leave with _exit: check for leaks here, per test */
                if (__lsan_do_recoverable_leak_check()) {
                    fprintf(stderr, "  leak detected (see the report above)\n");
                    _exit(1);
                }
#endif
                if (g_tmpdir[0])
                    nftw(g_tmpdir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
                _exit(0);
            }
            r->pid = pid;
            r->idx = idx;
            r->start = now();
            active++;
        }
        if (active == 0)
            break;
        int status;
        pid_t pid = waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            double t = now();
            for (int s = 0; s < jobs; s++) {
                running *r = &run[s];
                int lim = g_tests[r->idx].timeout ? g_tests[r->idx].timeout : timeout;
                if (r->pid && t - r->start > lim) {
                    kill(-r->pid, SIGKILL);
                    kill(r->pid, SIGKILL);
                }
            }
            usleep(2000);
            continue;
        }
        for (int s = 0; s < jobs; s++) {
            running *r = &run[s];
            if (r->pid != pid)
                continue;
            test_entry *t = &g_tests[r->idx];
            double el = now() - r->start;
            bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
            /* kill stray grandchildren (servers) of the test */
            kill(-pid, SIGKILL);
            if (ok) {
                passed++;
                printf("ok   %-48s %-28s %6.2fs\n", t->name, short_file(t->file), el);
            } else {
                failed++;
                char why[64];
                if (WIFSIGNALED(status))
                    snprintf(why, sizeof why, "signal %d%s", WTERMSIG(status),
                             WTERMSIG(status) == SIGKILL ? " (timeout?)" : "");
                else
                    snprintf(why, sizeof why, "exit %d", WEXITSTATUS(status));
                printf("FAIL %-48s %-28s %6.2fs  %s\n", t->name, short_file(t->file), el, why);
                failures[nfailures++] = (char *)t->name;
                /* show the child's output */
                lseek(r->outfd, 0, SEEK_SET);
                char buf[4096];
                ssize_t n;
                size_t shown = 0;
                while ((n = read(r->outfd, buf, sizeof buf)) > 0 && shown < 65536) {
                    fwrite(buf, 1, (size_t)n, stdout);
                    shown += (size_t)n;
                }
            }
            close(r->outfd);
            unlink(r->outpath);
            r->pid = 0;
            active--;
        }
    }
    if (nfailures) {
        printf("\nfailed tests:\n");
        for (size_t i = 0; i < nfailures; i++)
            printf("  %s\n", failures[i]);
    }
    printf("\n%zu tests in %.1fs\n", passed + failed, now() - t0);
    printf("%zu passed, %zu failed\n", passed, failed);
    if (summary) {
        FILE *f = fopen(summary, "w");
        if (f) {
            fprintf(f, "%zu %zu\n", passed, failed);
            fclose(f);
        }
    }
    free(run);
    free(failures);
    free(filters);
    free(g_tests);
    return failed ? 1 : 0;
}
