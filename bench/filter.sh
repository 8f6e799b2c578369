#!/bin/bash
# bench/filter.sh - the speed targets of the cleaners issue.
#
# 1. The candidate filter chain against `crawlset wat links` alone on the
#    same input (a synthetic Common Crawl-style WAT from
#    scripts/make-sample-wat --synthetic; every link is a candidate):
#      A  crawlset wat links WAT > rows.jsonl          (the extraction)
#      B  crawlset filter <rows.jsonl >/dev/null       (defaults: url, text, dedupe)
#      C  crawlset filter --lang en,un --tag-unsafe    (the full chain: + cld2 + unsafe)
#      D  C with --all-filters (every filter on every row: complete stats)
#    CPU seconds (user+sys) and peak RSS from /usr/bin/time; ratios C/A and
#    B/A (the filter must not make `pairs` slower than 1.3x its extraction:
#    C/A <= 0.3), and candidates per CPU-second of C (target >= 1,000,000).
#    Then the chain in process (bench_filter chain: rows already in memory,
#    no JSON output), which is what `pairs` pays; and `pairs` itself up to
#    the download (bench_filter pairs: the WAT row source, 2 threads, drained
#    alone and through the filter row source; wall and process CPU seconds;
#    target: wall with the full chain <= 1.3x extraction alone).
# 2. Near-duplicate search over N = 1,000,000 64-bit hashes at radius 4 with
#    the multi-index (bench_filter phash), against all-pairs comparison on a
#    20,000 subset scaled by (N/20,000)^2; target speedup >= 100x.
#    (Random hashes with 10% planted near copies: real pHashes cluster more,
#    which makes buckets fuller; the pair counts are cross-checked.)
# Usage: bench/filter.sh [--pages N] [--runs R] [--work DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
PAGES=5000
RUNS=3
WORK=bench/work
while [ $# -gt 0 ]; do
    case "$1" in
    --pages) PAGES=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
if [ ! -x /usr/bin/time ]; then
    echo "installing time (peak RSS) ..."
    $SUDO apt-get install -y -qq --no-install-recommends time >/dev/null
fi

B=build-bench
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $B --target crawlset bench_filter >/dev/null
CS=$B/crawlset

mkdir -p "$WORK"
WAT=$WORK/filter-$PAGES.wat
if [ ! -s "$WAT" ]; then
    echo "generating $WAT ($PAGES synthetic pages) ..."
    python3 scripts/make-sample-wat --synthetic "$PAGES" --seed 7 -o "$WAT" >/dev/null
fi
ROWS=$WORK/filter-$PAGES.jsonl
$CS wat links --no-progress "$WAT" >"$ROWS"
N=$(wc -l <"$ROWS")
echo "input: $WAT, $N candidate rows ($(du -h "$ROWS" | cut -f1) of JSON Lines)"

# cpu seconds and peak RSS (KiB) of a command: "CPU RSS"
measure() {
    /usr/bin/time -f '%U %S %M' -o "$WORK/time.out" "$@" >/dev/null 2>&1 || true
    awk '{printf "%.3f %d\n", $1 + $2, $3}' "$WORK/time.out"
}

best() { sort -n | head -1; }
declare -a A Bc Cc Dc
for r in $(seq "$RUNS"); do
    A+=("$(measure $CS wat links --no-progress "$WAT")")
    Bc+=("$(measure sh -c "$CS filter --no-progress <'$ROWS'")")
    Cc+=("$(measure sh -c "$CS filter --no-progress --lang en,un --tag-unsafe <'$ROWS'")")
    Dc+=("$(measure sh -c "$CS filter --no-progress --lang en,un --tag-unsafe --all-filters <'$ROWS'")")
done
a=$(printf '%s\n' "${A[@]}" | best)
b=$(printf '%s\n' "${Bc[@]}" | best)
c=$(printf '%s\n' "${Cc[@]}" | best)
d=$(printf '%s\n' "${Dc[@]}" | best)
read -r acpu arss <<<"$a"
read -r bcpu brss <<<"$b"
read -r ccpu crss <<<"$c"
read -r dcpu drss <<<"$d"
echo
echo "== candidate chain vs extraction (best of $RUNS, CPU seconds)"
printf '  A wat links (extraction)      %7.3f s   peak RSS %6d KiB\n' "$acpu" "$arss"
printf '  B filter, defaults             %7.3f s   peak RSS %6d KiB\n' "$bcpu" "$brss"
printf '  C filter, full chain           %7.3f s   peak RSS %6d KiB\n' "$ccpu" "$crss"
printf '  D full chain, --all-filters    %7.3f s   peak RSS %6d KiB\n' "$dcpu" "$drss"
awk -v a="$acpu" -v b="$bcpu" -v c="$ccpu" -v d="$dcpu" -v n="$N" 'BEGIN {
    printf "  ratio B/A %.2f, C/A %.2f, D/A %.2f (target C/A <= 0.30: pairs <= 1.3x extraction)\n", b / a, c / a, d / a
    printf "  full chain through the CLI: %.0f candidates per CPU-second (target >= 1,000,000)\n", n / c
}'
echo
echo "== the chain in process (rows in memory; bench_filter chain)"
$B/bench_filter chain "$ROWS" data/filter | sed 's/^/  /'
echo
echo "== pairs before the download: WAT rows alone vs + filter (bench_filter pairs, best of $RUNS)"
: >"$WORK/pairs.out"
for r in $(seq "$RUNS"); do $B/bench_filter pairs "$WAT" data/filter >>"$WORK/pairs.out"; done
awk '!($1 in v) || $2 < v[$1] {v[$1] = $2} END {for (k in v) print k, v[k]}' "$WORK/pairs.best" |
    sort >"$WORK/pairs.best"
sed 's/^/  /' "$WORK/pairs.best"
awk '{v[$1] = $2} END {
    printf "  wall ratio default %.2f, full %.2f, full inline %.2f; CPU ratio default %.2f, full %.2f (target full wall <= 1.30)\n",
        v["extract_default_chain_wall_s"] / v["extract_only_wall_s"],
        v["extract_full_chain_wall_s"] / v["extract_only_wall_s"],
        v["extract_full_chain_inline_wall_s"] / v["extract_only_wall_s"],
        v["extract_default_chain_cpu_s"] / v["extract_only_cpu_s"],
        v["extract_full_chain_cpu_s"] / v["extract_only_cpu_s"]
}' "$WORK/pairs.best"
echo
echo "== near-duplicate search, 1,000,000 hashes, radius 4"
/usr/bin/time -f '  peak RSS %M KiB' $B/bench_filter phash 1000000 20000 2>&1 | sed 's/^\([a-z]\)/  \1/'
