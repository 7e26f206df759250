# Shell helpers shared by the bench/*.sh scripts (sourced, not run): tracking and reaping the
# processes a benchmark starts, starting a server and finding its address, reading CPU time
# and connection counts, and the arithmetic of the report (medians, ratios, fixed decimals).

declare -A LIVE=()   # pids we started and have not reaped yet

running() {  # running PID: exists and is not a zombie (kill -0 succeeds on zombies)
    local st
    st=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    st=${st##*) }
    [[ ${st:0:1} != Z ]]
}
reap() {  # reap PID: TERM, up to 5 s grace, then KILL; only for pids we started
    local p=$1
    kill -TERM "$p" 2>/dev/null || true
    for _ in $(seq 50); do running "$p" || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
    unset "LIVE[$p]"
}
cleanup() {
    local rc=$? p
    trap - EXIT INT TERM
    for p in "${!LIVE[@]}"; do reap "$p"; done
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cpu_ticks() {  # utime + stime of the whole process (all threads), in clock ticks
    local s f=()
    s=$(<"/proc/$1/stat")
    s=${s##*) }          # fields after "(comm) ": state is index 0 = field 3
    read -ra f <<<"$s"
    echo $(( f[11] + f[12] ))   # fields 14 (utime) and 15 (stime)
}
now_ns() { date +%s%N; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print ""; exit} if (NR%2) printf "%.6f\n", a[(NR+1)/2]; else printf "%.6f\n", (a[NR/2]+a[NR/2+1])/2}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || b+0 == 0) print "-"; else printf "%.2f", a / b }'; }
fmt() { awk -v x="$1" -v d="$2" 'BEGIN { if (x == "") print "-"; else printf "%.*f", d, x }'; }

# ---------------------------------------------------------------- servers (the caller defines die())

bin_dir() {  # where cargo put the release binaries: $CARGO_TARGET_DIR/release, else target/release
    echo "${CARGO_TARGET_DIR:-target}/release"
}

STARTED_PID= STARTED_ADDR=
# start_listening LOGF CPU CMD...: starts CMD pinned to CPU in the background (tracked in LIVE),
# waits up to 15 s for a line containing "listening on 127.x.x.x:PORT" (ANSI colours stripped),
# and sets STARTED_PID and STARTED_ADDR. CMD must exec the server itself (taskset execs it), so
# /proc/STARTED_PID is the server's.
start_listening() {
    local logf=$1 cpu=$2 pid line addr
    shift 2
    taskset -c "$cpu" "$@" >"$logf" 2>&1 &
    pid=$!
    LIVE[$pid]=1
    line=
    for _ in $(seq 150); do
        running "$pid" || { tail -n 20 "$logf" >&2; die "exited before listening: $*"; }
        line=$(sed 's/\x1b\[[0-9;]*m//g' "$logf" | grep -m1 'listening on' || true)
        [[ -n $line ]] && break
        sleep 0.1
    done
    [[ -n $line ]] || { tail -n 20 "$logf" >&2; die "no 'listening on' line within 15 s: $*"; }
    sleep 0.2   # an error that merely mentions "listening on" is followed by an exit
    running "$pid" || { tail -n 20 "$logf" >&2; die "exited right after: $line"; }
    addr=$(grep -oE '127\.[0-9]+\.[0-9]+\.[0-9]+:[0-9]+' <<<"$line" | head -n1 || true)
    [[ -n $addr ]] || die "cannot parse the address from: $line"
    [[ $(cat "/proc/$pid/comm" 2>/dev/null) != taskset ]] || die "pid $pid is still taskset; cannot measure it"
    STARTED_PID=$pid STARTED_ADDR=$addr
}

cpu_busy_steal() {  # cpu_busy_steal N... -> "TASK STEAL" ticks summed over those CPUs (/proc/stat)
    local want=" ${*/#/cpu} "
    awk -v want="$want" 'index(want, " " $1 " ") { t += $2 + $3 + $4; s += $9 } END { print t + 0, s + 0 }' /proc/stat
}

# server_conns PID LOG NAME: how many connections the server has accepted so far. Asks with
# SIGUSR1 (the bench peers answer with a line "accepted N connections" in LOG) and waits up
# to 5 s for the new line.
server_conns() {
    local pid=$1 logf=$2 name=$3 before after=0
    before=$(grep -c ' accepted [0-9]* connections' "$logf" || true)
    kill -USR1 "$pid"
    for _ in $(seq 250); do
        after=$(grep -c ' accepted [0-9]* connections' "$logf" || true)
        (( after > before )) && break
        sleep 0.02
    done
    (( after > before )) || die "$name did not report its connection count"
    grep ' accepted [0-9]* connections' "$logf" | tail -n1 | awk '{print $3}'
}
