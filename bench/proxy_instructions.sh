#!/usr/bin/env bash
# User-space instructions per proxied request, counted by callgrind: `nethttp proxy` (one
# thread) under valgrind in front of hyper-hello, loaded by wrk (16 keep-alive connections,
# DURATION seconds). The total instruction count of the proxy process divided by the requests
# served; startup is included and small against the requests. Kernel work is not counted:
# bench/proxy_run.sh measures time and CPU.
#
#   bash bench/proxy_instructions.sh
#   UPSTREAMS=2 bash bench/proxy_instructions.sh   # a group of two hyper-hellos (round robin)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION=${DURATION:-8}
UPSTREAMS=${UPSTREAMS:-1}
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is required (apt-get install wrk)" >&2; exit 1; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p nethttp-bench -p nethttp-cli >&2

OUT=$(mktemp -d)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$OUT"' EXIT

wait_line() {  # wait_line FILE: up to 20 s for "listening on"
    for _ in $(seq 1 200); do
        grep -q "listening on" "$1" && return 0
        sleep 0.1
    done
    echo "no 'listening on' in $1" >&2; cat "$1" >&2; exit 1
}

TO=()
for i in $(seq 1 "$UPSTREAMS"); do
    target/release/hyper-hello --threads 1 --addr 127.0.0.1:0 >"$OUT/up$i.log" 2>&1 &
    PIDS+=($!)
    wait_line "$OUT/up$i.log"
    TO+=(--to "http://$(grep -oE '127\.0\.0\.1:[0-9]+' "$OUT/up$i.log" | head -n1)")
done

valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out" \
    target/release/nethttp proxy --threads 1 --addr 127.0.0.1:0 "${TO[@]}" \
    >"$OUT/proxy.log" 2>&1 &
vpid=$!
PIDS+=($vpid)
wait_line "$OUT/proxy.log"
addr=$(sed 's/\x1b\[[0-9;]*m//g' "$OUT/proxy.log" | grep -oE 'listening on 127\.0\.0\.1:[0-9]+' | grep -oE '127[^ ]+')
wrk_out=$(wrk -t1 -c16 -d"${DURATION}s" "http://$addr/")
kill -TERM "$vpid"; wait "$vpid" 2>/dev/null || true
reqs=$(echo "$wrk_out" | awk '/requests in/ {print $1}')
ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$OUT/cg.out")
echo "| proxy | load | requests | instructions/request |"
echo "|---|---|---:|---:|"
printf '| nethttp proxy (1 thread, %s upstream(s)) | keep-alive c16 | %s | %s |\n' "$UPSTREAMS" "$reqs" "$((ir / reqs))"
