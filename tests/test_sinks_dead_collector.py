"""A dead collector costs counted records, never a loop.

Every network sink (syslog's local socket, syslog over UDP and TCP, journald),
with its collector absent from the start and with it killed mid-run, under both
engines: the program runs to its end with its own exit status, tpython's own
sockets make no records and meet no rule (the policy here denies every socket
event; the program uses none), so the log stays the program's size; the loss is
counted: on stderr, and in the exit record. A count is never more than what the
collector really missed; where the transport can tell (a local socket, a TCP
connection refused) it is every record made while the collector was gone, and
over UDP (where only the ICMP errors that come back tell) at least one.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any, Callable

import pytest
from conftest import TPYTHON
from daemons import wait_for

NETWORK_SINKS = ["syslog", "syslog+udp", "syslog+tcp", "journald"]

APP = """
import os, sys, time
def phase(n):
    for i in range(5):
        open(f"phase{n}-{i}.txt", "w").close()  # distinct arguments: a record each
    open(f"phase{n}.done", "w").close()
phase(1)
while not os.path.exists("go"):
    time.sleep(0.01)
phase(2)
time.sleep(1.2)  # past the sinks' first retry: the exit record is sent after a reconnection
print("done")
sys.exit(3)
"""

POLICY = """
version = 1
extends = "default"
[log]
syslog_socket = "{socket}"
[[rules]]
id = "no-sockets"
events = ["socket.*"]
action = "deny"
"""


def _closed_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # nothing listens once closed


def _without_journal() -> tuple[str, ...]:
    """A command prefix running a program where no journald listens: an empty
    /run/systemd in a private mount namespace (root only)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("hiding journald's socket needs root and unshare")
    os.makedirs("/run/systemd", exist_ok=True)
    return ("unshare", "--mount", "--propagation", "private", "sh", "-c",
            'mount -t tmpfs tmpfs /run/systemd && exec "$@"', "sh")


def _assert_bounded(records: list[dict[str, Any]], log: Path) -> None:
    """The log holds the program's records only: none of tpython's own sockets."""
    assert [r for r in records if r["event"].startswith("socket.") or r["action"] == "deny"] == []
    assert len(records) < 100 and log.stat().st_size < 100_000, len(records)


def _lost_line(err: str) -> dict[str, int]:
    found = re.search(r"^tpython: LOST records: (.*)$", err, re.M)
    assert found, err
    return {name: int(n) for name, n in re.findall(r"(\S+): (\d+)", found.group(1))}


@pytest.mark.parametrize("kind", NETWORK_SINKS)
def test_a_collector_absent_from_the_start_costs_counted_records_never_a_loop(tp, kind):
    wrap: tuple[str, ...] = ()
    if kind == "syslog":
        sink = "syslog"
    elif kind == "journald":
        sink, wrap = "journald", _without_journal()
    else:
        port = _closed_port(socket.SOCK_DGRAM if kind == "syslog+udp" else socket.SOCK_STREAM)
        sink = f"{kind}://127.0.0.1:{port}"
    tp.policy(POLICY.format(socket=tp.cwd / "no-such.sock"))
    tp.script(APP)
    (tp.cwd / "go").touch()
    r = tp("run", "--policy", "policy.toml", "--log", f"jsonl:{tp.log}", "--log", sink, "app.py", wrap=wrap,
           timeout=60)
    assert r.rc == 3 and r.out == "done\n" and "denied" not in r.err, r.err
    records = r.records
    assert records[0]["event"] == "tpython.start" and records[-1]["event"] == "tpython.exit"
    _assert_bounded(records, tp.log)
    assert f"tpython: cannot write to {sink}: " in r.err and "; counting lost records" in r.err
    lost = records[-1]["args"]["lost"][sink]
    before_exit = len(records) - 1
    if kind == "syslog+udp":  # only the ICMP errors that came back tell: some, never more than were sent
        assert 1 <= lost <= before_exit
    else:  # every send failed, and each is counted; the exit record's own loss on stderr
        assert lost == before_exit
        assert records[-1]["lost"] == {sink: lost}  # carried by the next record written (here, to the file)
        assert _lost_line(r.err)[sink] == len(records)


class _Collector:
    """The real daemon behind SINK: what it stored of a run, and how to kill it."""

    def __init__(self, sink: str, stored: Callable[[str], set[int]], kill: Callable[[], None],
                 wrap: tuple[str, ...] = (), syslog_socket: str = "/dev/log") -> None:
        self.sink, self.stored, self.kill, self.wrap = sink, stored, kill, wrap
        self.syslog_socket = syslog_socket


def _rsyslog_collector(rsyslog: Any, kind: str) -> _Collector:
    input_name = {"syslog": "unix", "syslog+udp": "udp", "syslog+tcp": "tcp"}[kind]
    port = {"syslog": 0, "syslog+udp": rsyslog.udp_port, "syslog+tcp": rsyslog.tcp_port}[kind]
    sink = "syslog" if kind == "syslog" else f"{kind}://127.0.0.1:{port}"

    def stored(run: str) -> set[int]:
        return {int(m.group(1)) for m in (re.search(r' seq="(\d+)"', x) for x in rsyslog.messages(input_name)
                                          if f' run="{run}"' in x) if m}

    def kill() -> None:
        rsyslog.proc.send_signal(signal.SIGKILL)
        rsyslog.proc.wait(10)
        rsyslog.proc = None

    return _Collector(sink, stored, kill, syslog_socket=rsyslog.socket)


def _journald_collector(journald: Any, cwd: Path) -> _Collector:
    def stored(run: str) -> set[int]:
        return {int(e["TPYTHON_SEQ"]) for e in journald.entries(f"TPYTHON_RUN={run}")}

    def kill() -> None:
        journald.proc.send_signal(signal.SIGKILL)
        journald.proc.wait(10)
        journald.proc = None  # the program keeps the mount namespace alive

    return _Collector("journald", stored, kill, tuple(journald.wrap(cwd)))


@pytest.mark.parametrize("kind", NETWORK_SINKS)
def test_a_collector_dying_mid_run_costs_counted_records_never_a_loop(tp, request, kind):
    if kind == "journald":
        collector = _journald_collector(request.getfixturevalue("journald"), tp.cwd)
    else:
        collector = _rsyslog_collector(request.getfixturevalue("rsyslog"), kind)
    sink = collector.sink
    tp.policy(POLICY.format(socket=collector.syslog_socket))
    tp.script(APP)
    argv = [*collector.wrap, *TPYTHON, "run", "--policy", "policy.toml", "--log", f"jsonl:{tp.log}",
            "--log", sink, "app.py"]
    proc = subprocess.Popen(argv, cwd=tp.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (tp.cwd / "phase1.done").exists(), what="phase 1")
        before = tp.events_of_log()
        run = before[0]["run"]
        wait_for(lambda: len(collector.stored(run)) >= len(before), what="phase 1 at the collector")
        collector.kill()
        (tp.cwd / "go").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 3 and out == "done\n" and "denied" not in err, err
    records = tp.events_of_log()
    _assert_bounded(records, tp.log)
    assert f"tpython: cannot write to {sink}: " in err and "; counting lost records" in err
    after_death = len(records) - 1 - len(before)  # made once the collector was dead, the exit record aside
    assert after_death >= 6
    stored = collector.stored(run)
    missing = [r["seq"] for r in records if r["seq"] not in stored]
    lost = records[-1]["args"]["lost"][sink]
    assert lost <= len(missing), (lost, missing)  # never more than the collector really missed
    if kind == "syslog+udp":
        assert lost >= 1
    else:
        assert lost >= after_death
        assert records[-1]["lost"] == {sink: lost}  # carried by the next record written (here, to the file)
        assert _lost_line(err)[sink] == lost + 1  # it never came back: the exit record too


SINK_CALLS = r"""
import os, socket, sys
import tpython.sinks.journald as journald
import tpython.sinks.jsonl, tpython.sinks.syslog  # imported before the hook: imports are events
from tpython.sinks.spec import open_sink, parse_sink_spec

d = sys.argv[1]
unix = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); unix.bind(f"{d}/log.sock")
journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); journal.bind(f"{d}/journal.sock")
udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); udp.bind(("127.0.0.1", 0))
tcp = socket.socket(); tcp.bind(("127.0.0.1", 0)); tcp.listen()
journald.SOCKET = f"{d}/journal.sock"
record = {"event": "open", "action": "log", "run": "ab", "seq": 0, "args": ["x" * 100]}
line = b'{"x":"' + b'z' * 30 + b'"}\n'  # two lines fill rotate_bytes
specs = [parse_sink_spec(s) for s in (  # parsed at start, before any hook, as `tpython run` does
    f"jsonl:{d}/a.jsonl", "syslog", f"syslog+udp://127.0.0.1:{udp.getsockname()[1]}",
    f"syslog+tcp://127.0.0.1:{tcp.getsockname()[1]}", "journald")]
events, armed = [], [True]
sys.addaudithook(lambda event, args: armed[0] and events.append(event))
# Armed, only the sinks' own work: opening, sending, failing, reconnecting, rotating.
from tpython.policy.settings import LogSettings
options = LogSettings(syslog_socket=f"{d}/log.sock", rotate_bytes=40, rotate_keep=2)
sinks = [open_sink(spec, options) for spec in specs]
armed[0] = False
peer, _ = tcp.accept()
armed[0] = True
for sink in sinks:
    sink.write(record, line)
sinks[-1].write({**record, "args": ["y" * 400_000]}, line)  # journald's memfd
armed[0] = False
peer.close(); tcp.close(); unix.close(); udp.close(); journal.close()
armed[0] = True
for n in range(4):
    for sink in sinks:
        try:
            sink.write(record, line)
        except OSError:
            pass
for sink in sinks:
    sink.close()
print(sorted(set(events)))
"""


def test_the_sinks_own_system_calls_raise_no_audit_events(tmp_path):
    """By class, not by case: whatever a sink does (open, send, fail, reconnect, rotate
    its file, pass a memfd) raises no audit event, so no hook ever sees tpython's own
    I/O as the program's, whichever engine runs and whether or not it is busy."""
    import sys

    import tpython

    src = str(Path(tpython.__file__).parent.parent)
    proc = subprocess.run([sys.executable, "-c", SINK_CALLS, str(tmp_path)], capture_output=True, text=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": src})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
    assert (tmp_path / "a.jsonl.1").exists()  # it did rotate
