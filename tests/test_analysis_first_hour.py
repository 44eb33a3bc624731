"""Issue 18, items 5, 6, 8 and 12, as a new user meets them: `diff` and `learn`
on programs that use pipes and temp files, analysis of logs that hold no run,
a log with one huge line, and `log show`'s run column, times and --follow."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from conftest import TPYTHON, Runner, assert_one_line_error

# --- item 5: names that change every run --------------------------------------

PIPES = """
import os, subprocess, tempfile
subprocess.run(["uname", "-r"], capture_output=True)
subprocess.run(["cat"], input=b"x", capture_output=True)
with tempfile.NamedTemporaryFile(prefix="job-", suffix=".txt") as f:
    f.write(b"x")
with tempfile.TemporaryDirectory() as d:
    open(os.path.join(d, "a.txt"), "w").close()
os.listdir(f"/proc/{os.getpid()}/fd")
"""


def test_diff_of_two_identical_runs_of_a_program_using_pipes_finds_nothing_new(tp):
    tp.script(PIPES)
    logs = []
    for name in ("one", "two"):
        log = tp.cwd / f"{name}.jsonl"
        r = tp("run", "--log", f"jsonl:{log}", "app.py")
        assert r.rc == 0, r.err
        logs.append(str(log))
    assert "pipe:[" in Path(logs[0]).read_text()  # the runs name their pipes by inode
    same = tp.cli("diff", *logs)
    assert (same.rc, same.out.splitlines()[-1]) == (0, "nothing new"), same.out


def test_a_policy_learned_from_a_program_using_pipes_lets_it_run(tp):
    """The working directory outside the temp directory (as for a service): a pipe
    written to by descriptor is `{cwd}/pipe:[N]` to the engine, a new N each run."""
    tmp = tp.cwd / "tmpdir"
    tmp.mkdir()
    env = {"TMPDIR": str(tmp)}
    tp.script(PIPES)
    r = tp("run", "--policy", "strict", "--mode", "audit", "app.py", env=env)
    assert r.rc == 0, r.err
    learned = tp.cli("learn", str(tp.log), "--out", "learned.toml")
    assert learned.rc == 0, learned.err
    assert '"{cwd}/pipe:*"' in (tp.cwd / "learned.toml").read_text()
    for _ in range(2):
        r = tp("run", "--policy", "learned.toml", "app.py", env=env)
        assert r.rc == 0 and "denied" not in r.err, r.err


def test_run_specific_names_are_one_glob_for_diff_and_learn():
    from tpython.analysis.generalise import Places

    places = Places("/srv/app", home="/home/u", tmp="/tmp")
    same = [
        ("/srv/app/pipe:[1747542]", "/srv/app/pipe:[1747611]", "{cwd}/pipe:*"),
        ("/srv/app/socket:[88]", "/srv/app/socket:[90211]", "{cwd}/socket:*"),
        ("/proc/self/fd/3", "/proc/self/fd/11", "/proc/self/fd/*"),
        ("/proc/4242/status", "/proc/77/status", "/proc/*/status"),
        ("/run/app.4242.pid", "/run/app.90210.pid", "/run/app.*.pid"),
        # tempfile's 8 random characters may hold no digit (8% of names)
        ("/tmp/tmpabcdefgh", "/tmp/tmpa1b2_3d4", "{tmp}/*"),
        ("/tmp/job-abcdefgh.txt", "/tmp/job-9x8y7z6w.txt", "{tmp}/*.txt"),
        ("/tmp/qwertyui", "/tmp/2148y7wt", "{tmp}/*"),
        ("/srv/app/tmpzzzzzzzz/x.py", "/srv/app/tmp_1_2_3_4/x.py", "{cwd}/*/x.py"),
    ]
    for one, other, glob in same:
        assert places.normal(one) == places.normal(other) == glob, (one, other)
    assert places.normal("/srv/app/settings.json") == "{cwd}/settings.json"
    assert places.normal("/usr/lib/python3.11/os.py") == "/usr/lib/python3.11/os.py"
    assert places.normal("/srv/app/data[1].txt") == "{cwd}/data[[]1].txt"  # a glob matching that name only
    assert places.directory_glob("/srv/app/pipe:[1747542]") == "{cwd}/pipe:*"
    assert places.directory_glob("/out.txt") == "/out.txt"  # never all of /


# --- item 6: no usable run is an error -------------------------------------------

@pytest.mark.parametrize("content", [b"", b"\n\n", os.urandom(4096), b'{"a": 1}\n[1, 2]\n'],
                         ids=["empty", "blank", "binary", "json-not-tpython"])
def test_logs_without_a_run_are_an_error_not_an_empty_result(tp, content):
    log = tp.cwd / "nothing.log"
    log.write_bytes(content)
    for argv in (["learn", str(log), "--out", "p.toml"], ["diff", str(log), str(log)], ["report", str(log)]):
        r = tp.cli(*argv)
        assert r.rc == 2, (argv, r)
        assert_one_line_error(r, f"no tpython run in {log}")
    assert not (tp.cwd / "p.toml").exists()


def test_diff_against_a_log_without_a_run_is_an_error(tp):
    tp.script("print('hi')\n")
    assert tp("run", "app.py").rc == 0
    (tp.cwd / "empty.log").write_text("")
    for argv in (["diff", str(tp.log), "empty.log"], ["diff", "empty.log", str(tp.log)]):
        r = tp.cli(*argv)
        assert r.rc == 2
        assert_one_line_error(r, "no tpython run in empty.log (empty)")


# --- item 8: memory stays bounded on a huge line ---------------------------------

def _peak_rss_kib(argv: list[str], cwd: Path) -> tuple[int, str, int]:
    """Run ARGV from a fresh process and return (status, stdout, peak RSS of ARGV in KiB):
    RUSAGE_CHILDREN's max-RSS there is the largest of that process's children, ARGV alone."""
    probe = ("import json, resource, subprocess, sys\n"
             "p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)\n"
             "print(json.dumps([p.returncode, p.stdout[-20000:], "
             "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss]))\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPYTHON")}
    out = subprocess.run([sys.executable, "-c", probe, *argv], cwd=cwd, capture_output=True, text=True,
                         env=env, check=True).stdout
    rc, text, kib = json.loads(out)
    return rc, text, kib


def test_a_huge_line_is_reported_corrupt_and_skipped_in_bounded_memory(tp):
    tp.script("open('x.txt', 'w').close()\n")
    assert tp("run", "app.py").rc == 0
    good = tp.log.read_bytes()
    huge = tp.cwd / "huge.jsonl"
    with open(huge, "wb") as f:  # a valid JSON object of 50 MB, then a real run
        f.write(b'{"ts": "')
        chunk = b"a" * (1 << 20)
        for _ in range(50):
            f.write(chunk)
        f.write(b'"}\n')
        f.write(good)
    limit_kib = 100 * 1024
    rc, out, kib = _peak_rss_kib(TPYTHON + ["log", "verify", str(huge)], tp.cwd)
    assert rc == 1 and "line 1: corrupt: a line of 52428811 bytes, over the 1 MiB limit" in out, out
    assert "ok   run" in out  # the run after it is still checked
    assert kib < limit_kib, f"log verify: peak RSS {kib} KiB"
    rc, out, kib = _peak_rss_kib(TPYTHON + ["log", "show", str(huge)], tp.cwd)
    assert rc == 1 and "[log] open" in out
    assert kib < limit_kib, f"log show: peak RSS {kib} KiB"
    for argv in (["report", str(huge)], ["learn", str(huge), "--out", "p.toml"], ["diff", str(huge), str(huge)]):
        rc, out, kib = _peak_rss_kib(TPYTHON + argv, tp.cwd)
        assert kib < limit_kib, f"{argv[0]}: peak RSS {kib} KiB"
        if argv[0] == "report":
            assert rc == 1 and "line 1: corrupt: a line of 52428811 bytes" in out


def test_reader_bounds_every_line_and_keeps_the_rest(tmp_path):
    from tpython.logs import reader

    path = tmp_path / "log"
    limit = reader.MAX_LINE
    path.write_bytes(b'{"a": 1}\n' + b"x" * (limit + 1) + b"\n" + b'{"b": 2}\n' + b"y" * limit + b"\n"
                     + b"z" * (3 * limit))
    lines = list(reader.read_lines(str(path)))
    assert [ln.number for ln in lines] == [1, 2, 3, 4, 5]
    assert lines[0].record == {"a": 1} and lines[2].record == {"b": 2}
    assert lines[1].record is None and f"a line of {limit + 2} bytes" in (lines[1].problem or "")
    assert "not a JSON record" in (lines[3].problem or "")  # at the limit: read, and not JSON
    assert lines[4].record is None and f"a line of {3 * limit} bytes" in (lines[4].problem or "")


# --- item 12: log show's run column, times, --follow -----------------------------

def test_show_has_a_run_column_and_reads_ages_days_and_dates(tp):
    tp.script("open('x.txt', 'w').close()\n")
    assert tp("run", "app.py").rc == 0
    first = tp.events_of_log()[0]
    rows = tp.cli("log", "show", str(tp.log)).out.splitlines()
    assert rows and all(row.split()[2] == first["run"][:8] for row in rows), rows[:3]
    assert rows[0].startswith(first["ts"][:10] + " " + first["ts"][11:26] + " " + first["run"][:8] + " [log] ")
    count = len(rows)
    for since in ("1h", "90m", "1d", "today", "yesterday", first["ts"][:10], first["ts"]):
        r = tp.cli("log", "show", str(tp.log), "--since", since)
        assert (r.rc, len(r.out.splitlines())) == (0, count), (since, r.err)
    for until in ("1h", "yesterday", "2000-01-01"):
        r = tp.cli("log", "show", str(tp.log), "--until", until)
        assert (r.rc, r.out) == (0, ""), (until, r.err)
    bad = tp.cli("log", "show", str(tp.log), "--since", "last tuesday")
    assert bad.rc == 2
    assert_one_line_error(bad, "--since: not a time: 'last tuesday'", "1h", "yesterday")


def test_time_forms_are_read_as_utc():
    from datetime import datetime, timezone

    from tpython.logs.show import parse_time

    now = datetime(2026, 11, 28, 10, 30, 15, tzinfo=timezone.utc)
    assert parse_time("1h", "since", now) == "2026-11-28T09:30:15.000000Z"
    assert parse_time("2d ago", "since", now) == "2026-11-26T10:30:15.000000Z"
    assert parse_time("yesterday", "since", now) == "2026-11-27T00:00:00.000000Z"
    assert parse_time("today", "since", now) == "2026-11-28T00:00:00.000000Z"
    assert parse_time("2026-11-01", "since", now) == "2026-11-01T00:00:00.000000Z"
    assert parse_time("2026-11-01T12:00:00+01:00", "since", now) == "2026-11-01T11:00:00.000000Z"


class _Lines:
    """The lines a running process prints, read on a thread; wait_for() returns once
    a line holds the text (the deadline only ends a test that would hang)."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.cond = threading.Condition()
        self.thread = threading.Thread(target=self._read, args=(proc,), daemon=True)
        self.thread.start()

    def _read(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            with self.cond:
                self.lines.append(line)
                self.cond.notify_all()

    def wait_for(self, text: str, deadline: float = 120) -> list[str]:
        end = time.monotonic() + deadline
        with self.cond:
            while not any(text in line for line in self.lines):
                left = end - time.monotonic()
                assert left > 0, f"{text!r} never shown; shown: {self.lines[-5:]}"
                self.cond.wait(left)
            return list(self.lines)


def _run_marker(tp: Runner, marker: str, log: Any = None) -> str:
    r = tp("run", "app.py", marker) if log is None else tp("run", "--policy", log, "app.py", marker, log=False)
    assert r.rc == 0, r.err
    return marker


def test_show_follow_prints_appended_records_across_rotations(tp):
    tp.script("import sys\nopen(sys.argv[1], 'w').close()\n")
    _run_marker(tp, "before.txt")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPYTHON")}
    proc = subprocess.Popen(TPYTHON + ["log", "show", "--follow", "--event", "open", str(tp.log)], cwd=tp.cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        shown = _Lines(proc)
        shown.wait_for("before.txt")  # what the file held
        _run_marker(tp, "appended.txt")
        shown.wait_for("appended.txt")  # then what is appended
        os.rename(tp.log, f"{tp.log}.1")  # rotated by hand (logrotate): a new file at the same name
        _run_marker(tp, "rotated.txt")
        shown.wait_for("rotated.txt")
        # tpython's own rotation, several files in one run: every record is shown, in order
        tp.policy(f'version = 1\nextends = "default"\n[log]\nsinks = ["jsonl:{tp.log}"]\n'
                  'rotate_bytes = 2048\nrotate_keep = 100\n')
        tp.script("import sys\nfor i in range(30):\n    open(f'{sys.argv[1]}{i}', 'w').close()\n")
        _run_marker(tp, "many-", "policy.toml")
        lines = shown.wait_for("many-29")
    finally:
        proc.terminate()
        proc.wait(60)
    opened = [line for line in lines if "many-" in line]
    assert [json.loads(line.split(" [log] open ")[1].split("  ")[0])[0].rsplit("/", 1)[-1] for line in opened] \
        == [f"many-{i}" for i in range(30)], lines
    assert len(list(tp.cwd.glob("audit.jsonl.*"))) >= 3
    assert proc.stderr is not None and proc.stderr.read() == ""
