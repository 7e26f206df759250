#!/usr/bin/env bash
# The Autobahn|Testsuite (PyPI autobahntestsuite, Python 2.7) against nethttp's WebSocket,
# server and client:
#
#   bash bench/autobahn.sh            # both phases
#   CASES='["1.*","2.*"]' bash bench/autobahn.sh   # a subset
#
# Phase 1: `nethttp serve` (release build), wstest's fuzzingclient against its /ws. Phase 2:
# wstest's fuzzingserver, our client against it (examples/autobahn_client.rs, release
# build). Every case but 12.* and 13.* (permessage-deflate, which nethttp does not
# negotiate); each phase fails unless every case's behaviour is OK, NON-STRICT or
# INFORMATIONAL (the suite's passing grades). Reports land in target/autobahn/. Needs Python 2.7 (`pyenv`, PYENV_VERSION=2.7.18
# by default, or PY2=/path/to/python2); the suite is pip-installed into target/autobahn/site
# (by .ci/install-peers, or here if missing), where tests/websocket_autobahn.rs, a subset of
# these cases inside `cargo test`, finds it too.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT=target/autobahn
SITE=$OUT/site
mkdir -p "$OUT"
export PYENV_VERSION=${PYENV_VERSION:-2.7.18}
PY2=${PY2:-python}
"$PY2" -c 'import sys; assert sys.version_info[0] == 2, sys.version' \
  || { echo "Python 2.7 is required (pyenv: PYENV_VERSION=2.7.18)" >&2; exit 1; }
if [ ! -d "$SITE/autobahntestsuite" ]; then
  "$PY2" -m pip install -q --disable-pip-version-check --target "$SITE" autobahntestsuite
fi
[ -n "${SKIP_BUILD:-}" ] || cargo build -q --release -p nethttp-cli
[ -n "${SKIP_BUILD:-}" ] || cargo build -q --release -p nethttp --features websocket --example autobahn_client
port=${PORT:-19400}
./target/release/nethttp serve --addr "127.0.0.1:$port" >"$OUT/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q "listening on" "$OUT/server.log" && break
  sleep 0.1
done
cases=${CASES:-'["*"]'}
cat >"$OUT/fuzzingclient.json" <<JSON
{
  "outdir": "$OUT/reports",
  "servers": [{"agent": "nethttp", "url": "ws://127.0.0.1:$port/ws"}],
  "cases": $cases,
  "exclude-cases": ["12.*", "13.*"],
  "exclude-agent-cases": {}
}
JSON
"$PY2" - "$SITE" "$OUT/fuzzingclient.json" <<'PY'
import site, sys
site.addsitedir(sys.argv[1])
from autobahntestsuite import wstest
sys.argv = ["wstest", "-m", "fuzzingclient", "-s", sys.argv[2]]
wstest.run()
PY
check() { # phase index.json
    python3 - "$1" "$2" <<'PY'
import json, sys, collections
index = json.load(open(sys.argv[2]))
counts, bad = collections.Counter(), []
for agent, cases in index.items():
    for case, r in sorted(cases.items()):
        counts[r["behavior"]] += 1
        if r["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL"):
            bad.append((case, r["behavior"], r.get("behaviorClose")))
print("autobahn %s:" % sys.argv[1], dict(counts))
for b in bad:
    print("  failed:", *b)
sys.exit(1 if bad else 0)
PY
}
status=0
check fuzzingclient "$OUT/reports/index.json" || status=1

# Phase 2: our client against wstest's fuzzingserver.
sport=$((port + 1))
cat >"$OUT/fuzzingserver.json" <<JSON
{
  "url": "ws://127.0.0.1:$sport",
  "outdir": "$OUT/client-reports",
  "cases": $cases,
  "exclude-cases": ["12.*", "13.*"],
  "exclude-agent-cases": {}
}
JSON
"$PY2" - "$SITE" "$OUT/fuzzingserver.json" >"$OUT/fuzzingserver.log" 2>&1 <<'PY' &
import site, sys
site.addsitedir(sys.argv[1])
from autobahntestsuite import wstest
sys.argv = ["wstest", "-m", "fuzzingserver", "-s", sys.argv[2]]
wstest.run()
PY
fuzzserver=$!
trap 'kill $server $fuzzserver 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$sport") 2>/dev/null && break
  sleep 0.1
done
./target/release/examples/autobahn_client "ws://127.0.0.1:$sport"
check fuzzingserver "$OUT/client-reports/index.json" || status=1
exit $status
