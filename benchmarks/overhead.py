"""Measure tpython's overhead: plain ``python``, the floor, and ``tpython run`` per profile.

Configurations, measured in one run, interleaved (plain, floor, default, strict, plain,
floor, ...: a change in the machine's load hits all four alike):

* ``plain``: the interpreter alone;
* ``floor``: the interpreter with a no-op C audit hook (``floor/noop_hook.c``, built
  here with gcc for the measured interpreter): the least any audit hook costs, since
  CPython then builds every event's arguments;
* ``default`` and ``strict``: ``tpython run --policy P``.

One run prints a table of medians and ratios (to plain, and to the floor), and for each
loop the acceptance line (its ratio to the floor against 1.05x under ``default`` and
1.10x under ``strict``), for:

* start-up: whole processes (interpreter start, tpython's launcher, imports), timed by
  ``pyperf command``;
* in-process loops (deepcopy, file I/O, logging, json, imports): each process times its own loop with
  ``time.perf_counter()`` (and ``time.process_time()``, shown as a second table: CPU
  time is less disturbed by other load on the machine), so start-up is excluded.

The in-process loops do not use pyperf's ``Runner``: its workers are started as
``PYTHON SCRIPT --worker ...`` with one executable and no way to put ``tpython run
--policy P --log ...`` in front, and the worker would run pyperf's own code
(calibration, metadata collection) under the audit hook too. They are timed with
``subprocess`` instead: one process per value, configurations interleaved, median
of several runs after an untimed warm-up.

Every tpython process is checked: the workload exits with an error unless
``'tpython' in sys.modules`` matches what the caller expects, and each run's JSONL
log must hold exactly the expected ``tpython.start`` records, for the expected
policy, with status 0 and no denials. Anything else stops the benchmark.

Usage: ``python benchmarks/overhead.py [--quick] [--python PATH] [--tpython PATH]
[--json OUT]``. Needs pyperf (``pip install -e '.[bench]'``).
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

HERE = Path(__file__).resolve().parent
WORKLOADS_PY = HERE / "workloads.py"
POLICIES = ("default", "strict")
TPYTHON_CONFIGS = POLICIES
CONFIGS = ("plain", "floor", *TPYTHON_CONFIGS)
# Acceptance: each loop's median at most this many times the floor's.
TARGETS = {"default": 1.05, "strict": 1.10}
MIN_RUNS = 5  # medians of at least this many processes (full mode)
FLOOR_SOURCE = HERE / "floor" / "noop_hook.c"
FLOOR_RUNNER = HERE / "floor" / "run_with_floor.py"


class BenchError(Exception):
    """A set-up or run failure: the benchmark stops rather than report wrong numbers."""


@dataclass(frozen=True)
class Workload:
    """One row of the table."""

    name: str  # argument of workloads.py
    label: str
    startup: bool  # timed as whole processes by pyperf, else by the loop itself
    iterations: int
    quick_iterations: int
    what: str


WORKLOADS = (
    Workload("startup", "startup (imports)", True, 1, 1,
             "whole process: start-up + importing json, email.message, email.parser, http.client, "
             "decimal, logging, argparse, sqlite3, xml.etree.ElementTree, unittest"),
    Workload("startup-bare", "startup (bare)", True, 1, 1,
             "whole process: start-up of an empty script"),
    Workload("deepcopy", "deepcopy loop", False, 1000, 100,
             "copy.deepcopy of a nested dict/list structure (80 dicts, 93 lists)"),
    Workload("file-io", "file I/O loop", False, 3000, 300,
             "open+write+close, open+read+close of a 184-byte file in a temp dir"),
    Workload("logging", "logging loop", False, 50000, 5000,
             "logger.info with %-formatting through a logging.FileHandler"),
    Workload("json", "json loop", False, 2000, 200,
             "json.loads(json.dumps(doc)) of the same nested document (40 nodes, ~4 KB of JSON)"),
    Workload("imports", "imports loop", False, 1000, 100,
             "import of a fresh 25-line module (source in a temp dir, no .pyc written), "
             "each once; the count is modules"),
)


@dataclass(frozen=True)
class Settings:
    """How much to repeat: full or --quick."""

    runs: int  # timed processes per configuration, in-process workloads
    warmups: int  # untimed processes per configuration before those
    pyperf_rounds: int  # startup: pyperf command runs per configuration, interleaved
    pyperf_processes: int  # processes per pyperf command run
    pyperf_values: int
    pyperf_warmups: int


FULL = Settings(runs=7, warmups=1, pyperf_rounds=5, pyperf_processes=4, pyperf_values=3,
                pyperf_warmups=1)
QUICK = Settings(runs=2, warmups=1, pyperf_rounds=1, pyperf_processes=3, pyperf_values=2,
                 pyperf_warmups=1)


@dataclass
class Result:
    """Timings of one workload in one configuration, in seconds."""

    values: list[float]  # wall clock: pyperf command, or perf_counter in the process
    cpu_values: list[float] = field(default_factory=list)  # process_time, in-process only
    events: Optional[dict[str, Any]] = None  # tpython.exit counts of one run
    logged: Optional[dict[str, int]] = None  # records per event name in that run's log
    stdev: Optional[float] = None

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def cpu_median(self) -> Optional[float]:
        return statistics.median(self.cpu_values) if self.cpu_values else None


@dataclass
class Bench:
    """Everything one benchmark run needs."""

    python: str
    tpython: str
    settings: Settings
    quick: bool
    workdir: Path
    env: dict[str, str]
    floor_dir: Path
    seen: dict[str, dict[str, Any]] = field(default_factory=dict)  # config -> interpreter facts
    runs_done: int = 0

    def command(self, config: str, workload: str, iterations: int, log: Path) -> list[str]:
        """argv running one workload process in one configuration."""
        tail = [str(WORKLOADS_PY), workload, str(iterations)]
        if config == "plain":
            return [self.python, *tail, "plain"]
        if config == "floor":
            return [self.python, str(FLOOR_RUNNER), str(self.floor_dir), *tail, "plain"]
        return [self.tpython, "run", "--policy", config, "--log", f"jsonl:{log}", "--quiet",
                *tail, "tpython"]

    def log_path(self, config: str, workload: str) -> Path:
        self.runs_done += 1
        return self.workdir / f"{workload}-{config}-{self.runs_done}.jsonl"

    def run_once(self, config: str, workload: Workload) -> Result:
        """Run one process, check it, return its own loop figure."""
        iterations = workload.quick_iterations if self.quick else workload.iterations
        log = self.log_path(config, workload.name)
        argv = self.command(config, workload.name, iterations, log)
        proc = subprocess.run(argv, cwd=self.workdir, env=self.env, capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise BenchError(f"exit status {proc.returncode} from: {_shell(argv)}\n"
                             f"stdout: {proc.stdout.strip()}\nstderr: {proc.stderr.strip()}")
        try:
            report = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise BenchError(f"no JSON report from: {_shell(argv)}\nstdout: {proc.stdout!r}\n"
                             f"stderr: {proc.stderr.strip()}") from None
        self.check_interpreter(config, report, argv)
        events = logged = None
        if config in TPYTHON_CONFIGS:
            exits, logged = check_log(log, config, expected_runs=1)
            events = exits[0]
            log.unlink()
        return Result([float(report["seconds"])], [float(report["cpu_seconds"])], events=events,
                      logged=logged)

    def check_interpreter(self, config: str, report: dict[str, Any], argv: list[str]) -> None:
        """Same interpreter in every configuration, and tpython exactly when expected."""
        if bool(report.get("tpython")) != (config in TPYTHON_CONFIGS):
            raise BenchError(f"'tpython' in sys.modules is {report.get('tpython')} in: "
                             f"{_shell(argv)}")
        facts = {key: report[key] for key in ("executable", "prefix", "version")}
        self.seen.setdefault(config, facts)
        for other, other_facts in self.seen.items():
            if other_facts != facts:
                raise BenchError(f"{config} and {other} ran different interpreters: "
                                 f"{facts} vs {other_facts}")

    def in_process(self, workload: Workload) -> dict[str, Result]:
        """Interleaved runs of every configuration; warm-ups first, untimed."""
        results = {config: Result([]) for config in CONFIGS}
        for _ in range(self.settings.warmups):
            for config in CONFIGS:
                one = self.run_once(config, workload)
                results[config].events, results[config].logged = one.events, one.logged
        for run in range(self.settings.runs):
            for config in CONFIGS:
                one = self.run_once(config, workload)
                results[config].values.extend(one.values)
                results[config].cpu_values.extend(one.cpu_values)
            progress(f"  {workload.label}: run {run + 1}/{self.settings.runs}: " + ", ".join(
                f"{config} {results[config].values[-1] * 1e3:.1f} ms" for config in CONFIGS))
        return results

    def startup(self, workload: Workload) -> dict[str, Result]:
        """Whole-process times from ``pyperf command``, after one checked warm-up run.

        pyperf's processes are split into rounds, configurations interleaved, so that a
        change in the machine's load does not land on one configuration only.
        """
        import pyperf

        s = self.settings
        first = {config: self.run_once(config, workload) for config in CONFIGS}
        out = {config: self.workdir / f"{workload.name}-{config}.pyperf.json"
               for config in CONFIGS}
        for round_ in range(s.pyperf_rounds):
            for config in CONFIGS:
                log = self.log_path(config, workload.name)
                argv = [sys.executable, "-m", "pyperf", "command", "--quiet",
                        "--processes", str(s.pyperf_processes),
                        "--values", str(s.pyperf_values), "--warmups", str(s.pyperf_warmups),
                        "--loops", "1", "--append", str(out[config]),
                        "--", *self.command(config, workload.name, 1, log)]
                proc = subprocess.run(argv, cwd=self.workdir, env=self.env,
                                      capture_output=True, text=True, check=False)
                if proc.returncode != 0:
                    raise BenchError(f"exit status {proc.returncode} from: {_shell(argv)}\n"
                                     f"{proc.stdout.strip()}\n{proc.stderr.strip()}\n"
                                     "(pyperf hides the command's own output: run it by hand)")
                if config in TPYTHON_CONFIGS:
                    processes = s.pyperf_processes * (s.pyperf_warmups + s.pyperf_values)
                    check_log(log, config, expected_runs=processes)
                    log.unlink()
            progress(f"  {workload.label}: round {round_ + 1}/{s.pyperf_rounds} done")
        results: dict[str, Result] = {}
        for config in CONFIGS:
            bench = pyperf.Benchmark.load(str(out[config]))
            results[config] = Result(list(bench.get_values()), events=first[config].events,
                                     logged=first[config].logged, stdev=bench.stdev())
            progress(f"  {workload.label}: {config}: pyperf {bench.get_nvalue()} values, "
                     f"median {bench.median() * 1e3:.1f} ms, mean {bench.mean() * 1e3:.1f} "
                     f"+- {bench.stdev() * 1e3:.1f} ms")
        return results


def check_log(path: Path, policy: str,
              expected_runs: int) -> tuple[list[dict[str, Any]], dict[str, int]]:
    """Validate a JSONL log of `expected_runs` processes run under POLICY; return their
    tpython.exit args and the number of records per event name."""
    starts = 0
    exits: list[dict[str, Any]] = []
    logged: dict[str, int] = {}
    if not path.is_file():
        raise BenchError(f"{path}: no tpython log: the process did not run under tpython")
    with path.open("rb") as log:
        for number, line in enumerate(log, 1):
            try:
                record = json.loads(line)
            except ValueError:
                raise BenchError(f"{path}:{number}: not JSON: {line[:200]!r}") from None
            event = record.get("event")
            logged[event] = logged.get(event, 0) + 1
            if record.get("action") == "deny":
                raise BenchError(f"{path}:{number}: policy {policy!r} denied {event}: "
                                 f"{line[:400]!r}")
            if event == "tpython.start":
                starts += 1
                name = record["args"]["policy"]["name"]
                if name != policy:
                    raise BenchError(f"{path}:{number}: ran under policy {name!r}, "
                                     f"expected {policy!r}")
            elif event == "tpython.exit":
                exits.append(record["args"])
                if record["args"].get("status") != 0:
                    raise BenchError(f"{path}:{number}: exit status {record['args']}")
    if starts != expected_runs or len(exits) != expected_runs:
        raise BenchError(f"{path}: {starts} tpython.start and {len(exits)} tpython.exit "
                         f"records, expected {expected_runs} of each")
    return exits, logged


def build_floor(python: str, out: Path, env: dict[str, str]) -> Path:
    """Compile floor/noop_hook.c for PYTHON with gcc; returns the directory holding it."""
    out.mkdir(parents=True)
    query = "import sysconfig; print(sysconfig.get_paths()['include']); print(sysconfig.get_config_var('EXT_SUFFIX'))"
    include, suffix = subprocess.run([python, "-c", query], env=env, capture_output=True, text=True,
                                     check=True).stdout.split()
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        raise BenchError("the floor needs a C compiler (gcc) to build floor/noop_hook.c")
    argv = [gcc, "-O2", "-shared", "-fPIC", f"-I{include}", str(FLOOR_SOURCE), "-o", str(out / f"_noophook{suffix}")]
    proc = subprocess.run(argv, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"cannot build the floor hook: {_shell(argv)}\n{proc.stderr.strip()}")
    return out


def _loadavg(load: tuple[float, float, float]) -> str:
    return " ".join(f"{value:.2f}" for value in load)


def progress(message: str) -> None:
    """A line on stderr, so stdout carries only the report."""
    print(message, file=sys.stderr, flush=True)


def _shell(argv: list[str]) -> str:
    import shlex

    return " ".join(shlex.quote(arg) for arg in argv)


def clean_env() -> dict[str, str]:
    """The environment without PYTHON* variables.

    `tpython run` starts its interpreter with -I, which ignores them; removing them
    here gives plain python the same start (e.g. PYTHONDONTWRITEBYTECODE, PYTHONPATH).
    """
    return {key: value for key, value in os.environ.items()
            if not key.startswith("PYTHON") and key != "TPYTHON_LAUNCH"}


def machine() -> dict[str, Any]:
    """Where the numbers come from."""
    cpu = ""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            cpu = next((line.split(":", 1)[1].strip() for line in info
                        if line.startswith("model name")), "")
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"platform": platform.platform(), "machine": platform.machine(), "cpu": cpu,
            "nproc": nproc}


def interpreter_version(python: str, env: dict[str, str]) -> str:
    """`sys.version` of the benchmarked interpreter, one line."""
    out = subprocess.run([python, "-c", "import sys; print(sys.version)"], env=env,
                         capture_output=True, text=True, check=True).stdout
    return " ".join(out.split())


def tpython_version(tpython: str, env: dict[str, str]) -> str:
    """What `tpython --version` prints, or '?' if it does not."""
    proc = subprocess.run([tpython, "--version"], env=env, capture_output=True, text=True,
                          check=False)
    return (proc.stdout or proc.stderr).strip() if proc.returncode == 0 else "?"


def format_table(results: dict[str, dict[str, Result]], cpu: bool = False) -> str:
    """Medians, with each configuration's ratio to plain."""
    rows = [["workload" if not cpu else "CPU time", *CONFIGS]]
    for workload in WORKLOADS:
        if workload.name not in results or (cpu and workload.startup):
            continue
        medians = _medians(results[workload.name], cpu)
        plain = medians["plain"]
        row = [workload.label, f"{plain * 1e3:.1f} ms"]
        row += [f"{medians[config] * 1e3:.1f} ms {medians[config] / plain:.2f}x" for config in CONFIGS[1:]]
        rows.append(row)
    return _columns(rows)


def format_floor_table(results: dict[str, dict[str, Result]]) -> str:
    """Each tpython configuration's time divided by the floor's, and the geometric mean."""
    rows = [["vs floor", *TPYTHON_CONFIGS]]
    ratios: dict[str, list[float]] = {config: [] for config in TPYTHON_CONFIGS}
    for workload in WORKLOADS:
        if workload.name not in results:
            continue
        medians = _medians(results[workload.name], False)
        row = [workload.label]
        for config in TPYTHON_CONFIGS:
            ratio = medians[config] / medians["floor"]
            ratios[config].append(ratio)
            row.append(f"{ratio:.2f}x")
        rows.append(row)
    rows.append(["geometric mean", *(f"{statistics.geometric_mean(ratios[c]):.2f}x" for c in TPYTHON_CONFIGS)])
    return _columns(rows)


def format_acceptance(results: dict[str, dict[str, Result]], quick: bool) -> str:
    """Per loop: its median over the floor's, against the target of each profile."""
    targets = ", ".join(f"{policy} <= {target:.2f}x" for policy, target in TARGETS.items())
    head = (f"acceptance (loops: median / floor's median, wall time; CPU time in brackets; "
            f"targets: {targets}; rounds whose own ratio is over the target)")
    if quick:
        head += " -- --quick: not a verdict"
    rows = [["loop", *TPYTHON_CONFIGS]]
    for workload in WORKLOADS:
        if workload.startup or workload.name not in results:
            continue
        by_config = results[workload.name]
        wall, cpu = _medians(by_config, False), _medians(by_config, True)
        row = [workload.label]
        for config in TPYTHON_CONFIGS:
            ratio = wall[config] / wall["floor"]
            verdict = "PASS" if ratio <= TARGETS[config] else f"FAIL (+{ratio - TARGETS[config]:.2f})"
            rounds = [mine / floor for mine, floor in
                      zip(by_config[config].values, by_config["floor"].values)]
            over = sum(ratio > TARGETS[config] for ratio in rounds)
            row.append(f"{ratio:.3f}x ({cpu[config] / cpu['floor']:.3f}x) {verdict}, "
                       f"{over}/{len(rounds)} over")
        rows.append(row)
    return head + "\n" + _columns(rows)


def _medians(by_config: dict[str, Result], cpu: bool) -> dict[str, float]:
    return {config: (result.cpu_median if cpu else result.median) or 0.0 for config, result in by_config.items()}


def _columns(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) + 2 for i in range(len(rows[0]))]
    return "\n".join("".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip()
                     for row in rows)


def format_events(results: dict[str, dict[str, Result]]) -> str:
    """Audit events per process (start-up and set-up included), from one run's
    tpython.exit record and log."""
    lines = ["audit events per process, start-up and set-up included (default policy; "
             "strict is the same unless noted):"]
    for workload in WORKLOADS:
        by_config = results.get(workload.name)
        if not by_config:
            continue
        texts = {policy: _event_text(by_config[policy]) for policy in POLICIES}
        text = texts["default"]
        if texts["strict"] != text:
            text += f"\n  {'':<19} strict: {texts['strict']}"
        lines.append(f"  {workload.label:<19} {text}")
    return "\n".join(lines)


def _event_text(result: Result) -> str:
    if not result.events:
        return "?"
    actions = ", ".join(f"{n} {action}ged" if action == "log" else f"{n} {action}"
                        for action, n in sorted(result.events.get("actions", {}).items()))
    logged = ", ".join(f"{n} {event}" for event, n in _most(result.logged or {}, 5))
    counted = ", ".join(f"{n} {event}" for event, n in _most(result.events.get("counted", {}), 3))
    return f"{actions} ({logged}); counted: {counted or 'none'}"


def _most(counts: dict[str, int], top: int) -> list[tuple[str, int]]:
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:top]


def parse_args(argv: Optional[list[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Measure tpython's overhead over plain python.")
    parser.add_argument("--quick", action="store_true",
                        help="few repetitions and short loops: a smoke test, not figures")
    parser.add_argument("--python", default=sys.executable,
                        help="plain interpreter (default: the one running this script)")
    parser.add_argument("--tpython", default=None,
                        help="tpython command (default: tpython next to sys.executable)")
    parser.add_argument("--json", metavar="OUT", help="write the raw numbers to OUT")
    return parser.parse_args(argv)


def main(argv: Optional[list[str]] = None) -> int:
    """Run every workload in every configuration; print the table."""
    args = parse_args(argv)
    tpython = args.tpython or os.path.join(os.path.dirname(sys.executable), "tpython")
    python = shutil.which(args.python) or args.python
    tpython = shutil.which(tpython) or tpython
    for what, path in (("--python", python), ("--tpython", tpython)):
        if not os.access(path, os.X_OK):
            raise BenchError(f"{what} {path}: not an executable")
    if importlib.util.find_spec("pyperf") is None:
        raise BenchError(f"pyperf is not installed for {sys.executable}: "
                         "pip install -e '.[bench]'")
    settings = QUICK if args.quick else FULL
    if not args.quick and settings.runs < MIN_RUNS:
        raise BenchError(f"full mode needs medians of at least {MIN_RUNS} runs")
    env = clean_env()
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()
    results: dict[str, dict[str, Result]] = {}
    with tempfile.TemporaryDirectory(prefix="tpython-overhead-") as tmp:
        floor_dir = build_floor(python, Path(tmp) / "floor", env)
        bench = Bench(python, tpython, settings, args.quick, Path(tmp), env, floor_dir)
        for workload in WORKLOADS:
            progress(f"{workload.label} ...")
            run = bench.startup if workload.startup else bench.in_process
            results[workload.name] = run(workload)
    finished = datetime.datetime.now(datetime.timezone.utc)
    meta = {
        "date": started.isoformat(timespec="seconds"),
        "duration_s": round((finished - started).total_seconds(), 1),
        "python": python,
        "python_version": interpreter_version(python, env),
        "tpython": tpython,
        "tpython_version": tpython_version(tpython, env),
        "pyperf_version": importlib.import_module("pyperf").__version__,
        "quick": args.quick,
        "settings": settings.__dict__,
        "loadavg_before": load_before,
        "loadavg_after": os.getloadavg(),
        **machine(),
    }
    print(f"tpython overhead{' (--quick: smoke test, not figures)' if args.quick else ''}")
    print(f"date:    {meta['date']} (took {meta['duration_s']} s)")
    print(f"python:  {meta['python_version']} ({python})")
    print(f"tpython: {meta['tpython_version']} ({tpython})")
    print(f"machine: {meta['platform']}, {meta['cpu'] or meta['machine']}, "
          f"{meta['nproc']} CPUs")
    print(f"load:    {_loadavg(meta['loadavg_before'])} before, "
          f"{_loadavg(meta['loadavg_after'])} after (1/5/15-minute load averages)")
    print()
    print(format_table(results))
    print()
    print(format_table(results, cpu=True))
    print()
    print(format_floor_table(results))
    print()
    print(format_acceptance(results, args.quick))
    print()
    print(f"startup rows: pyperf command, median of "
          f"{settings.pyperf_rounds * settings.pyperf_processes} processes x "
          f"{settings.pyperf_values} values (after {settings.pyperf_warmups} warm-up each, "
          f"in {settings.pyperf_rounds} interleaved rounds); "
          "ratio = configuration / plain; vs floor: configuration / floor")
    print(f"loop rows: time of the loop alone (perf_counter; CPU time: process_time), "
          f"median of {settings.runs} processes per configuration after {settings.warmups} "
          "warm-up")
    for workload in WORKLOADS:
        iterations = workload.quick_iterations if args.quick else workload.iterations
        count = "" if workload.startup else f"{iterations} x "
        print(f"  {workload.label:<19} {count}{workload.what}")
    print()
    print(format_events(results))
    if args.json:
        raw = {
            "meta": meta,
            "workloads": {
                workload.name: {
                    "label": workload.label,
                    "what": workload.what,
                    "iterations": None if workload.startup else (
                        workload.quick_iterations if args.quick else workload.iterations),
                    "timer": "pyperf command" if workload.startup else "perf_counter in-process",
                    "configs": {
                        config: {
                            "values_s": result.values,
                            "median_s": result.median,
                            "cpu_values_s": result.cpu_values or None,
                            "cpu_median_s": result.cpu_median,
                            "pyperf_stdev_s": result.stdev,
                            "ratio_to_plain": result.median / results[workload.name][
                                "plain"].median,
                            "ratio_to_floor": result.median / results[workload.name][
                                "floor"].median,
                            "target": None if workload.startup else TARGETS.get(config),
                            "events": result.events,
                            "logged": result.logged,
                        }
                        for config, result in results[workload.name].items()
                    },
                }
                for workload in WORKLOADS
            },
        }
        Path(args.json).write_text(json.dumps(raw, indent=2) + "\n", encoding="utf-8")
        print(f"\nraw numbers: {args.json}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BenchError as exc:
        sys.stderr.write(f"overhead.py: error: {exc}\n")
        sys.exit(1)
