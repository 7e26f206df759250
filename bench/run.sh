#!/usr/bin/env bash
# Side-by-side benchmark: nethttp's server vs a hyper 1.x hello server, one run,
# interleaved (nethttp, hyper, nethttp, hyper, ...), repeated, medians and ratios.
#
#   bash bench/run.sh                      # full run, ~4-5 minutes plus the build
#   DURATION=3 REPEATS=3 bash bench/run.sh # quick run
#
# Measures (servers pinned to CPU $SERVER_CPU, load generator to CPU $CLIENT_CPU):
#   1. pipeline   wrk, $CONNS conns, $DEPTH requests pipelined per write: req/s
#   2. keepalive  wrk, $CONNS keep-alive conns, no pipelining: req/s and server
#                 CPU time per request (utime+stime delta from /proc/PID/stat / requests)
#   3. memory     idle-conns opens $IDLE_CONNS conns, one GET / each, holds them idle:
#                 (VmRSS after - VmRSS before) / conns, with a fresh server each time
#
# Environment overrides:
#   DURATION=10      seconds per measured wrk run        REPEATS=5   wrk runs per server
#   WARMUP=2         seconds of unrecorded wrk per server before each wrk phase
#   CONNS=64  DEPTH=16  IDLE_CONNS=10000  MEM_REPEATS=3  IDLE_CONCURRENCY=256
#   PHASES="pipeline keepalive memory"   (any subset)
#   SERVER_CPU=0  CLIENT_CPU=1
#   NETHTTP_CMD="target/release/nethttp serve --threads 1"
#   HYPER_CMD="target/release/hyper-hello --threads 1"
#       Each command is split on spaces; "{ADDR}" in it is replaced by the listen
#       address, otherwise "--addr 127.0.0.1:PORT" is appended. It must exec the
#       server itself (no wrapper shell): /proc/PID of what we start is what we read.
#       It must print a line containing "listening on 127.0.0.1:PORT".
#   THIRD_NAME=may THIRD_CMD="..."  a third server, run interleaved with the other two
#       and shown in its own column (bench/may_hello builds may-minihttp's hello)
#   SKIP_BUILD=1     don't run cargo build
#   OUT_DIR=...      where logs and results.md go (default target/bench-results/DATE)
#
# stdout gets the markdown report only; progress goes to stderr.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD

DURATION=${DURATION:-10}
DURATION=${DURATION%s}
REPEATS=${REPEATS:-5}
WARMUP=${WARMUP:-2}
WARMUP=${WARMUP%s}
CONNS=${CONNS:-64}
DEPTH=${DEPTH:-16}
IDLE_CONNS=${IDLE_CONNS:-10000}
IDLE_CONCURRENCY=${IDLE_CONCURRENCY:-256}
MEM_REPEATS=${MEM_REPEATS:-3}
PHASES=${PHASES:-pipeline keepalive memory}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
NETHTTP_CMD_DEFAULT="target/release/nethttp serve --threads 1"
NETHTTP_CMD=${NETHTTP_CMD:-$NETHTTP_CMD_DEFAULT}
HYPER_CMD=${HYPER_CMD:-target/release/hyper-hello --threads 1}
OUT_DIR=${OUT_DIR:-target/bench-results/$(date +%Y%m%d-%H%M%S)}
HOST=127.0.0.1
NAMES=(nethttp hyper)
declare -A CMD=([nethttp]=$NETHTTP_CMD [hyper]=$HYPER_CMD)
THIRD_NAME=${THIRD_NAME:-}
if [[ -n ${THIRD_CMD:-} ]]; then
    THIRD_NAME=${THIRD_NAME:-third}
    NAMES+=("$THIRD_NAME")
    CMD[$THIRD_NAME]=$THIRD_CMD
fi

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[bench] FATAL: %s\n' "$*" >&2; exit 1; }

for v in DURATION REPEATS WARMUP CONNS DEPTH IDLE_CONNS IDLE_CONCURRENCY MEM_REPEATS SERVER_CPU CLIENT_CPU; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
(( REPEATS >= 1 && MEM_REPEATS >= 1 && DURATION >= 1 )) || die "REPEATS, MEM_REPEATS, DURATION must be >= 1"
for p in $PHASES; do
    case $p in pipeline|keepalive|memory) ;; *) die "unknown phase '$p' in PHASES" ;; esac
done
has_phase() { [[ " $PHASES " == *" $1 "* ]]; }

for tool in wrk taskset curl ss getconf awk; do
    command -v "$tool" >/dev/null || die "'$tool' not found (wrk: apt-get update && apt-get install -y wrk)"
done
CLK_TCK=$(getconf CLK_TCK)

# ---------------------------------------------------------------- file descriptors
want_fds=$(( IDLE_CONNS + 1024 ))
(( want_fds < 65536 )) && want_fds=65536
ulimit -n "$want_fds" 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
FD_LIMIT=$(ulimit -n)
if has_phase memory && [[ $FD_LIMIT != unlimited ]] && (( FD_LIMIT < IDLE_CONNS + 64 )); then
    die "open-file limit is $FD_LIMIT (hard $(ulimit -Hn)); need > $IDLE_CONNS + 64 for the memory phase (lower IDLE_CONNS or raise the hard limit)"
fi

# ---------------------------------------------------------------- build
if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release -p nethttp-bench"
    cargo build --release -p nethttp-bench >&2 || die "building nethttp-bench failed"
    if [[ $NETHTTP_CMD == "$NETHTTP_CMD_DEFAULT" ]]; then
        log "cargo build --release -p nethttp-cli"
        cargo build --release -p nethttp-cli >&2 || die "building nethttp-cli failed (set NETHTTP_CMD to benchmark something else)"
    fi
fi
for name in "${NAMES[@]}"; do
    read -ra argv <<<"${CMD[$name]}"
    [[ -x ${argv[0]} ]] || command -v "${argv[0]}" >/dev/null || die "$name: '${argv[0]}' is not an executable"
done
IDLE_BIN=target/release/idle-conns
has_phase memory && { [[ -x $IDLE_BIN ]] || die "$IDLE_BIN missing (cargo build --release -p nethttp-bench)"; }

mkdir -p "$OUT_DIR"
RAW=$OUT_DIR/raw.tsv
printf 'phase\tserver\trep\treq_per_s\trequests\tcpu_ticks\tvalue\twall_s\tother_ticks\tsteal_ticks\n' >"$RAW"
log "open-file limit $FD_LIMIT; logs in $OUT_DIR"

# ---------------------------------------------------------------- process handling
source bench/common.sh  # the cd above made the repository root current
declare -A PID=() ADDR=() LOGF=() CMDLINE=()

port_free() { [[ -z $(ss -Htln "sport = :$1" 2>/dev/null) ]]; }
pick_port() {
    # Below the ephemeral range (32768+) so client sockets never collide with it.
    local p
    for _ in $(seq 200); do
        p=$(( 20000 + RANDOM % 12000 ))
        port_free "$p" && { echo "$p"; return; }
    done
    die "no free port found"
}

# start_server NAME TAG: starts CMD[NAME] pinned to SERVER_CPU; sets PID/ADDR/LOGF/CMDLINE[NAME].
start_server() {
    local name=$1 tag=$2 port addr logf argv=() out=() a pid line
    port=$(pick_port)
    addr=$HOST:$port
    read -ra argv <<<"${CMD[$name]}"
    local substituted=0
    for a in "${argv[@]}"; do
        if [[ $a == *"{ADDR}"* ]]; then out+=("${a//\{ADDR\}/$addr}"); substituted=1; else out+=("$a"); fi
    done
    (( substituted )) || out+=(--addr "$addr")
    logf=$OUT_DIR/server-$name-$tag.log
    taskset -c "$SERVER_CPU" "${out[@]}" >"$logf" 2>&1 &
    pid=$!
    LIVE[$pid]=1
    CMDLINE[$name]="taskset -c $SERVER_CPU ${out[*]}"
    # Wait for the "listening on" line (ANSI colour codes stripped) for up to 15 s.
    line=
    for _ in $(seq 150); do
        if ! running "$pid"; then
            tail -n 20 "$logf" >&2
            die "$name server exited before listening: ${CMDLINE[$name]}"
        fi
        line=$(sed 's/\x1b\[[0-9;]*m//g' "$logf" | grep -m1 'listening on' || true)
        [[ -n $line ]] && break
        sleep 0.1
    done
    [[ -n $line ]] || { tail -n 20 "$logf" >&2; die "$name server printed no 'listening on' line within 15 s: ${CMDLINE[$name]}"; }
    sleep 0.2   # an error that merely mentions "listening on" is followed by an exit
    running "$pid" || { tail -n 20 "$logf" >&2; die "$name server exited right after: $line"; }
    addr=$(grep -oE '(127\.[0-9]+\.[0-9]+\.[0-9]+|localhost):[0-9]+' <<<"$line" | head -n1 || true)
    [[ -n $addr ]] || die "$name: cannot parse address from: $line"
    [[ $addr == localhost:* ]] && addr=$HOST:${addr#localhost:}
    local body
    body=$(curl -s --max-time 5 "http://$addr/" || true)
    [[ $body == *"Hello, World!"* ]] || { tail -n 20 "$logf" >&2; die "$name at $addr: GET / did not return 'Hello, World!' (got: '${body:0:200}')"; }
    local comm
    comm=$(cat "/proc/$pid/comm" 2>/dev/null || echo '?')
    [[ $comm == taskset ]] && die "$name: pid $pid is still taskset; cannot measure it"
    PID[$name]=$pid ADDR[$name]=$addr LOGF[$name]=$logf
    log "$name up: pid $pid ($comm) at $addr"
}

stop_server() { reap "${PID[$1]}"; }

alive() { running "${PID[$1]}" || { tail -n 20 "${LOGF[$1]}" >&2; die "$1 server (pid ${PID[$1]}) died"; }; }

cpu_stat() {  # cpu_stat N -> "TASK STEAL" ticks of CPU N: user+nice+system, steal (/proc/stat)
    awk -v c="cpu$1" '$1 == c { print $2 + $3 + $4, $9 }' /proc/stat
}
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# ---------------------------------------------------------------- wrk
wrk_args() {  # wrk_args MODE SECONDS ADDR -> prints the argv
    local mode=$1 secs=$2 addr=$3
    if [[ $mode == pipeline ]]; then
        echo "taskset -c $CLIENT_CPU wrk -t1 -c$CONNS -d${secs}s -s bench/pipeline.lua http://$addr/ -- $DEPTH"
    else
        echo "taskset -c $CLIENT_CPU wrk -t1 -c$CONNS -d${secs}s http://$addr/"
    fi
}

# run_wrk PHASE NAME REP -> appends a row to RAW
run_wrk() {
    local phase=$1 name=$2 rep=$3 cmd outf t0 t1 rps reqs errs w0 w1 c0 c1 s0 s1 other wall
    cmd=$(wrk_args "$phase" "$DURATION" "${ADDR[$name]}")
    outf=$OUT_DIR/wrk-$phase-$name-$rep.txt
    alive "$name"
    read -r c0 s0 < <(cpu_stat "$SERVER_CPU")
    w0=$(now_ns)
    t0=$(cpu_ticks "${PID[$name]}")
    # In the background + wait, so a TERM/INT to this script is handled at once.
    # shellcheck disable=SC2086
    $cmd >"$outf" 2>&1 &
    local wpid=$!
    LIVE[$wpid]=1
    wait "$wpid" || { unset "LIVE[$wpid]"; cat "$outf" >&2; die "wrk failed: $cmd"; }
    unset "LIVE[$wpid]"
    alive "$name"
    t1=$(cpu_ticks "${PID[$name]}")
    w1=$(now_ns)
    read -r c1 s1 < <(cpu_stat "$SERVER_CPU")
    # Task time that others (not our server) ran on the server's CPU during the run.
    other=$(( (c1 - c0) - (t1 - t0) )); (( other < 0 )) && other=0
    wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$outf")
    reqs=$(awk '/ requests in / {print $1}' "$outf")
    [[ -n $rps && -n $reqs ]] || { cat "$outf" >&2; die "could not parse wrk output: $outf"; }
    (( reqs > 0 )) || { cat "$outf" >&2; die "$name served 0 requests in $phase rep $rep (server hung?): $cmd"; }
    errs=$(grep -E 'Socket errors|Non-2xx' "$outf" | tr '\n' ' ' || true)
    [[ -n $errs ]] && log "WARNING $phase $name rep $rep: $errs"
    printf '%s\t%s\t%s\t%s\t%s\t%s\t\t%s\t%s\t%s\n' "$phase" "$name" "$rep" "$rps" "$reqs" "$(( t1 - t0 ))" \
        "$wall" "$other" "$(( s1 - s0 ))" >>"$RAW"
    log "$phase $name rep $rep: $rps req/s, $reqs requests, $(( t1 - t0 )) server cpu ticks, $other ticks of other tasks + $(( s1 - s0 )) steal on CPU $SERVER_CPU"
}

warmup() {
    local phase=$1 name cmd
    (( WARMUP > 0 )) || return 0
    for name in "${NAMES[@]}"; do
        cmd=$(wrk_args "$phase" "$WARMUP" "${ADDR[$name]}")
        # shellcheck disable=SC2086
        $cmd >/dev/null 2>&1 &
        local wpid=$!
        LIVE[$wpid]=1
        wait "$wpid" || { unset "LIVE[$wpid]"; die "warm-up wrk failed: $cmd"; }
        unset "LIVE[$wpid]"
    done
}

# ---------------------------------------------------------------- phases
if has_phase pipeline || has_phase keepalive; then
    for name in "${NAMES[@]}"; do start_server "$name" load; done
    for phase in pipeline keepalive; do
        has_phase "$phase" || continue
        log "phase $phase: warm-up ${WARMUP}s each, then $REPEATS x ${DURATION}s per server, interleaved"
        warmup "$phase"
        for rep in $(seq "$REPEATS"); do
            for name in "${NAMES[@]}"; do run_wrk "$phase" "$name" "$rep"; done
        done
    done
    for name in "${NAMES[@]}"; do stop_server "$name"; done
fi

MEM_NOTES=
if has_phase memory; then
    log "phase memory: $IDLE_CONNS idle keep-alive conns, $MEM_REPEATS x per server, fresh server each time"
    for rep in $(seq "$MEM_REPEATS"); do
        for name in "${NAMES[@]}"; do
            start_server "$name" "mem$rep"
            pid=${PID[$name]}
            sleep 0.5
            before=$(rss_kb "$pid")
            idle_out=$OUT_DIR/idle-$name-$rep.txt
            IDLE_CMD_SHOWN="taskset -c $CLIENT_CPU $IDLE_BIN --addr 127.0.0.1:PORT --conns $IDLE_CONNS --concurrency $IDLE_CONCURRENCY --hold-secs 120"
            taskset -c "$CLIENT_CPU" "$IDLE_BIN" --addr "${ADDR[$name]}" --conns "$IDLE_CONNS" \
                --concurrency "$IDLE_CONCURRENCY" --hold-secs 120 >"$idle_out" 2>&1 &
            tpid=$!
            LIVE[$tpid]=1
            ready=
            for _ in $(seq 1500); do   # up to 150 s
                ready=$(grep -m1 '^ready ' "$idle_out" || true)
                [[ -n $ready ]] && break
                running "$tpid" || break
                sleep 0.1
            done
            [[ -n $ready ]] || { cat "$idle_out" >&2; die "idle-conns against $name did not get ready"; }
            sleep 1   # let the server settle (lazy frees, allocator)
            alive "$name"
            after=$(rss_kb "$pid")
            kill -TERM "$tpid" 2>/dev/null || true
            wait "$tpid" || { unset "LIVE[$tpid]"; cat "$idle_out" >&2; die "idle-conns against $name failed"; }
            unset "LIVE[$tpid]"
            opened=$(sed -n 's/^ready opened=\([0-9]*\).*/\1/p' "$idle_out")
            failed=$(sed -n 's/^ready .*failed=\([0-9]*\).*/\1/p' "$idle_out")
            still=$(sed -n 's/^closing still_open=\([0-9]*\).*/\1/p' "$idle_out")
            (( opened > 0 )) || die "idle-conns opened no connection to $name"
            per=$(( (after - before) * 1024 / opened ))
            if (( failed > 0 )) || [[ $still != "$opened" ]]; then
                MEM_NOTES+="- $name rep $rep: opened $opened, failed $failed, still open at measurement end $still"$'\n'
                log "WARNING memory $name rep $rep: opened=$opened failed=$failed still_open=$still"
            fi
            printf 'memory\t%s\t%s\t\t%s\t\t%s\t\t\t\n' "$name" "$rep" "$opened" "$per" >>"$RAW"
            log "memory $name rep $rep: RSS ${before} kB -> ${after} kB, $opened conns, $per bytes/conn"
            stop_server "$name"
        done
    done
fi

# ---------------------------------------------------------------- report
# vals PHASE NAME WHAT -> that metric for each run, in run order, one per line
vals() {
    awk -F'\t' -v p="$1" -v n="$2" -v tck="$CLK_TCK" -v dur="$DURATION" -v what="$3" '
        $1 == p && $2 == n {
            if (what == "rps") print $4
            else if (what == "us") printf "%.4f\n", ($6 / tck) / $5 * 1e6
            else if (what == "cpu") printf "%.1f\n", ($6 / tck) / $8 * 100
            else if (what == "other") printf "%.1f\n", (($9 + $10) / tck) / $8 * 100
            else if (what == "mem") print $7
        }' "$RAW"
}
runs() { vals "$1" "$2" "$3" | awk -v d="$4" '{printf "%s%.*f", (NR>1?", ":""), d, $1}'; }
meets() {  # meets RATIO OP TARGET
    awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN { if (r == "-" || r == "") print "-"; else if ((op == ">=" && r+0 >= t) || (op == "<=" && r+0 <= t)) print "yes"; else print "**no**" }'
}

row() {  # row LABEL PHASE WHAT DECIMALS TARGET-OP TARGET-VALUE TARGET-TEXT
    local label=$1 phase=$2 what=$3 d=$4 op=$5 tv=$6 tt=$7 a b r m
    has_phase "$phase" || return 0
    a=$(vals "$phase" nethttp "$what" | median)
    b=$(vals "$phase" hyper "$what" | median)
    r=$(ratio "$a" "$b")
    [[ $op == noratio ]] && r="-"
    if [[ $op == none || $op == noratio ]]; then m="-"; elif [[ $op == abs ]]; then m=$(meets "$a" "<=" "$tv"); else m=$(meets "$r" "$op" "$tv"); fi
    local third=""
    [[ -n $THIRD_NAME ]] && third=" $(fmt "$(vals "$phase" "$THIRD_NAME" "$what" | median)" "$d") |"
    printf '| %s | %s | %s |%s %s | %s | %s |\n' "$label" "$(fmt "$a" "$d")" "$(fmt "$b" "$d")" "$third" "$r" "$tt" "$m"
}

report() {
    echo "## Results ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "Medians of $REPEATS interleaved runs of ${DURATION}s each (memory: $MEM_REPEATS runs). Ratio = nethttp / hyper."
    echo
    if [[ -n $THIRD_NAME ]]; then
        echo "| metric | nethttp | hyper | $THIRD_NAME | ratio | target | met |"
        echo "|---|---:|---:|---:|---:|---|---|"
    else
        echo "| metric | nethttp | hyper | ratio | target | met |"
        echo "|---|---:|---:|---:|---|---|"
    fi
    row "pipelined, depth $DEPTH, $CONNS conns: req/s" pipeline rps 0 ">=" 1.3 "ratio >= 1.3"
    row "pipelined: server CPU use (%)" pipeline cpu 0 none 0 "~100 = server-bound"
    row "pipelined: other tasks + steal on server CPU (%)" pipeline other 0 noratio 0 "~0 = quiet machine"
    row "keep-alive, $CONNS conns: req/s" keepalive rps 0 none 0 "-"
    row "keep-alive: server CPU per request (us)" keepalive us 2 "<=" 0.9 "ratio <= 0.9"
    row "keep-alive: server CPU use (%)" keepalive cpu 0 none 0 "-"
    row "keep-alive: other tasks + steal on server CPU (%)" keepalive other 0 noratio 0 "~0 = quiet machine"
    row "idle keep-alive conn memory (bytes/conn, $IDLE_CONNS conns)" memory mem 0 abs 4096 "nethttp <= 4096"
    echo
    echo "Individual runs, in order:"
    echo
    local name
    for name in "${NAMES[@]}"; do
        has_phase pipeline && echo "- $name pipelined req/s: $(runs pipeline "$name" rps 0)"
        has_phase keepalive && echo "- $name keep-alive req/s: $(runs keepalive "$name" rps 0); CPU us/req: $(runs keepalive "$name" us 2)"
        has_phase memory && echo "- $name idle conn bytes/conn: $(runs memory "$name" mem 0)"
    done
    local noisy
    noisy=$(awk -F'\t' -v tck="$CLK_TCK" '($1 == "pipeline" || $1 == "keepalive") && $8 > 0 && ($9 + $10) / tck / $8 > 0.10 { n++ } END { print n + 0 }' "$RAW")
    if (( noisy > 0 )); then
        echo
        echo "**Noisy machine:** in $noisy wrk run(s) other tasks or steal took more than 10 % of the server's CPU; treat req/s with care (CPU per request is less affected) and re-run on a quiet machine."
    fi
    if [[ -n $MEM_NOTES ]]; then
        echo
        echo "Memory-phase anomalies:"
        echo
        printf '%s' "$MEM_NOTES"
    fi
    echo
    echo "Commands (PORT chosen per server start; every server start is checked with GET /):"
    echo
    echo '```'
    echo "# nethttp server:"
    sed -E 's/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/' <<<"${CMDLINE[nethttp]}"
    echo "# hyper server (bench/src/hyper_hello.rs: http1::Builder pipeline_flush(true), 1-thread tokio):"
    sed -E 's/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/' <<<"${CMDLINE[hyper]}"
    if [[ -n $THIRD_NAME ]]; then
        echo "# $THIRD_NAME server:"
        sed -E 's/127\.0\.0\.1:[0-9]+/127.0.0.1:PORT/' <<<"${CMDLINE[$THIRD_NAME]}"
    fi
    if has_phase pipeline; then echo "# pipelined:"; wrk_args pipeline "$DURATION" 127.0.0.1:PORT; fi
    if has_phase keepalive; then echo "# keep-alive:"; wrk_args keepalive "$DURATION" 127.0.0.1:PORT; fi
    if has_phase memory; then echo "# idle connections (VmRSS delta of the server / conns):"; echo "$IDLE_CMD_SHOWN"; fi
    echo "# server CPU: utime+stime from /proc/PID/stat (CLK_TCK=$CLK_TCK), delta over each wrk run"
    echo '```'
    echo
    echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), Linux $(uname -r), $(rustc --version 2>/dev/null || echo 'rustc ?'), $(wrk -v 2>&1 | head -n1 | awk '{print "wrk " $2}'), open-file limit $FD_LIMIT."
}

report | tee "$OUT_DIR/results.md"
log "report saved to $OUT_DIR/results.md; raw numbers in $RAW"
