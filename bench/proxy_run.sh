#!/usr/bin/env bash
# Side-by-side benchmark: `nethttp proxy` vs nginx `proxy_pass` (upstream keepalive pool on,
# one worker), both in front of the same hyper-hello upstream, in one run, interleaved
# (nethttp, nginx, nethttp, nginx, ...), medians and ratios.
#
#   bash bench/proxy_run.sh                        # 3 repeats of 10 s, ~2 minutes + build
#   DURATION=5 REPEATS=3 bash bench/proxy_run.sh   # quicker
#   UPSTREAMS=2 bash bench/proxy_run.sh            # a group of two upstreams, round robin
#
# Pinning: the proxy under test on CPU $PROXY_CPU; the upstream and wrk share CPU
# $PEER_CPU (the same for both proxies). Load: wrk, $CONNS keep-alive connections, GET /.
# Reported per proxy: req/s and the proxy's CPU time per request (utime+stime delta of the
# proxy process from /proc/PID/stat, over the requests wrk completed).
#
# Environment: DURATION=10 REPEATS=3 WARMUP=2 CONNS=64 PROXY_CPU=0 PEER_CPU=1 UPSTREAMS=1
# SKIP_BUILD=1
# stdout gets the markdown report; progress goes to stderr.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/common.sh

DURATION=${DURATION:-10}
REPEATS=${REPEATS:-3}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
UPSTREAMS=${UPSTREAMS:-1}
PROXY_CPU=${PROXY_CPU:-0}
PEER_CPU=${PEER_CPU:-1}
OUT_DIR=${OUT_DIR:-target/bench-results/proxy-$(date +%Y%m%d-%H%M%S)}

log() { printf '[proxy-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[proxy-bench] FATAL: %s\n' "$*" >&2; exit 1; }

for tool in wrk taskset getconf awk; do
    command -v "$tool" >/dev/null || die "'$tool' not found"
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[[ -x $NGINX ]] || die "nginx not found"
CLK_TCK=$(getconf CLK_TCK)
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p nethttp-bench -p nethttp-cli >&2
BIN=$(bin_dir)
mkdir -p "$OUT_DIR"
OUT_DIR=$(cd "$OUT_DIR" && pwd)

# The upstreams both proxies forward to.
TO=() SERVERS=""
for i in $(seq 1 "$UPSTREAMS"); do
    start_listening "$OUT_DIR/upstream$i.log" "$PEER_CPU" "$BIN/hyper-hello" --threads 1 --addr 127.0.0.1:0
    TO+=(--to "http://$STARTED_ADDR")
    SERVERS+="server $STARTED_ADDR; "
    log "upstream hyper-hello on $STARTED_ADDR"
done

# nethttp proxy: one thread, as nginx's one worker.
start_listening "$OUT_DIR/nethttp.log" "$PROXY_CPU" \
    "$BIN/nethttp" proxy --threads 1 --addr 127.0.0.1:0 "${TO[@]}"
declare -A PID ADDR
PID[nethttp]=$STARTED_PID ADDR[nethttp]=$STARTED_ADDR

# nginx: one process that is its own worker (master_process off), keepalive upstream pool.
NGX=$OUT_DIR/nginx
mkdir -p "$NGX"/{body,proxy,fastcgi,uwsgi,scgi}
NGX_PORT=$(( 20000 + RANDOM % 20000 ))
cat >"$NGX/nginx.conf" <<EOF
master_process off;
worker_processes 1;
error_log $NGX/error.log warn;
pid $NGX/nginx.pid;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $NGX/body;
    proxy_temp_path $NGX/proxy;
    fastcgi_temp_path $NGX/fastcgi;
    uwsgi_temp_path $NGX/uwsgi;
    scgi_temp_path $NGX/scgi;
    keepalive_requests 1000000;
    upstream hello { ${SERVERS}keepalive 64; }
    server {
        listen 127.0.0.1:$NGX_PORT;
        location / {
            proxy_pass http://hello;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
        }
    }
}
EOF
taskset -c "$PROXY_CPU" "$NGINX" -p "$NGX/" -c "$NGX/nginx.conf" -g 'daemon off;' >"$NGX/stdout.log" 2>&1 &
PID[nginx]=$!
LIVE[${PID[nginx]}]=1
for _ in $(seq 100); do [[ -s $NGX/nginx.pid ]] && break; sleep 0.1; done
[[ -s $NGX/nginx.pid ]] || { cat "$NGX/error.log" >&2; die "nginx did not start"; }
ADDR[nginx]=127.0.0.1:$NGX_PORT
log "nethttp proxy on ${ADDR[nethttp]}, nginx on ${ADDR[nginx]}"

for name in nethttp nginx; do
    out=$(curl -s "http://${ADDR[$name]}/")
    [[ $out == "Hello, World!"* ]] || die "$name does not proxy: $out"
done

RAW=$OUT_DIR/raw.tsv
: >"$RAW"
run_wrk() {  # run_wrk NAME SECONDS RECORD
    local name=$1 secs=$2 record=$3 c0 c1 outf=$OUT_DIR/wrk-$1-$RANDOM.txt
    c0=$(cpu_ticks "${PID[$name]}")
    taskset -c "$PEER_CPU" wrk -t1 -c"$CONNS" -d"${secs}s" "http://${ADDR[$name]}/" >"$outf"
    c1=$(cpu_ticks "${PID[$name]}")
    [[ $record == 1 ]] || return 0
    local rps reqs errs
    rps=$(awk '/Requests\/sec/ {print $2}' "$outf")
    reqs=$(awk '/requests in/ {print $1}' "$outf")
    errs=$(awk '/Non-2xx|Socket errors/ {print}' "$outf")
    [[ -z $errs ]] || log "$name: $errs"
    printf '%s\t%s\t%s\n' "$name" "$rps" \
        "$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.3f", t / hz / n * 1e6 }')" >>"$RAW"
}

for name in nethttp nginx; do run_wrk "$name" "$WARMUP" 0; done
for rep in $(seq "$REPEATS"); do
    for name in nethttp nginx; do
        log "rep $rep: $name"
        run_wrk "$name" "$DURATION" 1
    done
done

med() { awk -v n="$1" -v col="$2" -F'\t' '$1 == n { print $col }' "$RAW" | median; }
N_RPS=$(med nethttp 2) X_RPS=$(med nginx 2)
N_CPU=$(med nethttp 3) X_CPU=$(med nginx 3)
echo "| proxy (1 thread / 1 worker) | req/s (median of $REPEATS) | CPU µs/request | runs (req/s) |"
echo "|---|---:|---:|---|"
echo "| nethttp proxy | $(fmt "$N_RPS" 0) | $(fmt "$N_CPU" 2) | $(awk -F'\t' '$1=="nethttp"{printf "%.0f ", $2}' "$RAW")|"
echo "| nginx proxy_pass | $(fmt "$X_RPS" 0) | $(fmt "$X_CPU" 2) | $(awk -F'\t' '$1=="nginx"{printf "%.0f ", $2}' "$RAW")|"
echo
echo "nethttp / nginx: req/s $(ratio "$N_RPS" "$X_RPS")x, CPU per request $(ratio "$N_CPU" "$X_CPU")x"
echo "(wrk -t1 -c$CONNS -d${DURATION}s keep-alive GET /, proxy on CPU $PROXY_CPU, $UPSTREAMS hyper-hello upstream(s) and wrk on CPU $PEER_CPU)"
