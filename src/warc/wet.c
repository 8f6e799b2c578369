/* wet.c - the fields of a WET conversion record (URI, language, text). */
#include <string.h>
#include <strings.h>

#include "crawlset/wat.h"

static cs_slice field(const cs_warc_record *rec, const char *name)
{
    for (size_t i = 0; i < rec->nfields; i++) {
        const cs_warc_field *f = &rec->fields[i];
        if (f->name && strcasecmp(f->name, name) == 0)
            return (cs_slice){f->value, f->value_len};
    }
    return (cs_slice){NULL, 0};
}

static cs_slice cstr(const char *s) { return (cs_slice){s, s ? strlen(s) : 0}; }

cs_status cs_wet_doc_from(const cs_warc_record *rec, cs_slice block, cs_wet_doc *doc)
{
    memset(doc, 0, sizeof *doc);
    if (!rec || rec->type != CS_WARC_CONVERSION)
        return CS_EINVAL;
    doc->uri = rec->target_uri ? cstr(rec->target_uri) : field(rec, "WARC-Target-URI");
    doc->lang = field(rec, "WARC-Identified-Content-Language");
    doc->date = rec->date ? cstr(rec->date) : field(rec, "WARC-Date");
    doc->record_id = rec->record_id ? cstr(rec->record_id) : field(rec, "WARC-Record-ID");
    doc->refers_to = field(rec, "WARC-Refers-To");
    doc->text = block.ptr ? block : (cs_slice){"", 0};
    return CS_OK;
}

size_t cs_wet_langs(cs_slice lang, cs_slice *out, size_t max)
{
    size_t count = 0, i = 0;
    while (lang.ptr && i < lang.len) {
        size_t j = i;
        while (j < lang.len && lang.ptr[j] != ',')
            j++;
        cs_slice code = cs_slice_trim((cs_slice){lang.ptr + i, j - i});
        if (code.len) {
            if (count < max)
                out[count] = code;
            count++;
        }
        i = j + 1;
    }
    return count;
}
