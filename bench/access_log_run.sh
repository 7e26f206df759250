#!/usr/bin/env bash
# What an access log costs `nethttp serve` on the wall clock: keep-alive load (wrk -t1 -c64)
# on `/`, the server pinned to CPU 0 (its log writer thread too), wrk to CPU 1, interleaved
# rounds; prints req/s and the server's CPU (user + system, writer thread included) per
# request for each configuration.
#
#   bash bench/access_log_run.sh [NAME=BINARY ...]
#     each NAME=BINARY is run with `--access-log`; `none` runs the first binary without it.
#     ROUNDS (5) and DURATION (5 s) choose the length.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROUNDS=${ROUNDS:-5} DURATION=${DURATION:-5}
[ $# -gt 0 ] || set -- "nethttp=target/release/nethttp"
command -v wrk >/dev/null || { echo "wrk is required" >&2; exit 1; }
LOGS=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$LOGS"' EXIT
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
first=${1#*=}
port=18950
for round in $(seq 1 "$ROUNDS"); do
    for spec in "$@" "none=$first"; do
        name=${spec%%=*} bin=${spec#*=}
        args=(serve --threads 1 --addr "127.0.0.1:$port")
        [ "$name" = none ] || args+=(--access-log "$LOGS/$name.log")
        taskset -c 0 "$bin" "${args[@]}" >/dev/null 2>&1 &
        pid=$!
        for _ in $(seq 1 50); do
            (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
            sleep 0.1
        done
        c0=$(ticks "$pid")
        reqs=$(taskset -c 1 wrk -t1 -c64 -d"${DURATION}s" "http://127.0.0.1:$port/" | awk '/requests in/ {print $1}')
        c1=$(ticks "$pid")
        kill "$pid"; wait "$pid" 2>/dev/null || true
        rm -f "$LOGS/$name.log"
        awk -v n="$name" -v r="$round" -v q="$reqs" -v d="$DURATION" -v c="$((c1 - c0))" -v hz="$hz" \
            'BEGIN { printf "round %d %-8s %8d req/s %6.2f µs CPU/request\n", r, n, q / d, c * 1e6 / hz / q }'
        port=$((port + 1))
    done
done
