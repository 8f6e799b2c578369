#!/bin/bash
# bench/warc.sh - the WARC/WAT reading speed targets of the foundation issue,
# each as a ratio against a baseline tool run side by side on the same file:
#   warc cat  FILE.warc.gz  vs zcat and igzip -dc   (targets <= 0.6x, <= 1.15x)
#   warc cat  FILE.warc     vs cat                  (target  <= 2.5x)
#   wat links FILE.wat.gz   vs igzip -dc            (target: throughput >= 0.75x)
#   peak RSS of warc cat at 200 MB and 1 GB         (target: flat)
# crawlset inflates on a helper thread when there are 2+ CPUs; the
# single-thread figures are printed for reference.
# Inputs are built from the corpus records (repeated); nothing is downloaded.
# Usage: bench/warc.sh [--runs N] [--size-mb N] [--work DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=5
SIZE_MB=200
WORK=bench/work
while [ $# -gt 0 ]; do
    case "$1" in
    --runs) RUNS=$2; shift 2 ;;
    --size-mb) SIZE_MB=$2; shift 2 ;;
    --work) WORK=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
CORPUS=${CS_CORPUS:-../shared/corpus}

scripts/bootstrap >/dev/null   # isal (igzip), gzip (zcat), time
cmake -S . -B build-bench -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build-bench --target crawlset >/dev/null
CS=$PWD/build-bench/crawlset
mkdir -p "$WORK"

# Repeats FILE until OUT is at least MB megabytes (valid multi-member gzip).
grow() {
    local src=$1 out=$2 mb=$3
    local want=$((mb * 1000000))
    if [ -f "$out" ] && [ "$(stat -c %s "$out")" -ge "$want" ]; then return; fi
    local n=$(( want / $(stat -c %s "$src") + 1 ))
    local chunk=$WORK/chunk.tmp
    : >"$chunk"
    for _ in $(seq 1 64); do cat "$src" >>"$chunk"; done
    : >"$out"
    local i=0
    while [ "$(stat -c %s "$out")" -lt "$want" ]; do cat "$chunk" >>"$out"; i=$((i + 64)); done
    rm -f "$chunk"
}

echo "building inputs in $WORK ..."
grow "$CORPUS/warc/resiliparse/warcfile.warc.gz" "$WORK/big.warc.gz" "$SIZE_MB"
[ -f "$WORK/big.warc" ] || igzip -dc "$WORK/big.warc.gz" >"$WORK/big.warc"
grow data/sample/sample.wat.gz "$WORK/big.wat.gz" "$SIZE_MB"
grow "$CORPUS/warc/resiliparse/warcfile.warc.gz" "$WORK/huge.warc.gz" 1000

# time_cmd CMD... -> prints "seconds maxrss_kb" of one run, output to /dev/null
time_cmd() {
    /usr/bin/time -o "$WORK/time.out" -f "%e %M" "$@" >/dev/null 2>"$WORK/cmd.err" || true
    tail -n 1 "$WORK/time.out"
}
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# pair NAME "A cmd" "B cmd": runs A and B alternately RUNS times, prints the
# median of the per-pair ratios A/B.
pair() {
    local name=$1 a=$2 b=$3
    local ratios=() ta=() tb=()
    time_cmd $a >/dev/null; time_cmd $b >/dev/null   # warm the page cache
    for _ in $(seq 1 "$RUNS"); do
        local x y
        x=$(time_cmd $a | cut -d' ' -f1)
        y=$(time_cmd $b | cut -d' ' -f1)
        ta+=("$x"); tb+=("$y")
        ratios+=("$(awk -v x="$x" -v y="$y" 'BEGIN { printf "%.3f", (y > 0 ? x / y : 0) }')")
    done
    local r ma mb
    r=$(printf '%s\n' "${ratios[@]}" | median)
    ma=$(printf '%s\n' "${ta[@]}" | median)
    mb=$(printf '%s\n' "${tb[@]}" | median)
    printf '%-44s %8.2fs %8.2fs   ratio %.2f\n' "$name" "$ma" "$mb" "$r"
    LAST_RATIO=$r
}

check() { # ratio op target
    awk -v r="$1" -v t="$3" -v op="$2" 'BEGIN { ok = (op == "<=") ? (r <= t) : (r >= t); print ok ? "ok" : "MISSED" }'
}

echo
echo "file sizes: $(du -h "$WORK/big.warc.gz" | cut -f1) warc.gz, $(du -h "$WORK/big.warc" | cut -f1) warc, $(du -h "$WORK/big.wat.gz" | cut -f1) wat.gz"
echo "runs per command: $RUNS (median of pairwise ratios)"
echo
printf '%-44s %9s %9s\n' "comparison (A vs B)" "A" "B"
pair "warc cat big.warc.gz vs zcat" "$CS warc cat $WORK/big.warc.gz" "zcat $WORK/big.warc.gz"
r1=$LAST_RATIO
pair "warc cat big.warc.gz vs igzip -dc" "$CS warc cat $WORK/big.warc.gz" "igzip -dc $WORK/big.warc.gz"
r2=$LAST_RATIO
pair "warc cat big.warc vs cat" "$CS warc cat $WORK/big.warc" "cat $WORK/big.warc"
r3=$LAST_RATIO
pair "wat links big.wat.gz vs igzip -dc" "$CS wat links $WORK/big.wat.gz" "igzip -dc $WORK/big.wat.gz"
r4=$LAST_RATIO
thr=$(awk -v r="$r4" 'BEGIN { printf "%.2f", (r > 0 ? 1 / r : 0) }')
echo "-- for reference: --images, and one thread (CRAWLSET_THREADS=1: no background inflate)"
pair "wat links --images big.wat.gz vs igzip -dc" "$CS wat links --images $WORK/big.wat.gz" "igzip -dc $WORK/big.wat.gz"
export CRAWLSET_THREADS=1
pair "1 thread: warc cat big.warc.gz vs igzip -dc" "$CS warc cat $WORK/big.warc.gz" "igzip -dc $WORK/big.warc.gz"
pair "1 thread: wat links big.wat.gz vs igzip -dc" "$CS wat links $WORK/big.wat.gz" "igzip -dc $WORK/big.wat.gz"
unset CRAWLSET_THREADS

rss200=$(time_cmd "$CS" warc cat "$WORK/big.warc.gz" | cut -d' ' -f2)
rss1g=$(time_cmd "$CS" warc cat "$WORK/huge.warc.gz" | cut -d' ' -f2)
rsswat=$(time_cmd "$CS" wat links "$WORK/big.wat.gz" | cut -d' ' -f2)

echo
echo "targets:"
echo "  warc cat gz / zcat      $r1  (<= 0.60)  $(check "$r1" '<=' 0.6)"
echo "  warc cat gz / igzip     $r2  (<= 1.15)  $(check "$r2" '<=' 1.15)"
echo "  warc cat plain / cat    $r3  (<= 2.50)  $(check "$r3" '<=' 2.5)"
echo "  wat links throughput vs igzip  $thr  (>= 0.75)  $(check "$thr" '>=' 0.75)"
echo "peak RSS: warc cat ${SIZE_MB} MB: $((rss200 / 1024)) MiB, 1 GB: $((rss1g / 1024)) MiB; wat links ${SIZE_MB} MB: $((rsswat / 1024)) MiB"
