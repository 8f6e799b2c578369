/* test_wet.c - WET conversion records: the real whirlwind WET (an.wikipedia
 * page, language spa), language lists, and `crawlset wet text`. */
#include <sys/wait.h>

#include "crawlset/wat.h"
#include "test.h"

typedef struct wet_seen {
    size_t docs;
    char uri[512], lang[64];
    char *text;
    size_t text_len;
} wet_seen;

static void read_wet(const char *path, wet_seen *s)
{
    memset(s, 0, sizeof *s);
    cs_warc_reader_opts ro = {.types = CS_WARC_CONVERSION};
    cs_warc_reader *r;
    ASSERT_OK(cs_warc_reader_open(&r, path, &ro));
    cs_warc_record *rec;
    cs_status st;
    while ((st = cs_warc_reader_next(r, &rec)) != CS_DONE) {
        ASSERT_OK(st);
        cs_slice block;
        ASSERT_OK(cs_warc_reader_block(r, 0, &block));
        cs_wet_doc d;
        ASSERT_OK(cs_wet_doc_from(rec, block, &d));
        s->docs++;
        snprintf(s->uri, sizeof s->uri, "%.*s", (int)d.uri.len, d.uri.ptr);
        snprintf(s->lang, sizeof s->lang, "%.*s", (int)d.lang.len, d.lang.ptr);
        ASSERT(d.refers_to.ptr && cs_slice_eq(d.refers_to,
                                              "<urn:uuid:2aabeff2-67f5-4608-8466-e87c6296e2b6>"));
        ASSERT(d.date.ptr && cs_slice_eq(d.date, "2024-05-18T01:58:10Z"));
        free(s->text);
        s->text = cs_strndup(d.text.ptr, d.text.len);
        s->text_len = d.text.len;
    }
    cs_warc_reader_free(r);
}

TEST(wet_whirlwind_real_file)
{
    const char *files[] = {"warc/whirlwind/whirlwind.warc.wet", "warc/whirlwind/whirlwind.warc.wet.gz"};
    for (int i = 0; i < 2; i++) {
        wet_seen s;
        read_wet(cs_test_corpus(files[i]), &s);
        ASSERT_EQ(s.docs, 1);
        ASSERT_STR_EQ(s.uri, "https://an.wikipedia.org/wiki/Escopete");
        ASSERT_STR_EQ(s.lang, "spa");
        ASSERT_EQ(s.text_len, 4456); /* Content-Length of the record */
        ASSERT(!strncmp(s.text, "Escopete - Biquipedia, a enciclopedia libre\n", 44));
        ASSERT_CONTAINS(s.text, "Municipio de Castiella-La Mancha");
        ASSERT_CONTAINS(s.text, "Iste articlo ye en proceso de cambio enta la ortografía oficial");
        ASSERT_CONTAINS(s.text, "閩南語 / Bân-lâm-gú");
        free(s.text);
    }
}

TEST(wet_doc_fields_and_lang_lists)
{
    cs_warc_field fields[] = {
        {"WARC-Type", 9, "conversion", 10},
        {"WARC-Target-URI", 15, "http://x.example/", 17},
        {"warc-identified-content-language", 32, "spa,eng", 7},
    };
    cs_warc_record rec;
    memset(&rec, 0, sizeof rec);
    rec.type = CS_WARC_CONVERSION;
    rec.fields = fields;
    rec.nfields = 3;
    cs_wet_doc d;
    ASSERT_OK(cs_wet_doc_from(&rec, CS_SLICE_LIT("hello\n"), &d));
    ASSERT(cs_slice_eq(d.uri, "http://x.example/")); /* from the fields when target_uri is unset */
    ASSERT(cs_slice_eq(d.lang, "spa,eng"));           /* field names are case-insensitive */
    ASSERT(cs_slice_eq(d.text, "hello\n"));
    ASSERT(d.refers_to.ptr == NULL && d.record_id.ptr == NULL);
    rec.type = CS_WARC_RESPONSE;
    ASSERT_ST(cs_wet_doc_from(&rec, CS_SLICE_LIT(""), &d), CS_EINVAL);

    cs_slice codes[4];
    ASSERT_EQ(cs_wet_langs(CS_SLICE_LIT("spa,eng"), codes, 4), 2);
    ASSERT(cs_slice_eq(codes[0], "spa") && cs_slice_eq(codes[1], "eng"));
    ASSERT_EQ(cs_wet_langs(CS_SLICE_LIT(" deu , ,fra,"), codes, 4), 2);
    ASSERT(cs_slice_eq(codes[0], "deu") && cs_slice_eq(codes[1], "fra"));
    ASSERT_EQ(cs_wet_langs(CS_SLICE_LIT("a,b,c,d,e,f"), codes, 4), 6); /* counts beyond max */
    ASSERT(cs_slice_eq(codes[3], "d"));
    ASSERT_EQ(cs_wet_langs((cs_slice){NULL, 0}, codes, 4), 0);
    ASSERT_EQ(cs_wet_langs(CS_SLICE_LIT(""), codes, 4), 0);
}

static int run_cmd(const char *args, char **out, char **err)
{
    const char *dir = cs_test_tmpdir();
    char cmd[2048], outp[512], errp[512];
    snprintf(outp, sizeof outp, "%s/out", dir);
    snprintf(errp, sizeof errp, "%s/err", dir);
    snprintf(cmd, sizeof cmd, "%s/crawlset %s </dev/null >%s 2>%s", CS_BUILD_DIR, args, outp, errp);
    int st = system(cmd);
    *out = cs_test_keep(cs_test_read_file(outp, NULL));
    *err = cs_test_keep(cs_test_read_file(errp, NULL));
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

TEST(wet_cli_text)
{
    char args[1024], *out, *err;
    snprintf(args, sizeof args, "wet text --json %s",
             cs_test_corpus("warc/whirlwind/whirlwind.warc.wet.gz"));
    ASSERT_EQ(run_cmd(args, &out, &err), 0);
    ASSERT_STR_EQ(err, "");
    ASSERT(!strncmp(out, "{\"uri\":\"https://an.wikipedia.org/wiki/Escopete\",\"lang\":\"spa\","
                         "\"text\":\"Escopete - Biquipedia, a enciclopedia libre\\nIr al contenido\\n",
                    130));
    ASSERT(strchr(out, '\n') == out + strlen(out) - 1); /* one line */
    ASSERT_CONTAINS(out, "Municipio de Castiella-La Mancha");

    snprintf(args, sizeof args, "wet text %s", cs_test_corpus("warc/whirlwind/whirlwind.warc.wet"));
    ASSERT_EQ(run_cmd(args, &out, &err), 0);
    ASSERT(!strncmp(out, "==> https://an.wikipedia.org/wiki/Escopete [spa] <==\n"
                         "Escopete - Biquipedia, a enciclopedia libre\nIr al contenido\n", 100));
    ASSERT(!strcmp(out + strlen(out) - 2, "\n\n"));

    /* a WAT has no conversion records: nothing, no error */
    snprintf(args, sizeof args, "wet text %s", cs_test_corpus("warc/whirlwind/whirlwind.warc.wat"));
    ASSERT_EQ(run_cmd(args, &out, &err), 0);
    ASSERT_STR_EQ(out, "");

    ASSERT_EQ(run_cmd("wet --help", &out, &err), 0);
    ASSERT_CONTAINS(out, "usage: crawlset wet text");
    ASSERT_EQ(run_cmd("wet text --help", &out, &err), 0);
    ASSERT_EQ(run_cmd("wet", &out, &err), 2);
    ASSERT_EQ(run_cmd("wet text", &out, &err), 2);
    ASSERT_EQ(run_cmd("wet text --nope x", &out, &err), 2);
    ASSERT_EQ(run_cmd("wet text /nonexistent.wet", &out, &err), 3);
    ASSERT_CONTAINS(err, "/nonexistent.wet: cannot open");
}
