#!/usr/bin/env bash
# Side-by-side HTTP/2 client benchmark: nethttp's client vs reqwest (and h2load as the C
# ceiling), in one run, against the same h2c server, interleaved and repeated, medians and
# ratios.
#
#   bash bench/h2_client_run.sh                        # 5 rounds x 10 s x 3 clients, ~3 min + build
#   DURATION=3 REPEATS=1 bash bench/h2_client_run.sh   # quick check that everything works
#
# One hyper-auto (bench/src/hyper_auto.rs: HTTP/1.1 + h2c, 1-thread runtime) pinned to CPU
# $SERVER_CPU serves every run. Each client is pinned to CPU $CLIENT_CPU, speaks h2c by prior
# knowledge and keeps $CONNS x $STREAMS requests in flight for $DURATION s:
#   nethttp   nethttp-load --http2 -c $CONNS -m $STREAMS --threads 1
#             (http2_prior_knowledge(true), max_conns_per_host($CONNS); current_thread runtime)
#   reqwest   reqwest-load --http2 -c $CONNS -m $STREAMS --threads 1
#             (http2_prior_knowledge(); no connection cap: one h2 connection per host)
#   h2load    h2load -c $CONNS -m $STREAMS -D $DURATION   (a C client: the ceiling)
# Every round runs each client once; the order rotates by one client per round.
#
# Per run: req/s; TCP connections opened (hyper-auto's accept count, read through SIGUSR1
# before and after); client CPU = user + system time of the client process from wait4 (GNU
# time) / requests; the server's CPU use (/proc/PID/stat); the time other tasks and steal took
# on the two CPUs (/proc/stat), so a noisy run shows.
#
# Environment overrides:
#   DURATION=10  REPEATS=5  CONNS=1  STREAMS=64  WARMUP=2 (s per client before round 1; 0 = none)
#   CLIENTS="nethttp reqwest h2load"   (any subset, in this order)
#   SERVER_CPU=0  CLIENT_CPU=1  SKIP_BUILD=1
#   OUT_DIR=...  (default $CARGO_TARGET_DIR/bench-results/h2-client-DATE, else target/...;
#                 binaries from $CARGO_TARGET_DIR/release, else target/release)
#
# stdout gets the markdown report only; progress goes to stderr. Every wait is bounded, the
# script stops by itself, and the server and any client still running are killed on exit.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/common.sh  # the cd above made the repository root current

log() { printf '[h2-client-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[h2-client-bench] FATAL: %s\n' "$*" >&2; exit 1; }

BIN=$(bin_dir)
DURATION=${DURATION:-10}
DURATION=${DURATION%s}
REPEATS=${REPEATS:-5}
CONNS=${CONNS:-1}
STREAMS=${STREAMS:-64}
WARMUP=${WARMUP:-2}
WARMUP=${WARMUP%s}
CLIENTS=${CLIENTS:-nethttp reqwest h2load}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
OUT_DIR=${OUT_DIR:-${CARGO_TARGET_DIR:-target}/bench-results/h2-client-$(date +%Y%m%d-%H%M%S)}
SERVER_BIN=$BIN/hyper-auto
NETHTTP_BIN=$BIN/nethttp-load
REQWEST_BIN=$BIN/reqwest-load
TIME_BIN=/usr/bin/time

for v in DURATION REPEATS CONNS STREAMS WARMUP SERVER_CPU CLIENT_CPU; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
(( REPEATS >= 1 && DURATION >= 1 && CONNS >= 1 && STREAMS >= 1 )) || die "REPEATS, DURATION, CONNS, STREAMS must be >= 1"
read -ra NAMES <<<"$CLIENTS"
(( ${#NAMES[@]} >= 1 )) || die "CLIENTS is empty"
for n in "${NAMES[@]}"; do
    case $n in nethttp|reqwest|h2load) ;; *) die "unknown client '$n' in CLIENTS" ;; esac
done

for tool in taskset curl getconf awk timeout; do
    command -v "$tool" >/dev/null || die "'$tool' not found"
done
[[ " ${NAMES[*]} " == *" h2load "* ]] && { command -v h2load >/dev/null || die "h2load not found (apt-get install -y nghttp2-client)"; }
[[ -x $TIME_BIN ]] || die "$TIME_BIN not found (apt-get update && apt-get install -y time)"
CLK_TCK=$(getconf CLK_TCK)

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release -p nethttp-bench (target dir ${CARGO_TARGET_DIR:-target})"
    cargo build --release -p nethttp-bench >&2 || die "building nethttp-bench failed"
fi
for b in "$SERVER_BIN" "$NETHTTP_BIN" "$REQWEST_BIN"; do
    [[ -x $b ]] || die "$b missing (cargo build --release -p nethttp-bench)"
done

mkdir -p "$OUT_DIR"
RAW=$OUT_DIR/raw.tsv
printf 'client\tround\treq_per_s\trequests\terrors\tconns\tself_conns\tcpu_user_s\tcpu_sys_s\twall_s\tserver_ticks\tother_ticks\tsteal_ticks\n' >"$RAW"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "logs in $OUT_DIR; load average $LOAD_START"

# ---------------------------------------------------------------- the server
SLOG=$OUT_DIR/server.log
start_listening "$SLOG" "$SERVER_CPU" "$SERVER_BIN" --threads 1 --addr 127.0.0.1:0
SPID=$STARTED_PID
URL=http://$STARTED_ADDR/
body=$(curl -s --max-time 5 --http2-prior-knowledge "$URL" || true)
[[ $body == "Hello, World!" ]] || die "GET $URL over h2c returned '${body:0:200}', not 'Hello, World!'"
log "hyper-auto up: pid $SPID at $STARTED_ADDR (CPU $SERVER_CPU)"

alive() { running "$SPID" || { tail -n 20 "$SLOG" >&2; die "hyper-auto (pid $SPID) died"; }; }

# ---------------------------------------------------------------- clients
client_cmd() {  # client_cmd SECONDS NAME -> argv of the client (no taskset)
    case $2 in
        nethttp) echo "$NETHTTP_BIN $URL --http2 -c $CONNS -m $STREAMS -d $1 --threads 1" ;;
        reqwest) echo "$REQWEST_BIN $URL --http2 -c $CONNS -m $STREAMS -d $1 --threads 1" ;;
        h2load)  echo "h2load -c $CONNS -m $STREAMS -D $1 $URL" ;;
    esac
}
label() {
    case $1 in
        nethttp) echo "nethttp, current_thread" ;;
        reqwest) echo "reqwest, current_thread" ;;
        h2load)  echo "h2load (C, 1 thread)" ;;
    esac
}
run_client() {  # run_client NAME SECONDS OUT TIMEF: pinned, under GNU time, bounded by timeout
    local argv=() pid
    read -ra argv <<<"$(client_cmd "$2" "$1")"
    timeout -k 5 $(( $2 + 30 )) "$TIME_BIN" -f '%e %U %S' -o "$4" \
        taskset -c "$CLIENT_CPU" "${argv[@]}" >"$3" 2>&1 &
    pid=$!
    LIVE[$pid]=1
    wait "$pid" || { unset "LIVE[$pid]"; tail -n 30 "$3" >&2; die "$1 failed: ${argv[*]}"; }
    unset "LIVE[$pid]"
}
json_field() {  # json_field FILE KEY -> value from the client's one JSON line
    grep -m1 '^{' "$1" | grep -oE "\"$2\":[^,}]*" | head -n1 | cut -d: -f2
}

ODD=
measure() {  # measure NAME ROUND -> appends a row to RAW
    local name=$1 round=$2 outf timef c0 c1 t0 t1 b0 b1 s0 s1 w0 w1 wall user sys rps reqs errs self other
    outf=$OUT_DIR/$name-$round.txt
    timef=$OUT_DIR/$name-$round.time
    alive
    c0=$(server_conns "$SPID" "$SLOG" hyper-auto)
    read -r b0 s0 < <(cpu_busy_steal "$SERVER_CPU" "$CLIENT_CPU")
    t0=$(cpu_ticks "$SPID")
    w0=$(now_ns)
    run_client "$name" "$DURATION" "$outf" "$timef"
    w1=$(now_ns)
    t1=$(cpu_ticks "$SPID")
    read -r b1 s1 < <(cpu_busy_steal "$SERVER_CPU" "$CLIENT_CPU")
    alive
    c1=$(server_conns "$SPID" "$SLOG" hyper-auto)
    read -r _ user sys < <(tail -n1 "$timef")
    [[ -n $sys ]] || { cat "$timef" >&2; die "cannot parse $timef"; }
    if [[ $name == h2load ]]; then
        grep -q '^Application protocol: h2c' "$outf" || { cat "$outf" >&2; die "h2load did not speak h2c"; }
        rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$outf")
        reqs=$(awk '/^requests:/ { print $8 }' "$outf")
        errs=$(awk '/^requests:/ { e = $10 + $12 + $14 } /^status codes:/ { e += $5 + $7 + $9 } END { print e + 0 }' "$outf")
        self=
    else
        rps=$(json_field "$outf" rps)
        reqs=$(json_field "$outf" requests)
        errs=$(json_field "$outf" errors)
        self=$(json_field "$outf" conns)
        [[ $self == null ]] && self=
    fi
    [[ -n $rps && -n $reqs && -n $errs ]] || { cat "$outf" >&2; die "cannot parse the output of $name: $outf"; }
    (( reqs > 0 )) || { cat "$outf" >&2; die "$name completed no request"; }
    if (( errs > 0 )); then
        ODD+="- $name round $round: $errs errors; $(grep -m1 -iE 'first error|error|fail' "$outf" || echo 'no message') ($outf)"$'\n'
        log "WARNING $name round $round: $errs errors (see $outf)"
    fi
    wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    other=$(awk -v b=$(( b1 - b0 )) -v t=$(( t1 - t0 )) -v u="$user" -v s="$sys" -v tck="$CLK_TCK" \
        'BEGIN { o = b - t - (u + s) * tck; if (o < 0) o = 0; printf "%d", o }')
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$round" "$rps" "$reqs" "$errs" \
        "$(( c1 - c0 ))" "$self" "$user" "$sys" "$wall" "$(( t1 - t0 ))" "$other" "$(( s1 - s0 ))" >>"$RAW"
    log "$name round $round: $rps req/s, $reqs requests, $errs errors, $(( c1 - c0 )) conns, client cpu ${user}u+${sys}s, server $(( t1 - t0 )) ticks, other $other + steal $(( s1 - s0 )) ticks"
}

# ---------------------------------------------------------------- runs
if (( WARMUP > 0 )); then
    log "warm-up: ${WARMUP}s per client"
    for name in "${NAMES[@]}"; do
        run_client "$name" "$WARMUP" "$OUT_DIR/warmup-$name.txt" "$OUT_DIR/warmup-$name.time"
    done
fi
log "$REPEATS rounds x ${DURATION}s x ${#NAMES[@]} clients, interleaved, $CONNS conns x $STREAMS streams"
for round in $(seq "$REPEATS"); do
    n=${#NAMES[@]}
    for i in $(seq 0 $(( n - 1 ))); do
        measure "${NAMES[$(( (i + round - 1) % n ))]}" "$round"
        sleep 0.5
    done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
reap "$SPID"

# ---------------------------------------------------------------- report
vals() {  # vals NAME WHAT -> that metric for each run, in run order
    awk -F'\t' -v n="$1" -v what="$2" -v tck="$CLK_TCK" '
        NR > 1 && $1 == n {
            if (what == "rps") print $3
            else if (what == "conns") print $6
            else if (what == "errors") print $5
            else if (what == "us") printf "%.4f\n", ($8 + $9) / $4 * 1e6
            else if (what == "user_us") printf "%.4f\n", $8 / $4 * 1e6
            else if (what == "sys_us") printf "%.4f\n", $9 / $4 * 1e6
            else if (what == "cpu") printf "%.1f\n", ($8 + $9) / $10 * 100
            else if (what == "server_cpu") printf "%.1f\n", ($11 / tck) / $10 * 100
            else if (what == "other") printf "%.1f\n", (($12 + $13) / tck) / $10 * 100
        }' "$RAW"
}
med() { vals "$1" "$2" | median; }
runs() { vals "$1" "$2" | awk -v d="$3" '{printf "%s%.*f", (NR>1?", ":""), d, $1}'; }
range() { vals "$1" "$2" | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END { if (NR == 0) print "-"; else if (lo == hi) print lo; else print lo "-" hi }'; }
has() { [[ " ${NAMES[*]} " == *" $1 "* ]]; }

report() {
    local name r m noisy
    echo "## HTTP/2 client results ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "Medians of $REPEATS interleaved runs of ${DURATION}s each, h2c by prior knowledge, $CONNS conns x $STREAMS streams"
    echo "($(( CONNS * STREAMS )) requests in flight), one hyper-auto (1 thread) on CPU $SERVER_CPU, each client on CPU $CLIENT_CPU."
    echo "Load average $LOAD_START at the start, $LOAD_END at the end."
    echo
    echo "| client | req/s | client CPU µs/req (user+sys) | user | sys | client CPU use (%) | TCP conns opened | errors | server CPU use (%) | other + steal (%) |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
    for name in "${NAMES[@]}"; do
        printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$(label "$name")" \
            "$(fmt "$(med "$name" rps)" 0)" "$(fmt "$(med "$name" us)" 2)" \
            "$(fmt "$(med "$name" user_us)" 2)" "$(fmt "$(med "$name" sys_us)" 2)" \
            "$(fmt "$(med "$name" cpu)" 0)" "$(range "$name" conns)" \
            "$(vals "$name" errors | awk '{s += $1} END {print s + 0}')" \
            "$(fmt "$(med "$name" server_cpu)" 0)" "$(fmt "$(med "$name" other)" 0)"
    done
    echo
    echo "| comparison | value | target | met |"
    echo "|---|---:|---|---|"
    if has nethttp && has reqwest; then
        r=$(ratio "$(med nethttp rps)" "$(med reqwest rps)")
        m=$(awk -v r="$r" 'BEGIN { if (r == "-") print "-"; else if (r + 0 >= 1.2) print "yes"; else print "**no**" }')
        echo "| req/s nethttp / reqwest | $r | >= 1.2 | $m |"
        echo "| client CPU/req nethttp / reqwest | $(ratio "$(med nethttp us)" "$(med reqwest us)") | - | - |"
    fi
    if has nethttp && has h2load; then
        echo "| req/s nethttp / h2load | $(ratio "$(med nethttp rps)" "$(med h2load rps)") | - | - |"
        echo "| client CPU/req nethttp / h2load | $(ratio "$(med nethttp us)" "$(med h2load us)") | - | - |"
    fi
    echo
    echo "Individual runs, in order:"
    echo
    for name in "${NAMES[@]}"; do
        echo "- $(label "$name"): req/s $(runs "$name" rps 0); CPU µs/req $(runs "$name" us 2); conns $(runs "$name" conns 0)"
    done
    if has nethttp; then
        echo "- nethttp, dials counted by its own pool: $(awk -F'\t' 'NR > 1 && $1 == "nethttp" {printf "%s%s", (c++ ? ", " : ""), $7}' "$RAW")"
    fi
    noisy=$(awk -F'\t' -v tck="$CLK_TCK" 'NR > 1 && $10 > 0 && ($12 + $13) / tck / $10 > 0.10 { n++ } END { print n + 0 }' "$RAW")
    if (( noisy > 0 )); then
        echo
        echo "**Noisy machine:** in $noisy run(s) other tasks or steal took more than 10 % of one CPU; re-run on a quiet machine."
    fi
    if [[ -n $ODD ]]; then
        echo
        echo "Errors:"
        echo
        printf '%s' "$ODD"
    fi
    echo
    echo "Commands (PORT is the server's, chosen at start):"
    echo
    echo '```'
    echo "taskset -c $SERVER_CPU $SERVER_BIN --threads 1 --addr 127.0.0.1:0"
    for name in "${NAMES[@]}"; do
        echo "$TIME_BIN -f '%e %U %S' taskset -c $CLIENT_CPU $(client_cmd "$DURATION" "$name" | sed -E 's/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/')"
    done
    echo "# TCP conns: kill -USR1 <server> before and after each run; it prints 'accepted N connections'"
    echo '```'
    echo
    echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), Linux $(uname -r), $(rustc --version 2>/dev/null || echo 'rustc ?'), $(h2load --version 2>&1 | head -n1), reqwest $(awk '/^name = "reqwest"/ {getline; gsub(/"/, "", $3); print $3}' Cargo.lock)."
}

report | tee "$OUT_DIR/results.md"
log "report saved to $OUT_DIR/results.md; raw numbers in $RAW"
