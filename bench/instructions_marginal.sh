#!/usr/bin/env bash
# Marginal user-space instructions per request of one server, counted by callgrind: the same
# wrk load runs twice (SHORT and LONG seconds, 2 and 6 by default) against a fresh server under
# valgrind, and the difference in instructions over the difference in requests is printed, so
# start-up and shutdown cancel out and the figure does not drift with how many requests the
# machine's speed allowed.
#
#   bash bench/instructions_marginal.sh MODE PORT SERVER [ARGS...]
#     MODE: keep-alive (wrk -c16) or pipelined (wrk -c16, depth 16); the server gets
#     `--addr 127.0.0.1:PORT` appended and must log `listening on` when ready.
#     HEADER="Name: value" adds a request field (e.g. HEADER="Accept-Encoding: gzip").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mode=$1 port=$2; shift 2
SHORT=${SHORT:-2} LONG=${LONG:-6}
command -v valgrind >/dev/null || { echo "valgrind is required" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is required" >&2; exit 1; }
OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT

run() { # seconds -> "requests instructions"
    valgrind --tool=callgrind --callgrind-out-file="$OUT/cg.out" "$@" --addr "127.0.0.1:$port" \
        >"$OUT/server.log" 2>&1 &
    local vpid=$! secs=$SECS
    for _ in $(seq 1 150); do
        grep -q "listening on" "$OUT/server.log" && break
        sleep 0.1
    done
    grep -q "listening on" "$OUT/server.log" || { echo "server did not start" >&2; cat "$OUT/server.log" >&2; exit 1; }
    local reqs
    if [ "$mode" = pipelined ]; then
        reqs=$(wrk -t1 -c16 -d"${secs}s" ${HEADER:+-H "$HEADER"} -s bench/pipeline.lua "http://127.0.0.1:$port/" -- 16 | awk '/requests in/ {print $1}')
    else
        reqs=$(wrk -t1 -c16 -d"${secs}s" ${HEADER:+-H "$HEADER"} "http://127.0.0.1:$port/" | awk '/requests in/ {print $1}')
    fi
    kill -TERM "$vpid"; wait "$vpid" 2>/dev/null || true
    echo "$reqs $(awk '/^(summary|totals):/ {print $2; exit}' "$OUT/cg.out")"
}
SECS=$SHORT; read -r r1 i1 < <(run "$@")
SECS=$LONG; read -r r2 i2 < <(run "$@")
(( r2 > r1 )) || { echo "the long run served no more requests than the short one" >&2; exit 1; }
echo $(( (i2 - i1) / (r2 - r1) ))
