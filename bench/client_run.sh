#!/usr/bin/env bash
# Side-by-side client benchmark: nethttp's client vs reqwest vs wrk, in one run, against
# the same hyper hello server, interleaved and repeated, medians and ratios.
#
#   bash bench/client_run.sh                        # 5 rounds x 10 s x 5 clients, ~5 min + build
#   DURATION=3 ROUNDS=2 bash bench/client_run.sh    # quick look
#
# One hyper-hello (1-thread runtime) pinned to CPU $SERVER_CPU serves every run. Each
# client is pinned to CPU $CLIENT_CPU and keeps $CONNS requests in flight over keep-alive
# connections for $DURATION s:
#   wrk          wrk -t1 -c$CONNS                 (the ceiling: a minimal C client)
#   reqwest-ct   reqwest-load --threads 1         (current_thread runtime)
#   reqwest-mt   reqwest-load --threads $MT_THREADS (multi-thread runtime, same one CPU)
#   nethttp-ct   nethttp-load --threads 1
#   nethttp-mt   nethttp-load --threads $MT_THREADS
# Every round runs each client once; the order rotates by one client per round.
#
# Per run it records: req/s; TCP connections opened (the server's accepted-connection count,
# read through SIGUSR1 before and after: the same count for every client, wrk included);
# client CPU = user + system time of the client process from wait4 (GNU time), / requests;
# the server's CPU use (/proc/PID/stat); and the time other tasks and steal took on the two
# CPUs (/proc/stat), so a noisy run shows.
#
# Environment overrides:
#   DURATION=10  ROUNDS=5  CONNS=64  MT_THREADS=2  WARMUP=2 (s per client before round 1; 0 = none)
#   CLIENTS="wrk reqwest-ct reqwest-mt nethttp-ct nethttp-mt"   (any subset, in this order)
#   SERVER_CPU=0  CLIENT_CPU=1  SKIP_BUILD=1  OUT_DIR=... (default target/bench-results/client-DATE)
#   QUIET_WAIT=120   before each run, wait up to this many seconds for the two CPUs to be
#                    quiet (other tasks < 10 % of one CPU over 1 s); 0 = don't wait. A run
#                    that starts after the wait ran out is noted on stderr and in the report.
#   RETRY_NOISY=3    a run during which other tasks + steal took more than 10 % of one CPU
#                    is discarded (kept in discarded.tsv) and run again, at most this many
#                    times; the last attempt counts, noisy or not (the report says so).
#
# stdout gets the markdown report only; progress goes to stderr. Every wait is bounded, the
# script stops by itself, and the server and any client still running are killed on exit.

set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

DURATION=${DURATION:-10}
DURATION=${DURATION%s}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-64}
MT_THREADS=${MT_THREADS:-2}
WARMUP=${WARMUP:-2}
WARMUP=${WARMUP%s}
CLIENTS=${CLIENTS:-wrk reqwest-ct reqwest-mt nethttp-ct nethttp-mt}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
QUIET_WAIT=${QUIET_WAIT:-120}
RETRY_NOISY=${RETRY_NOISY:-3}
OUT_DIR=${OUT_DIR:-target/bench-results/client-$(date +%Y%m%d-%H%M%S)}
SERVER_BIN=target/release/hyper-hello
NETHTTP_BIN=target/release/nethttp-load
REQWEST_BIN=target/release/reqwest-load
TIME_BIN=/usr/bin/time

log() { printf '[client-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf '[client-bench] FATAL: %s\n' "$*" >&2; exit 1; }

for v in DURATION ROUNDS CONNS MT_THREADS WARMUP SERVER_CPU CLIENT_CPU QUIET_WAIT RETRY_NOISY; do
    [[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a non-negative integer, got '${!v}'"
done
(( ROUNDS >= 1 && DURATION >= 1 && CONNS >= 1 && MT_THREADS >= 2 )) \
    || die "ROUNDS, DURATION, CONNS must be >= 1 and MT_THREADS >= 2"
read -ra NAMES <<<"$CLIENTS"
(( ${#NAMES[@]} >= 1 )) || die "CLIENTS is empty"
for n in "${NAMES[@]}"; do
    case $n in wrk|reqwest-ct|reqwest-mt|nethttp-ct|nethttp-mt) ;; *) die "unknown client '$n' in CLIENTS" ;; esac
done

for tool in wrk taskset curl getconf awk timeout; do
    command -v "$tool" >/dev/null || die "'$tool' not found (apt-get update && apt-get install -y wrk curl)"
done
[[ -x $TIME_BIN ]] || die "$TIME_BIN not found (apt-get update && apt-get install -y time)"
CLK_TCK=$(getconf CLK_TCK)

if [[ ${SKIP_BUILD:-0} != 1 ]]; then
    log "cargo build --release -p nethttp-bench"
    cargo build --release -p nethttp-bench >&2 || die "building nethttp-bench failed"
fi
for b in "$SERVER_BIN" "$NETHTTP_BIN" "$REQWEST_BIN"; do
    [[ -x $b ]] || die "$b missing (cargo build --release -p nethttp-bench)"
done

mkdir -p "$OUT_DIR"
RAW=$OUT_DIR/raw.tsv
DISCARDED=$OUT_DIR/discarded.tsv
: >"$DISCARDED"
printf 'client\tround\treq_per_s\trequests\terrors\tconns\tself_conns\tcpu_user_s\tcpu_sys_s\twall_s\tserver_ticks\tother_ticks\tsteal_ticks\tself_cpu_us_per_req\n' >"$RAW"
log "logs in $OUT_DIR"

# ---------------------------------------------------------------- process handling
source bench/common.sh  # the cd above made the repository root current

# ---------------------------------------------------------------- the server
SLOG=$OUT_DIR/server.log
start_listening "$SLOG" "$SERVER_CPU" "$SERVER_BIN" --threads 1 --addr 127.0.0.1:0
SPID=$STARTED_PID ADDR=$STARTED_ADDR
URL=http://$ADDR/
body=$(curl -s --max-time 5 "$URL" || true)
[[ $body == "Hello, World!" ]] || die "GET $URL returned '${body:0:200}', not 'Hello, World!'"
log "hyper-hello up: pid $SPID at $ADDR (CPU $SERVER_CPU)"

alive() { running "$SPID" || { tail -n 20 "$SLOG" >&2; die "hyper-hello (pid $SPID) died"; }; }

LOUD_STARTS=0
wait_quiet() {  # waits (bounded by QUIET_WAIT) until others use < 10 % of one CPU over 1 s
    local start=$SECONDS b0 b1 t0 t1 busy
    (( QUIET_WAIT > 0 )) || return 0
    while :; do
        read -r b0 _ < <(cpu_busy_steal "$SERVER_CPU" "$CLIENT_CPU")
        t0=$(cpu_ticks "$SPID")
        sleep 1
        read -r b1 _ < <(cpu_busy_steal "$SERVER_CPU" "$CLIENT_CPU")
        t1=$(cpu_ticks "$SPID")
        busy=$(( (b1 - b0) - (t1 - t0) ))
        (( busy * 10 < CLK_TCK )) && return 0
        if (( SECONDS - start >= QUIET_WAIT )); then
            log "WARNING machine still busy after ${QUIET_WAIT}s ($busy ticks/s of other tasks); running anyway"
            LOUD_STARTS=$(( LOUD_STARTS + 1 ))
            return 0
        fi
        log "machine busy ($busy ticks/s of other tasks on CPUs $SERVER_CPU,$CLIENT_CPU); waiting"
        sleep 4
    done
}

# ---------------------------------------------------------------- clients
client_cmd() {  # client_cmd SECONDS NAME -> argv of the client (no taskset)
    local secs=$1
    case $2 in
        wrk)        echo "wrk -t1 -c$CONNS -d${secs}s $URL" ;;
        reqwest-ct) echo "$REQWEST_BIN $URL -c $CONNS -d $secs --threads 1" ;;
        reqwest-mt) echo "$REQWEST_BIN $URL -c $CONNS -d $secs --threads $MT_THREADS" ;;
        nethttp-ct) echo "$NETHTTP_BIN $URL -c $CONNS -d $secs --threads 1" ;;
        nethttp-mt) echo "$NETHTTP_BIN $URL -c $CONNS -d $secs --threads $MT_THREADS" ;;
    esac
}
label() {
    case $1 in
        wrk)        echo "wrk (-t1, C)" ;;
        reqwest-ct) echo "reqwest, current_thread" ;;
        reqwest-mt) echo "reqwest, multi-thread ($MT_THREADS workers)" ;;
        nethttp-ct) echo "nethttp, current_thread" ;;
        nethttp-mt) echo "nethttp, multi-thread ($MT_THREADS workers)" ;;
    esac
}

# run_client NAME SECONDS OUT TIMEF: runs it pinned, under GNU time, bounded by timeout.
run_client() {
    local name=$1 secs=$2 outf=$3 timef=$4 argv=() pid
    read -ra argv <<<"$(client_cmd "$secs" "$name")"
    # In the background + wait, so a TERM/INT to this script is handled at once. timeout
    # kills the whole group (time, taskset's exec, the client) if the client overstays.
    timeout -k 5 $(( secs + 30 )) "$TIME_BIN" -f '%e %U %S' -o "$timef" \
        taskset -c "$CLIENT_CPU" "${argv[@]}" >"$outf" 2>&1 &
    pid=$!
    LIVE[$pid]=1
    wait "$pid" || { unset "LIVE[$pid]"; cat "$outf" >&2; die "$name failed: ${argv[*]}"; }
    unset "LIVE[$pid]"
}

json_field() {  # json_field FILE KEY -> value from the client's one JSON line
    grep -m1 '^{' "$1" | grep -oE "\"$2\":[^,}]*" | head -n1 | cut -d: -f2
}

ROW=
measure() {  # measure NAME ROUND -> sets ROW (a RAW line); fails (returns 1) if the run was noisy
    local name=$1 round=$2 outf timef c0 c1 t0 t1 b0 b1 s0 s1 w0 w1 wall user sys
    local rps reqs errs self_conns self_us other
    outf=$OUT_DIR/$name-$round.txt
    timef=$OUT_DIR/$name-$round.time
    alive
    wait_quiet
    c0=$(server_conns "$SPID" "$SLOG" hyper-hello)
    read -r b0 s0 < <(cpu_busy_steal "$SERVER_CPU" "$CLIENT_CPU")
    t0=$(cpu_ticks "$SPID")
    w0=$(now_ns)
    run_client "$name" "$DURATION" "$outf" "$timef"
    w1=$(now_ns)
    t1=$(cpu_ticks "$SPID")
    read -r b1 s1 < <(cpu_busy_steal "$SERVER_CPU" "$CLIENT_CPU")
    alive
    c1=$(server_conns "$SPID" "$SLOG" hyper-hello)
    read -r _ user sys < <(tail -n1 "$timef")
    [[ -n $sys ]] || { cat "$timef" >&2; die "cannot parse $timef"; }
    if [[ $name == wrk ]]; then
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$outf")
        reqs=$(awk '/ requests in / {print $1}' "$outf")
        errs=$(awk '/Socket errors:/ { gsub(",", ""); e += $4 + $6 + $8 + $10 } /Non-2xx/ { e += $NF } END { print e + 0 }' "$outf")
        self_conns=
        self_us=
    else
        rps=$(json_field "$outf" rps)
        reqs=$(json_field "$outf" requests)
        errs=$(json_field "$outf" errors)
        self_conns=$(json_field "$outf" conns)
        [[ $self_conns == null ]] && self_conns=
        self_us=$(json_field "$outf" cpu_us_per_req)
    fi
    [[ -n $rps && -n $reqs && -n $errs ]] || { cat "$outf" >&2; die "cannot parse the output of $name: $outf"; }
    (( reqs > 0 )) || { cat "$outf" >&2; die "$name completed no request"; }
    (( errs > 0 )) && log "WARNING $name round $round: $errs errors (see $outf)"
    wall=$(awk -v a="$w0" -v b="$w1" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
    # Task time on the two CPUs that neither the server nor the client used.
    other=$(awk -v b=$(( b1 - b0 )) -v t=$(( t1 - t0 )) -v u="$user" -v s="$sys" -v tck="$CLK_TCK" \
        'BEGIN { o = b - t - (u + s) * tck; if (o < 0) o = 0; printf "%d", o }')
    ROW=$(printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s' "$name" "$round" "$rps" "$reqs" "$errs" \
        "$(( c1 - c0 ))" "$self_conns" "$user" "$sys" "$wall" "$(( t1 - t0 ))" "$other" "$(( s1 - s0 ))" "$self_us")
    log "$name round $round: $rps req/s, $reqs requests, $(( c1 - c0 )) conns, client cpu ${user}u+${sys}s, server $(( t1 - t0 )) ticks, other $other + steal $(( s1 - s0 )) ticks"
    # Noisy: other tasks + steal above 10 % of one CPU over the run.
    awk -v o=$(( other + s1 - s0 )) -v w="$wall" -v tck="$CLK_TCK" 'BEGIN { exit !(o / tck <= 0.10 * w) }'
}

# ---------------------------------------------------------------- runs
if (( WARMUP > 0 )); then
    log "warm-up: ${WARMUP}s per client"
    for name in "${NAMES[@]}"; do
        run_client "$name" "$WARMUP" "$OUT_DIR/warmup-$name.txt" "$OUT_DIR/warmup-$name.time"
    done
fi
log "$ROUNDS rounds x ${DURATION}s x ${#NAMES[@]} clients, interleaved"
for round in $(seq "$ROUNDS"); do
    n=${#NAMES[@]}
    for i in $(seq 0 $(( n - 1 ))); do
        name=${NAMES[$(( (i + round - 1) % n ))]}
        for attempt in $(seq 0 "$RETRY_NOISY"); do
            if measure "$name" "$round"; then break; fi
            if (( attempt < RETRY_NOISY )); then
                log "$name round $round: noisy (other tasks or steal > 10 % of a CPU); discarded, running it again"
                printf '%s\n' "$ROW" >>"$DISCARDED"
                sleep 0.5
            fi
        done
        printf '%s\n' "$ROW" >>"$RAW"
        sleep 0.5
    done
done

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
            else if (what == "self_us") { if ($14 != "") print $14 }
            else if (what == "cpu") printf "%.1f\n", ($8 + $9) / $10 * 100
            else if (what == "server_cpu") printf "%.1f\n", ($11 / tck) / $10 * 100
            else if (what == "server_us") printf "%.4f\n", ($11 / tck) / $4 * 1e6
            else if (what == "other") printf "%.1f\n", (($12 + $13) / tck) / $10 * 100
        }' "$RAW"
}
med() { vals "$1" "$2" | median; }
runs() { vals "$1" "$2" | awk -v d="$3" '{printf "%s%.*f", (NR>1?", ":""), d, $1}'; }
range() { vals "$1" "$2" | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END { if (NR == 0) print "-"; else if (lo == hi) print lo; else print lo "-" hi }'; }
has() { [[ " ${NAMES[*]} " == *" $1 "* ]]; }
meets() {  # meets VALUE OP TARGET
    awk -v r="$1" -v op="$2" -v t="$3" 'BEGIN { if (r == "-" || r == "") print "-"; else if ((op == ">=" && r+0 >= t) || (op == "==" && r+0 == t)) print "yes"; else print "**no**" }'
}

report() {
    local name r
    echo "## Client results ($(date -u +%Y-%m-%dT%H:%MZ))"
    echo
    echo "Medians of $ROUNDS interleaved runs of ${DURATION}s each, $CONNS requests in flight, keep-alive,"
    echo "one hyper-hello (1 thread) on CPU $SERVER_CPU, each client on CPU $CLIENT_CPU."
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
    if has nethttp-ct && has reqwest-ct; then
        r=$(ratio "$(med nethttp-ct rps)" "$(med reqwest-ct rps)")
        echo "| req/s nethttp / reqwest (both current_thread) | $r | >= 1.2 | $(meets "$r" ">=" 1.2) |"
    fi
    if has nethttp-ct && has wrk; then
        r=$(ratio "$(med nethttp-ct rps)" "$(med wrk rps)")
        echo "| req/s nethttp (current_thread) / wrk | $r | >= 0.8 | $(meets "$r" ">=" 0.8) |"
    fi
    if has reqwest-ct && has wrk; then
        echo "| req/s reqwest (current_thread) / wrk | $(ratio "$(med reqwest-ct rps)" "$(med wrk rps)") | - | - |"
    fi
    if has nethttp-mt && has reqwest-mt; then
        echo "| req/s nethttp / reqwest (both multi-thread) | $(ratio "$(med nethttp-mt rps)" "$(med reqwest-mt rps)") | - | - |"
    fi
    if has nethttp-ct && has reqwest-ct; then
        echo "| CPU/req nethttp / reqwest (both current_thread) | $(ratio "$(med nethttp-ct us)" "$(med reqwest-ct us)") | - | - |"
    fi
    if has nethttp-ct && has wrk; then
        echo "| CPU/req nethttp (current_thread) / wrk | $(ratio "$(med nethttp-ct us)" "$(med wrk us)") | - | - |"
    fi
    for name in nethttp-ct nethttp-mt; do
        has "$name" || continue
        r=$(range "$name" conns)
        echo "| TCP conns opened, $(label "$name") | $r | == $CONNS | $(meets "$(med "$name" conns)" "==" "$CONNS")$( [[ $r == *-* ]] && echo " (not every run)" ) |"
    done
    echo
    echo "Individual runs, in order:"
    echo
    for name in "${NAMES[@]}"; do
        echo "- $(label "$name"): req/s $(runs "$name" rps 0); CPU µs/req $(runs "$name" us 2); conns $(runs "$name" conns 0)"
    done
    local self
    for name in nethttp-ct nethttp-mt reqwest-ct reqwest-mt; do
        has "$name" || continue
        self=$(runs "$name" self_us 2)
        [[ -n $self ]] && echo "- $(label "$name"), CPU µs/req over the load window only (getrusage in the process): $self"
    done
    for name in nethttp-ct nethttp-mt; do
        has "$name" || continue
        echo "- $(label "$name"), dials counted by its own pool: $(awk -F'\t' -v n="$name" 'NR > 1 && $1 == n {printf "%s%s", (c++ ? ", " : ""), $7}' "$RAW")"
    done
    local noisy
    noisy=$(awk -F'\t' -v tck="$CLK_TCK" 'NR > 1 && $10 > 0 && ($12 + $13) / tck / $10 > 0.10 { n++ } END { print n + 0 }' "$RAW")
    if (( noisy > 0 )); then
        echo
        echo "**Noisy machine:** in $noisy run(s) other tasks or steal took more than 10 % of one CPU; re-run on a quiet machine."
    fi
    local dropped
    dropped=$(wc -l <"$DISCARDED")
    if (( dropped > 0 )); then
        echo
        echo "$dropped noisy run(s) (other tasks or steal > 10 % of a CPU) were discarded and run again ($DISCARDED)."
    fi
    if (( LOUD_STARTS > 0 )); then
        echo
        echo "$LOUD_STARTS run(s) started on a busy machine after waiting ${QUIET_WAIT}s for quiet."
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
    echo "Machine: $(nproc) CPUs ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')), Linux $(uname -r), $(rustc --version 2>/dev/null || echo 'rustc ?'), $(wrk -v 2>&1 | head -n1 | awk '{print "wrk " $2}'), reqwest $(awk '/^name = "reqwest"/ {getline; gsub(/"/, "", $3); print $3}' Cargo.lock)."
}

report | tee "$OUT_DIR/results.md"
log "report saved to $OUT_DIR/results.md; raw numbers in $RAW"
