#!/usr/bin/env bash
# Side-by-side HTTP/2 server benchmark: nethttp's server vs a hyper 1.x auto (HTTP/1.1 +
# h2c) hello server, one run, h2load as the load, interleaved (nethttp, hyper, nethttp,
# hyper, ...), repeated, medians and ratios.
#
#   bash bench/h2_run.sh                          # 5 x 10 s per server, ~2 min plus the build
#   DURATION=3 REPEATS=1 bash bench/h2_run.sh     # quick check that everything works
#
# Load (pinned to CPU $CLIENT_CPU), h2c by prior knowledge on the plain port:
#   h2load -c $CONNS -m $STREAMS -D $DURATION http://127.0.0.1:PORT/
#       $CONNS connections, $STREAMS concurrent streams each: 512 requests in flight
# Servers pinned to CPU $SERVER_CPU, each with one runtime thread:
#   nethttp   nethttp serve --threads 1              (crates/cli; ServeMux, GET / -> Hello, World!)
#   hyper     hyper-auto --threads 1                 (bench/src/hyper_auto.rs; 250 streams, as nethttp)
# Per run: req/s (h2load), requests that succeeded / failed / errored / timed out, status
# codes; server CPU time per request = utime+stime delta of the server (/proc/PID/stat)
# / succeeded requests; server CPU use; task time of other processes + steal on the
# server's CPU (/proc/stat), so a noisy run shows.
#
# Environment overrides:
#   DURATION=10      seconds per measured h2load run (h2load -D)
#   REQUESTS=        if set, h2load -n REQUESTS instead of -D DURATION
#   REPEATS=5        measured runs per server     WARMUP=2  seconds of unrecorded h2load per server first
#   CONNS=16  STREAMS=32                          h2load -c and -m
#   SERVER_CPU=0  CLIENT_CPU=1
#   NETHTTP_CMD="BIN/nethttp serve --threads 1"   HYPER_CMD="BIN/hyper-auto --threads 1"
#       BIN = $CARGO_TARGET_DIR/release (default target/release). Each command is split on
#       spaces and gets "--addr 127.0.0.1:PORT" appended ("{ADDR}" in it is replaced instead);
#       it must exec the server itself and print a line containing
#       "listening on 127.0.0.1:PORT".
#   SKIP_BUILD=1     don't run cargo build
#   OUT_DIR=...      logs, raw h2load output, raw.tsv and results.md
#                    (default $CARGO_TARGET_DIR/bench-results/h2-DATE, else target/...)
#
# stdout gets the markdown report only; progress goes to stderr. Every wait is bounded, the
# script stops by itself, and whatever it started is killed on exit, error or Ctrl-C.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/common.sh  # the cd above made the repository root current

log() { printf '[h2-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[h2-bench] FATAL: %s\n' "$*" >&2; exit 1; }

BIN=$(bin_dir)
DURATION=${DURATION:-10}
DURATION=${DURATION%s}
REQUESTS=${REQUESTS:-}
REPEATS=${REPEATS:-5}
WARMUP=${WARMUP:-2}
WARMUP=${WARMUP%s}
CONNS=${CONNS:-16}
STREAMS=${STREAMS:-32}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
NETHTTP_CMD_DEFAULT="$BIN/nethttp serve --threads 1"
NETHTTP_CMD=${NETHTTP_CMD:-$NETHTTP_CMD_DEFAULT}
HYPER_CMD=${HYPER_CMD:-$BIN/hyper-auto --threads 1}
OUT_DIR=${OUT_DIR:-${CARGO_TARGET_DIR:-target}/bench-results/h2-$(date +%Y%m%d-%H%M%S)}
NAMES=(nethttp hyper)
declare -A CMD=([nethttp]=$NETHTTP_CMD [hyper]=$HYPER_CMD)

for v in DURATION REPEATS WARMUP CONNS STREAMS SERVER_CPU CLIENT_CPU; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
[[ -z $REQUESTS || $REQUESTS =~ ^[1-9][0-9]*$ ]] || die "REQUESTS must be a positive integer, got '$REQUESTS'"
(( REPEATS >= 1 && DURATION >= 1 && CONNS >= 1 && STREAMS >= 1 )) || die "REPEATS, DURATION, CONNS, STREAMS must be >= 1"

for tool in h2load taskset curl getconf awk timeout; do
    command -v "$tool" >/dev/null || die "'$tool' not found (h2load: apt-get install -y nghttp2-client)"
done
CLK_TCK=$(getconf CLK_TCK)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# ---------------------------------------------------------------- build
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release -p nethttp-bench -p nethttp-cli (target dir ${CARGO_TARGET_DIR:-target})"
    cargo build --release -p nethttp-bench -p nethttp-cli >&2 || die "build failed"
fi
for name in "${NAMES[@]}"; do
    read -ra argv <<<"${CMD[$name]}"
    [[ -x ${argv[0]} ]] || command -v "${argv[0]}" >/dev/null || die "$name: '${argv[0]}' is not an executable (build first)"
done

mkdir -p "$OUT_DIR"
RAW=$OUT_DIR/raw.tsv
printf 'server\trep\treq_per_s\tsucceeded\tfailed\terrored\ttimeout\tnon_2xx\tserver_ticks\twall_s\tother_ticks\tsteal_ticks\n' >"$RAW"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "logs in $OUT_DIR; load average $LOAD_START"

# ---------------------------------------------------------------- servers
declare -A PID=() ADDR=() LOGF=() CMDLINE=()
start_server() {  # start_server NAME: CMD[NAME] pinned to SERVER_CPU, checked over HTTP/1.1 and h2c
    local name=$1 argv=() out=() a substituted=0 body
    read -ra argv <<<"${CMD[$name]}"
    for a in "${argv[@]}"; do
        if [[ $a == *"{ADDR}"* ]]; then out+=("${a//\{ADDR\}/127.0.0.1:0}"); substituted=1; else out+=("$a"); fi
    done
    (( substituted )) || out+=(--addr 127.0.0.1:0)
    LOGF[$name]=$OUT_DIR/server-$name.log
    start_listening "${LOGF[$name]}" "$SERVER_CPU" "${out[@]}"
    PID[$name]=$STARTED_PID ADDR[$name]=$STARTED_ADDR
    CMDLINE[$name]="taskset -c $SERVER_CPU ${out[*]}"
    body=$(curl -s --max-time 5 "http://${ADDR[$name]}/" || true)
    [[ $body == "Hello, World!" ]] || die "$name: GET / over HTTP/1.1 returned '${body:0:200}'"
    body=$(curl -s --max-time 5 --http2-prior-knowledge "http://${ADDR[$name]}/" || true)
    [[ $body == "Hello, World!" ]] || die "$name: GET / over h2c returned '${body:0:200}'"
    log "$name up: pid ${PID[$name]} ($(cat "/proc/${PID[$name]}/comm")) at ${ADDR[$name]}, CPU $SERVER_CPU"
}
alive() { running "${PID[$1]}" || { tail -n 20 "${LOGF[$1]}" >&2; die "$1 server (pid ${PID[$1]}) died"; }; }

# ---------------------------------------------------------------- h2load
h2load_args() {  # h2load_args SECONDS ADDR -> the argv (without taskset)
    if [[ -n $REQUESTS ]]; then
        echo "h2load -n $REQUESTS -c $CONNS -m $STREAMS http://$2/"
    else
        echo "h2load -D $1 -c $CONNS -m $STREAMS http://$2/"
    fi
}
# run_h2load SECONDS ADDR OUTF: pinned, in the background + wait (a TERM/INT is handled at
# once), bounded by timeout.
run_h2load() {
    local argv=() pid limit
    read -ra argv <<<"$(h2load_args "$1" "$2")"
    limit=$(( $1 + 60 ))
    [[ -n $REQUESTS ]] && limit=600
    timeout -k 5 "$limit" taskset -c "$CLIENT_CPU" "${argv[@]}" >"$3" 2>&1 &
    pid=$!
    LIVE[$pid]=1
    wait "$pid" || { unset "LIVE[$pid]"; tail -n 30 "$3" >&2; die "h2load failed: ${argv[*]}"; }
    unset "LIVE[$pid]"
}

ODD=   # notes about errors h2load reported
measure() {  # measure NAME REP -> appends a row to RAW
    local name=$1 rep=$2 outf t0 t1 b0 b1 s0 s1 w0 w1 wall other rps ok failed errored tmo non2xx odd
    outf=$OUT_DIR/h2load-$name-$rep.txt
    alive "$name"
    read -r b0 s0 < <(cpu_busy_steal "$SERVER_CPU")
    t0=$(cpu_ticks "${PID[$name]}")
    w0=$(now_ns)
    run_h2load "$DURATION" "${ADDR[$name]}" "$outf"
    w1=$(now_ns)
    t1=$(cpu_ticks "${PID[$name]}")
    read -r b1 s1 < <(cpu_busy_steal "$SERVER_CPU")
    alive "$name"
    grep -q '^Application protocol: h2c' "$outf" || { cat "$outf" >&2; die "$name rep $rep: h2load did not speak h2c"; }
    # finished in 10.00s, 95012.30 req/s, 3.45MB/s
    rps=$(awk '/^finished in/ { gsub(",", "", $4); print $4 }' "$outf")
    # requests: 950123 total, 950635 started, 950123 done, 950123 succeeded, 0 failed, 0 errored, 0 timeout
    read -r ok failed errored tmo < <(awk '/^requests:/ { print $8, $10, $12, $14 }' "$outf")
    # status codes: 950123 2xx, 0 3xx, 0 4xx, 0 5xx
    non2xx=$(awk '/^status codes:/ { print $5 + $7 + $9 }' "$outf")
    [[ -n $rps && -n $ok && -n $tmo && -n $non2xx ]] || { cat "$outf" >&2; die "cannot parse $outf"; }
    (( ok > 0 )) || { cat "$outf" >&2; die "$name served no request in rep $rep (server hung?)"; }
    wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    other=$(( (b1 - b0) - (t1 - t0) )); (( other < 0 )) && other=0
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rep" "$rps" "$ok" "$failed" "$errored" \
        "$tmo" "$non2xx" "$(( t1 - t0 ))" "$wall" "$other" "$(( s1 - s0 ))" >>"$RAW"
    log "$name rep $rep: $rps req/s, $ok succeeded, $failed failed, $errored errored, $tmo timeout, $non2xx non-2xx; server $(( t1 - t0 )) ticks, other $other + steal $(( s1 - s0 )) ticks on CPU $SERVER_CPU"
    if (( failed + errored + tmo + non2xx > 0 )); then
        # h2load's own messages about what went wrong (everything but its usual report).
        odd=$(grep -vE '^(starting benchmark|spawning thread|Application protocol|progress:|Warm-up|Main benchmark|Stopped all|finished in|requests:|status codes:|traffic:|  *min|time for|time to|req/s|$)' "$outf" | sort | uniq -c | sort -rn | head -n 5 | sed 's/^ *//' | tr '\n' ';' || true)
        ODD+="- $name rep $rep: $failed failed, $errored errored, $tmo timeout, $non2xx non-2xx (of $ok succeeded); h2load said: ${odd:-nothing more} (file $outf)"$'\n'
        log "WARNING $name rep $rep: $failed failed, $errored errored, $tmo timeout, $non2xx non-2xx (see $outf)"
    fi
}

# ---------------------------------------------------------------- runs
for name in "${NAMES[@]}"; do start_server "$name"; done
if (( WARMUP > 0 )); then
    log "warm-up: ${WARMUP}s of h2load per server"
    for name in "${NAMES[@]}"; do
        # -D always: the warm-up is short whatever REQUESTS says.
        REQUESTS='' run_h2load "$WARMUP" "${ADDR[$name]}" "$OUT_DIR/warmup-$name.txt"
    done
fi
log "$REPEATS x $( [[ -n $REQUESTS ]] && echo "$REQUESTS requests" || echo "${DURATION}s" ) per server, interleaved"
for rep in $(seq "$REPEATS"); do
    for name in "${NAMES[@]}"; do measure "$name" "$rep"; sleep 0.5; done
done
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
for name in "${NAMES[@]}"; do reap "${PID[$name]}"; done

# ---------------------------------------------------------------- report
vals() {  # vals NAME WHAT -> that metric for each run, in run order
    awk -F'\t' -v n="$1" -v what="$2" -v tck="$CLK_TCK" '
        NR > 1 && $1 == n {
            if (what == "rps") print $3
            else if (what == "us") printf "%.4f\n", ($9 / tck) / $4 * 1e6
            else if (what == "cpu") printf "%.1f\n", ($9 / tck) / $10 * 100
            else if (what == "other") printf "%.1f\n", (($11 + $12) / tck) / $10 * 100
            else if (what == "bad") print $5 + $6 + $7 + $8
        }' "$RAW"
}
med() { vals "$1" "$2" | median; }
runs() { vals "$1" "$2" | awk -v d="$3" '{printf "%s%.*f", (NR>1?", ":""), d, $1}'; }
total() { vals "$1" "$2" | awk '{s += $1} END {print s + 0}'; }
row() {  # row LABEL WHAT DECIMALS TARGET-TEXT [TARGET]: nethttp, hyper, ratio, target, met
    local a b r m=-
    a=$(med nethttp "$2"); b=$(med hyper "$2"); r=$(ratio "$a" "$b")
    [[ $4 == "~0 = quiet machine" ]] && r=-
    if [[ -n ${5:-} ]]; then
        m=$(awk -v r="$r" -v t="$5" 'BEGIN { if (r == "-") print "-"; else if (r + 0 >= t) print "yes"; else print "**no**" }')
    fi
    printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(fmt "$a" "$3")" "$(fmt "$b" "$3")" "$r" "$4" "$m"
}

report() {
    local load what name noisy
    if [[ -n $REQUESTS ]]; then load="-n $REQUESTS"; what="$REQUESTS requests each"; else load="-D $DURATION"; what="${DURATION}s each"; fi
    echo "## HTTP/2 server results ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "Medians of $REPEATS interleaved h2load runs, $what; h2c, \`-c $CONNS -m $STREAMS\`"
    echo "($(( CONNS * STREAMS )) requests in flight). Ratio = nethttp / hyper. Load average $LOAD_START at the start, $LOAD_END at the end."
    echo
    echo "| metric | nethttp | hyper | ratio | target | met |"
    echo "|---|---:|---:|---:|---|---|"
    row "h2c, $CONNS conns x $STREAMS streams: req/s" rps 0 "ratio >= 1.2" 1.2
    row "server CPU per request (us)" us 2 "-"
    row "server CPU use (%)" cpu 0 "~100 = server-bound"
    row "other tasks + steal on server CPU (%)" other 0 "~0 = quiet machine"
    printf '| %s | %s | %s | - | 0 | - |\n' "failed + errored + timeout + non-2xx requests (all runs)" "$(total nethttp bad)" "$(total hyper bad)"
    echo
    echo "Individual runs, in order:"
    echo
    for name in "${NAMES[@]}"; do
        echo "- $name req/s: $(runs "$name" rps 0); server CPU us/req: $(runs "$name" us 2); other + steal (%): $(runs "$name" other 0)"
    done
    noisy=$(awk -F'\t' -v tck="$CLK_TCK" 'NR > 1 && $10 > 0 && ($11 + $12) / tck / $10 > 0.10 { n++ } END { print n + 0 }' "$RAW")
    if (( noisy > 0 )); then
        echo
        echo "**Noisy machine:** in $noisy run(s) other tasks or steal took more than 10 % of the server's CPU; treat req/s with care (CPU per request is less affected) and re-run on a quiet machine."
    fi
    if [[ -n $ODD ]]; then
        echo
        echo "Errors h2load reported:"
        echo
        printf '%s' "$ODD"
    fi
    echo
    echo "Commands (PORT chosen by each server at start; each start is checked with GET / over HTTP/1.1 and h2c):"
    echo
    echo '```'
    echo "# nethttp server:"
    echo "${CMDLINE[nethttp]}"
    echo "# hyper server (bench/src/hyper_auto.rs: hyper-util auto::Builder, h2 max_concurrent_streams 250, 1-thread tokio):"
    echo "${CMDLINE[hyper]}"
    echo "# load:"
    echo "taskset -c $CLIENT_CPU $(h2load_args "$DURATION" 127.0.0.1:PORT)"
    echo "# server CPU: utime+stime from /proc/PID/stat (CLK_TCK=$CLK_TCK), delta over each h2load run"
    echo '```'
    echo
    echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), Linux $(uname -r), $(rustc --version 2>/dev/null || echo 'rustc ?'), $(h2load --version 2>&1 | head -n1)."
}

report | tee "$OUT_DIR/results.md"
log "report saved to $OUT_DIR/results.md; raw numbers in $RAW"
