# Shell helpers shared by bench/run.sh and bench/client_run.sh (sourced, not run): tracking
# and reaping the processes a benchmark starts, reading their CPU time, and the arithmetic
# of the report (medians, ratios, fixed decimals).

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
