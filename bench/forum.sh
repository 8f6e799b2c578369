#!/bin/bash
# bench/forum.sh - `crawlset forum` on a loopback Discourse site of 1,000
# topics x 50 posts (bench/forum_site.c; no rate limit, no images) against
# the baseline chats-crawler pays: one headless Chromium page load per topic
# (Debian's chromium, the topic's HTML page on the same loopback site).
# Target: topics/s >= 20 x the browser's.
#
# Chromium is measured on a sample of --sample topic pages loaded one after
# another in one headless browser kept open, as chats-crawler's Playwright
# keeps it (bench/forum_chromium.py: DevTools protocol over a pipe, each
# load from Page.navigate to the load event, posts checked), and for
# reference with one `chromium --dump-dom` process per page (5 pages). The
# ratio is judged on the first, the one less favourable to crawlset. Also
# printed: the same ratio per CPU-second (crawlset's user + system time
# against the browser's, all its processes, start-up and shutdown
# subtracted), which a busy machine does not skew. crawlset's
# time and peak RSS come from GNU time; every run writes all 1,000 topics.
# Usage: bench/forum.sh [--topics N] [--posts P] [--sample K] [--runs R]
set -euo pipefail
cd "$(dirname "$0")/.."
TOPICS=1000
POSTS=50
SAMPLE=30
RUNS=3
while [ $# -gt 0 ]; do
    case "$1" in
    --topics) TOPICS=$2; shift 2 ;;
    --posts) POSTS=$2; shift 2 ;;
    --sample) SAMPLE=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
if ! command -v chromium >/dev/null; then
    echo "installing chromium (the baseline) from Debian" >&2
    sudo apt-get install -y chromium >/dev/null
fi
command -v /usr/bin/time >/dev/null || sudo apt-get install -y time >/dev/null

B=build-bench
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $B --target crawlset bench_forum_site >/dev/null
WORK=$(mktemp -d /tmp/cs-forum-bench.XXXXXX)
SITE=""
cleanup() {
    if [ -n "$SITE" ]; then exec 3>&-; wait "$SITE" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
# the site serves until its stdin (fd 3 here) closes
mkfifo "$WORK/in"
$B/bench_forum_site --topics "$TOPICS" --posts "$POSTS" <"$WORK/in" >"$WORK/port" &
SITE=$!
exec 3>"$WORK/in"
for _ in $(seq 1 600); do [ -s "$WORK/port" ] && break; sleep 0.1; done
PORT=$(awk '{print $2}' "$WORK/port")
URL="http://127.0.0.1:$PORT"
echo "site: $URL ($TOPICS topics x $POSTS posts)"

median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# ---- crawlset ----
secs=""; rss=""; cpus=""
for r in $(seq 1 "$RUNS"); do
    # a fresh directory per run (removing the last run's files just before
    # would make ext4 scan its recently deleted inodes on every create)
    out="$WORK/out$r"
    /usr/bin/time -f "%e %M %U %S" -o "$WORK/time" $B/crawlset forum "$URL" --out "$out" \
        --rate 0 --no-images --topics-in-flight 32 2>"$WORK/log" || { cat "$WORK/log"; exit 1; }
    n=$(ls "$out" | grep -c '\.json$')
    [ "$n" = "$TOPICS" ] || { echo "crawlset wrote $n topics, not $TOPICS" >&2; cat "$WORK/log"; exit 1; }
    read -r s m u y <"$WORK/time"
    echo "crawlset run $r: $s s, peak RSS $((m / 1024)) MB, $(tail -1 "$WORK/log")"
    secs="$secs $s"; rss="$rss $m"; cpus="$cpus $(echo "$u $y" | awk '{print $1 + $2}')"
done
CS_S=$(echo $secs | tr ' ' '\n' | median)
CS_CPU=$(echo $cpus | tr ' ' '\n' | median)
CS_RSS=$(echo $rss | tr ' ' '\n' | sort -n | tail -1)
CS_TPS=$(echo "$TOPICS $CS_S" | awk '{printf "%.1f", $1 / $2}')

# ---- chromium: one page load per topic, in one browser kept open ----
urls=""
for i in $(seq 1 "$SAMPLE"); do
    t=$(( (i * 997) % TOPICS + 1 ))
    urls="$urls $URL/t/topic-$t/$t"
done
python3 bench/forum_chromium.py "$URL/t/topic-1/1" >/dev/null # warm-up: disk cache
read -r _ LOADS _ TOTAL _ CR_CPU <<<"$(python3 bench/forum_chromium.py $urls)"
read -r _ _ _ _ _ CR_CPU0 <<<"$(python3 bench/forum_chromium.py)" # start + close only
LOAD=$(echo "$TOTAL $LOADS" | awk '{printf "%.4f", $1 / $2}')
LOAD_CPU=$(echo "$CR_CPU $CR_CPU0 $LOADS" | awk '{printf "%.4f", ($1 - $2) / $3}')
# and with the browser's start-up: one chromium process per page
t0=$(date +%s.%N)
for u in $(echo $urls | tr ' ' '\n' | head -5); do
    chromium --headless --no-sandbox --disable-gpu --no-first-run \
        --user-data-dir="$WORK/chrome" --dump-dom "$u" >"$WORK/dom" 2>/dev/null
done
t1=$(date +%s.%N)
PAGE=$(echo "$t0 $t1" | awk '{printf "%.4f", ($2 - $1) / 5}')

echo
echo "crawlset forum:   $CS_TPS topics/s (median of $RUNS: $CS_S s for $TOPICS topics; $CS_CPU CPU-s), peak RSS $((CS_RSS / 1024)) MB"
echo "chromium:         $LOAD s per page load in one open browser ($LOADS-page sample; $(echo "$LOAD" | awk '{printf "%.1f", 1 / $1}') topics/s), $PAGE s per page with a browser started per page (5 pages)"
echo "$CS_TPS $PAGE $LOAD" | awk '{
    r1 = $1 * $2; r2 = $1 * $3;
    printf "ratio:            %.0fx (vs page loads in one open browser; target >= 20x: %s), %.0fx (vs a browser per page)\n",
        r2, (r2 >= 20 ? "met" : "NOT met"), r1 }'
echo "$TOPICS $CS_CPU $LOAD_CPU" | awk '{
    printf "per CPU-second:   crawlset %.4f CPU-s per topic, chromium %.4f CPU-s per page load (all its processes, start-up excluded): %.0fx (robust to a busy machine)\n",
        $2 / $1, $3, $3 / ($2 / $1) }'
