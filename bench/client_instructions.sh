#!/usr/bin/env bash
# User-space instructions per request of the HTTP clients, counted by callgrind: the same
# number for the same binary and load whatever else the machine is doing, so it separates
# code changes in the client from noise. Kernel work (syscalls, TCP) is not counted: use
# bench/client_run.sh for time and CPU.
#
#   bash bench/client_instructions.sh            # nethttp-load and reqwest-load, current_thread
#   TOP=25 bash bench/client_instructions.sh     # also print each client's 25 costliest functions
#
# A native hyper-hello serves; each client runs under valgrind --tool=callgrind with 64
# requests in flight for DURATION seconds; the total instruction count divided by the
# requests it completed is reported (startup is included but is well under 1 % of it).
# The callgrind files are kept in OUT_DIR for callgrind_annotate.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
TOP=${TOP:-0}
OUT_DIR=${OUT_DIR:-target/bench-results/client-instructions-$(date +%Y%m%d-%H%M%S)}
command -v valgrind >/dev/null || { echo "valgrind is required (apt-get install valgrind)" >&2; exit 1; }
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p nethttp-bench >&2
mkdir -p "$OUT_DIR"

target/release/hyper-hello --threads 1 --addr 127.0.0.1:0 >"$OUT_DIR/server.log" 2>&1 &
SPID=$!
trap 'kill "$SPID" 2>/dev/null || true; wait "$SPID" 2>/dev/null || true' EXIT
addr=
for _ in $(seq 1 100); do
    addr=$(grep -m1 -oE 'listening on 127\.0\.0\.1:[0-9]+' "$OUT_DIR/server.log" | awk '{print $3}' || true)
    [ -n "$addr" ] && break
    sleep 0.1
done
[ -n "$addr" ] || { echo "hyper-hello did not start" >&2; cat "$OUT_DIR/server.log" >&2; exit 1; }

echo "| client | requests | instructions/request |"
echo "|---|---:|---:|"
for client in nethttp reqwest; do
    out=$OUT_DIR/$client.callgrind
    timeout $((DURATION * 4 + 60)) valgrind --tool=callgrind --callgrind-out-file="$out" \
        "target/release/$client-load" "http://$addr/" -c "$CONNS" -d "$DURATION" --threads 1 \
        >"$OUT_DIR/$client.json" 2>"$OUT_DIR/$client.log"
    reqs=$(grep -oE '"requests":[0-9]+' "$OUT_DIR/$client.json" | cut -d: -f2)
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$out")
    [ -n "$reqs" ] && [ "$reqs" -gt 0 ] || { echo "$client completed no request" >&2; exit 1; }
    printf '| %s-load (current_thread) | %s | %s |\n' "$client" "$reqs" "$((ir / reqs))"
done
if [ "$TOP" -gt 0 ]; then
    for client in nethttp reqwest; do
        echo
        echo "$client: costliest functions (self instructions per request)"
        reqs=$(grep -oE '"requests":[0-9]+' "$OUT_DIR/$client.json" | cut -d: -f2)
        callgrind_annotate --threshold=100 --auto=no "$OUT_DIR/$client.callgrind" 2>/dev/null |
            awk -v r="$reqs" -v top="$TOP" '
                /^ *[0-9,]+ +\(/ && !/PROGRAM TOTALS/ {
                    n = $1; gsub(",", "", n)
                    f = $0; sub(/^ *[0-9,]+ +\([ 0-9.%]+\) +/, "", f); sub(/ \[.*\]$/, "", f)
                    sub(/^[^:]*:/, "", f)          # file:function -> function
                    cost[f] += n
                }
                END { for (f in cost) printf "%8.0f  %s\n", cost[f] / r, f }' |
            sort -rn | head -n "$TOP" || true   # head closing the pipe early is fine
    done
fi
echo
echo "callgrind files: $OUT_DIR"
