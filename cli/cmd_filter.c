/* cmd_filter.c - `crawlset filter [--rules FILE] [--stats FILE] [FILE...]`:
 * the candidate filter chain over JSON Lines (what `crawlset wat links`
 * and the download input write); kept rows are written byte for byte. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static void usage_filter(FILE *f)
{
    fprintf(f,
            "usage: crawlset filter [OPTIONS] [FILE...] > kept.jsonl\n"
            "\n"
            "Runs the candidate filters on JSON Lines rows (the output of 'crawlset wat\n"
            "links', or a download input: one object per line with \"url\" and a text member)\n"
            "and writes the rows kept, each line exactly as it was read. The chain stops at\n"
            "the first filter that drops a row (a filter's \"in\" in the stats counts the rows\n"
            "that reached it); --all-filters runs every filter on every row instead, for\n"
            "complete per-filter counts (an audit; slower).\n"
            "Reads standard input when no FILE is given ('-' also means standard input).\n"
            "\n"
            "Filters (in this order): url (schemes, data:/javascript:/mailto:, extensions,\n"
            "URL and host length, valid host, block/allow domains), text (normalised\n"
            "length, placeholder and filename-like text), dedupe (exact: XXH3-128 of URL +\n"
            "text), bloom (with --bloom), unsafe (word/phrase/regex lists; off unless\n"
            "--tag-unsafe or --drop-unsafe), lang (cld2; off unless --lang or --lang-detect).\n"
            "\n"
            "options:\n"
            "  --rules FILE        YAML rules file (keys as the rule flags below, e.g.\n"
            "                      'min-text: 5', 'lang: [en, de]'); flags override it\n"
            "  --stats FILE        write the stats JSON there (per filter in/out/reasons,\n"
            "                      failed URLs, per domain)\n"
            "  --no-domain-stats   leave the per-domain part out of the stats\n"
            "  --tag-unsafe        keep unsafe rows, adding \"unsafe\":\"REASON\" to them\n"
            "                      (the only change ever made to a row)\n"
            "  --drop-unsafe       drop unsafe rows\n"
            "  --split-lang PREFIX also write kept rows to PREFIX-en.jsonl, PREFIX-multi.jsonl\n"
            "                      and PREFIX-nolang.jsonl by detected language (LAION-5B)\n"
            "  --rejects FILE      write dropped rows there as {\"filter\",\"reason\",\"row\"}\n"
            "  --docs              filter documents / task graphs instead (JSON objects with\n"
            "                      title, url, steps, ...): filters required, title\n"
            "                      (dangerous words), steps, dedupe (title); doc-* rules\n"
            "  --no-progress       no progress line\n"
            "  -h, --help          this help\n"
            "\n"
            "rules (each also a rules-file key; --KEY VALUE or --KEY=VALUE; booleans also\n"
            "--KEY and --no-KEY; list flags append comma-separated items, '' clears):\n");
    for (const cs_filter_rule_key *k = cs_filter_rule_keys(); k->name; k++)
        fprintf(f, "  --%-22s %s\n", k->name, k->help);
    fprintf(f, "\nWith unsafe on (or --docs) and no list given, the lists shipped in data/filter/\n"
               "are used (found through $CRAWLSET_DATA_DIR, else beside the executable).\n"
               "Exit codes: 0 ok, 1 some rows were malformed (reported, dropped), 2 usage\n"
               "error, 3 fatal error.\n");
}

/* data/filter/ of the source tree or install: $CRAWLSET_DATA_DIR, else
 * EXE/../data/filter or EXE/../share/crawlset/filter. */
static bool data_dir(char *out, size_t cap)
{
    const char *env = getenv("CRAWLSET_DATA_DIR");
    if (env && *env) {
        snprintf(out, cap, "%s", env);
        return true;
    }
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        return false;
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    if (!slash)
        return false;
    *slash = '\0';
    static const char *const rel[] = {"/../data/filter", "/../share/crawlset/filter",
                                      "/data/filter"};
    for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
        snprintf(out, cap, "%s%s", exe, rel[i]);
        if (access(out, R_OK) == 0)
            return true;
    }
    return false;
}

typedef struct setting {
    const char *key;
    const char *value;
} setting;

typedef struct frun {
    cs_filter_chain *chain;
    cli_out out, split[3], rejects;
    bool split_on, rejects_on;
    cs_buf scratch, tmp;
    uint64_t lines, malformed, kept;
    cs_progress prog;
} frun;

static void do_line(frun *r, const char *name, const char *line, size_t len)
{
    r->lines++;
    if (len && line[len - 1] == '\r')
        len--;
    cs_slice t = cs_slice_trim((cs_slice){line, len});
    if (!t.len)
        return;
    cs_candidate cand;
    char err[CS_ERRMSG_MAX];
    cs_status st = cs_filter_parse_line(r->chain, line, len, &r->scratch, &cand, err, sizeof err);
    if (st == CS_ENOMEM)
        cli_die("out of memory");
    if (st) {
        if (r->malformed++ < 10)
            cli_err("%s:%llu: %s (row dropped)", name, (unsigned long long)r->lines, err);
        else if (r->malformed == 11)
            cli_err("%s: more malformed rows; counting them silently", name);
        return;
    }
    cs_filter_verdict v;
    if (cs_filter_chain_apply(r->chain, &cand, &v))
        cli_die("out of memory");
    if (!v.keep) {
        if (r->rejects_on) {
            cs_buf_reset(&r->tmp);
            CLI_TRY(cs_buf_puts(&r->tmp, "{\"filter\":"));
            CLI_TRY(cs_json_put_str(&r->tmp, v.filter, strlen(v.filter)));
            CLI_TRY(cs_buf_puts(&r->tmp, ",\"reason\":"));
            CLI_TRY(cs_json_put_str(&r->tmp, v.reason, strlen(v.reason)));
            CLI_TRY(cs_buf_puts(&r->tmp, ",\"row\":"));
            CLI_TRY(cs_buf_append(&r->tmp, t.ptr, t.len));
            CLI_TRY(cs_buf_puts(&r->tmp, "}\n"));
            cli_out_buf(&r->rejects, &r->tmp);
        }
        return;
    }
    r->kept++;
    cli_out *dst[2] = {&r->out, r->split_on ? &r->split[v.lang_class] : NULL};
    for (int i = 0; i < 2; i++) {
        if (!dst[i])
            continue;
        if (v.unsafe) { /* tag mode: one member added before the closing brace */
            size_t close = t.len;
            while (close && t.ptr[close - 1] != '}')
                close--;
            cli_out_write(dst[i], t.ptr, close ? close - 1 : 0);
            cli_out_puts(dst[i], ",\"unsafe\":\"");
            cli_out_puts(dst[i], v.unsafe);
            cli_out_puts(dst[i], "\"}\n");
        } else {
            cli_out_write(dst[i], line, len);
            cli_out_write(dst[i], "\n", 1);
        }
    }
}

static int run_input(frun *r, const char *path)
{
    bool is_stdin = !strcmp(path, "-");
    int fd = is_stdin ? 0 : open(path, O_RDONLY);
    if (fd < 0) {
        cli_err("%s: %s", path, strerror(errno));
        return CLI_EXIT_FATAL;
    }
    const char *name = is_stdin ? "stdin" : path;
    size_t cap = 1u << 20, len = 0, max_line = 64u << 20;
    char *buf = malloc(cap);
    if (!buf)
        cli_die("out of memory");
    r->lines = 0;
    int rc = CLI_EXIT_OK;
    bool skipping = false; /* inside a line longer than max_line */
    for (;;) {
        if (len == cap) {
            if (cap >= max_line) {
                if (!skipping) {
                    r->lines++;
                    r->malformed++;
                    cli_err("%s:%llu: line longer than %zu bytes (row dropped)", name,
                            (unsigned long long)r->lines, max_line);
                }
                skipping = true;
                len = 0;
            } else {
                cap *= 2;
                char *nb = realloc(buf, cap);
                if (!nb)
                    cli_die("out of memory");
                buf = nb;
            }
        }
        ssize_t n = read(fd, buf + len, cap - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            cli_err("%s: %s", name, strerror(errno));
            rc = CLI_EXIT_FATAL;
            break;
        }
        if (n == 0) {
            if (len && !skipping)
                do_line(r, name, buf, len);
            break;
        }
        size_t end = len + (size_t)n, start = 0;
        for (;;) {
            char *nl = memchr(buf + start, '\n', end - start);
            if (!nl)
                break;
            size_t ll = (size_t)(nl - (buf + start));
            if (skipping)
                skipping = false;
            else
                do_line(r, name, buf + start, ll);
            start += ll + 1;
        }
        memmove(buf, buf + start, end - start);
        len = end - start;
        cs_progress_update(&r->prog, r->kept);
    }
    free(buf);
    if (!is_stdin)
        close(fd);
    return rc;
}

static int open_out(cli_out *o, const char *path)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        cli_err("%s: %s", path, strerror(errno));
        return -1;
    }
    cli_out_init(o, fd);
    return 0;
}

/* Writes the --stats file: the command's own count of malformed rows, then
 * the chain's stats members, as one JSON object. CLI_EXIT_OK or
 * CLI_EXIT_FATAL (said why). */
static int write_stats(const char *path, uint64_t malformed, const cs_filter_stats *stats,
                       bool domain_stats)
{
    cs_buf sb, full;
    cs_buf_init(&sb, 0);
    cs_buf_init(&full, 0);
    CLI_TRY(cs_filter_stats_json(stats, domain_stats, &sb));
    CLI_TRY(cs_buf_printf(&full, "{\"malformed\":%llu", (unsigned long long)malformed));
    if (sb.len > 2) /* the members after the stats' own '{' */
        CLI_TRY(cs_buf_printf(&full, ",%.*s", (int)(sb.len - 1), sb.data + 1));
    else
        CLI_TRY(cs_buf_putc(&full, '}'));
    CLI_TRY(cs_buf_putc(&full, '\n'));
    int rc = CLI_EXIT_FATAL;
    cli_out so;
    if (open_out(&so, path) == 0) {
        cli_out_buf(&so, &full);
        cli_out_flush(&so);
        if (so.failed)
            cli_err("%s: write error", path);
        else
            rc = CLI_EXIT_OK;
        close(so.fd);
        cli_out_cleanup(&so);
    }
    cs_buf_cleanup(&sb);
    cs_buf_cleanup(&full);
    return rc;
}

/* --docs: the document chain over JSON Lines objects. */
static int run_docs(const cs_filter_rules *rules, const char **inputs, size_t ninputs,
                    const char *stats_path, const char *rejects, bool domain_stats)
{
    cs_doc_rules dr;
    char err[1024];
    if (cs_doc_rules_from(&dr, rules))
        cli_die("out of memory");
    cs_doc_chain *c = NULL;
    cs_status st = cs_doc_chain_new(&c, &dr, NULL, 0, err, sizeof err);
    cs_doc_rules_cleanup(&dr);
    if (st) {
        cli_err("filter: %s", err);
        return CLI_EXIT_USAGE;
    }
    cli_out out, rej;
    cli_out_init(&out, 1);
    if (rejects && open_out(&rej, rejects))
        cli_die("cannot write the rejects");
    cs_arena arena;
    cs_arena_init(&arena, 256u << 20);
    cs_buf tmp;
    cs_buf_init(&tmp, 0);
    int rc = CLI_EXIT_OK;
    uint64_t malformed = 0;
    static const char *const dash[] = {"-"};
    if (!ninputs) {
        inputs = (const char **)dash;
        ninputs = 1;
    }
    for (size_t i = 0; i < ninputs && rc != CLI_EXIT_FATAL; i++) {
        FILE *f = strcmp(inputs[i], "-") ? fopen(inputs[i], "r") : stdin;
        if (!f) {
            cli_err("%s: %s", inputs[i], strerror(errno));
            rc = CLI_EXIT_FATAL;
            break;
        }
        char *line = NULL;
        size_t cap = 0;
        ssize_t len;
        uint64_t lineno = 0;
        while ((len = getline(&line, &cap, f)) > 0) {
            lineno++;
            size_t l = (size_t)len;
            while (l && (line[l - 1] == '\n' || line[l - 1] == '\r'))
                l--;
            if (!cs_slice_trim((cs_slice){line, l}).len)
                continue;
            cs_arena_reset(&arena);
            cs_doc_item it;
            st = cs_doc_item_parse(line, l, &arena, &it, err, sizeof err);
            if (st == CS_ENOMEM)
                cli_die("out of memory");
            if (st) {
                if (malformed++ < 10)
                    cli_err("%s:%llu: %s (row dropped)", strcmp(inputs[i], "-") ? inputs[i] : "stdin",
                            (unsigned long long)lineno, err);
                continue;
            }
            bool keep;
            const char *why;
            if (cs_doc_chain_apply(c, &it, &keep, &why))
                cli_die("out of memory");
            if (keep) {
                cli_out_write(&out, line, l);
                cli_out_write(&out, "\n", 1);
            } else if (rejects) {
                cs_buf_reset(&tmp);
                CLI_TRY(cs_buf_puts(&tmp, "{\"reason\":"));
                CLI_TRY(cs_json_put_str(&tmp, why, strlen(why)));
                CLI_TRY(cs_buf_puts(&tmp, ",\"row\":"));
                CLI_TRY(cs_buf_append(&tmp, line, l));
                CLI_TRY(cs_buf_puts(&tmp, "}\n"));
                cli_out_buf(&rej, &tmp);
            }
        }
        free(line);
        if (f != stdin)
            fclose(f);
    }
    cli_out_flush(&out);
    if (out.failed)
        rc = CLI_EXIT_FATAL;
    if (rejects) {
        cli_out_flush(&rej);
        close(rej.fd);
        cli_out_cleanup(&rej);
    }
    if (stats_path &&
        write_stats(stats_path, malformed, cs_doc_chain_stats(c), domain_stats) != CLI_EXIT_OK)
        rc = CLI_EXIT_FATAL;
    if (rc == CLI_EXIT_OK && malformed)
        rc = CLI_EXIT_PARTIAL;
    cli_out_cleanup(&out);
    cs_buf_cleanup(&tmp);
    cs_arena_cleanup(&arena);
    cs_doc_chain_free(c);
    return rc;
}

int cmd_filter(int argc, char **argv)
{
    const char *rules_path = NULL, *stats_path = NULL, *split = NULL, *rejects = NULL;
    bool domain_stats = true, progress = true, unsafe_lists_given = false, docs = false;
    bool danger_given = false;
    setting *sets = calloc((size_t)argc + 4, sizeof *sets);
    const char **inputs = calloc((size_t)argc + 1, sizeof *inputs);
    size_t nsets = 0, ninputs = 0;
    if (!sets || !inputs)
        cli_die("out of memory");
    int rc = CLI_EXIT_OK;
    for (int i = 1; i < argc; i++) {
        char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage_filter(stdout);
            free(sets);
            free(inputs);
            return CLI_EXIT_OK;
        }
        if (a[0] != '-' || !strcmp(a, "-")) {
            inputs[ninputs++] = a;
            continue;
        }
        if (strncmp(a, "--", 2)) {
            cli_err("filter: unknown option '%s' (see --help)", a);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        char name[128];
        const char *eq = strchr(a + 2, '=');
        size_t nl = eq ? (size_t)(eq - (a + 2)) : strlen(a + 2);
        if (nl >= sizeof name) {
            cli_err("filter: unknown option '%s' (see --help)", a);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        memcpy(name, a + 2, nl);
        name[nl] = '\0';
        const char *val = eq ? eq + 1 : NULL;
        /* flags of the command itself */
        static const char *const simple[] = {"tag-unsafe", "drop-unsafe", "no-domain-stats",
                                             "no-progress", "docs", NULL};
        bool is_simple = false;
        for (size_t k = 0; simple[k]; k++)
            if (!strcmp(name, simple[k]))
                is_simple = true;
        if (is_simple) {
            if (!strcmp(name, "tag-unsafe"))
                sets[nsets++] = (setting){"unsafe", "tag"};
            else if (!strcmp(name, "drop-unsafe"))
                sets[nsets++] = (setting){"unsafe", "drop"};
            else if (!strcmp(name, "no-domain-stats"))
                domain_stats = false;
            else if (!strcmp(name, "docs"))
                docs = true;
            else
                progress = false;
            continue;
        }
        const char **target = !strcmp(name, "rules")        ? &rules_path
                              : !strcmp(name, "stats")      ? &stats_path
                              : !strcmp(name, "split-lang") ? &split
                              : !strcmp(name, "rejects")    ? &rejects
                                                            : NULL;
        const cs_filter_rule_key *key = NULL;
        bool negated = false;
        for (const cs_filter_rule_key *k = cs_filter_rule_keys(); k->name; k++) {
            if (!strcmp(k->name, name))
                key = k;
            else if (!strncmp(name, "no-", 3) && !strcmp(k->name, name + 3) &&
                     !strcmp(k->type, "bool"))
                key = k, negated = true;
        }
        if (!target && !key) {
            cli_err("filter: unknown option '--%s' (see --help)", name);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        if (key && !strcmp(key->type, "bool") && !val) {
            sets[nsets++] = (setting){key->name, negated ? "false" : "true"};
            continue;
        }
        if (negated) {
            cli_err("filter: --%s takes no value", name);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        if (!val) {
            if (i + 1 >= argc) {
                cli_err("filter: --%s needs a value", name);
                rc = CLI_EXIT_USAGE;
                goto done;
            }
            val = argv[++i];
        }
        if (target)
            *target = val;
        else
            sets[nsets++] = (setting){key->name, val};
    }

    cs_filter_rules rules;
    if (cs_filter_rules_init(&rules))
        cli_die("out of memory");
    char err[1024];
    if (rules_path && cs_filter_rules_load(&rules, rules_path, err, sizeof err)) {
        cli_err("%s", err);
        cs_filter_rules_cleanup(&rules);
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    for (size_t k = 0; k < nsets; k++) {
        cs_status st = cs_filter_rules_set(&rules, sets[k].key, sets[k].value, err, sizeof err);
        if (st) {
            cli_err("filter: --%s: %s", sets[k].key, err);
            cs_filter_rules_cleanup(&rules);
            rc = st == CS_EIO ? CLI_EXIT_FATAL : CLI_EXIT_USAGE;
            goto done;
        }
        if (!strncmp(sets[k].key, "unsafe-", 7))
            unsafe_lists_given = true;
        if (!strncmp(sets[k].key, "doc-dangerous", 13))
            danger_given = true;
    }
    if (docs) {
        if (!danger_given && !rules.doc_dangerous_words.n) {
            char dir[4096], path[4200];
            if (data_dir(dir, sizeof dir)) {
                snprintf(path, sizeof path, "%s/dangerous-words.txt", dir);
                if (cs_filter_rules_set(&rules, "doc-dangerous-words-file", path, err, sizeof err))
                    cli_err("filter: %s (no dangerous-title filter)", err);
            }
        }
        rc = run_docs(&rules, ninputs ? inputs : NULL, ninputs, stats_path, rejects,
                      domain_stats);
        cs_filter_rules_cleanup(&rules);
        goto done;
    }
    if (rules.unsafe != CS_UNSAFE_OFF && !unsafe_lists_given && !rules.unsafe_words.n &&
        !rules.unsafe_phrases.n && !rules.unsafe_regex.n) {
        char dir[4096], path[4200];
        if (!data_dir(dir, sizeof dir)) {
            cli_err("filter: unsafe filter on, but no list given and data/filter/ not found "
                    "(set CRAWLSET_DATA_DIR or give --unsafe-words-file)");
            cs_filter_rules_cleanup(&rules);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        static const char *const lists[][2] = {{"unsafe-words-file", "unsafe-words.txt"},
                                               {"unsafe-phrases-file", "unsafe-phrases.txt"},
                                               {"unsafe-regex-file", "unsafe-regex.txt"}};
        for (size_t k = 0; k < 3; k++) {
            snprintf(path, sizeof path, "%s/%s", dir, lists[k][1]);
            if (cs_filter_rules_set(&rules, lists[k][0], path, err, sizeof err)) {
                cli_err("filter: %s", err);
                cs_filter_rules_cleanup(&rules);
                rc = CLI_EXIT_FATAL;
                goto done;
            }
        }
    }
    if (split)
        rules.lang_detect = true;

    frun r;
    memset(&r, 0, sizeof r);
    cs_status st = cs_filter_chain_new(&r.chain, &rules, err, sizeof err);
    cs_filter_rules_cleanup(&rules);
    if (st) {
        cli_err("filter: %s", err);
        rc = st == CS_ENOMEM ? CLI_EXIT_FATAL : CLI_EXIT_USAGE;
        goto done;
    }
    cli_out_init(&r.out, 1);
    cs_buf_init(&r.scratch, 0);
    cs_buf_init(&r.tmp, 0);
    if (split) {
        static const char *const sfx[3] = {"nolang", "en", "multi"}; /* cs_lang_class order */
        for (int k = 0; k < 3; k++) {
            char path[4096];
            snprintf(path, sizeof path, "%s-%s.jsonl", split, sfx[k]);
            if (open_out(&r.split[k], path))
                cli_die("cannot write the language split");
        }
        r.split_on = true;
    }
    if (rejects) {
        if (open_out(&r.rejects, rejects))
            cli_die("cannot write the rejects");
        r.rejects_on = true;
    }
    cs_progress_init(&r.prog, stderr, "filter", "kept", 0);
    if (!progress || isatty(1))
        r.prog.enabled = false;
    if (!ninputs)
        inputs[ninputs++] = "-";
    for (size_t k = 0; k < ninputs && rc == CLI_EXIT_OK; k++)
        rc = run_input(&r, inputs[k]);
    cs_progress_finish(&r.prog);
    cli_out_flush(&r.out);
    bool write_failed = r.out.failed;
    for (int k = 0; k < 3 && r.split_on; k++) {
        cli_out_flush(&r.split[k]);
        write_failed |= r.split[k].failed;
        close(r.split[k].fd);
        cli_out_cleanup(&r.split[k]);
    }
    if (r.rejects_on) {
        cli_out_flush(&r.rejects);
        write_failed |= r.rejects.failed;
        close(r.rejects.fd);
        cli_out_cleanup(&r.rejects);
    }
    if (cs_filter_chain_finish(r.chain, err, sizeof err)) {
        cli_err("filter: %s", err);
        rc = CLI_EXIT_FATAL;
    }
    if (write_failed) {
        cli_err("filter: write error: %s", strerror(errno));
        rc = CLI_EXIT_FATAL;
    }
    if (stats_path && write_stats(stats_path, r.malformed, cs_filter_chain_stats(r.chain),
                                  domain_stats) != CLI_EXIT_OK)
        rc = CLI_EXIT_FATAL;
    if (rc == CLI_EXIT_OK && r.malformed)
        rc = CLI_EXIT_PARTIAL;
    cli_out_cleanup(&r.out);
    cs_buf_cleanup(&r.scratch);
    cs_buf_cleanup(&r.tmp);
    cs_filter_chain_free(r.chain);
done:
    free(sets);
    free(inputs);
    return rc;
}
