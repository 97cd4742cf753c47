#!/usr/bin/env bash
# make run: start a local cluster (scheduler + 2 executors), submit the
# example two-stage plan, print its result, stop the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin/kapot
WORK=$(mktemp -d /tmp/kapot-run-XXXXXX)
PORT=${KAPOT_SCHEDULER_PORT:-50050}
"$BIN" local --executors 2 --scheduler-port "$PORT" --work-dir "$WORK" >"$WORK/local.out" 2>&1 &
LOCAL=$!
trap 'kill -INT $LOCAL 2>/dev/null; wait $LOCAL 2>/dev/null || true' EXIT
for _ in $(seq 1 300); do
  grep -q "cluster ready" "$WORK/local.out" 2>/dev/null && break
  if ! kill -0 $LOCAL 2>/dev/null; then cat "$WORK/local.out"; exit 1; fi
  sleep 0.1
done
cat "$WORK/local.out"
echo
echo "== kapot submit --plan examples/groupby/plan.json"
"$BIN" submit --scheduler "127.0.0.1:$PORT" --plan examples/groupby/plan.json
