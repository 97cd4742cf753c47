#!/usr/bin/env python3
"""A/B two kapot builds or executor settings on TPC-H, same run.

Starts two local clusters side by side (a scheduler and 2 executors with one
task slot each, ports 50150 and 50250), then runs every query on A and on B
in turn (the order flips each repetition) and prints per-query medians. Only
one query runs at a time, so the idle cluster costs nothing; alternating
cancels the drift of a shared VM's speed, which is larger than most single
changes.

usage: scripts/ab-cluster.py 'A' 'B' [reps] [queries]
  A, B:    "[ENV=value ...] path/to/kapot|executor flags"
           e.g. 'bin/kapot|' 'GOGC=400 /tmp/kapot-new|--shuffle-compression none'
  reps:    timed repetitions per query and side (default 3; one untimed warm-up)
  queries: comma-separated query numbers (default 1..22)
DATA=dir selects the data set (default /tmp/kapot-tpch-sf1, made by
`kapot tpch gen --sf 1 --partitions 2 --out DIR`).
SUITE=tpcds runs TPC-DS queries instead (1..99 by default) over DATA, a
directory of one Parquet directory per table (shared/tpcds/gen.sh SF DIR):
each query's file declares the tables first.
"""
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

QUERIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tpch", "queries")
TPCDS_QUERIES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "shared", "tpcds", "queries")


def tpcds_files(data, qs, root):
    """Writes, per TPC-DS query, a file declaring DATA's tables then the query."""
    ddl = "".join(f"CREATE EXTERNAL TABLE {t} STORED AS PARQUET LOCATION '{os.path.join(data, t)}';\n"
                  for t in sorted(os.listdir(data)) if os.path.isdir(os.path.join(data, t)))
    files = {}
    for q in qs:
        with open(os.path.join(TPCDS_QUERIES, f"q{q:02d}.sql")) as f:
            text = f.read()
        files[q] = os.path.join(root, f"q{q:02d}.sql")
        with open(files[q], "w") as f:
            f.write(ddl + text)
    return files


def parse(side):
    cmd, _, flags = side.partition("|")
    words = cmd.split()
    env = dict(os.environ)
    for w in words[:-1]:
        k, _, v = w.partition("=")
        env[k] = v
    return words[-1], flags.split(), env


def start(port, binary, flags, env, root):
    procs = [subprocess.Popen([binary, "scheduler", "--port", str(port), "--admin-port", "-1", "--flight-sql-port", "-1"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)]
    time.sleep(0.5)
    for i in (1, 2):
        d = os.path.join(root, f"{port}-{i}")
        os.makedirs(d)
        procs.append(subprocess.Popen([binary, "executor", "--bind-host", "127.0.0.1", "--external-host", "127.0.0.1",
                                       "--port", "0", "--grpc-port", "0", "--scheduler-host", "127.0.0.1",
                                       "--scheduler-port", str(port), "--work-dir", d, "--concurrent-tasks", "1",
                                       "--admin-port", "-1"] + flags,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env))
    time.sleep(1.5)
    return procs


def main():
    sides = [parse(a) for a in sys.argv[1:3]]
    reps = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    tpcds = os.environ.get("SUITE") == "tpcds"
    qs = [int(q) for q in sys.argv[4].split(",")] if len(sys.argv) > 4 else list(range(1, 100 if tpcds else 23))
    data = os.environ.get("DATA", "/tmp/kapot-tpch-sf1")
    root = tempfile.mkdtemp(prefix="kapot-ab-")
    files = tpcds_files(data, qs, root) if tpcds else {q: os.path.join(QUERIES, f"q{q}.sql") for q in qs}
    ports = [50150, 50250]
    clusters = [start(ports[k], b, f, e, root) for k, (b, f, e) in enumerate(sides)]

    def run(k, q):
        s = time.time()
        args = [] if tpcds else ["--tpch", data]
        subprocess.run([sides[k][0], "sql", "--scheduler", f"127.0.0.1:{ports[k]}", *args, "-f", files[q]],
                       stdout=subprocess.DEVNULL, check=True)
        return time.time() - s

    try:
        for q in qs:
            run(0, q)
            run(1, q)
        times = [{}, {}]
        for r in range(reps):
            for q in qs:
                for k in ((0, 1) if r % 2 == 0 else (1, 0)):
                    times[k].setdefault(q, []).append(run(k, q))
        ta = tb = 0.0
        for q in qs:
            a, b = statistics.median(times[0][q]), statistics.median(times[1][q])
            ta, tb = ta + a, tb + b
            print(f"Q{q:<3} A {a * 1000:7.0f} ms  B {b * 1000:7.0f} ms  B/A {b / a:5.2f}")
        print(f"total A {ta * 1000:.0f} ms  B {tb * 1000:.0f} ms  B/A {tb / ta:.3f}")
    finally:
        for c in clusters:
            for p in c:
                p.terminate()
            for p in c:
                p.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
