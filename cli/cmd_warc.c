/* cmd_warc.c - `crawlset warc` (placeholder until implemented). */
#include "cli.h"

int cmd_warc(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_err("warc: not implemented yet");
    return CLI_EXIT_USAGE;
}
