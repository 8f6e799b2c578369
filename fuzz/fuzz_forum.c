/* fuzz_forum.c - a Discourse topic page's HTML (data-preloaded store or
 * crawler view) into topic JSON, on arbitrary bytes. */
#include "fuzz.h"

CS_FUZZ_TARGET(forum)
{
    char *json = NULL;
    cs_status st = cs_forum_topic_from_html((const char *)data, size, &json);
    (void)st;
    cs_free(json);
    return 0;
}
