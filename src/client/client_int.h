/* client_int.h - the client's answer parsers, apart from the network code so
 * that the fuzz target (fuzz/fuzz_client.c) and the tests can drive them.
 * Every parser takes an untrusted (pointer, length) body, returns CS_OK or
 * CS_EFORMAT with err saying what was wrong, and allocates its outputs with
 * cs_malloc (the caller frees them, also when only some were set). */
#ifndef CS_CLIENT_INT_H
#define CS_CLIENT_INT_H

#include "crawlset/client.h"

/* Longest token, display name, upload address, job url we accept. */
#define CS__CLIENT_MAX_STR 4096
/* Most files a manifest may list. */
#define CS__CLIENT_MAX_FILES 100000

/* The answer of GET /api/new: {"token", "display_name", "upload_address"}.
 * upload_address may be absent (""); token must be a non-empty string. */
cs_status cs__client_parse_new(const char *body, size_t len, char **token /* OUT */,
                               char **display_name /* OUT */, char **upload_address /* OUT */,
                               char *err, size_t errlen);

/* The answer of POST /api/newJob: {"url","start_id","end_id","shard","number"}.
 * Ids are integers or decimal strings (the original client sends them back as
 * strings); shard is 0 or 1; number optional. *url is allocated. */
cs_status cs__client_parse_job(const char *body, size_t len, cs_client_job *job /* OUT */,
                               char **url /* OUT */, char *err, size_t errlen);

/* jobCount's text answer: a decimal number (surrounding space allowed). */
cs_status cs__client_parse_count(const char *body, size_t len, uint64_t *out /* OUT */,
                                 char *err, size_t errlen);

/* validateWorker's text answer: True or False (any case, space allowed). */
cs_status cs__client_parse_bool(const char *body, size_t len, bool *out /* OUT */, char *err,
                                size_t errlen);

/* A job manifest (_job.json): the file names (checked to be plain names)
 * and the pair count. *files is an array of *nfiles strings, each allocated,
 * freed with cs__client_free_strv. */
cs_status cs__client_parse_manifest(const char *body, size_t len, char ***files /* OUT */,
                                    size_t *nfiles /* OUT */, uint64_t *pairs /* OUT */,
                                    char *err, size_t errlen);
void cs__client_free_strv(char **v, size_t n);

/* True when name is a plain file name: 1-255 bytes of [A-Za-z0-9._-], not
 * starting with '.'. */
bool cs__client_plain_name(const char *name);

#endif
