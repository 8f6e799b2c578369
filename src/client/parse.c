/* parse.c - the tracker client's answer parsers (jansson for JSON). Every
 * answer is hostile until checked: types, ranges and lengths are verified
 * and a mismatch is a clear CS_EFORMAT, never a crash. */
#include <jansson.h>
#include <stdarg.h>
#include <string.h>

#include "client/client_int.h"

static cs_status fail(char *err, size_t errlen, const char *fmt, ...) CS_PRINTF(3, 4);
static cs_status fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return CS_EFORMAT;
}

static json_t *load_object(const char *body, size_t len, const char *what, char *err,
                           size_t errlen)
{
    json_error_t je;
    json_t *j = json_loadb(body, len, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    if (!j) {
        fail(err, errlen, "%s: not JSON (%s at byte %d)", what, je.text, je.position);
        return NULL;
    }
    if (!json_is_object(j)) {
        fail(err, errlen, "%s: a JSON object was expected", what);
        json_decref(j);
        return NULL;
    }
    return j;
}

/* A string member: copied into *out. Absent: "" when optional, else an
 * error. Too long, wrong type or (when required) empty: an error. */
static cs_status get_str(json_t *o, const char *key, bool required, char **out,
                         const char *what, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) {
        if (required)
            return fail(err, errlen, "%s: \"%s\" is missing", what, key);
        *out = cs_strdup("");
        return *out ? CS_OK : CS_ENOMEM;
    }
    if (!json_is_string(v))
        return fail(err, errlen, "%s: \"%s\" is not a string", what, key);
    size_t n = json_string_length(v);
    if (n > CS__CLIENT_MAX_STR)
        return fail(err, errlen, "%s: \"%s\" is %zu bytes (at most %d)", what, key, n,
                    CS__CLIENT_MAX_STR);
    if (required && n == 0)
        return fail(err, errlen, "%s: \"%s\" is empty", what, key);
    *out = cs_strndup(json_string_value(v), n);
    return *out ? CS_OK : CS_ENOMEM;
}

/* A non-negative integer member: a JSON integer, an integral real below
 * 2^53, or a decimal string. */
static cs_status get_u64(json_t *o, const char *key, bool required, bool *present,
                         uint64_t *out, const char *what, char *err, size_t errlen)
{
    json_t *v = json_object_get(o, key);
    *present = false;
    if (!v || json_is_null(v)) {
        if (required)
            return fail(err, errlen, "%s: \"%s\" is missing", what, key);
        return CS_OK;
    }
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        if (i < 0)
            return fail(err, errlen, "%s: \"%s\" is negative", what, key);
        *out = (uint64_t)i;
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d >= 0 && d < 9007199254740992.0) || d != (double)(uint64_t)d)
            return fail(err, errlen, "%s: \"%s\" is not a whole number", what, key);
        *out = (uint64_t)d;
    } else if (json_is_string(v)) {
        cs_slice s = {json_string_value(v), json_string_length(v)};
        if (!cs_slice_to_u64(cs_slice_trim(s), out))
            return fail(err, errlen, "%s: \"%s\" is not a decimal number", what, key);
    } else {
        return fail(err, errlen, "%s: \"%s\" is not a number", what, key);
    }
    *present = true;
    return CS_OK;
}

cs_status cs__client_parse_new(const char *body, size_t len, char **token, char **display_name,
                               char **upload_address, char *err, size_t errlen)
{
    *token = *display_name = *upload_address = NULL;
    json_t *j = load_object(body, len, "new", err, errlen);
    if (!j)
        return CS_EFORMAT;
    cs_status st = get_str(j, "token", true, token, "new", err, errlen);
    if (!st)
        st = get_str(j, "display_name", false, display_name, "new", err, errlen);
    if (!st)
        st = get_str(j, "upload_address", false, upload_address, "new", err, errlen);
    json_decref(j);
    return st;
}

cs_status cs__client_parse_job(const char *body, size_t len, cs_client_job *job, char **url,
                               char *err, size_t errlen)
{
    memset(job, 0, sizeof *job);
    job->number = -1;
    *url = NULL;
    json_t *j = load_object(body, len, "newJob", err, errlen);
    if (!j)
        return CS_EFORMAT;
    bool have;
    uint64_t piece = 0, number = 0;
    cs_status st = get_str(j, "url", true, url, "newJob", err, errlen);
    if (!st)
        st = get_u64(j, "start_id", true, &have, &job->start_id, "newJob", err, errlen);
    if (!st)
        st = get_u64(j, "end_id", true, &have, &job->end_id, "newJob", err, errlen);
    if (!st)
        st = get_u64(j, "shard", true, &have, &piece, "newJob", err, errlen);
    if (!st && piece > 1)
        st = fail(err, errlen, "newJob: \"shard\" is %llu (0 or 1 expected)",
                  (unsigned long long)piece);
    if (!st)
        st = get_u64(j, "number", false, &have, &number, "newJob", err, errlen);
    if (!st && have && number > (uint64_t)INT64_MAX)
        st = fail(err, errlen, "newJob: \"number\" is out of range");
    if (!st && job->end_id < job->start_id)
        st = fail(err, errlen, "newJob: end_id %llu is below start_id %llu",
                  (unsigned long long)job->end_id, (unsigned long long)job->start_id);
    json_decref(j);
    if (st)
        return st;
    job->shard_piece = (int)piece;
    job->number = have ? (int64_t)number : -1;
    job->url = *url;
    return CS_OK;
}

cs_status cs__client_parse_count(const char *body, size_t len, uint64_t *out, char *err,
                                 size_t errlen)
{
    cs_slice s = cs_slice_trim((cs_slice){body, len});
    if (!cs_slice_to_u64(s, out))
        return fail(err, errlen, "jobCount: \"%.*s\" is not a number",
                    (int)(s.len > 40 ? 40 : s.len), s.ptr ? s.ptr : "");
    return CS_OK;
}

cs_status cs__client_parse_bool(const char *body, size_t len, bool *out, char *err,
                                size_t errlen)
{
    cs_slice s = cs_slice_trim((cs_slice){body, len});
    if (cs_slice_ieq(s, "true"))
        *out = true;
    else if (cs_slice_ieq(s, "false"))
        *out = false;
    else
        return fail(err, errlen, "validateWorker: \"%.*s\" is neither True nor False",
                    (int)(s.len > 40 ? 40 : s.len), s.ptr ? s.ptr : "");
    return CS_OK;
}

bool cs__client_plain_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 255 || name[0] == '.')
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = name[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '.' || ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

void cs__client_free_strv(char **v, size_t n)
{
    if (!v)
        return;
    for (size_t i = 0; i < n; i++)
        cs_free(v[i]);
    cs_free(v);
}

cs_status cs__client_parse_manifest(const char *body, size_t len, char ***files, size_t *nfiles,
                                    uint64_t *pairs, char *err, size_t errlen)
{
    *files = NULL;
    *nfiles = 0;
    *pairs = 0;
    json_t *j = load_object(body, len, "manifest", err, errlen);
    if (!j)
        return CS_EFORMAT;
    cs_status st = CS_OK;
    bool have;
    json_t *fs = json_object_get(j, "files");
    if (!json_is_array(fs)) {
        st = fail(err, errlen, "manifest: \"files\" is not an array");
        goto done;
    }
    size_t n = json_array_size(fs);
    if (n > CS__CLIENT_MAX_FILES) {
        st = fail(err, errlen, "manifest: %zu files (at most %d)", n, CS__CLIENT_MAX_FILES);
        goto done;
    }
    if ((st = get_u64(j, "pairs", false, &have, pairs, "manifest", err, errlen)))
        goto done;
    char **v = cs_calloc(n ? n : 1, sizeof *v);
    if (!v) {
        st = CS_ENOMEM;
        goto done;
    }
    size_t k = 0;
    for (; k < n; k++) {
        json_t *f = json_array_get(fs, k);
        if (!json_is_string(f) || json_string_length(f) != strlen(json_string_value(f)) ||
            !cs__client_plain_name(json_string_value(f))) {
            st = fail(err, errlen, "manifest: file %zu is not a plain file name", k);
            break;
        }
        if (!(v[k] = cs_strdup(json_string_value(f)))) {
            st = CS_ENOMEM;
            break;
        }
    }
    if (st) {
        cs__client_free_strv(v, k);
        goto done;
    }
    *files = v;
    *nfiles = n;
done:
    json_decref(j);
    return st;
}
