#!/usr/bin/env bash
# The fast path's regression check (CI runs it): marginal user-space instructions per request
# (bench/instructions_marginal.sh: callgrind, start-up cancelled out) of nethttp-hello and of
# `nethttp serve` through its ServeMux, keep-alive and pipelined, against the figures in
# bench/instructions_baseline.tsv. Fails if any is more than TOLERANCE percent (default 3)
# above its baseline; says so when one is that far below, so the baseline can be lowered.
#
#   bash bench/instructions_check.sh        # builds the release binaries first (SKIP_BUILD=1 not to)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
TOLERANCE=${TOLERANCE:-3}
[ -n "${SKIP_BUILD:-}" ] || cargo build --release -p nethttp-bench -p nethttp-cli >&2
BASELINE=bench/instructions_baseline.tsv
port=18950
failed=0
printf '| server | load | baseline | now | change |\n|---|---|---:|---:|---:|\n'
while IFS=$'\t' read -r name mode base; do
    case $name in ''|'#'*) continue ;; esac
    case $name in
        nethttp-hello) cmd=(target/release/nethttp-hello) ;;
        nethttp-serve) cmd=(target/release/nethttp serve --threads 1) ;;
        *) echo "unknown server $name in $BASELINE" >&2; exit 1 ;;
    esac
    port=$((port + 1))
    now=$(bash bench/instructions_marginal.sh "$mode" "$port" "${cmd[@]}")
    change=$(awk -v n="$now" -v b="$base" 'BEGIN { printf "%+.1f%%", (n - b) * 100 / b }')
    printf '| %s | %s | %s | %s | %s |\n' "$name" "$mode" "$base" "$now" "$change"
    if (( now * 100 > base * (100 + TOLERANCE) )); then
        echo "REGRESSION: $name $mode costs $now instructions per request, over $base + ${TOLERANCE}%" >&2
        failed=1
    elif (( now * 100 < base * (100 - TOLERANCE) )); then
        echo "note: $name $mode is below its baseline by more than ${TOLERANCE}%: lower it in $BASELINE" >&2
    fi
done < "$BASELINE"
exit $failed
