/* progress.c - one-line progress display for terminals; silent in pipes. */
#include <stdio.h>
#include <unistd.h>

#include "crawlset/util.h"

void cs_progress_init(cs_progress *p, FILE *out, const char *label, const char *unit,
                      uint64_t total)
{
    p->out = out;
    p->enabled = out && isatty(fileno(out));
    p->label = label ? label : "";
    p->unit = unit ? unit : "";
    p->total = total;
    p->done = 0;
    p->start = cs_now();
    p->last_draw = 0;
    p->bytes = unit && unit[0] == 'B' && unit[1] == '\0';
}

static void fmt_count(char *out, size_t cap, double v, bool bytes)
{
    static const char *sfx_b[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    static const char *sfx_n[] = {"", "k", "M", "G", "T"};
    double div = bytes ? 1024.0 : 1000.0;
    int i = 0;
    while (v >= div && i < 4) {
        v /= div;
        i++;
    }
    snprintf(out, cap, i ? "%.1f%s" : "%.0f%s", v, bytes ? sfx_b[i] : sfx_n[i]);
}

static void draw(cs_progress *p, double now, bool final)
{
    double el = now - p->start;
    double rate = el > 0 ? (double)p->done / el : 0;
    char done[32], total[32], r[32], eta[32] = "";
    fmt_count(done, sizeof done, (double)p->done, p->bytes);
    fmt_count(r, sizeof r, rate, p->bytes);
    if (p->total) {
        fmt_count(total, sizeof total, (double)p->total, p->bytes);
        if (rate > 0 && p->total > p->done && !final) {
            double s = (double)(p->total - p->done) / rate;
            snprintf(eta, sizeof eta, "  ETA %02d:%02d:%02d", (int)(s / 3600),
                     (int)(s / 60) % 60, (int)s % 60);
        }
        fprintf(p->out, "\r\033[K%s  %s/%s %s  %s%s/s%s", p->label, done, total,
                p->bytes ? "" : p->unit, r, p->bytes ? "" : "", eta);
    } else {
        fprintf(p->out, "\r\033[K%s  %s %s  %s/s", p->label, done, p->bytes ? "" : p->unit, r);
    }
    if (final)
        fprintf(p->out, "  %.1fs\n", el);
    fflush(p->out);
}

void cs_progress_update(cs_progress *p, uint64_t done)
{
    p->done = done;
    if (!p->enabled)
        return;
    double now = cs_now();
    if (now - p->last_draw < 0.1)
        return;
    p->last_draw = now;
    draw(p, now, false);
}

void cs_progress_finish(cs_progress *p)
{
    if (!p->enabled)
        return;
    draw(p, cs_now(), true);
}
