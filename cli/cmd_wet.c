/* cmd_wet.c - `crawlset wet` (placeholder until implemented). */
#include "cli.h"

int cmd_wet(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_err("wet: not implemented yet");
    return CLI_EXIT_USAGE;
}
