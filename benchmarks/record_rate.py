"""JSONL records per second: how fast tpython writes logged events.

A process under ``tpython run`` raises N events that its policy logs (a custom
``sys.audit("bench.record", i, "text")``, one plain-type record each) and
times its own loop; records/s = N / loop time. The process is pinned to one
core (``os.sched_setaffinity``), the log is a JSONL file in a fresh temp
directory, and afterwards every record is checked: N ``bench.record``
records, and ``tpython log verify`` accepts the chain.

Usage: ``python benchmarks/record_rate.py [--records N] [--runs R] [--tpython PATH]``.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

POLICY = """
version = 1
extends = "default"
[[rules]]
id = "bench-log"
events = ["bench.record"]
action = "log"
"""

WORKLOAD = """
import os, sys, time
os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
n = int(sys.argv[1])
audit = sys.audit
start = time.perf_counter()
for i in range(n):
    audit("bench.record", i, "text")
print(time.perf_counter() - start)
"""


def run_once(tpython: str, records: int, workdir: Path) -> float:
    """Seconds for RECORDS logged events; checks the log."""
    log = workdir / "records.jsonl"
    if log.exists():
        log.unlink()
    argv = [tpython, "run", "--quiet", "--policy", str(workdir / "policy.toml"),
            "--log", f"jsonl:{log}", str(workdir / "workload.py"), str(records)]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"record_rate.py: {' '.join(argv)} failed: {proc.stderr.strip()}")
    seconds = float(proc.stdout.strip().splitlines()[-1])
    with log.open("rb") as f:
        events = [json.loads(line)["event"] for line in f]
    if events.count("bench.record") != records:
        raise SystemExit(f"record_rate.py: {events.count('bench.record')} bench.record records, expected {records}")
    verify = subprocess.run([tpython, "log", "verify", str(log)], capture_output=True, text=True, check=False)
    if verify.returncode != 0:
        raise SystemExit(f"record_rate.py: log verify failed: {verify.stdout}{verify.stderr}")
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--tpython", default=os.path.join(os.path.dirname(sys.executable), "tpython"))
    args = parser.parse_args()
    tpython = shutil.which(args.tpython) or args.tpython
    with tempfile.TemporaryDirectory(prefix="tpython-rate-") as tmp:
        workdir = Path(tmp)
        (workdir / "policy.toml").write_text(POLICY)
        (workdir / "workload.py").write_text(WORKLOAD)
        print(f"JSONL records/s, {args.records} records per process, median of {args.runs} processes, "
              "one core each")
        times = [run_once(tpython, args.records, workdir) for _ in range(args.runs)]
        median = statistics.median(times)
        print(f"  {args.records / median:>10,.0f} records/s  "
              f"({median * 1e6 / args.records:.2f} us per record; runs: "
              + ", ".join(f"{t:.3f}" for t in times) + " s)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
