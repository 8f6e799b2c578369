/* cmd_dedupe.c - `crawlset dedupe DIR`: exact (sha256) and near (pHash)
 * duplicate images across a dataset directory, reported and optionally
 * dropped. */
#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void usage_dedupe(FILE *f)
{
    fprintf(f,
            "usage: crawlset dedupe [OPTIONS] DIR\n"
            "\n"
            "Finds duplicate images in a dataset directory: every image file under DIR\n"
            "(files and web2dataset layouts, any folder tree) and every image member of\n"
            "its .tar shards (webdataset). Exact duplicates have the same sha256; near\n"
            "duplicates have 64-bit DCT perceptual hashes (pHash) within the radius,\n"
            "found with a multi-index hash table (no all-pairs comparison). Items are\n"
            "taken in path order; each duplicate is reported against the first earlier\n"
            "item kept, one JSON line each on standard output:\n"
            "\n"
            "  {\"item\":\"00000.tar/000000012.jpg\",\"dup_of\":\"00000.tar/000000003.jpg\",\n"
            "   \"kind\":\"near\",\"distance\":3}\n"
            "\n"
            "options:\n"
            "  --radius N      Hamming radius for near duplicates (default 4; 0-31)\n"
            "  --exact-only    sha256 duplicates only (no decoding)\n"
            "  --drop          remove the duplicates: files with the item's name stem in\n"
            "                  its folder (KEY.jpg/.json/.txt, and metadata/KEY.json of the\n"
            "                  web2dataset layout); tar members with that stem (the shard\n"
            "                  is rewritten atomically). The .jsonl/_stats.json are kept.\n"
            "  --stats FILE    write the counts as JSON there\n"
            "  --threads N     hashing threads (default: one per CPU, CRAWLSET_THREADS)\n"
            "  -h, --help      this help\n"
            "\n"
            "Exit codes: 0 ok, 2 usage error, 3 fatal error (unreadable file, corrupt tar).\n");
}

static void report(void *ud, const char *item, const char *dup_of, const char *kind, int d)
{
    cli_out *o = ud;
    cs_buf b;
    cs_buf_init(&b, 0);
    CLI_TRY(cs_buf_puts(&b, "{\"item\":"));
    CLI_TRY(cs_json_put_str(&b, item, strlen(item)));
    CLI_TRY(cs_buf_puts(&b, ",\"dup_of\":"));
    CLI_TRY(cs_json_put_str(&b, dup_of, strlen(dup_of)));
    CLI_TRY(cs_buf_printf(&b, ",\"kind\":\"%s\",\"distance\":%d}\n", kind, d));
    cli_out_buf(o, &b);
    cs_buf_cleanup(&b);
}

int cmd_dedupe(int argc, char **argv)
{
    static const struct option LONGOPTS[] = {
        {"radius", required_argument, NULL, 'r'}, {"exact-only", no_argument, NULL, 'e'},
        {"drop", no_argument, NULL, 'd'},          {"stats", required_argument, NULL, 's'},
        {"threads", required_argument, NULL, 't'}, {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    cs_dedupe_opts o = {0};
    const char *stats_path = NULL;
    bool exact_only = false;
    o.threads = cli_threads();
    int ch;
    optind = 1;
    while ((ch = getopt_long(argc, argv, "h", LONGOPTS, NULL)) != -1) {
        char *end;
        switch (ch) {
        case 'r': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > 31) {
                cli_err("dedupe: --radius must be 0-31, not '%s'", optarg);
                return CLI_EXIT_USAGE;
            }
            o.radius = v == 0 ? -2 : (int)v; /* -2: radius 0 (0 means the default) */
            break;
        }
        case 'e':
            exact_only = true;
            break;
        case 'd':
            o.drop = true;
            break;
        case 's':
            stats_path = optarg;
            break;
        case 't': {
            long v = strtol(optarg, &end, 10);
            if (*end || v < 1 || v > 64) {
                cli_err("dedupe: --threads must be 1-64");
                return CLI_EXIT_USAGE;
            }
            o.threads = (unsigned)v;
            break;
        }
        case 'h':
            usage_dedupe(stdout);
            return CLI_EXIT_OK;
        default:
            usage_dedupe(stderr);
            return CLI_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        cli_err("dedupe: one DIR (see --help)");
        return CLI_EXIT_USAGE;
    }
    if (exact_only)
        o.radius = -1;
    cli_out out;
    cli_out_init(&out, 1);
    cs_dedupe_stats s;
    char err[1024] = "";
    cs_status st = cs_dedupe_dir(argv[optind], &o, report, &out, &s, err, sizeof err);
    cli_out_cleanup(&out);
    if (st) {
        cli_err("dedupe: %s", err[0] ? err : cs_strerror(st));
        return st == CS_EINVAL ? CLI_EXIT_USAGE : CLI_EXIT_FATAL;
    }
    fprintf(stderr,
            "dedupe: %llu images, %llu exact and %llu near duplicates, %llu undecodable%s\n",
            (unsigned long long)s.images, (unsigned long long)s.exact,
            (unsigned long long)s.near, (unsigned long long)s.undecodable,
            o.drop ? " (duplicates dropped)" : "");
    if (stats_path) {
        FILE *f = fopen(stats_path, "w");
        if (!f || fprintf(f,
                          "{\"images\":%llu,\"exact\":%llu,\"near\":%llu,\"undecodable\":%llu,"
                          "\"dropped_files\":%llu,\"shards_rewritten\":%llu}\n",
                          (unsigned long long)s.images, (unsigned long long)s.exact,
                          (unsigned long long)s.near, (unsigned long long)s.undecodable,
                          (unsigned long long)s.dropped,
                          (unsigned long long)s.shards_rewritten) < 0 ||
            fclose(f)) {
            cli_err("%s: cannot write", stats_path);
            return CLI_EXIT_FATAL;
        }
    }
    return CLI_EXIT_OK;
}
