#!/usr/bin/env bash
# User-space instructions per request, counted by callgrind: the same number for the same
# binary and load whatever else the machine is doing, so it separates code changes from
# noise. Kernel work (syscalls, TCP) is not counted: use bench/run.sh for time and CPU.
#
#   bash bench/instructions.sh            # nethttp-hello, nethttp serve and hyper-hello
#
# Each server runs under valgrind --tool=callgrind on one thread; wrk (16 connections)
# loads it for DURATION seconds, pipelined (depth 16) and then plain keep-alive; the
# total instruction count divided by the requests served is reported. Startup costs
# (runtime, argument parsing) are included but are small against the requests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION=${DURATION:-8}
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p nethttp-bench -p nethttp-cli >&2

OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT

port=18700
measure() { # name mode cmd...
    local name=$1 mode=$2; shift 2
    port=$((port + 1))
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out" "$@" --addr "127.0.0.1:$port" \
        >"$OUT/server.log" 2>&1 &
    local vpid=$!
    for _ in $(seq 1 100); do
        grep -q "listening on" "$OUT/server.log" && break
        sleep 0.1
    done
    grep -q "listening on" "$OUT/server.log" || { echo "$name did not start" >&2; cat "$OUT/server.log" >&2; exit 1; }
    local wrk_out
    if [ "$mode" = pipelined ]; then
        wrk_out=$(wrk -t1 -c16 -d"${DURATION}s" -s bench/pipeline.lua "http://127.0.0.1:$port/" -- 16)
    else
        wrk_out=$(wrk -t1 -c16 -d"${DURATION}s" "http://127.0.0.1:$port/")
    fi
    kill -TERM "$vpid"; wait "$vpid" 2>/dev/null || true
    local reqs ir
    reqs=$(echo "$wrk_out" | awk '/requests in/ {print $1}')
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$OUT/cg.out")
    printf '| %s | %s | %s | %s |\n' "$name" "$mode" "$reqs" "$((ir / reqs))"
}

echo "| server | load | requests | instructions/request |"
echo "|---|---|---:|---:|"
for mode in pipelined keep-alive; do
    measure nethttp-hello "$mode" target/release/nethttp-hello
    measure "nethttp serve (ServeMux)" "$mode" target/release/nethttp serve --threads 1
    measure hyper-hello "$mode" target/release/hyper-hello
done
