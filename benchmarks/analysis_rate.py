"""How fast `tpython report`, `learn` and `diff` read logs, and in how much memory.

A workload under ``tpython run`` with strict in audit mode writes a real log (one file: no rotation)
of about N records (default 1,000,000): files written in its working directory
and outside it, directory listings, compiled strings, name lookups and
connects on loopback (which strict would deny), custom events, each with
arguments of its own (so that none is summarised as a repeat). Each analysis
command then reads it in its own process pinned to one core; the table gives
wall time, records/s and peak memory (max RSS), and the same for a log a fifth
the size, so bounded memory shows as equal RSS. The reference row is plain
CPython reading the same file with ``json.loads`` per line, in the same run.

Usage: ``python benchmarks/analysis_rate.py [--records N] [--tpython PATH] [--keep DIR]``.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Every event's arguments differ from every other's: the native engine writes a repeated
# record once and only counts its repeats (tpython.repeats), and this log is to hold
# about N records. The same 50 files, directory and outside file as ever, each named
# differently every time: "/" and "./" spell out i in binary between the directory and
# the name (data/././/./3.txt), which analysis normalises back to data/3.txt; the same
# 100 compiled sources, each under a file name of its own.
WORKLOAD = """
import os, socket, sys
n = int(sys.argv[1])
outside_dir, outside_name = os.path.split(sys.argv[2])
bits = max(1, n.bit_length())
os.makedirs("data", exist_ok=True)
for i in range(n):
    spelled = "".join("./" if i >> bit & 1 else "/" for bit in range(bits))  # unique per i
    with open(f"data/{spelled}{i % 50}.txt", "w") as f:   # open (write), in the working directory
        f.write("x")
    os.listdir(f"data/{spelled}")                         # os.listdir
    compile(f"x = {i % 100}", f"<gen {i}>", "exec")      # compile (dynamic code: 100 sources)
    sys.audit("bench.event", i)                           # a custom event
    if i % 10 == 0:
        open(f"{outside_dir}/{spelled}{outside_name}", "a").close()  # a write outside cwd and tmp
        socket.getaddrinfo("127.0.0.1", 8000 + i % 20)   # denied by strict (audit mode): never summarised
"""
PER_ITERATION = 4.2  # records per loop iteration, roughly
# strict, with the log kept in one file: a million records pass the default rotate_bytes (100 MiB).
POLICY = 'version = 1\nextends = "strict"\n[log]\nrotate_bytes = 0\n'

READ_ONLY = """
import json, sys
n = 0
with open(sys.argv[1], "rb") as f:
    for line in f:
        json.loads(line)
        n += 1
print(n)
"""


def measure(argv: list[str]) -> tuple[float, int, subprocess.CompletedProcess[str]]:
    """Run ARGV pinned to one core; (wall seconds, its peak RSS in KiB, the process)."""
    wrapper = ("import resource, subprocess, sys, os;"
               "core = min(os.sched_getaffinity(0)); os.sched_setaffinity(0, {core});"
               "p = subprocess.run(sys.argv[1:], capture_output=True, text=True);"
               "sys.stdout.write(p.stdout); sys.stderr.write(p.stderr);"
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr);"
               "sys.exit(p.returncode)")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", wrapper, *argv], capture_output=True, text=True, check=False)
    wall = time.perf_counter() - start
    lines = proc.stderr.strip().splitlines()
    rss = int(lines[-1]) if lines and lines[-1].isdigit() else -1
    return wall, rss, subprocess.CompletedProcess(argv, proc.returncode, proc.stdout, "\n".join(lines[:-1]))


def make_log(tpython: str, workdir: Path, records: int, name: str) -> Path:
    """A real log of about RECORDS records, written by tpython."""
    log = workdir / f"{name}.jsonl"
    (workdir / "workload.py").write_text(WORKLOAD)
    (workdir / "policy.toml").write_text(POLICY)
    outside = f"/var/tmp/tpython-analysis-bench-{os.getpid()}.txt"
    argv = [tpython, "run", "--quiet", "--policy", "policy.toml", "--mode", "audit", "--log", f"jsonl:{log}",
            "workload.py", str(int(records / PER_ITERATION)), outside]
    proc = subprocess.run(argv, cwd=workdir, capture_output=True, text=True, check=False)
    if os.path.exists(outside):
        os.unlink(outside)
    if proc.returncode != 0:
        raise SystemExit(f"analysis_rate.py: the workload failed: {proc.stderr.strip()}")
    return log


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--tpython", default=str(Path(sys.executable).with_name("tpython")))
    parser.add_argument("--keep", metavar="DIR", help="write the logs here and keep them")
    opts = parser.parse_args()
    workdir = Path(opts.keep or tempfile.mkdtemp(prefix="tpython-analysis-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        print(f"analysis rate: {opts.tpython}; python {sys.version.split()[0]}; one core each", file=sys.stderr)
        rows = []
        for name, size in (("small", opts.records // 5), ("large", opts.records)):
            print(f"writing the {name} log (~{size} records)...", file=sys.stderr)
            log = make_log(opts.tpython, workdir, size, name)
            lines = sum(1 for _ in log.open("rb"))
            out = workdir / f"{name}.html"
            commands = [
                ("python json.loads per line", [sys.executable, "-c", READ_ONLY, str(log)]),
                ("tpython log verify", [opts.tpython, "log", "verify", str(log)]),
                ("tpython report", [opts.tpython, "report", str(log)]),
                ("tpython report --json --html", [opts.tpython, "report", "--json", "--html", str(out), str(log)]),
                ("tpython learn", [opts.tpython, "learn", str(log), "--out", str(workdir / f"{name}.toml")]),
                ("tpython diff (log against itself)", [opts.tpython, "diff", str(log), str(log)]),
            ]
            base = None
            for label, argv in commands:
                wall, rss, proc = measure(argv)
                if proc.returncode not in (0,):
                    raise SystemExit(f"analysis_rate.py: {' '.join(argv)} exited {proc.returncode}: "
                                     f"{proc.stderr.strip()[:500]}")
                base = base or wall
                reads = 2 if "diff" in label else 1
                rows.append((name, lines, label, wall, lines * reads / wall, rss, wall / base))
                print(f"  {label}: {wall:.1f} s", file=sys.stderr)
        print(f"\n{'log':<6} {'records':>9}  {'command':<36} {'wall':>8} {'records/s':>10} {'max RSS':>9}"
              "  vs json.loads")
        for name, lines, label, wall, rate, rss, ratio in rows:
            print(f"{name:<6} {lines:>9}  {label:<36} {wall:>6.1f} s {rate:>10,.0f} {rss / 1024:>6.0f} MiB"
                  f"  {ratio:>5.2f}x")
        print("\n(diff reads the log twice: records/s counts both reads)")
    finally:
        if not opts.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
