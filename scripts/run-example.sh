#!/usr/bin/env bash
# make run: generate TPC-H SF 0.1 (cached), start a local cluster
# (scheduler + 2 executors), run TPC-H queries with kapot sql and the
# example physical plan with kapot submit, print results and timings, stop
# the cluster.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=bin/kapot
WORK=$(mktemp -d /tmp/kapot-run-XXXXXX)
PORT=${KAPOT_SCHEDULER_PORT:-50050}
SF=${KAPOT_SF:-0.1}
DATA=${KAPOT_TPCH_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kapot/tpch-sf$SF}
if [ ! -f "$DATA/.complete" ]; then
  echo "== kapot tpch gen --sf $SF --out $DATA"
  rm -rf "$DATA"
  "$BIN" tpch gen --sf "$SF" --out "$DATA" --partitions 2
  touch "$DATA/.complete"
else
  echo "== using TPC-H SF $SF in $DATA"
fi
"$BIN" local --executors 2 --scheduler-port "$PORT" --work-dir "$WORK" >"$WORK/local.out" 2>&1 &
LOCAL=$!
trap 'kill -INT $LOCAL 2>/dev/null; wait $LOCAL 2>/dev/null || true; rm -rf "$WORK"' EXIT
# Wait for the cluster (a cold start on a busy machine can take a while);
# if it never comes up, show why instead of failing the first query.
ready=
for _ in $(seq 1 1200); do
  if grep -q "cluster ready" "$WORK/local.out" 2>/dev/null; then ready=1; break; fi
  if ! kill -0 $LOCAL 2>/dev/null; then cat "$WORK/local.out"; exit 1; fi
  sleep 0.1
done
cat "$WORK/local.out"
if [ -z "$ready" ]; then
  echo "kapot local did not report 'cluster ready' within 2 minutes; the end of its logs:" >&2
  tail -n 20 "$WORK"/logs/*.log >&2 || true
  exit 1
fi
for q in 1 3 5 6 10 12; do
  echo
  echo "== TPC-H Q$q: kapot sql --tpch $DATA --scheduler 127.0.0.1:$PORT -f tpch/queries/q$q.sql"
  "$BIN" sql --tpch "$DATA" --scheduler "127.0.0.1:$PORT" -f "tpch/queries/q$q.sql"
done
WRITE="CREATE TABLE revenue_by_mode AS SELECT l_shipmode, o_orderpriority, sum(l_extendedprice) AS revenue FROM lineitem JOIN orders ON l_orderkey = o_orderkey GROUP BY l_shipmode, o_orderpriority; SELECT l_shipmode, count(*) AS priorities, sum(revenue) AS revenue FROM revenue_by_mode GROUP BY l_shipmode ORDER BY l_shipmode; COPY (SELECT * FROM revenue_by_mode) TO '$WORK/revenue' (FORMAT parquet, PARTITION_BY (l_shipmode))"
echo
echo "== a write: kapot sql --scheduler 127.0.0.1:$PORT -e \"CREATE TABLE … AS …; SELECT …; COPY … TO '$WORK/revenue' (PARTITION_BY (l_shipmode))\""
"$BIN" sql --scheduler "127.0.0.1:$PORT" -e "$WRITE"
ls "$WORK/revenue"
echo
echo "== kapot submit --plan examples/groupby/plan.json"
"$BIN" submit --scheduler "127.0.0.1:$PORT" --plan examples/groupby/plan.json
