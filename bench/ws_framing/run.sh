#!/usr/bin/env bash
# WebSocket framing: tokio-tungstenite (what nethttp's `websocket` feature uses) against
# fastwebsockets, measured on loopback TCP. Builds, checks the behaviour tests, then prints
# three markdown tables (also left in $CARGO_TARGET_DIR/results/):
#
#   bash bench/ws_framing/run.sh                 # everything, about 25 minutes
#   REPEAT=5 bash bench/ws_framing/run.sh        # wall-clock repetitions (default 5)
#   IREPEAT=1 bash bench/ws_framing/run.sh       # callgrind repetitions (default 3)
#   SCALE=0.1 bash bench/ws_framing/run.sh       # a quick look: a tenth of the messages
#   ONLY=wall|instructions bash bench/ws_framing/run.sh
#
# 1. Wall clock: each case REPEAT times, the median reported with the spread. The server
#    process runs on CPU 0 (`taskset -c 0`), the client on CPU 1, whichever of them is the
#    measured one; on a busy machine these vary from run to run, so read them next to
#    table 2.
# 2. Instructions per message under callgrind (user space only, so the same on a busy
#    machine): a run of N messages minus a run of none, over N; median of IREPEAT.
# 3. The same for the server role, sequential, with glibc's `rep movsb/stosb` string
#    routines left in place: valgrind counts one instruction per byte they move, which
#    shows where a crate fills or copies large buffers. One run: table 2 shows the counts
#    repeat exactly.
#
# Everything is bounded: fixed message counts, each run at most 120 s, and every server
# process exits after its connections or 300 s idle. Only 127.0.0.1 is used.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
REPEAT=${REPEAT:-5}
IREPEAT=${IREPEAT:-3}
SCALE=${SCALE:-1}
ONLY=${ONLY:-all}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$(cd ../.. && pwd)/target/ws_framing}
OUT=$CARGO_TARGET_DIR/results
mkdir -p "$OUT"

for tool in cargo taskset valgrind; do
    command -v "$tool" >/dev/null || { echo "$tool is required" >&2; exit 1; }
done

if [ -z "${SKIP_BUILD:-}" ]; then
    cargo build --release --locked >&2
    cargo test --release --locked >&2
fi
BIN=$CARGO_TARGET_DIR/release/ws-framing-bench

if [ "$ONLY" = all ] || [ "$ONLY" = wall ]; then
    echo "## 1. Wall clock" | tee "$OUT/wall.md"
    echo | tee -a "$OUT/wall.md"
    echo "Load average before: $(cut -d' ' -f1-3 /proc/loadavg) (2 CPUs)." | tee -a "$OUT/wall.md"
    echo | tee -a "$OUT/wall.md"
    taskset -c 1 "$BIN" suite --repeat "$REPEAT" --scale "$SCALE" --pin 0 \
        2>"$OUT/wall.log" | tee -a "$OUT/wall.md"
    echo | tee -a "$OUT/wall.md"
    echo "Load average after: $(cut -d' ' -f1-3 /proc/loadavg)." | tee -a "$OUT/wall.md"
    echo
fi

if [ "$ONLY" = all ] || [ "$ONLY" = instructions ]; then
    echo "## 2. Instructions per message" | tee "$OUT/instructions.md"
    echo | tee -a "$OUT/instructions.md"
    "$BIN" instructions --repeat "$IREPEAT" --scale "$SCALE" 2>"$OUT/instructions.log" | tee -a "$OUT/instructions.md"
    echo
    echo "## 3. Instructions per message, glibc string routines as installed" | tee "$OUT/instructions_raw.md"
    echo | tee -a "$OUT/instructions_raw.md"
    "$BIN" instructions --raw --roles server --modes seq --repeat 1 --scale "$SCALE" \
        2>"$OUT/instructions_raw.log" | tee -a "$OUT/instructions_raw.md"
fi
echo
echo "Per-run lines: $OUT/*.log" >&2
