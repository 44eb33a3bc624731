"""Start-up cost of code integrity: an import-heavy program under `require = true`.

Prints, from one run, the median wall time of the same import-heavy script
(json, email, http.client, decimal, logging, argparse, sqlite3,
xml.etree.ElementTree, unittest, asyncio) as plain `python`, under
`tpython run` with the `default` profile (the open_code hook checks files,
no trust source), and under a policy with a signed manifest and
`require = true` (every file hashed and looked up), plus the ratios.

    python benchmarks/integrity.py [--runs N] [--tpython PATH]

Each configuration runs N times (default 15), interleaved, after one
warm-up; whole-process wall time (subprocess + perf_counter), because what
integrity adds is read-and-hash work during imports.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

IMPORTS = ("json", "email.message", "email.parser", "http.client", "decimal", "logging", "argparse",
           "sqlite3", "xml.etree.ElementTree", "unittest", "asyncio")


def _time(cmd: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0 or "imported" not in proc.stdout:
        sys.exit(f"benchmark run failed: {' '.join(cmd)}\n{proc.stdout}\n{proc.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--tpython", default=os.path.join(os.path.dirname(sys.executable), "tpython"))
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        script = work / "imports.py"
        script.write_text("import " + ", ".join(IMPORTS) + "\nprint('imported')\n")
        paths = sorted({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"],
                        sysconfig.get_paths()["purelib"], str(work),
                        os.path.dirname(os.path.dirname(__import__("tpython").__file__))})
        subprocess.run([sys.executable, str(script)], cwd=work, env=env, check=True, capture_output=True)
        subprocess.run([args.tpython, "trust", "keygen", "--out", str(work / "k")], check=True, env=env,
                       capture_output=True)
        t0 = time.perf_counter()
        subprocess.run([args.tpython, "trust", "manifest", *paths, "--out", str(work / "m.json"),
                        "--sign", str(work / "k.key")], check=True, env=env, capture_output=True)
        manifest_s = time.perf_counter() - t0
        entries = (work / "m.json").read_text().count('": "')
        (work / "require.toml").write_text(
            f'version = 1\nextends = "default"\n[integrity]\nmanifest = "{work / "m.json"}"\n'
            f'pubkey = "{work / "k.pub"}"\nrequire = true\n')
        log = ["--quiet", "--log", f"jsonl:{work / 'audit.jsonl'}"]
        configs = {
            "plain python": [sys.executable, str(script)],
            "tpython default": [args.tpython, "run", *log, str(script)],
            "tpython require=true": [args.tpython, "run", "--policy", str(work / "require.toml"), *log, str(script)],
        }
        times: dict[str, list[float]] = {name: [] for name in configs}
        for cmd in configs.values():  # warm-up
            _time(cmd, work, env)
        for _ in range(args.runs):
            for name, cmd in configs.items():
                times[name].append(_time(cmd, work, env))
    medians = {name: statistics.median(values) for name, values in times.items()}
    base, default = medians["plain python"], medians["tpython default"]
    print("tpython integrity start-up")
    print(f"python:   {platform.python_version()} ({sys.executable}); machine: {platform.platform()}, "
          f"nproc={os.cpu_count()}")
    print(f"manifest: {entries} files hashed and signed in {manifest_s:.1f} s")
    print(f"workload: python -c 'import {', '.join(IMPORTS)}' as a script; median of {args.runs} runs\n")
    print(f"{'configuration':24} {'median':>9} {'vs plain':>9} {'vs default':>11}")
    for name, value in medians.items():
        print(f"{name:24} {value * 1000:7.1f} ms {value / base:8.2f}x {value / default:10.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
