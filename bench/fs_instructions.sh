#!/usr/bin/env bash
# User-space instructions per static-file request, counted by callgrind, for `nethttp serve
# --dir` and nginx (`sendfile on`, one worker, no master) serving the same 1 KiB file: the
# deterministic companion of bench/fs_run.sh, whose wall-clock ratios swing between runs.
# Kernel work (open, sendfile, TCP) is not counted.
#
#   bash bench/fs_instructions.sh          # DURATION=8 (seconds of wrk load per server)
#
# Each server runs under valgrind --tool=callgrind on one thread; wrk (16 keep-alive
# connections) loads it; the total instruction count divided by the requests served is
# reported (startup included: small against ~30k requests). valgrind 3.19 does not know
# openat2(2): under it our lookup takes its fallback (resolve the path, check it is under
# the root, open the result), so the report also gives that lookup's share, which a native
# run replaces with one openat2 call.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/common.sh
DURATION=${DURATION:-8}
for tool in valgrind callgrind_annotate wrk curl; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
[ -x "$NGINX" ] || { echo "nginx is required" >&2; exit 1; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p nethttp-cli >&2
BIN=$(bin_dir)

OUT=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$OUT"' EXIT
mkdir -p "$OUT/docs"
head -c 1024 /dev/urandom >"$OUT/docs/small.bin"

# run NAME PORT CMD...: callgrind CMD, load it, print "NAME requests instructions".
run() {
    local name=$1 port=$2; shift 2
    valgrind --tool=callgrind --callgrind-out-file="$OUT/$name.cg" "$@" >"$OUT/$name.log" 2>&1 &
    local vpid=$!
    for _ in $(seq 150); do
        curl -s -o /dev/null "http://127.0.0.1:$port/small.bin" && break
        sleep 0.2
    done
    local reqs
    reqs=$(wrk -t1 -c16 -d"${DURATION}s" "http://127.0.0.1:$port/small.bin" | awk '/requests in/ {print $1}')
    kill -TERM "$vpid"; wait "$vpid" 2>/dev/null || true
    local total
    total=$(callgrind_annotate "$OUT/$name.cg" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
    echo "$name $reqs $total"
}

NPORT=$(( 20000 + RANDOM % 20000 ))
GPORT=$(( NPORT + 1 ))
read -r _ n_reqs n_total < <(run nethttp "$NPORT" "$BIN/nethttp" serve --threads 1 \
    --addr "127.0.0.1:$NPORT" --dir "$OUT/docs")
lookup=$(callgrind_annotate --inclusive=yes "$OUT/nethttp.cg" 2>/dev/null \
    | awk '/nethttp::fs::open::Root::open_file/ {gsub(",", "", $1); if ($1 + 0 > m) m = $1 + 0}
           END {print m + 0}')

mkdir -p "$OUT/ngx"/{body,proxy,fastcgi,uwsgi,scgi}
cat >"$OUT/ngx/nginx.conf" <<NGINX
master_process off;
daemon off;
worker_processes 1;
error_log $OUT/ngx/error.log warn;
pid $OUT/ngx/nginx.pid;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    client_body_temp_path $OUT/ngx/body;
    proxy_temp_path $OUT/ngx/proxy;
    fastcgi_temp_path $OUT/ngx/fastcgi;
    uwsgi_temp_path $OUT/ngx/uwsgi;
    scgi_temp_path $OUT/ngx/scgi;
    server { listen 127.0.0.1:$GPORT; root $OUT/docs; etag on; }
}
NGINX
read -r _ g_reqs g_total < <(run nginx "$GPORT" "$NGINX" -p "$OUT/ngx/" -c "$OUT/ngx/nginx.conf")

awk -v nr="$n_reqs" -v nt="$n_total" -v lk="${lookup:-0}" -v gr="$g_reqs" -v gt="$g_total" 'BEGIN {
    n = nt / nr; l = lk / nr; g = gt / gr
    printf "| server | requests | instructions per request |\n|---|---:|---:|\n"
    printf "| nethttp serve --dir | %d | %.0f (of which the lookup under valgrind: %.0f) |\n", nr, n, l
    printf "| nginx | %d | %.0f |\n", gr, g
    printf "\nnethttp / nginx: %.2fx; without the fallback lookup: %.2fx\n", n / g, (n - l) / g
}'
