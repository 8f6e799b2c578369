#!/bin/bash
# bench/tracker.sh - the tracker's speed target (issue 4): newJob+markAsDone
# cycles per second with 64 concurrent clients against a store of 1,000,000
# jobs, as a ratio to the requests/s nginx serves a small static file to the
# same load generator (wrk, same thread/connection counts) in the same run.
# Targets: ratio >= 0.25, p99 request latency <= 10 ms. Both stores (SQLite
# file; PostgreSQL started here in a temporary directory). Peak RSS of the
# tracker is read from /proc (VmHWM).
#
# Each store is measured in --rounds R rounds (default 3): nginx for S
# seconds, then the tracker for S seconds, side by side, one ratio per
# round; the verdict takes the median ratio and the worst p99 (nginx alone
# moves by +-8% from run to run on the shared 2-core box). The tracker and
# its store stay up across rounds; every cycle uses up a job, so --jobs must
# cover R x S seconds of cycles (checked: a round that runs out of jobs
# counts 403s as errors).
#
# wrk drives one HYBRID worker per connection (bench/tracker_cycle.lua; -t and
# -c equal so a worker's token stays on one connection); the workers are
# registered with curl first and their tokens given to the script, which then
# only replays two prebuilt requests (no Lua per response). Installs wrk, nginx
# and postgresql from Debian when missing.
# Usage: bench/tracker.sh [--jobs N] [--seconds S] [--rounds R] [--clients C]
#                         [--threads T] [--store sqlite|pg|both] [--pg-async-commit]
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=1000000
SECS=6
ROUNDS=3
CLIENTS=64
THREADS=4
STORES=both
PGOPT=""
while [ $# -gt 0 ]; do
    case "$1" in
    --jobs) JOBS=$2; shift 2 ;;
    --seconds) SECS=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --store) STORES=$2; shift 2 ;;
    # PostgreSQL commits without waiting for the WAL flush (libpq URL option):
    # a killed tracker still loses nothing; a crash of the database server
    # may lose the last moments of completions (those jobs are done again)
    --pg-async-commit) PGOPT="?options=-csynchronous_commit%3Doff"; shift ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

need=""
command -v wrk >/dev/null || need="$need wrk"
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need="$need nginx"
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need="$need postgresql"
if [ -n "$need" ]; then
    SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $need >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
PGBIN=$(dirname "$(ls /usr/lib/postgresql/*/bin/initdb | sort | tail -1)")

# CS_BENCH_BUILD=DIR uses an existing build's crawlset as is
B=${CS_BENCH_BUILD:-build-bench}
if [ -z "${CS_BENCH_BUILD:-}" ]; then
    cmake -S . -B "$B" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$B" --target crawlset >/dev/null
fi
CS=$B/crawlset

W=$(mktemp -d /tmp/cs_bench_tracker.XXXXXX)
chmod 755 "$W"
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    rm -rf "$W"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# the input list: JOBS/2 lines (two jobs each)
seq 1 $((JOBS / 2)) | awk '{printf "crawl-data/CC-MAIN-2024/segments/%d/wat/%08d.warc.wat.gz\n", $1 % 100, $1}' >"$W/list"

# ---- nginx baseline ----------------------------------------------------------
NPORT=$(free_port)
mkdir -p "$W/nginx/html" "$W/nginx/logs"
head -c 100 /dev/zero | tr '\0' 'x' >"$W/nginx/html/small.txt"
cat >"$W/nginx/nginx.conf" <<NGX
worker_processes auto;
daemon off;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log;
events { worker_connections 4096; }
http {
    access_log off;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NPORT;
        root $W/nginx/html;
    }
}
NGX
[ "$(id -u)" = 0 ] && sed -i '1i user root;' "$W/nginx/nginx.conf"
"$NGINX" -p "$W/nginx" -c "$W/nginx/nginx.conf" &
PIDS+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$NPORT/small.txt" >/dev/null && break; sleep 0.1; done
# one nginx run: sets NGINX_RPS, NGINX_P99
run_nginx() {
    wrk -t "$CLIENTS" -c "$CLIENTS" -d "${SECS}s" --latency "http://127.0.0.1:$NPORT/small.txt" >"$W/nginx.wrk"
    NGINX_RPS=$(awk '/^Requests\/sec:/ {print $2}' "$W/nginx.wrk")
    NGINX_P99=$(awk '$1 == "99%" {print $2}' "$W/nginx.wrk")
}

# ---- PostgreSQL for the pg store --------------------------------------------------
start_pg() {
    PGPORT=$(free_port)
    mkdir -p "$W/pg"
    [ "$(id -u)" = 0 ] && chown postgres: "$W/pg"
    as_pg "$PGBIN/initdb" -D "$W/pg/data" -A trust -U postgres -E UTF8 --locale=C --no-sync >/dev/null
    # durable settings (fsync on, synchronous_commit on): the store's promise
    as_pg "$PGBIN/postgres" -D "$W/pg/data" -p "$PGPORT" -k "$W/pg" -c listen_addresses=127.0.0.1 \
        -c max_connections=200 -c shared_buffers=256MB >"$W/pg/log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 100); do "$PGBIN/pg_isready" -q -h 127.0.0.1 -p "$PGPORT" && break; sleep 0.1; done
    as_pg "$PGBIN/createdb" -h 127.0.0.1 -p "$PGPORT" -U postgres bench
    DB="postgresql://postgres@127.0.0.1:$PGPORT/bench$PGOPT"
}

run_store() {
    local store=$1 DB
    if [ "$store" = pg ]; then start_pg; else DB="$W/tracker.db"; fi
    local t0=$(date +%s.%N)
    "$CS" tracker add-jobs --db "$DB" "$W/list" >/dev/null
    local t1=$(date +%s.%N)
    # the bulk load's dirty pages go to disk now, not in the middle of a
    # round: the kernel wrote them back ~30 s after add-jobs (its dirty page
    # expiry), during round 2, and every COMMIT's WAL flush queued behind
    # them (PostgreSQL: COMMITs of 22-62 ms, a round's p99 at 28-48 ms)
    sync
    local port=$(free_port)
    "$CS" tracker serve --db "$DB" --listen "127.0.0.1:$port" --threads "$THREADS" >"$W/serve.$store.out" 2>"$W/serve.$store.err" &
    local spid=$!
    PIDS+=($spid)
    for _ in $(seq 100); do curl -sf "http://127.0.0.1:$port/api/jobCount?type=HYBRID" >/dev/null && break; sleep 0.1; done
    # one HYBRID worker per wrk thread, registered here (the script sends only
    # newJob and markAsDone, with these tokens)
    local toks=()
    for i in $(seq "$CLIENTS"); do
        toks+=("$(curl -sf "http://127.0.0.1:$port/api/new?nickname=bench$i&type=HYBRID" |
            python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')")
    done
    local ratios=() p99s=() line
    for r in $(seq "$ROUNDS"); do
        run_nginx
        wrk -t "$CLIENTS" -c "$CLIENTS" -d "${SECS}s" --latency -s bench/tracker_cycle.lua \
            "http://127.0.0.1:$port" -- "${toks[@]}" >"$W/$store.wrk"
        line=$(grep '^CYCLES' "$W/$store.wrk")
        local cycles=$(echo "$line" | awk '{print $2}') errors=$(echo "$line" | awk '{print $4}')
        local secs=$(echo "$line" | awk '{print $8}') p99us=$(echo "$line" | awk '{print $10}')
        local p50us=$(echo "$line" | awk '{print $12}')
        local cps=$(awk -v c="$cycles" -v s="$secs" 'BEGIN {printf "%.0f", c / s}')
        local ratio=$(awk -v a="$cps" -v b="$NGINX_RPS" 'BEGIN {printf "%.3f", a / b}')
        local p99ms=$(awk -v u="$p99us" 'BEGIN {printf "%.2f", u / 1000}')
        ratios+=("$ratio")
        p99s+=("$p99ms")
        printf "%-6s round %d: nginx %.0f requests/s (p99 %s); tracker %s cycles/s (%d cycles, %s errors), ratio %s, p50 %.2f ms, p99 %s ms\n" \
            "$store" "$r" "$NGINX_RPS" "$NGINX_P99" "$cps" "$cycles" "$errors" "$ratio" \
            "$(awk -v u="$p50us" 'BEGIN {print u / 1000}')" "$p99ms"
    done
    local rss=$(awk '/VmHWM/ {print $2}' /proc/$spid/status)
    kill -TERM $spid; wait $spid || true
    local med=$(printf "%s\n" "${ratios[@]}" | sort -g | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
    local worst=$(printf "%s\n" "${p99s[@]}" | sort -g | tail -1)
    local verdict="ok"
    awk -v r="$med" -v p="$worst" 'BEGIN {exit !(r >= 0.25 && p <= 10)}' || verdict="MISSED"
    printf "%-6s add-jobs %d jobs in %.1fs; median ratio to nginx over %d rounds %s (target >= 0.25), worst p99 %s ms (target <= 10), tracker peak RSS %d MB: %s\n" \
        "$store" "$JOBS" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {print b - a}')" "$ROUNDS" "$med" "$worst" "$((rss / 1024))" "$verdict"
}

case "$STORES" in
both) run_store sqlite; run_store pg ;;
sqlite|pg) run_store "$STORES" ;;
*) echo "--store sqlite|pg|both" >&2; exit 2 ;;
esac
