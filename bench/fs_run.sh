#!/usr/bin/env bash
# Side-by-side benchmark of static files: `nethttp serve --dir` vs nginx (`sendfile on`, one
# worker) and, when a Go toolchain is installed (`apt-get install golang-go`), Go's
# `http.FileServer`, in one run, interleaved, medians and ratios.
#
#   bash bench/fs_run.sh                        # 3 repeats of 10 s per load, ~4 minutes + build
#   DURATION=5 REPEATS=3 bash bench/fs_run.sh   # quicker
#
# Loads: a 1 KiB file, keep-alive, $CONNS connections (req/s and CPU µs per request); a 100 MiB
# file, 4 connections (MB/s and CPU seconds per GB sent). The server under test is pinned to
# CPU $SERVER_CPU, wrk to $PEER_CPU; CPU is the server process's utime+stime delta
# (/proc/PID/stat) over what wrk completed.
#
# Environment: DURATION=10 REPEATS=3 WARMUP=2 CONNS=64 SERVER_CPU=0 PEER_CPU=1 SKIP_BUILD=1
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/common.sh

DURATION=${DURATION:-10}
REPEATS=${REPEATS:-3}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
SERVER_CPU=${SERVER_CPU:-0}
PEER_CPU=${PEER_CPU:-1}
OUT_DIR=${OUT_DIR:-target/bench-results/fs-$(date +%Y%m%d-%H%M%S)}

log() { printf '[fs-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[fs-bench] FATAL: %s\n' "$*" >&2; exit 1; }

for tool in wrk taskset getconf awk curl; do
    command -v "$tool" >/dev/null || die "'$tool' not found"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || die "nginx not found"
CLK_TCK=$(getconf CLK_TCK)
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p nethttp-cli >&2
BIN=$(bin_dir)
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

# The files every server serves.
DOCS=$OUT_DIR/docs
mkdir -p "$DOCS"
head -c 1024 /dev/urandom >"$DOCS/small.bin"
head -c $((100 << 20)) /dev/urandom >"$DOCS/big.bin"

declare -A PID ADDR
NAMES=()

start_listening "$OUT_DIR/nethttp.log" "$SERVER_CPU" \
    "$BIN/nethttp" serve --threads 1 --addr 127.0.0.1:0 --dir "$DOCS"
PID[nethttp]=$STARTED_PID ADDR[nethttp]=$STARTED_ADDR
NAMES+=(nethttp)

NGX=$OUT_DIR/nginx
mkdir -p "$NGX"/{body,proxy,fastcgi,uwsgi,scgi}
NGX_PORT=$(( 20000 + RANDOM % 20000 ))
cat >"$NGX/nginx.conf" <<NGINX
master_process off;
worker_processes 1;
error_log $NGX/error.log warn;
pid $NGX/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $NGX/body;
    proxy_temp_path $NGX/proxy;
    fastcgi_temp_path $NGX/fastcgi;
    uwsgi_temp_path $NGX/uwsgi;
    scgi_temp_path $NGX/scgi;
    server {
        listen 127.0.0.1:$NGX_PORT;
        root $DOCS;
        etag on;
    }
}
NGINX
taskset -c "$SERVER_CPU" "$NGINX" -p "$NGX/" -c "$NGX/nginx.conf" -g 'daemon off;' >"$NGX/stdout.log" 2>&1 &
PID[nginx]=$!
LIVE[${PID[nginx]}]=1
for _ in $(seq 100); do [[ -s $NGX/nginx.pid ]] && break; sleep 0.1; done
[[ -s $NGX/nginx.pid ]] || { cat "$NGX/error.log" >&2; die "nginx did not start"; }
ADDR[nginx]=127.0.0.1:$NGX_PORT
NAMES+=(nginx)

if command -v go >/dev/null; then
    GODIR=$OUT_DIR/go
    mkdir -p "$GODIR"
    cat >"$GODIR/main.go" <<'GO'
// A Go http.FileServer on one OS thread, printing the line the benchmark waits for.
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
)

func main() {
	runtime.GOMAXPROCS(1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	fmt.Fprintf(os.Stderr, "listening on %s\n", ln.Addr())
	panic(http.Serve(ln, http.FileServer(http.Dir(os.Args[1]))))
}
GO
    (cd "$GODIR" && GO111MODULE=off go build -o gofs main.go) >&2
    start_listening "$OUT_DIR/go.log" "$SERVER_CPU" "$GODIR/gofs" "$DOCS"
    PID[go]=$STARTED_PID ADDR[go]=$STARTED_ADDR
    NAMES+=(go)
else
    log "no Go toolchain: Go's FileServer left out"
fi

for name in "${NAMES[@]}"; do
    got=$(curl -s "http://${ADDR[$name]}/small.bin" | wc -c)
    [[ $got == 1024 ]] || die "$name does not serve the file ($got bytes)"
done
log "serving: $(for n in "${NAMES[@]}"; do printf '%s=%s ' "$n" "${ADDR[$n]}"; done)"

RAW=$OUT_DIR/raw.tsv
: >"$RAW"
bytes_read() {  # wrk's "N requests in T, X MB read" → bytes
    awk '/requests in/ { v=$(NF-1); u=$NF; sub(/read/, "", u);
        m = (v ~ /GB$/) ? 1073741824 : (v ~ /MB$/) ? 1048576 : (v ~ /KB$/) ? 1024 : 1;
        sub(/[A-Za-z]+$/, "", v); printf "%.0f", v * m }' "$1"
}
run_wrk() {  # run_wrk NAME LOAD SECONDS RECORD
    local name=$1 load=$2 secs=$3 record=$4 c0 c1 outf=$OUT_DIR/wrk-$1-$2-$RANDOM.txt conns path
    if [[ $load == small ]]; then conns=$CONNS path=/small.bin; else conns=4 path=/big.bin; fi
    c0=$(cpu_ticks "${PID[$name]}")
    taskset -c "$PEER_CPU" wrk -t1 -c"$conns" -d"${secs}s" "http://${ADDR[$name]}$path" >"$outf"
    c1=$(cpu_ticks "${PID[$name]}")
    [[ $record == 1 ]] || return 0
    local rps reqs bytes errs cpu
    rps=$(awk '/Requests\/sec/ {print $2}' "$outf")
    reqs=$(awk '/requests in/ {print $1}' "$outf")
    bytes=$(bytes_read "$outf")
    errs=$(awk '/Non-2xx|Socket errors/ {print}' "$outf")
    [[ -z $errs ]] || log "$name $load: $errs"
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.4f", t / hz }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$load" "$rps" "$reqs" "$bytes" "$cpu" >>"$RAW"
}

for load in small big; do
    for name in "${NAMES[@]}"; do run_wrk "$name" "$load" "$WARMUP" 0; done
    for rep in $(seq "$REPEATS"); do
        for name in "${NAMES[@]}"; do
            log "$load rep $rep: $name"
            run_wrk "$name" "$load" "$DURATION" 1
        done
    done
done

# Per run: small → req/s and CPU µs/request; big → MB/s and CPU s per GB.
col() {  # col NAME LOAD EXPR: one value per run, median
    awk -v n="$1" -v l="$2" -v d="$DURATION" -F'\t' "\$1 == n && \$2 == l { print $3 }" "$RAW" | median
}
echo "| server (1 thread / 1 worker) | 1 KiB: req/s | 1 KiB: CPU µs/request | 100 MiB: MB/s | 100 MiB: CPU s/GB |"
echo "|---|---:|---:|---:|---:|"
for name in "${NAMES[@]}"; do
    echo "| $name | $(fmt "$(col "$name" small '$3')" 0) | $(fmt "$(col "$name" small '$6 / $4 * 1e6')" 2) | $(fmt "$(col "$name" big '$5 / d / 1048576')" 0) | $(fmt "$(col "$name" big '$6 / ($5 / 1073741824)')" 3) |"
done
echo
for other in "${NAMES[@]:1}"; do
    echo "nethttp / $other: 1 KiB req/s $(ratio "$(col nethttp small '$3')" "$(col "$other" small '$3')")x, CPU per request $(ratio "$(col nethttp small '$6 / $4')" "$(col "$other" small '$6 / $4')")x; 100 MiB MB/s $(ratio "$(col nethttp big '$5')" "$(col "$other" big '$5')")x, CPU per GB $(ratio "$(col nethttp big '$6 / ($5 / 1073741824)')" "$(col "$other" big '$6 / ($5 / 1073741824)')")x"
done
echo "(wrk -t1, 1 KiB: -c$CONNS, 100 MiB: -c4, ${DURATION}s x $REPEATS interleaved, medians; server on CPU $SERVER_CPU, wrk on CPU $PEER_CPU)"
