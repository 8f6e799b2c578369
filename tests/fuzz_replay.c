/* fuzz_replay.c - replays every fuzz target's seed corpus, and cheap
 * mutations of it (truncations, byte flips), as ordinary tests, so parser
 * crashes found by libFuzzer stay fixed in every build (ASan in CI). */
#include <dirent.h>
#include <sys/stat.h>

#include "fuzz.h"
#include "test.h"

typedef struct {
    const char *name;
    cs_fuzz_fn fn;
} fuzz_target;
static fuzz_target g_targets[32];
static int g_ntargets;

void cs_fuzz_register(const char *name, cs_fuzz_fn fn)
{
    if (g_ntargets < 32)
        g_targets[g_ntargets++] = (fuzz_target){name, fn};
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint64_t next_rand(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

static void run_one(const fuzz_target *t, const char *path, size_t *count)
{
    size_t n;
    char *d = cs_test_read_file(path, &n);
    t->fn((const uint8_t *)d, n);
    (*count)++;
    /* mutations: truncations at a few points and random byte flips */
    size_t cuts[] = {n / 2, n / 3, n > 10 ? n - 7 : 0, n > 1 ? n - 1 : 0};
    for (size_t i = 0; i < sizeof cuts / sizeof *cuts; i++) {
        uint8_t *c = malloc(cuts[i] + 1);
        memcpy(c, d, cuts[i]);
        t->fn(c, cuts[i]);
        free(c);
    }
    if (n > 0) {
        uint8_t *m = malloc(n);
        for (int round = 0; round < 8; round++) {
            memcpy(m, d, n);
            for (int k = 0; k < 4; k++)
                m[next_rand() % n] ^= (uint8_t)(1u << (next_rand() % 8));
            t->fn(m, n);
        }
        free(m);
    }
    cs_free(d);
}

static void replay_dir(const fuzz_target *t, const char *dir, size_t *count)
{
    DIR *dp = opendir(dir);
    if (!dp)
        return;
    struct dirent *e;
    while ((e = readdir(dp))) {
        if (e->d_name[0] == '.')
            continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat sb;
        if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
            run_one(t, path, count);
    }
    closedir(dp);
}

static void replay_list(const fuzz_target *t, const char *list, size_t *count)
{
    FILE *f = fopen(list, "r");
    if (!f)
        return;
    char line[1024];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#')
            continue;
        run_one(t, cs_test_corpus(line), count);
    }
    fclose(f);
}

TEST_T(fuzz_seed_corpora_replay, 600)
{
    ASSERT(g_ntargets > 0);
    for (int i = 0; i < g_ntargets; i++) {
        size_t count = 0;
        char dir[512];
        snprintf(dir, sizeof dir, "fuzz/corpus/%s", g_targets[i].name);
        replay_dir(&g_targets[i], cs_test_source(dir), &count);
        snprintf(dir, sizeof dir, "fuzz/seeds/%s.txt", g_targets[i].name);
        replay_list(&g_targets[i], cs_test_source(dir), &count);
        printf("%s: %zu seeds\n", g_targets[i].name, count);
        if (count == 0)
            FAIL("fuzz target %s has no seeds", g_targets[i].name);
    }
}
