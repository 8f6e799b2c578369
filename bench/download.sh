#!/bin/bash
# bench/download.sh - the end-to-end speed targets of the downloader issue:
# `crawlset download` of N generated JPEGs (300-1500 px, noisy, q90) served
# by nginx on 127.0.0.1, resized to 256 (border, JPEG q95), against, in the
# same run and alternated:
#   A. img2dataset's resize path: OpenCV imdecode + resize INTER_AREA +
#      copyMakeBorder + imencode on one thread (Debian's python3-opencv),
#      files already in memory (bench/image/opencv_resize.py);
#   B. crawlset's own decode+resize+encode from memory, in-process
#      (bench_image), with the same number of image threads.
# Targets: download images per CPU-second >= 2x OpenCV's (A), and download
# wall rate >= 0.8x the in-process rate (B): network, sha256, tar and jsonl
# writing cost at most 20%.
# The download runs with --threads T image workers; its fetch thread and
# nginx take the rest of the machine (on 2 cores: T=1 leaves them one core,
# so B compares like with like). CPU seconds are the crawlset process's
# (user+sys, all threads), so per-CPU-second figures do not count nginx.
# Peak RSS of the download is printed too.
# Usage: bench/download.sh [--count N] [--runs R] [--threads T] [--work DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
COUNT=5000
RUNS=3
THREADS=1
WORK=bench/work
while [ $# -gt 0 ]; do
    case "$1" in
    --count) COUNT=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --threads) THREADS=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
need() { # command package
    if ! command -v "$1" >/dev/null 2>&1 && [ ! -x "$1" ]; then
        echo "installing $2 ..."
        $SUDO apt-get install -y -qq --no-install-recommends "$2" >/dev/null
    fi
}
need /usr/sbin/nginx nginx
need /usr/bin/time time
PY=/usr/bin/python3
if ! $PY -c 'import cv2' 2>/dev/null; then
    echo "installing python3-opencv (the baseline) ..."
    $SUDO apt-get install -y -qq --no-install-recommends python3-opencv >/dev/null
fi

B=build-bench
cmake -S . -B $B -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build $B --target crawlset bench_image bench_img_gen >/dev/null

WORK=$(realpath -m "$WORK")
IMG=$WORK/images
mkdir -p "$IMG"
have=$(find "$IMG" -name '*.jpg' | wc -l)
if [ "$have" -lt "$COUNT" ]; then
    echo "generating $COUNT JPEGs in $IMG ..."
    $B/bench_img_gen "$IMG" "$COUNT"
fi
FILES=$(find "$IMG" -name '*.jpg' | sort | awk -v n="$COUNT" 'NR <= n')
nfiles=$(echo "$FILES" | wc -l)
mb=$(echo "$FILES" | xargs stat -c %s | awk '{s += $1} END {printf "%.0f", s / 1e6}')
echo "inputs: $nfiles JPEGs, $mb MB, $(nproc) CPUs,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"

# nginx on a free loopback port, one worker, as this user, in the foreground
NG=$WORK/nginx
mkdir -p "$NG/logs" "$NG/tmp"
PORT=$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$NG/nginx.conf" <<EOF
daemon off;
master_process off;
worker_processes 1;
error_log $NG/logs/error.log warn;
pid $NG/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NG/tmp; proxy_temp_path $NG/tmp; fastcgi_temp_path $NG/tmp;
    uwsgi_temp_path $NG/tmp; scgi_temp_path $NG/tmp;
    sendfile on; keepalive_requests 100000;
    types { image/jpeg jpg; }
    server { listen 127.0.0.1:$PORT; root $IMG; }
}
EOF
/usr/sbin/nginx -c "$NG/nginx.conf" -p "$NG" &
NGINX=$!
trap 'kill $NGINX 2>/dev/null || true; wait $NGINX 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    if curl -sf -o /dev/null "http://127.0.0.1:$PORT/$(basename "$(echo "$FILES" | head -1)")"; then break; fi
    sleep 0.1
done
LIST=$WORK/urls.txt
echo "$FILES" | while read -r f; do echo "http://127.0.0.1:$PORT/$(basename "$f")"; done >"$LIST"

field() { sed -n "s/.* $1=\([0-9.]*\).*/\1/p"; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
download() { # prints "seconds cpu rss_kb"
    rm -rf "$WORK/dl"
    /usr/bin/time -f "%e %U %S %M" -o "$WORK/time.txt" build-bench/crawlset download "$LIST" \
        --out "$WORK/dl" --image-size 256 --resize-mode border --encode-format jpg \
        --encode-quality 95 --threads "$THREADS" --ignore-robots-txt --retries 0 \
        --per-host 64 --no-progress >/dev/null
    ok=$(cat "$WORK"/dl/*.jsonl | grep -c '"status":"success"' || true)
    if [ "$ok" != "$nfiles" ]; then
        echo "download wrote $ok successes of $nfiles" >&2
        exit 1
    fi
    awk '{printf "%s %.3f %s\n", $1, $2 + $3, $4}' "$WORK/time.txt"
}

RA=$WORK/ratio_cv.txt; RB=$WORK/ratio_inproc.txt; RC=$WORK/ratio_inproc_cpu.txt; RSS=$WORK/rss.txt
: >"$RA"; : >"$RB"; : >"$RC"; : >"$RSS"
for r in $(seq 1 "$RUNS"); do
    d=$(download)
    c=$($PY bench/image/opencv_resize.py $FILES)
    p=$(build-bench/bench_image --threads "$THREADS" $FILES)
    read -r dw dc drss <<<"$d"
    cw=$(echo "$c" | field seconds); cc=$(echo "$c" | field cpu)
    pw=$(echo "$p" | field seconds); pc=$(echo "$p" | field cpu)
    echo "$drss" >>"$RSS"
    echo "$nfiles $dc $cc" | awk '{print ($1 / $2) / ($1 / $3)}' >>"$RA"
    echo "$nfiles $dw $pw" | awk '{print ($1 / $2) / ($1 / $3)}' >>"$RB"
    echo "$nfiles $dc $pc" | awk '{print ($1 / $2) / ($1 / $3)}' >>"$RC"
    echo "run $r:"
    echo "$nfiles $dw $dc $cw $cc $pw $drss $THREADS $pc" | awk '{
        printf "  download (%d image threads): %.1f images/s wall, %.1f per CPU-second, peak RSS %.0f MB\n", $8, $1/$2, $1/$3, $7/1024;
        printf "  OpenCV, one thread, from memory: %.1f images/s (%.1f per CPU-second)\n", $1/$4, $1/$5;
        printf "  crawlset in-process, %d threads, from memory: %.1f images/s (%.1f per CPU-second)\n", $8, $1/$6, $1/$9 }'
done

echo
echo "== summary ($RUNS runs, medians of pairwise ratios)"
echo "  download per CPU-second vs OpenCV per CPU-second: $(median <"$RA" | awk '{printf "%.2fx", $1}') (target >= 2x)"
echo "  download wall rate vs in-process decode+resize+encode: $(median <"$RB" | awk '{printf "%.2fx", $1}') (target >= 0.8x)"
echo "  the same per CPU-second (network, sha256 and writing cost; robust to a busy machine): $(median <"$RC" | awk '{printf "%.2fx", $1}')"
echo "  peak RSS of the download: $(sort -n "$RSS" | tail -1 | awk '{printf "%.0f MB", $1/1024}')"
