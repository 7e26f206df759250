#!/usr/bin/env bash
# What clients that send half an HTTP/2 preface (or nothing) and wait cost a server's CPU,
# side by side in one run: nethttp serve against hyper-auto (hyper-util's auto server, which
# sniffs the preface too), optionally an older nethttp build.
#
#   bash bench/half_preface.sh                    # ~1 minute after the build
#   BEFORE=/path/to/older/nethttp bash bench/half_preface.sh   # adds a row for that binary
#
# The load (bench/half_preface.py, pinned to CPU $CLIENT_CPU): $CONNS connections, half of
# them sending "PRI * HTTP/2.0\r\n" (16 of the preface's 24 bytes), half nothing; then the
# server's utime+stime over $SECONDS s. Servers pinned to CPU $SERVER_CPU, one runtime thread,
# a fresh process per row, `ulimit -n` raised for both sides; nethttp with
# --read-header-timeout 60s so that the connections are still waiting while measured.
#
# Environment: CONNS=2000  SECONDS_PER_RUN=5  SERVER_CPU=0  CLIENT_CPU=1  SKIP_BUILD=1  BEFORE=
# stdout gets the markdown table; progress goes to stderr. Everything started is killed on exit.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/common.sh

log() { printf '[half-preface %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[half-preface] FATAL: %s\n' "$*" >&2; exit 1; }

BIN=$(bin_dir)
CONNS=${CONNS:-2000}
SECS=${SECONDS_PER_RUN:-5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT_DIR=${OUT_DIR:-${CARGO_TARGET_DIR:-target}/bench-results/half-preface-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT_DIR"
ulimit -n $((CONNS * 2 + 256))

if [[ -z ${SKIP_BUILD:-} ]]; then
    log "building"
    cargo build --release -q -p nethttp-cli -p nethttp-bench --bin nethttp --bin hyper-auto
fi

row() {  # row LABEL CMD...
    local label=$1
    shift
    start_listening "$OUT_DIR/server.log" "$SERVER_CPU" "$@"
    local pid=$STARTED_PID addr=$STARTED_ADDR
    sleep 0.3
    log "$label: $CONNS connections, $SECS s"
    local out used pct still
    out=$(taskset -c "$CLIENT_CPU" python3 bench/half_preface.py "$pid" "$addr" \
        --conns "$CONNS" --seconds "$SECS")
    reap "$pid"
    IFS=$'\t' read -r used pct still <<<"$out"
    printf '| %s | %s | %s s | %s %% | %s |\n' "$label" "$CONNS" "$used" "$pct" "$still"
}

echo "| server | connections (half a preface / nothing) | server CPU in ${SECS} s | CPU | still open after |"
echo "|---|---|---|---|---|"
NETHTTP_ARGS=(serve --addr 127.0.0.1:0 --threads 1 --read-header-timeout 60s)
row "nethttp" "$BIN/nethttp" "${NETHTTP_ARGS[@]}"
row "hyper-auto" "$BIN/hyper-auto" --threads 1
if [[ -n ${BEFORE:-} ]]; then
    row "nethttp (before)" "$BEFORE" "${NETHTTP_ARGS[@]}"
fi
