/* crawlset/dataset.h - dataset writers with img2dataset's conventions.
 *
 * Rows of the input (crawlset/urllist.h) are cut into shards of
 * samples_per_shard rows by their input index: row i goes to shard
 * i / samples_per_shard and gets the key
 *
 *     shard * 10^d + (i % samples_per_shard), zero padded to shard_digits + d
 *
 * digits, where d is the smallest with 10^d >= samples_per_shard (img2dataset's
 * compute_key with oom_shard_count = 5: 10,000 per shard gives 9-digit keys,
 * row 12 is "000000012", row 10,003 is "000010003").
 *
 * Output layouts (OUT is a directory, or an http(s):// URL, below):
 *   CS_DATASET_WEBDATASET  OUT/00000.tar with KEY.jpg, KEY.json, KEY.txt per
 *                          successful sample (a sample's members in name
 *                          order, samples in key order), ustar via libarchive;
 *                          every sample has the same three members (an empty
 *                          KEY.txt without caption), as Hugging Face's
 *                          webdataset loader wants
 *   CS_DATASET_FILES       OUT/00000/KEY.jpg, KEY.json, KEY.txt (img2dataset's
 *                          "files" output: one folder per shard)
 *   CS_DATASET_WEB2DATASET OUT/images/KEY.jpg + OUT/metadata/KEY.json (the
 *                          web2dataset layout; the caption is in the JSON)
 * and for every layout, beside the shard:
 *   OUT/00000.jsonl        one line per input row of the shard, successful
 *                          or not, in key order: the same object as KEY.json
 *   OUT/00000_stats.json   counts, failures by reason, bytes, times
 *
 * The metadata object (KEY.json and each .jsonl line) has, in this order:
 * url, caption, the saved columns, key, status ("success",
 * "failed_to_download", "failed_to_resize"), error_message, width, height,
 * original_width, original_height, exif (a JSON string, as img2dataset),
 * sha256, reason (our fixed-list failure reason, "ok" on success), then the
 * sample's extra members.
 *
 * Samples may be added in any order (downloads finish in any order), yet the
 * output is the same for every order: a sample whose key is the next one due
 * in its shard is written straight to the shard; one that arrives early is
 * appended to the shard's spool file (_tmp/00000.spool) and copied into the
 * shard when its turn comes. Memory per open shard is one small slot per
 * row (about 40 bytes: 400 KB for 10,000 rows), never the images. At most
 * max_open_shards shards are open; cs_dataset_writer_admit() tells the
 * producer to wait before it starts a row of a shard beyond that.
 *
 * Atomic: everything of shard N is written under OUT/_tmp/ and renamed into
 * place when the shard's last row is in: the data (tar, folder or files),
 * then the .jsonl, then _stats.json last. A shard is complete exactly when
 * its _stats.json exists. With incremental set, complete shards are skipped
 * (their rows are not even fetched); an incomplete one (a crash, a kill)
 * has its temporary files removed and is written again from scratch, which
 * gives the same keys, the same tar bytes and the same .jsonl. Without
 * incremental, existing shards are replaced (their stats file is removed
 * first, so a crash mid-way never leaves the old stats over new data).
 *
 * HTTP output: when OUT starts with http:// or https://, shards are written
 * as above into a local staging directory, then each file is sent with an
 * HTTP PUT to OUT/<name> (retries with backoff on connection errors, 408,
 * 429 and 5xx), stats last, and deleted locally. Incremental mode asks with
 * HEAD whether OUT/00000_stats.json exists; otherwise that file is removed
 * with DELETE when the shard starts (a 4xx answer is fine). Any server that
 * stores what it is PUT and creates folders as needed will do; tested with
 * nginx's WebDAV module (dav_methods PUT DELETE; create_full_put_path on).
 *
 * Thread safety: every call takes the writer's lock, so samples may be added
 * from several threads; a shard's commit (and its uploads) run inside the
 * call that completes it. */
#ifndef CRAWLSET_DATASET_H
#define CRAWLSET_DATASET_H

#include "crawlset/urllist.h"
#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_dataset_format {
    CS_DATASET_WEBDATASET,  /* NNNNN.tar */
    CS_DATASET_FILES,       /* NNNNN/KEY.* (img2dataset "files") */
    CS_DATASET_WEB2DATASET, /* images/KEY.ext + metadata/KEY.json */
} cs_dataset_format;

/* "webdataset", "files", "web2dataset". */
CS_API const char *cs_dataset_format_name(cs_dataset_format f);
CS_API bool cs_dataset_format_parse(const char *name, cs_dataset_format *out /* OUT */);

/* img2dataset's three statuses. */
typedef enum cs_dataset_status {
    CS_DATASET_SUCCESS,
    CS_DATASET_FAILED_TO_DOWNLOAD,
    CS_DATASET_FAILED_TO_RESIZE,
} cs_dataset_status;

/* "success", "failed_to_download", "failed_to_resize". */
CS_API const char *cs_dataset_status_name(cs_dataset_status s);

typedef struct cs_dataset_opts {
    cs_dataset_format format;    /* CS_DATASET_WEBDATASET = 0 */
    uint64_t samples_per_shard;  /* 0 = 10,000 */
    unsigned shard_digits;       /* digits of the shard number; 0 = 5 */
    unsigned max_open_shards;    /* 0 = 8 */
    bool incremental;            /* skip complete shards (else replace them) */
    const char *image_ext;       /* default image extension; NULL = "jpg" */
    bool no_txt;                 /* leave out KEY.txt (webdataset, files) */
    int64_t mtime;               /* mtime of tar members; 0 = 1970 (reproducible) */
    bool no_fsync;               /* skip fsync before each rename (tests, tmpfs) */
    const char *staging_dir;     /* HTTP output: local staging directory;
                                    NULL = a fresh one under $TMPDIR */
    unsigned put_retries;        /* HTTP: retries per file; 0 = 4 */
    long put_timeout_ms;         /* HTTP: per request; 0 = 300,000 */
    /* The "filters" member of shard `shard`'s _stats.json: appends one JSON
     * object to out (the filter chain's counts for the rows of that shard,
     * see crawlset/filter.h). Called from the commit thread. NULL = {}. */
    cs_status (*filters_json)(void *ud, uint64_t shard, cs_buf *out);
    void *filters_ud;
} cs_dataset_opts;

/* One finished row, successful or not. Borrowed for the call only. */
typedef struct cs_dataset_sample {
    uint64_t index;              /* the row's input index (cs_urllist_row.index) */
    const char *url;             /* NULL = null */
    const char *caption;         /* NULL = null (KEY.txt is then empty) */
    const cs_urllist_column *columns; /* saved columns (names must not repeat the
                                         fixed fields; such ones are left out) */
    size_t ncolumns;
    cs_dataset_status status;
    const char *reason;          /* short reason ("http_4xx", "decode", ...);
                                    NULL = "ok" on success, else the status name */
    const char *error_message;   /* NULL = null */
    const void *image;           /* encoded image (success only) */
    size_t image_len;
    const char *image_ext;       /* NULL = the writer's image_ext */
    int width, height;           /* final size; 0 = null */
    int original_width, original_height; /* 0 = null */
    const char *sha256;          /* hex digest of the downloaded bytes; NULL = null */
    const char *exif;            /* EXIF as JSON object text; NULL = null */
    const char *extra_json;      /* more members, `"k":v,"k2":v2`, copied verbatim
                                    (must be valid JSON members); NULL = none */
    uint64_t bytes_downloaded;   /* for the stats */
} cs_dataset_sample;

typedef struct cs_dataset_stats {
    uint64_t rows;               /* samples added (not counting skipped) */
    uint64_t successes;
    uint64_t failed_to_download;
    uint64_t failed_to_resize;
    uint64_t skipped_rows;       /* added to a shard that was already complete */
    uint64_t shards_written;     /* committed by this writer */
    uint64_t shards_skipped;     /* found complete (incremental) */
    uint64_t open_shards;        /* open now */
    uint64_t committing;         /* complete, being closed/renamed/uploaded now */
    uint64_t bytes_written;      /* image bytes written */
    uint64_t spooled;            /* samples that arrived early and went through a spool */
    uint64_t uploads;            /* files sent by HTTP PUT */
    uint64_t upload_retries;
} cs_dataset_stats;

typedef struct cs_dataset_writer cs_dataset_writer;

/* Creates a writer into out (a directory, created if missing, or an
 * http(s):// URL). opts may be NULL. On failure *out is still set when it
 * could be allocated, so cs_dataset_writer_errmsg() says why: call
 * cs_dataset_writer_free(*out) either way. */
CS_API CS_WARN_UNUSED cs_status cs_dataset_writer_open(cs_dataset_writer **w /* OUT */,
                                                       const char *out,
                                                       const cs_dataset_opts *opts);

typedef enum cs_dataset_admit {
    CS_DATASET_ADMIT_WRITE, /* go: the row's shard is open */
    CS_DATASET_ADMIT_SKIP,  /* the shard is already complete: do not fetch the row */
    CS_DATASET_ADMIT_WAIT,  /* max_open_shards are open (or committing): finish rows in
                               flight first (and cs_dataset_writer_flush) */
} cs_dataset_admit;

/* Asks, before fetching row `index` (call in input order), whether to fetch
 * it. Opens its shard when it is new (checking for a complete one when
 * incremental). CS_ENET/CS_EIO when the check or the setup fails. */
CS_API CS_WARN_UNUSED cs_status cs_dataset_writer_admit(cs_dataset_writer *w, uint64_t index,
                                                        cs_dataset_admit *out /* OUT */);

/* Adds a finished row. Opens its shard if admit was not called (CS_ETOOBIG
 * if that would pass max_open_shards). A row of a shard skipped as complete
 * is ignored (CS_OK). The call that adds a shard's last row hands it to the
 * writer's commit thread (close, sync, rename or upload, with no lock held);
 * a commit that fails makes every later call return its status and message.
 * CS_EINVAL for a row added twice or past the declared end of input. */
CS_API CS_WARN_UNUSED cs_status cs_dataset_writer_add(cs_dataset_writer *w,
                                                      const cs_dataset_sample *s);

/* Declares that the input had `rows` rows in all, so the last shard (with
 * rows % samples_per_shard rows) can be committed once they are in. */
CS_API CS_WARN_UNUSED cs_status cs_dataset_writer_end_input(cs_dataset_writer *w, uint64_t rows);

/* Waits until every complete shard is committed; returns the first failed
 * commit's status (cs_dataset_writer_errmsg says why), else CS_OK. */
CS_API CS_WARN_UNUSED cs_status cs_dataset_writer_flush(cs_dataset_writer *w);

/* Waits for the commits, then commits what is complete and closes. Shards still missing rows are
 * abandoned (temporary files removed; a rerun with incremental redoes them)
 * and reported as CS_ETRUNC with their names in the message. The writer must
 * still be freed. */
CS_API CS_WARN_UNUSED cs_status cs_dataset_writer_finish(cs_dataset_writer *w);

/* Frees the writer; open shards that were not finished are abandoned (their
 * temporary files removed). NULL does nothing. */
CS_API void cs_dataset_writer_free(cs_dataset_writer *w);

CS_API const char *cs_dataset_writer_errmsg(const cs_dataset_writer *w);
CS_API void cs_dataset_writer_stats_get(cs_dataset_writer *w, cs_dataset_stats *out /* OUT */);

/* Shard of an index, and the key string of an index (into out, at least 32
 * bytes; returns its length), for the given options (NULL = defaults). */
CS_API uint64_t cs_dataset_shard_of(const cs_dataset_opts *opts, uint64_t index);
CS_API size_t cs_dataset_key(const cs_dataset_opts *opts, uint64_t index, char *out);

#ifdef __cplusplus
}
#endif
#endif
