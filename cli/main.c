/* main.c - the `crawlset` command: dispatches to one file per subcommand. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_command COMMANDS[] = {
    {"warc", "read, list, index, verify WARC files", cmd_warc},
    {"wat", "links and image candidates from WAT files", cmd_wat},
    {"wet", "plain text from WET files", cmd_wet},
    {"cc", "fetch Common Crawl records by range", cmd_cc},
    {"download", "download a URL list's images into a dataset (img2dataset)", cmd_download},
    {"pairs", "image-text pairs from WAT files: candidates, download, shards", cmd_pairs},
    {"tracker", "the job tracker: serve, add-jobs, status", cmd_tracker},
    {"worker", "work for a tracker: take jobs, run their pipeline, complete them", cmd_worker},
    {"filter", "filter candidates: URL, text, language, unsafe, exact dedupe", cmd_filter},
    {"bloom", "Bloom filter files of URLs: create, add, query, merge, info", cmd_bloom},
    {"dedupe", "exact and near-duplicate images (pHash) in a dataset directory", cmd_dedupe},
    {"forum", "Discourse forum topics as conversations (chats-crawler)", cmd_forum},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
    fprintf(f,
            "usage: crawlset COMMAND [ARGS...]\n"
            "\n"
            "crawlset turns the web into machine-learning datasets.\n"
            "\n"
            "commands:\n");
    for (const cli_command *c = COMMANDS; c->name; c++)
        fprintf(f, "  %-8s %s\n", c->name, c->help);
    fprintf(f, "\nRun 'crawlset COMMAND --help' for a command's options.\n"
               "Exit codes: 0 ok, 1 some input had errors, 2 usage error, 3 fatal error.\n");
}

int main(int argc, char **argv)
{
    cli_init(argv[0]);
    if (argc < 2) {
        usage(stderr);
        return CLI_EXIT_USAGE;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("crawlset 0.1.0 (inflate: %s)\n", cs_inflate_backend_name());
        return 0;
    }
    for (const cli_command *c = COMMANDS; c->name; c++)
        if (!strcmp(argv[1], c->name))
            return c->fn(argc - 1, argv + 1);
    fprintf(stderr, "crawlset: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return CLI_EXIT_USAGE;
}
