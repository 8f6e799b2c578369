/* put.c - shard upload by HTTP PUT (libcurl easy interface), for dataset
 * output to a WebDAV server or any endpoint that stores what it is PUT.
 * The fetcher (src/net, a layer above) is not used: uploads are few, large
 * and sequential, and the dataset layer must not depend on the net layer. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <curl/curl.h>

#include "dataset/dataset_int.h"

static size_t discard(char *p, size_t size, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return size * n;
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) && errno == EINTR)
        ;
}

static bool retryable(CURLcode rc, long code)
{
    if (rc != CURLE_OK)
        return rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT ||
               rc == CURLE_SEND_ERROR || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING ||
               rc == CURLE_PARTIAL_FILE || rc == CURLE_COULDNT_RESOLVE_HOST ||
               rc == CURLE_SSL_CONNECT_ERROR;
    return code == 408 || code == 429 || code >= 500;
}

/* One request: PUT of file f (n bytes) when f is set, else HEAD, or DELETE
 * when del is set. */
static CURLcode request(cs__put *p, const char *url, FILE *f, curl_off_t n, bool del,
                        long *code, char *cerr)
{
    CURL *c = curl_easy_init();
    if (!c)
        return CURLE_OUT_OF_MEMORY;
    cerr[0] = 0;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, cerr);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms < 30000 ? p->timeout_ms : 30000L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, p->timeout_ms);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "crawlset-dataset/0.1");
    if (f) {
        curl_easy_setopt(c, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(c, CURLOPT_READDATA, f);
        curl_easy_setopt(c, CURLOPT_INFILESIZE_LARGE, n);
    } else if (del) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "DELETE");
    } else {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    }
    CURLcode rc = curl_easy_perform(c);
    *code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, code);
    curl_easy_cleanup(c);
    return rc;
}

static void join(char *url, size_t cap, const char *base, const char *rel)
{
    while (*rel == '/')
        rel++;
    snprintf(url, cap, "%s/%s", base, rel);
}

cs_status cs__put_file(cs__put *p, const char *local, const char *rel, char *errmsg)
{
    char url[2048], cerr[CURL_ERROR_SIZE];
    join(url, sizeof url, p->base, rel);
    long backoff = 250;
    for (unsigned attempt = 0;; attempt++) {
        FILE *f = fopen(local, "rb");
        struct stat sb;
        if (!f || fstat(fileno(f), &sb)) {
            snprintf(errmsg, CS_ERRMSG_MAX, "open %.100s: %s", local, strerror(errno));
            if (f)
                fclose(f);
            return CS_EIO;
        }
        long code;
        p->requests++;
        CURLcode rc = request(p, url, f, (curl_off_t)sb.st_size, false, &code, cerr);
        fclose(f);
        if (rc == CURLE_OK && code >= 200 && code < 300)
            return CS_OK;
        if (rc == CURLE_OUT_OF_MEMORY)
            return CS_ENOMEM;
        if (attempt >= p->retries || !retryable(rc, code)) {
            if (rc != CURLE_OK)
                snprintf(errmsg, CS_ERRMSG_MAX, "PUT %.120s: %.100s", url,
                         cerr[0] ? cerr : curl_easy_strerror(rc));
            else
                snprintf(errmsg, CS_ERRMSG_MAX, "PUT %.120s: HTTP %ld", url, code);
            return rc != CURLE_OK ? CS_ENET : CS_EHTTP;
        }
        p->retried++;
        nap_ms(backoff);
        backoff = backoff * 2 > 8000 ? 8000 : backoff * 2;
    }
}

/* HEAD (del false) or DELETE (del true) of base/rel; *exists as for
 * cs__put_exists (for DELETE: true when something was deleted). */
static cs_status head_or_delete(cs__put *p, const char *rel, bool del, bool *exists,
                                char *errmsg)
{
    char url[2048], cerr[CURL_ERROR_SIZE];
    join(url, sizeof url, p->base, rel);
    long backoff = 250;
    *exists = false;
    const char *method = del ? "DELETE" : "HEAD";
    for (unsigned attempt = 0;; attempt++) {
        long code;
        p->requests++;
        CURLcode rc = request(p, url, NULL, 0, del, &code, cerr);
        if (rc == CURLE_OK && code >= 200 && code < 300) {
            *exists = true;
            return CS_OK;
        }
        if (rc == CURLE_OK && code >= 400 && code < 500 && code != 408 && code != 429)
            return CS_OK;
        if (rc == CURLE_OUT_OF_MEMORY)
            return CS_ENOMEM;
        if (attempt >= p->retries || !retryable(rc, code)) {
            if (rc != CURLE_OK)
                snprintf(errmsg, CS_ERRMSG_MAX, "%s %.120s: %.100s", method, url,
                         cerr[0] ? cerr : curl_easy_strerror(rc));
            else
                snprintf(errmsg, CS_ERRMSG_MAX, "%s %.120s: HTTP %ld", method, url, code);
            return rc != CURLE_OK ? CS_ENET : CS_EHTTP;
        }
        p->retried++;
        nap_ms(backoff);
        backoff = backoff * 2 > 8000 ? 8000 : backoff * 2;
    }
}

cs_status cs__put_exists(cs__put *p, const char *rel, bool *exists, char *errmsg)
{
    return head_or_delete(p, rel, false, exists, errmsg);
}

cs_status cs__put_delete(cs__put *p, const char *rel, char *errmsg)
{
    bool deleted;
    return head_or_delete(p, rel, true, &deleted, errmsg);
}
