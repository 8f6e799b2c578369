/* status.c - cs_strerror and cs_status_name, generated from CS_STATUS_MAP. */
#include "crawlset/util.h"

const char *cs_strerror(cs_status st)
{
    switch (st) {
#define CS__MSG(name, msg) case CS_##name: return msg;
        CS_STATUS_MAP(CS__MSG)
#undef CS__MSG
    default: return "unknown status";
    }
}

const char *cs_status_name(cs_status st)
{
    switch (st) {
#define CS__NAME(name, msg) case CS_##name: return #name;
        CS_STATUS_MAP(CS__NAME)
#undef CS__NAME
    default: return "UNKNOWN";
    }
}
