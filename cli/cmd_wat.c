/* cmd_wat.c - `crawlset wat` (placeholder until implemented). */
#include "cli.h"

int cmd_wat(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_err("wat: not implemented yet");
    return CLI_EXIT_USAGE;
}
