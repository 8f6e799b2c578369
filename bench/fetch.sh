#!/bin/bash
# bench/fetch.sh - the latency-bound fetch target of the downloader issue:
# an origin that adds 100 ms to every request, 1,000 transfers in flight,
# small bodies. Target: requests/s >= 0.8 x (in flight / latency) = 8,000,
# peak RSS <= 500 MB. Also reports 2,000 in flight (RSS target < 500 MB).
#
# The origin is bench/slow_origin.c (epoll, keep-alive, a FIFO timer per
# thread; see why there), the client bench/fetch_bench.c on the crawlset
# library (Release build in build-bench/). URLs are spread over --hosts host
# names (all 127.0.0.1 through resolve entries), so robots.txt is fetched
# once per host and the per-host limit (16) applies, as in a real crawl.
# Each configuration runs --runs times; the median requests/s is reported.
# Usage: bench/fetch.sh [--runs N] [--n URLS] [--parallel K] [--delay-ms D]
#                       [--hosts H] [--origin-threads T]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=3
N=50000
PARALLEL=1000
DELAY=100
HOSTS=100
OT=""
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --n) N=$2; shift 2 ;;
    --parallel) PARALLEL=$2; shift 2 ;;
    --delay-ms) DELAY=$2; shift 2 ;;
    --hosts) HOSTS=$2; shift 2 ;;
    --origin-threads) OT=$2; shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
CPUS=$(nproc)
if [ -z "$OT" ]; then
    # leave the client its core: the origin gets the rest (at least one thread)
    OT=$(( CPUS > 2 ? (CPUS - 1 < 4 ? CPUS - 1 : 4) : 1 ))
fi

B=build-bench
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $B --target bench_fetch bench_slow_origin >/dev/null
cp $B/bench_fetch $B/fetch_bench; cp $B/bench_slow_origin $B/slow_origin

ORIGIN=""
cleanup() { if [ -n "$ORIGIN" ]; then kill -TERM "$ORIGIN" 2>/dev/null || true; wait "$ORIGIN" 2>/dev/null || true; fi; }
trap cleanup EXIT
$B/slow_origin --delay-ms "$DELAY" --threads "$OT" --body 1000 >$B/origin.port 2>$B/origin.log &
ORIGIN=$!
for _ in $(seq 1 50); do [ -s $B/origin.port ] && break; sleep 0.1; done
PORT=$(awk '{print $2}' $B/origin.port)

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
field() { tr ' ' '\n' | sed -n "s/^$1=//p"; }

# run_config PARALLEL HOSTS TARGET -> prints the per-run lines and a summary;
# TARGET=yes judges requests/s against the bound, else it is shown for reference
run_config() {
    local par=$1 hosts=$2 target=$3 rates="" rss="" line
    for r in $(seq 1 "$RUNS"); do
        line=$($B/fetch_bench --port "$PORT" --n "$N" --parallel "$par" --hosts "$hosts")
        echo "  run $r: $line"
        rates="$rates $(echo "$line" | field req_per_s)"
        rss="$rss $(echo "$line" | field peak_rss_mb)"
        echo "$line" | grep -q "failed=0 " || { echo "  (some requests failed)"; }
    done
    local med maxrss bound
    med=$(echo "$rates" | tr ' ' '\n' | grep . | median)
    maxrss=$(echo "$rss" | tr ' ' '\n' | grep . | sort -n | tail -1)
    bound=$(awk -v p="$par" -v d="$DELAY" 'BEGIN {printf "%.0f", 0.8 * p / (d / 1000)}')
    awk -v m="$med" -v b="$bound" -v p="$par" -v d="$DELAY" -v r="$maxrss" -v t="$target" 'BEGIN {
        printf "  => %d in flight, %d ms: median %.0f req/s = %.2fx 0.8 x %d / %.1f s = %d req/s (%s); peak RSS %d MB (%s, target <= 500)\n",
               p, d, m, m / b, p, d / 1000, b, (t == "yes" ? (m >= b ? "met" : "NOT met") : "reference only"),
               r, (r <= 500 ? "met" : "NOT met") }'
}

echo "fetch bench: $N URLs over $HOSTS hosts, origin +${DELAY} ms per request ($OT origin threads), $CPUS CPUs"
run_config "$PARALLEL" "$HOSTS" yes
echo "2,000 in flight (the memory target; requests/s for reference):"
run_config 2000 $((HOSTS * 2)) no
cleanup
ORIGIN=""
echo "origin: $(cat $B/origin.log 2>/dev/null)"
