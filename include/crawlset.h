/* crawlset.h - umbrella header: the module headers, nothing else. */
#ifndef CRAWLSET_H
#define CRAWLSET_H

#include "crawlset/util.h"
#include "crawlset/gzip.h"
#include "crawlset/ccindex.h"
#include "crawlset/ccfetch.h"
#include "crawlset/robots.h"
#include "crawlset/fetch.h"
#include "crawlset/http.h"
#include "crawlset/url.h"
#include "crawlset/wat.h"
#include "crawlset/urllist.h"
#include "crawlset/dataset.h"
#include "crawlset/pool.h"
#include "crawlset/image.h"
#include "crawlset/pipe.h"
#include "crawlset/tracker.h"
#include "crawlset/client.h"
#include "crawlset/filter.h"
#include "crawlset/html.h"
#include "crawlset/forum.h"

#endif
