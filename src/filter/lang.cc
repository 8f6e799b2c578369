// lang.cc - the one C++ file of the filter module: a C entry point over
// cld2's C++ API (CLD2::ExtDetectLanguageSummary), as DESIGN.md asks.
#include <cstdio>
#include <cstring>

#include <cld2/public/compact_lang_det.h>
#include <cld2/public/encodings.h>

extern "C" {
#include "filter/filter_int.h"
}

extern "C" void cs__cld2_detect(const char *s, size_t n, const char *hint, char *code,
                                size_t codecap, int *percent, bool *reliable)
{
    CLD2::CLDHints hints = {nullptr, nullptr, CLD2::UNKNOWN_ENCODING, CLD2::UNKNOWN_LANGUAGE};
    if (hint && *hint)
        hints.content_language_hint = hint;
    CLD2::Language lang3[3];
    int pct3[3];
    double score3[3];
    int text_bytes = 0;
    bool rel = false;
    if (n > 0x7fffffff)
        n = 0x7fffffff;
    CLD2::Language top = CLD2::ExtDetectLanguageSummary(
        s, static_cast<int>(n), true, &hints, 0, lang3, pct3, score3, nullptr, &text_bytes, &rel);
    const char *c = CLD2::LanguageCode(top);
    if (!c || !*c)
        c = "un";
    std::strncpy(code, c, codecap - 1);
    code[codecap - 1] = '\0';
    *percent = top == CLD2::UNKNOWN_LANGUAGE ? 0 : pct3[0];
    *reliable = rel;
}
