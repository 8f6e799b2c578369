/* fuzz_client.c - libFuzzer target for the tracker client's answer parsers:
 * the input is read as every answer the client takes from a tracker (new,
 * newJob, jobCount, validateWorker), as a job manifest, and as a dumped
 * client; whatever is accepted is checked for the promised invariants
 * (plain file names, shard 0 or 1, end_id >= start_id) and a loaded client is
 * dumped and loaded again, which must give the same dump. */
#include <string.h>

#include "fuzz.h"
#include "client/client_int.h"

static void check(bool ok)
{
    if (!ok)
        __builtin_trap();
}

CS_FUZZ_TARGET(client)
{
    const char *s = (const char *)data;
    char err[256];
    char *a, *b, *c;
    if (cs__client_parse_new(s, size, &a, &b, &c, err, sizeof err) == CS_OK)
        check(a && *a && b && c && strlen(a) <= CS__CLIENT_MAX_STR);
    cs_free(a);
    cs_free(b);
    cs_free(c);

    cs_client_job job;
    char *url;
    if (cs__client_parse_job(s, size, &job, &url, err, sizeof err) == CS_OK)
        check(job.url == url && *url && job.end_id >= job.start_id &&
              (job.shard_piece == 0 || job.shard_piece == 1) && job.number >= -1);
    cs_free(url);

    uint64_t n;
    bool flag;
    (void)cs__client_parse_count(s, size, &n, err, sizeof err);
    (void)cs__client_parse_bool(s, size, &flag, err, sizeof err);

    char **files;
    size_t nfiles;
    uint64_t pairs;
    if (cs__client_parse_manifest(s, size, &files, &nfiles, &pairs, err, sizeof err) == CS_OK) {
        for (size_t i = 0; i < nfiles; i++)
            check(cs__client_plain_name(files[i]) && !strchr(files[i], '/'));
        cs__client_free_strv(files, nfiles);
    }

    cs_client *cl = NULL;
    if (cs_client_load(&cl, s, size, NULL) == CS_OK) {
        char *d1 = NULL, *d2 = NULL;
        cs_client *again = NULL;
        if (cs_client_dump(cl, &d1, NULL) == CS_OK) {
            check(cs_client_load(&again, d1, strlen(d1), NULL) == CS_OK);
            check(cs_client_dump(again, &d2, NULL) == CS_OK);
            check(!strcmp(d1, d2));
        }
        cs_free(d1);
        cs_free(d2);
        cs_client_free(again);
    } else {
        (void)strlen(cs_client_errmsg(cl));
    }
    cs_client_free(cl);
    return 0;
}
