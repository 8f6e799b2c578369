/* cmd_cc.c - `crawlset cc` (placeholder until implemented). */
#include "cli.h"

int cmd_cc(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    cli_err("cc: not implemented yet");
    return CLI_EXIT_USAGE;
}
