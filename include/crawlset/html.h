/* crawlset/html.h - the HTML layer: a WHATWG HTML5 tokenizer that hands
 * tokens to a callback as it finds them, and small extractors built on it.
 *
 * Tokenizer. It follows the tokenization section of the HTML Living Standard
 * state by state (data, RCDATA, RAWTEXT, script data with its escaped and
 * double-escaped states, PLAINTEXT, tags and attributes, comments, DOCTYPE,
 * CDATA sections, named and numeric character references) and agrees with
 * the html5lib tokenizer tests (tests/html/html5lib.c runs all of them).
 * Input is bytes, taken as UTF-8: every syntax character is ASCII, other
 * bytes pass through unchanged (invalid UTF-8 included), CR and CR LF become
 * LF. It builds no tree; a tree builder's two inputs to the tokenizer are
 * options: `cdata_allowed` (the adjusted current node is foreign content)
 * and `switch_states` (after <title>, <textarea>, <style>, <script>, ...
 * switch to RCDATA / RAWTEXT / script data / PLAINTEXT as the tree builder
 * would, with scripting off).
 *
 * Zero-copy: names, values and text are (pointer, length) slices. A slice
 * points into the input when the bytes are there unchanged (the common case:
 * text runs, lower-case tag names, attribute values without references) and
 * into the tokenizer's scratch buffers otherwise (character references, CR,
 * NUL, upper-case names). Slices are valid during the callback only.
 * Adjacent text may come as several CHARACTER tokens.
 *
 * Streaming: a document may be fed in chunks of any size (cs_html_feed,
 * cs_html_finish), split anywhere, with the same tokens and errors as one
 * cs_html_tokenize over the whole (checked on the html5lib suite fed byte
 * by byte and by the fuzzer). Between chunks only the current token and a
 * few dozen bytes of lookahead are kept.
 *
 * Bounded memory on hostile input: beyond the caller's chunk the tokenizer
 * holds at most one token: names, attribute values, comments and DOCTYPE
 * identifiers are cut at the limits in cs_html_opts, a tag keeps at most
 * max_attrs attributes, and copied text is handed out every 64 KiB. Each
 * cut is counted in cs_html_stats.limited by reason. Parse errors (the
 * standard's names) are
 * counted and optionally reported to a callback; they never stop the run.
 *
 * Hand-written: no maintained Debian C library gives a streaming, zero-copy,
 * spec-conformant HTML5 tokenizer - libxml2's HTML parser is HTML4-era and
 * not spec-conformant, gumbo (libgumbo) is unmaintained and builds a whole
 * tree, lexbor is not packaged in Debian stable. Depends on: util. */
#ifndef CRAWLSET_HTML_H
#define CRAWLSET_HTML_H

#include "crawlset/util.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef enum cs_html_token_type {
    CS_HTML_DOCTYPE,
    CS_HTML_START_TAG,
    CS_HTML_END_TAG,
    CS_HTML_COMMENT,
    CS_HTML_CHARACTER
} cs_html_token_type;

typedef struct cs_html_attr {
    cs_slice name;  /* lower-cased */
    cs_slice value; /* character references decoded */
} cs_html_attr;

/* One token. Slices are borrowed for the duration of the callback. */
typedef struct cs_html_token {
    cs_html_token_type type;
    cs_slice name;             /* tag name (lower-cased) or DOCTYPE name */
    cs_slice data;             /* CHARACTER text or COMMENT text */
    const cs_html_attr *attrs; /* START_TAG only (an END_TAG's attributes are dropped) */
    size_t nattrs;
    bool self_closing;         /* <br/> */
    bool has_name;             /* DOCTYPE: a name was given */
    bool has_public_id;        /* DOCTYPE */
    bool has_system_id;        /* DOCTYPE */
    bool force_quirks;         /* DOCTYPE */
    cs_slice public_id;        /* DOCTYPE */
    cs_slice system_id;        /* DOCTYPE */
    size_t offset;             /* input byte offset where the token started */
} cs_html_token;

/* Parse errors, with the standard's names. X(NAME, "standard-name"). */
#define CS_HTML_ERROR_MAP(X)                                                                  \
    X(ABRUPT_CLOSING_OF_EMPTY_COMMENT, "abrupt-closing-of-empty-comment")                     \
    X(ABRUPT_DOCTYPE_PUBLIC_IDENTIFIER, "abrupt-doctype-public-identifier")                   \
    X(ABRUPT_DOCTYPE_SYSTEM_IDENTIFIER, "abrupt-doctype-system-identifier")                   \
    X(ABSENCE_OF_DIGITS_IN_NUMERIC_CHARACTER_REFERENCE,                                       \
      "absence-of-digits-in-numeric-character-reference")                                     \
    X(CDATA_IN_HTML_CONTENT, "cdata-in-html-content")                                         \
    X(CHARACTER_REFERENCE_OUTSIDE_UNICODE_RANGE, "character-reference-outside-unicode-range") \
    X(CONTROL_CHARACTER_IN_INPUT_STREAM, "control-character-in-input-stream")                 \
    X(CONTROL_CHARACTER_REFERENCE, "control-character-reference")                             \
    X(DUPLICATE_ATTRIBUTE, "duplicate-attribute")                                             \
    X(END_TAG_WITH_ATTRIBUTES, "end-tag-with-attributes")                                     \
    X(END_TAG_WITH_TRAILING_SOLIDUS, "end-tag-with-trailing-solidus")                         \
    X(EOF_BEFORE_TAG_NAME, "eof-before-tag-name")                                             \
    X(EOF_IN_CDATA, "eof-in-cdata")                                                           \
    X(EOF_IN_COMMENT, "eof-in-comment")                                                       \
    X(EOF_IN_DOCTYPE, "eof-in-doctype")                                                       \
    X(EOF_IN_SCRIPT_HTML_COMMENT_LIKE_TEXT, "eof-in-script-html-comment-like-text")           \
    X(EOF_IN_TAG, "eof-in-tag")                                                               \
    X(INCORRECTLY_CLOSED_COMMENT, "incorrectly-closed-comment")                               \
    X(INCORRECTLY_OPENED_COMMENT, "incorrectly-opened-comment")                               \
    X(INVALID_CHARACTER_SEQUENCE_AFTER_DOCTYPE_NAME,                                          \
      "invalid-character-sequence-after-doctype-name")                                        \
    X(INVALID_FIRST_CHARACTER_OF_TAG_NAME, "invalid-first-character-of-tag-name")             \
    X(MISSING_ATTRIBUTE_VALUE, "missing-attribute-value")                                     \
    X(MISSING_DOCTYPE_NAME, "missing-doctype-name")                                           \
    X(MISSING_DOCTYPE_PUBLIC_IDENTIFIER, "missing-doctype-public-identifier")                 \
    X(MISSING_DOCTYPE_SYSTEM_IDENTIFIER, "missing-doctype-system-identifier")                 \
    X(MISSING_END_TAG_NAME, "missing-end-tag-name")                                           \
    X(MISSING_QUOTE_BEFORE_DOCTYPE_PUBLIC_IDENTIFIER,                                         \
      "missing-quote-before-doctype-public-identifier")                                       \
    X(MISSING_QUOTE_BEFORE_DOCTYPE_SYSTEM_IDENTIFIER,                                         \
      "missing-quote-before-doctype-system-identifier")                                       \
    X(MISSING_SEMICOLON_AFTER_CHARACTER_REFERENCE,                                            \
      "missing-semicolon-after-character-reference")                                          \
    X(MISSING_WHITESPACE_AFTER_DOCTYPE_PUBLIC_KEYWORD,                                        \
      "missing-whitespace-after-doctype-public-keyword")                                      \
    X(MISSING_WHITESPACE_AFTER_DOCTYPE_SYSTEM_KEYWORD,                                        \
      "missing-whitespace-after-doctype-system-keyword")                                      \
    X(MISSING_WHITESPACE_BEFORE_DOCTYPE_NAME, "missing-whitespace-before-doctype-name")       \
    X(MISSING_WHITESPACE_BETWEEN_ATTRIBUTES, "missing-whitespace-between-attributes")         \
    X(MISSING_WHITESPACE_BETWEEN_DOCTYPE_PUBLIC_AND_SYSTEM_IDENTIFIERS,                       \
      "missing-whitespace-between-doctype-public-and-system-identifiers")                     \
    X(NESTED_COMMENT, "nested-comment")                                                       \
    X(NONCHARACTER_CHARACTER_REFERENCE, "noncharacter-character-reference")                   \
    X(NONCHARACTER_IN_INPUT_STREAM, "noncharacter-in-input-stream")                           \
    X(NULL_CHARACTER_REFERENCE, "null-character-reference")                                   \
    X(SURROGATE_CHARACTER_REFERENCE, "surrogate-character-reference")                         \
    X(SURROGATE_IN_INPUT_STREAM, "surrogate-in-input-stream")                                 \
    X(UNEXPECTED_CHARACTER_AFTER_DOCTYPE_SYSTEM_IDENTIFIER,                                   \
      "unexpected-character-after-doctype-system-identifier")                                 \
    X(UNEXPECTED_CHARACTER_IN_ATTRIBUTE_NAME, "unexpected-character-in-attribute-name")       \
    X(UNEXPECTED_CHARACTER_IN_UNQUOTED_ATTRIBUTE_VALUE,                                       \
      "unexpected-character-in-unquoted-attribute-value")                                     \
    X(UNEXPECTED_EQUALS_SIGN_BEFORE_ATTRIBUTE_NAME, "unexpected-equals-sign-before-attribute-name") \
    X(UNEXPECTED_NULL_CHARACTER, "unexpected-null-character")                                 \
    X(UNEXPECTED_QUESTION_MARK_INSTEAD_OF_TAG_NAME, "unexpected-question-mark-instead-of-tag-name") \
    X(UNEXPECTED_SOLIDUS_IN_TAG, "unexpected-solidus-in-tag")                                 \
    X(UNKNOWN_NAMED_CHARACTER_REFERENCE, "unknown-named-character-reference")

typedef enum cs_html_error {
#define CS__HTML_ERR_ENUM(name, str) CS_HTML_ERR_##name,
    CS_HTML_ERROR_MAP(CS__HTML_ERR_ENUM)
#undef CS__HTML_ERR_ENUM
    CS_HTML__ERROR_COUNT
} cs_html_error;

/* "eof-in-tag", ...; "unknown" when out of range. */
CS_API const char *cs_html_error_name(cs_html_error e);

/* What was cut to keep memory bounded. X(NAME, "name", description). */
#define CS_HTML_LIMIT_MAP(X)                                                  \
    X(NAME, "name", "tag, attribute or DOCTYPE name over max_name")           \
    X(VALUE, "value", "attribute value or DOCTYPE identifier over max_value") \
    X(ATTRS, "attrs", "attributes of one tag over max_attrs")                 \
    X(COMMENT, "comment", "comment over max_comment")

typedef enum cs_html_limit {
#define CS__HTML_LIM_ENUM(name, str, desc) CS_HTML_LIMIT_##name,
    CS_HTML_LIMIT_MAP(CS__HTML_LIM_ENUM)
#undef CS__HTML_LIM_ENUM
    CS_HTML__LIMIT_COUNT
} cs_html_limit;

CS_API const char *cs_html_limit_name(cs_html_limit l);

/* Tokenizer states a run may start in (the html5lib tests' initialStates). */
typedef enum cs_html_state {
    CS_HTML_STATE_DATA,
    CS_HTML_STATE_RCDATA,
    CS_HTML_STATE_RAWTEXT,
    CS_HTML_STATE_SCRIPT_DATA,
    CS_HTML_STATE_PLAINTEXT,
    CS_HTML_STATE_CDATA_SECTION
} cs_html_state;

/* Receives one token; a non-OK return stops the run with that status. */
typedef cs_status (*cs_html_token_fn)(void *ud, const cs_html_token *tok);
/* Receives one parse error at input byte offset `offset`. */
typedef void (*cs_html_error_fn)(void *ud, cs_html_error err, size_t offset);

typedef struct cs_html_opts {
    cs_html_state initial_state; /* default DATA */
    const char *last_start_tag;  /* for "appropriate end tag" in RCDATA etc.; NULL = none */
    bool cdata_allowed;          /* <![CDATA[ opens a CDATA section (foreign content)
                                    instead of a bogus comment (default false) */
    bool switch_states;          /* switch to RCDATA/RAWTEXT/script data/PLAINTEXT after
                                    the start tags a tree builder switches on (default true) */
    size_t max_name;             /* bytes of a name kept (default 1 KiB) */
    size_t max_value;            /* bytes of an attribute value / DOCTYPE id (default 1 MiB) */
    size_t max_comment;          /* bytes of a comment (default 1 MiB) */
    size_t max_attrs;            /* attributes kept per tag (default 256) */
    cs_html_error_fn on_error;   /* NULL = count only */
} cs_html_opts;

CS_API void cs_html_opts_init(cs_html_opts *o);

typedef struct cs_html_stats {
    uint64_t tokens;                            /* tokens emitted */
    uint64_t errors;                            /* parse errors, all kinds */
    uint64_t by_error[CS_HTML__ERROR_COUNT];
    uint64_t limited[CS_HTML__LIMIT_COUNT];     /* cuts, by reason */
    uint64_t copied;                            /* bytes handed out from scratch buffers */
} cs_html_stats;

typedef struct cs_html_tokenizer cs_html_tokenizer;

/* A reusable tokenizer (scratch buffers kept between runs). opts copied; NULL
 * = defaults. Free with cs_html_tokenizer_free. CS_ENOMEM. */
CS_API CS_WARN_UNUSED cs_status cs_html_tokenizer_new(cs_html_tokenizer **out /* OUT */,
                                                      const cs_html_opts *opts);
CS_API void cs_html_tokenizer_free(cs_html_tokenizer *t);

/* Tokenizes in[0..len) from the initial state to the end, calling fn for
 * each token and opts.on_error for each parse error (both with ud). Stats
 * are reset at the start of each run. Returns CS_OK, CS_ENOMEM, or the
 * status with which fn stopped the run. */
CS_API CS_WARN_UNUSED cs_status cs_html_tokenize(cs_html_tokenizer *t, const char *in,
                                                 size_t len, cs_html_token_fn fn, void *ud);
/* Streaming input: feeds the next chunk[0..len) of a document (any split,
 * even inside a tag, a character reference or a UTF-8 sequence) and hands
 * out the tokens it completes; cs_html_finish ends the document (EOF) and
 * readies t for the next one. Slices point into the current chunk or into
 * t's buffers and are valid during the callback only. Between calls t keeps
 * the current token (bounded by the limits) and at most a few dozen bytes
 * of lookahead, never the document. The first feed (or a finish without
 * feed) starts a document: stats reset, initial state. Token and error
 * offsets count from the start of the document. Returns as
 * cs_html_tokenize; after an error every later call returns it until
 * finish. The tokens, errors and stats are the same as for one
 * cs_html_tokenize of the whole document (CHARACTER tokens may be split
 * differently). */
CS_API CS_WARN_UNUSED cs_status cs_html_feed(cs_html_tokenizer *t, const char *chunk, size_t len,
                                             cs_html_token_fn fn, void *ud);
CS_API CS_WARN_UNUSED cs_status cs_html_finish(cs_html_tokenizer *t, cs_html_token_fn fn,
                                               void *ud);
CS_API const cs_html_stats *cs_html_tokenizer_stats(const cs_html_tokenizer *t);

/* Named character reference lookup: the longest name in the WHATWG table
 * that is a prefix of s[0..n) (s starts after the '&'). Returns its length
 * (0 if none) and the one or two code points it stands for (cp[1] = 0 when
 * one). *semicolon says whether the matched name ends with ';'. */
CS_API size_t cs_html_entity_match(const char *s, size_t n, uint32_t cp[2] /* OUT */);

/* Appends the UTF-8 form of code point cp to b (cs_buf append statuses). */
CS_API cs_status cs_html_put_utf8(cs_buf *b, uint32_t cp);

/* ---- Discourse "cooked" post HTML -> text ---- */

/* Text, images and links of one post. Strings are owned by the struct:
 * cs_html_post_cleanup frees them. */
typedef struct cs_html_post {
    cs_buf text;          /* the text (see cs_html_post_extract) */
    char **images;        /* absolute image URLs in order, each once */
    size_t nimages;
    char **links;         /* absolute link URLs in order, each once */
    size_t nlinks;
    size_t nquotes;       /* quotes rendered */
} cs_html_post;

CS_API void cs_html_post_init(cs_html_post *p);
CS_API void cs_html_post_cleanup(cs_html_post *p);

/* Hook used for the image placeholder: given the absolute image URL, write
 * the name to use in "[img NAME]" into out (e.g. the saved file's name);
 * return false to keep the URL. NULL = the URL. */
typedef bool (*cs_html_img_name_fn)(void *ud, const char *url, cs_buf *out);

/* Renders Discourse cooked HTML html[0..len) as text into p (appending):
 * paragraphs, headings, list items and <br> become line breaks, <pre> blocks
 * are kept verbatim, oneboxes (aside.onebox, .onebox-body) and lightbox
 * chrome (.meta, .lightbox-wrapper's info) are dropped, emoji images become
 * their alt text, <aside class="quote" data-username=U> becomes
 * `Quote:"TEXT"` (U is not repeated inside), other images become
 * "[img NAME]", links "TEXT [link URL]" (relative URLs resolved against
 * base, which may be NULL). Whitespace is collapsed outside <pre>; the text
 * is trimmed. Memory is bounded by max_text (0 = 1 MiB; longer text is cut
 * and CS_ETOOBIG is not returned: the cut is counted in *truncated when non
 * NULL). CS_ENOMEM only. */
CS_API CS_WARN_UNUSED cs_status cs_html_post_extract(const char *html, size_t len,
                                                     const char *base, size_t max_text,
                                                     cs_html_img_name_fn img_name, void *ud,
                                                     cs_html_post *p, bool *truncated);

#ifdef __cplusplus
}
#endif
#endif
