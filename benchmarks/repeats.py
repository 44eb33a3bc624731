"""Repeated events: the log and the time of programs that raise the same event over and over.

Two workloads, each as ``plain`` python, the ``floor`` (python with the no-op C audit
hook, ``floor/``) and ``tpython run`` with the ``default`` profile (``--tpython``; and,
with ``--compare NAME=TPYTHON``, other tpython commands to compare with, such as an
older checkout's):

* ``genshi``: the templates of pyperformance's ``bm_genshi`` (an XML and a text
  template of a 1000-row table), each rendered LOOPS times. Genshi evaluates every
  template expression with ``exec`` of a compiled code object: about 22,000 ``exec``
  events per loop, all from the same two places with the same arguments.
* ``unpickle``: ``pickle.loads`` (the C unpickler) of 100 messages, LOOPS times; each
  message has 8 globals (``datetime``, ``decimal.Decimal``, ``uuid.UUID``, ...: one
  ``pickle.find_class`` event each per load) and ROWS rows of plain data.

Each process times its own loop (``perf_counter`` and ``process_time``), so start-up is
left out; the log's size is taken before the loop and at the end (``os.stat``, which
raises no audit event), so "log/s" is the log written from the loop's start to the
run's end (the final ``tpython.repeats`` and ``tpython.exit`` included) per second of
the loop. Configurations are interleaved, one untimed warm-up round, then RUNS rounds;
the table shows medians, and each ratio to the floor is the median of the rounds' ratios
(a round runs the configurations one after the other, so a change in the machine's load
lands on both sides of a ratio). This process and every process it starts are pinned to one
core (``--cpu``). Every tpython log is checked: ``tpython log verify`` passes, one run,
status 0, no denial.

Usage: ``python benchmarks/repeats.py [--runs N] [--cpu N] [--tpython PATH]
[--compare NAME=PATH]... [--genshi-loops N] [--unpickle-loops N] [--rows N]``. Needs genshi
(``pip install genshi``) and gcc (for the floor).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from overhead import FLOOR_RUNNER, BenchError, _shell, build_floor, clean_env, progress

WORKLOAD = r'''
import os, sys, time

def genshi(loops):
    from genshi.template import MarkupTemplate, NewTextTemplate
    xml = """\
<table xmlns:py="http://genshi.edgewall.org/">
<tr py:for="row in table">
<td py:for="c in row.values()" py:content="c"/>
</tr>
</table>
"""
    text = """\
<table>
{% for row in table %}<tr>
{% for c in row.values() %}<td>$c</td>{% end %}
</tr>{% end %}
</table>
"""
    table = [dict(a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8, i=9, j=10) for _ in range(1000)]
    templates = [MarkupTemplate(xml), NewTextTemplate(text)]

    def run():
        for tmpl in templates:
            for _ in range(loops):
                tmpl.generate(table=table).render()
    return run

def unpickle(loops, rows):
    import collections, datetime, decimal, fractions, ipaddress, pickle, uuid

    def message(i):
        return {"id": uuid.UUID(int=i), "when": datetime.datetime(2020, 1, 2, 3, 4, 5),
                "day": datetime.date(2020, 1, 2), "price": decimal.Decimal("1.50"),
                "ratio": fractions.Fraction(1, 3), "addr": ipaddress.IPv4Address("10.0.0.1"),
                "headers": collections.OrderedDict((f"h{k}", f"value {k}") for k in range(10)),
                "tags": collections.Counter("abcabc"),
                "rows": [{"name": f"item {k}", "qty": k, "price": k * 1.5, "ok": k % 2 == 0} for k in range(rows)]}
    blobs = [pickle.dumps(message(i), protocol=pickle.HIGHEST_PROTOCOL) for i in range(100)]
    loads = pickle.loads

    def run():
        for _ in range(loops):
            for blob in blobs:
                loads(blob)
    return run

name, loops, rows, log = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
run = genshi(loops) if name == "genshi" else unpickle(loops, rows)
before = os.stat(log).st_size if log != "-" else 0
wall, cpu = time.perf_counter(), time.process_time()
run()
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
print(wall, cpu, before, "tpython" in sys.modules)
'''


@dataclass
class Sample:
    """One process: its loop's wall and CPU seconds; for tpython, what its log holds."""

    wall: float
    cpu: float
    log_bytes: int = 0  # the whole log
    loop_log_bytes: int = 0  # from the loop's start to the end of the run
    records: int = 0
    events: int = 0  # decided `log` (written or counted)
    repeated: int = 0  # counted in tpython.repeats records


@dataclass
class Row:
    """One workload in every configuration."""

    name: str
    what: str
    samples: dict[str, list[Sample]] = field(default_factory=dict)

    def median(self, config: str, attr: str) -> float:
        return float(statistics.median(getattr(s, attr) for s in self.samples[config]))

    def ratio(self, config: str) -> float:
        """Median over the rounds of CONFIG's loop CPU time / the floor's in the same round
        (run one after the other, so they share what else the machine was doing)."""
        return float(statistics.median(s.cpu / f.cpu for s, f in zip(self.samples[config], self.samples["floor"])))


def log_files(log: Path) -> list[Path]:
    """LOG and its rotated files."""
    return sorted(log.parent.glob(log.name + "*"))


def check_log(tpython: str, log: Path, env: dict[str, str]) -> tuple[int, int, int]:
    """Verify LOG (one run, status 0, no denial); returns (records, log decisions, repeats counted)."""
    files = log_files(log)
    verify = subprocess.run([tpython, "log", "verify", *map(str, files)], env=env, capture_output=True,
                            text=True, check=False)
    if verify.returncode != 0:
        raise BenchError(f"tpython log verify {log}: {verify.stdout.strip()} {verify.stderr.strip()}")
    records = repeated = 0
    exits: list[dict[str, Any]] = []
    for path in files:
        with path.open("rb") as f:
            for line in f:
                record = json.loads(line)
                records += 1
                if record["action"] == "deny":
                    raise BenchError(f"{log}: a denial: {line[:300]!r}")
                if record["event"] == "tpython.repeats":
                    repeated += sum(item["count"] for item in record["args"]["repeats"])
                elif record["event"] == "tpython.exit":
                    exits.append(record["args"])
    if len(exits) != 1 or exits[0]["status"] != 0:
        raise BenchError(f"{log}: expected one tpython.exit with status 0, found {exits}")
    return records, int(exits[0]["actions"].get("log", 0)), repeated


def run_once(argv: list[str], workdir: Path, env: dict[str, str], tpython: Optional[str], log: Path) -> Sample:
    proc = subprocess.run(argv, cwd=workdir, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"exit status {proc.returncode} from: {_shell(argv)}\n{proc.stderr.strip()}")
    wall, cpu, before, under = proc.stdout.split()
    if (under == "True") != (tpython is not None):
        raise BenchError(f"'tpython' in sys.modules is {under} in: {_shell(argv)}")
    sample = Sample(float(wall), float(cpu))
    if tpython is not None:
        sample.log_bytes = sum(p.stat().st_size for p in log_files(log))
        sample.loop_log_bytes = sample.log_bytes - int(before)
        sample.records, sample.events, sample.repeated = check_log(tpython, log, env)
        for path in log_files(log):
            path.unlink()
    return sample


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    here = Path(sys.executable).parent
    parser.add_argument("--runs", type=int, default=7, help="timed rounds (default 7)")
    parser.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)), help="the one core to run on")
    parser.add_argument("--tpython", default=str(here / "tpython"), help="the tpython command to measure")
    parser.add_argument("--compare", action="append", default=[], metavar="NAME=PATH",
                        help="another tpython command to measure alongside (e.g. an older checkout's)")
    parser.add_argument("--genshi-loops", type=int, default=16, help="renders of each template (default 16)")
    parser.add_argument("--unpickle-loops", type=int, default=80, help="loads of the 100 messages (default 80)")
    parser.add_argument("--rows", type=int, default=400, help="rows of plain data per message (default 400)")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    args = parse_args(argv)
    os.sched_setaffinity(0, {args.cpu})  # inherited by every process started here
    env = clean_env()
    tpythons = {"tpython": args.tpython}
    for item in args.compare:
        name, sep, path = item.partition("=")
        if not sep or not name or name in ("plain", "floor", "tpython"):
            raise BenchError(f"--compare {item!r}: expected NAME=PATH with a NAME of its own")
        tpythons[name] = path
    configs = ["plain", "floor", *tpythons]
    rows = [Row("genshi", f"{args.genshi_loops} renders of each bm_genshi template"),
            Row("unpickle", f"{args.unpickle_loops} x 100 pickle.loads, 8 globals and {args.rows} rows each")]
    with tempfile.TemporaryDirectory(prefix="tpython-repeats-") as tmp:
        workdir = Path(tmp)
        (workdir / "work.py").write_text(WORKLOAD)
        floor_dir = build_floor(sys.executable, workdir / "floor", env)
        for row in rows:
            loops = args.genshi_loops if row.name == "genshi" else args.unpickle_loops
            row.samples = {config: [] for config in configs}
            for round_ in range(args.runs + 1):  # round 0: warm-up, not kept
                for config in configs:
                    log = workdir / f"{row.name}-{config}.jsonl"
                    tail = [str(workdir / "work.py"), row.name, str(loops), str(args.rows)]
                    if config == "plain":
                        argv_ = [sys.executable, *tail, "-"]
                    elif config == "floor":
                        argv_ = [sys.executable, str(FLOOR_RUNNER), str(floor_dir), *tail, "-"]
                    else:
                        argv_ = [tpythons[config], "run", "--quiet", "--policy", "default", "--log",
                                 f"jsonl:{log}", *tail, str(log)]
                    sample = run_once(argv_, workdir, env, tpythons.get(config), log)
                    if round_:
                        row.samples[config].append(sample)
                progress(f"{row.name}: round {round_}/{args.runs} done")
    print(report(rows, list(tpythons), args))
    return 0


def report(rows: list[Row], tpythons: list[str], args: argparse.Namespace) -> str:
    """The table: loop times and ratios to the floor, then what each tpython's log holds."""
    lines = [f"repeated events, default profile; CPU time of the loop, median of {args.runs} processes per "
             f"configuration, one core (cpu {args.cpu}); ratio: median over the rounds of the configuration's "
             "time / the floor's in the same round"]
    head = f"{'workload':10} {'plain':>9} {'floor':>9} " + " ".join(f"{name:>18}" for name in tpythons)
    lines += ["", head]
    for row in rows:
        floor = row.median("floor", "cpu")
        cells = [f"{row.median('plain', 'cpu'):8.3f}s", f"{floor:8.3f}s"]
        cells += [f"{row.median(t, 'cpu'):8.3f}s {row.ratio(t):5.2f}x" for t in tpythons]
        lines.append(f"{row.name:10} " + " ".join(f"{c:>9}" if i < 2 else f"{c:>18}" for i, c in enumerate(cells)))
    lines += ["", f"{'workload':10} {'tpython':8} {'events':>9} {'records':>9} {'repeats':>9} {'log/run':>10} "
                  f"{'log/s of loop':>14}"]
    for row in rows:
        for t in tpythons:
            rate = statistics.median(s.loop_log_bytes / s.wall for s in row.samples[t])
            lines.append(f"{row.name:10} {t:8} {row.median(t, 'events'):9.0f} {row.median(t, 'records'):9.0f} "
                         f"{row.median(t, 'repeated'):9.0f} {_size(row.median(t, 'log_bytes')):>10} "
                         f"{_size(rate) + '/s':>14}")
    lines += ["", "events: decided `log` in the run (tpython.exit); records: lines in the log; repeats: events "
                  "counted in tpython.repeats records instead of written"]
    lines += [f"  {row.name:10} {row.what}" for row in rows]
    return "\n".join(lines)


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        sys.exit(f"repeats.py: {exc}")
