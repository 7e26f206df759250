#!/usr/bin/env bash
# What a client that never reads costs an HTTP/2 server, side by side in one run: nethttp
# serve against hyper 1.x (hyper-util auto, `hyper-stream`), the same attack on each.
#
#   bash bench/h2_unread.sh                  # ~2 minutes plus the build
#   SECONDS_PER_RUN=5 bash bench/h2_unread.sh
#
# The attack (bench/h2_unread.py, pinned to CPU $CLIENT_CPU): CONNS connections, each grants
# the server 2^31-1 bytes of window (connection and streams), opens 250 streams of
# GET /stream/1000000 (13-byte chunks made on demand by both servers) and never reads; its
# receive buffer is 16 KiB. The attacker samples the server's VmRSS every 100 ms and stops
# early once growth passes CAP_MB (so an unbounded server cannot take the machine down).
# Servers pinned to CPU $SERVER_CPU, one runtime thread each, a fresh process per row:
#   nethttp        nethttp serve --threads 1 --write-timeout ${WRITE_TIMEOUT}   (h2c)
#   nethttp TLS    the same with --tls-cert/--tls-key (ALPN h2; cert made by openssl)
#   hyper          hyper-stream --threads 1   (h2c; hyper has no write timeout)
# Columns: peak RSS growth, when the peak was reached, whether the cap stopped the run, and
# how many connections the server itself closed (and when the last one went).
#
# Environment: SECONDS_PER_RUN=12  CAP_MB=2048  WRITE_TIMEOUT=5s  SERVER_CPU=0  CLIENT_CPU=1
#              SKIP_BUILD=1  OUT_DIR=...
# stdout gets the markdown table; progress goes to stderr. Everything started is killed on
# exit; every wait is bounded.

set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/common.sh

log() { printf '[h2-unread %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[h2-unread] FATAL: %s\n' "$*" >&2; exit 1; }

BIN=$(bin_dir)
SECS=${SECONDS_PER_RUN:-12}
CAP_MB=${CAP_MB:-2048}
WRITE_TIMEOUT=${WRITE_TIMEOUT:-5s}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT_DIR=${OUT_DIR:-${CARGO_TARGET_DIR:-target}/bench-results/h2-unread-$(date +%Y%m%d-%H%M%S)}
mkdir -p "$OUT_DIR"

command -v python3 >/dev/null || die "python3 is needed"
command -v openssl >/dev/null || die "openssl is needed (for the TLS row's certificate)"
if [[ -z ${SKIP_BUILD:-} ]]; then
    log "building"
    cargo build --release -q -p nethttp-cli -p nethttp-bench --bin nethttp --bin hyper-stream
fi

openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=localhost \
    -addext subjectAltName=DNS:localhost -keyout "$OUT_DIR/key.pem" -out "$OUT_DIR/cert.pem" \
    2>/dev/null

# row LABEL CONNS TLS CMD...
row() {
    local label=$1 conns=$2 tls=$3
    shift 3
    start_listening "$OUT_DIR/server.log" "$SERVER_CPU" "$@"
    local pid=$STARTED_PID addr=$STARTED_ADDR
    sleep 0.3
    local flags=(--conns "$conns" --seconds "$SECS" --cap-mb "$CAP_MB")
    [[ $tls == 1 ]] && flags+=(--tls)
    log "$label: $conns connection(s) x 250 streams, $SECS s"
    local out
    out=$(taskset -c "$CLIENT_CPU" python3 bench/h2_unread.py "$pid" "$addr" "${flags[@]}")
    reap "$pid"
    local growth at capped closed close_s
    IFS=$'\t' read -r growth at capped closed close_s <<<"$out"
    local mb
    mb=$(awk -v k="$growth" 'BEGIN { printf "%.1f", k / 1024 }')
    [[ $capped == 1 ]] && mb="> $mb (stopped at the cap)"
    local closed_txt="$closed of $conns"
    [[ $close_s != - ]] && closed_txt+=" (last at ${close_s} s)"
    printf '| %s | %s | %s MB | %s s | %s |\n' "$label" "$conns" "$mb" "$at" "$closed_txt"
}

echo "| server | connections | peak RSS growth | at | closed by the server within ${SECS} s |"
echo "|---|---|---|---|---|"
NETHTTP=("$BIN/nethttp" serve --addr 127.0.0.1:0 --threads 1 --write-timeout "$WRITE_TIMEOUT")
TLS=(--tls-cert "$OUT_DIR/cert.pem" --tls-key "$OUT_DIR/key.pem")
for conns in 1 10; do
    row "nethttp (h2c)" "$conns" 0 "${NETHTTP[@]}"
    row "nethttp (TLS)" "$conns" 1 "${NETHTTP[@]}" "${TLS[@]}"
    row "hyper (h2c)" "$conns" 0 "$BIN/hyper-stream" --threads 1
done
