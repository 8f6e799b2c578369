/* digest.c - WARC-Block-Digest / WARC-Payload-Digest values: incremental
 * hashing via OpenSSL's EVP and parsing/formatting of "algo:value". */
#include <openssl/evp.h>
#include <string.h>

#include "crawlset/warc.h"

static const EVP_MD *md_of(cs_digest_algo a)
{
    switch (a) {
    case CS_DIGEST_SHA1: return EVP_sha1();
    case CS_DIGEST_SHA256: return EVP_sha256();
    case CS_DIGEST_SHA512: return EVP_sha512();
    case CS_DIGEST_MD5: return EVP_md5();
    default: return NULL;
    }
}

cs_status cs_digest_init(cs_digest *d, cs_digest_algo algo)
{
    d->algo = algo;
    d->ctx = NULL;
    const EVP_MD *md = md_of(algo);
    if (!md)
        return CS_EUNSUPPORTED;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        return CS_ENOMEM;
    if (EVP_DigestInit_ex(c, md, NULL) != 1) {
        EVP_MD_CTX_free(c);
        return CS_EUNSUPPORTED;
    }
    d->ctx = c;
    return CS_OK;
}

void cs_digest_update(cs_digest *d, const void *p, size_t n)
{
    if (d->ctx && n)
        EVP_DigestUpdate(d->ctx, p, n);
}

void cs_digest_final(cs_digest *d, uint8_t *out, size_t *len)
{
    unsigned int n = 0;
    if (d->ctx)
        EVP_DigestFinal_ex(d->ctx, out, &n);
    *len = n;
}

void cs_digest_cleanup(cs_digest *d)
{
    EVP_MD_CTX_free(d->ctx);
    d->ctx = NULL;
}

static size_t algo_len(cs_digest_algo a)
{
    switch (a) {
    case CS_DIGEST_SHA1: return 20;
    case CS_DIGEST_SHA256: return 32;
    case CS_DIGEST_SHA512: return 64;
    case CS_DIGEST_MD5: return 16;
    default: return 0;
    }
}

cs_status cs_digest_parse(const char *s, cs_digest_spec *out)
{
    memset(out, 0, sizeof *out);
    const char *colon = strchr(s, ':');
    if (!colon)
        return CS_EFORMAT;
    cs_slice a = cs_slice_trim((cs_slice){s, (size_t)(colon - s)});
    if (cs_slice_ieq(a, "sha1") || cs_slice_ieq(a, "sha-1"))
        out->algo = CS_DIGEST_SHA1;
    else if (cs_slice_ieq(a, "sha256") || cs_slice_ieq(a, "sha-256"))
        out->algo = CS_DIGEST_SHA256;
    else if (cs_slice_ieq(a, "sha512") || cs_slice_ieq(a, "sha-512"))
        out->algo = CS_DIGEST_SHA512;
    else if (cs_slice_ieq(a, "md5"))
        out->algo = CS_DIGEST_MD5;
    else
        return CS_EUNSUPPORTED;
    cs_slice v = cs_slice_trim((cs_slice){colon + 1, strlen(colon + 1)});
    size_t want = algo_len(out->algo), got;
    /* Try the encodings whose length matches: base16, base32, base64. */
    if (v.len == want * 2 &&
        (got = cs_base16_decode(v.ptr, v.len, out->value, sizeof out->value)) == want) {
        out->len = got;
        return CS_OK;
    }
    got = cs_base32_decode(v.ptr, v.len, out->value, sizeof out->value);
    if (got == want) {
        out->len = got;
        return CS_OK;
    }
    got = cs_base64_decode(v.ptr, v.len, out->value, sizeof out->value);
    if (got == want) {
        out->len = got;
        return CS_OK;
    }
    return CS_EFORMAT;
}

void cs_digest_format(cs_digest_algo algo, const uint8_t *v, size_t n, char *out)
{
    const char *name = algo == CS_DIGEST_SHA1     ? "sha1"
                       : algo == CS_DIGEST_SHA256 ? "sha256"
                       : algo == CS_DIGEST_SHA512 ? "sha512"
                       : algo == CS_DIGEST_MD5    ? "md5"
                                                  : "none";
    size_t k = strlen(name);
    memcpy(out, name, k);
    out[k++] = ':';
    if (n > 40)
        n = 40; /* base32 of 40 bytes is 64 chars: fits in 128 */
    cs_base32_encode(v, n, out + k);
}
