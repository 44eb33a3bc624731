"""Records landing in real daemons: rsyslogd (unix socket, UDP, TCP) and systemd-journald.

Every record of a run must be stored, and what the daemon stored must parse
back into the record's fields (compared with the JSONL sink of the same run).
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import time

import pytest
from daemons import wait_for

APP = """
import os, sys
for i in range(3):
    open(__file__).close()
sys.audit("tpython.test.text", "quote \\" backslash \\\\ bracket ] newline \\n end", 1)
try:
    os.system("true")
except PermissionError as exc:
    print("denied")
"""

POLICY = """
version = 1
extends = "default"
[log]
facility = "local3"
app_name = "tpy-test"
{extra}
[[rules]]
id = "no-shell"
events = ["os.system"]
action = "deny"
"""

_SD = re.compile(r'^<(\d+)>1 (\S+) (\S+) (\S+) (\S+) (\S+) '
                 r'\[tpython@32473((?: [a-z_]+="(?:[^"\\]|\\.)*")*)\] (.*)$')
_PARAM = re.compile(r' ([a-z_]+)="((?:[^"\\]|\\.)*)"')


def parse_rfc5424(message: str) -> tuple[int, dict[str, str], str, str]:
    """(PRI, structured-data params, app name, MSG) of one stored message."""
    m = _SD.match(message)
    assert m, message
    params = {k: re.sub(r"\\(.)", r"\1", v) for k, v in _PARAM.findall(m.group(7))}
    return int(m.group(1)), params, m.group(4), m.group(8)


def _as_record_fields(record: dict) -> dict[str, str]:
    out = {}
    for key in ("event", "action", "enforced", "rule", "module", "run", "seq", "hash", "args", "prev"):
        value = record.get(key)
        if value is not None:
            out[key] = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"),
                                                                      ensure_ascii=False)
    return out


def test_rsyslog_stores_every_record_over_the_socket_udp_and_tcp(tp, rsyslog):
    tp.policy(POLICY.format(extra=f'syslog_socket = "{rsyslog.socket}"'))
    tp.script(APP)
    r = tp("run", "--policy", "policy.toml", "--log", f"jsonl:{tp.log}", "--log", "syslog",
           "--log", f"syslog+udp://127.0.0.1:{rsyslog.udp_port}", "--log", f"syslog+tcp://127.0.0.1:{rsyslog.tcp_port}",
           "app.py")
    assert r.rc == 0 and "denied" in r.out, r.err
    records = r.records
    assert len(records) >= 8
    for name in ("unix", "udp", "tcp"):
        def all_stored(name: str = name) -> list[str] | None:
            stored = rsyslog.messages(name)
            return stored if len(stored) >= len(records) else None

        stored = wait_for(all_stored, what=f"{len(records)} records over {name}")
        assert len(stored) == len(records), name
        by_seq = {}
        for message in stored:
            pri, params, app, text = parse_rfc5424(message)
            by_seq[int(params["seq"])] = (pri, params, app, text)
        for record in records:
            pri, params, app, text = by_seq[record["seq"]]
            assert params == {**_as_record_fields(record), "pid": str(record["pid"]), "ts": record["ts"],
                              **({"package": json.dumps(record["package"], separators=(",", ":"))}
                                 if record.get("package") else {})}, (name, record["seq"])
            severity = {"deny": 4, "kill": 2, "ask": 5}.get(record["action"], 6)
            assert pri == 19 * 8 + severity and app == "tpy-test"  # local3, and the action's severity
            assert text.startswith(f"{record['action']} {record['event']}")
    denied = next(x for x in records if x["action"] == "deny")
    assert parse_rfc5424(next(m for m in rsyslog.messages("tcp") if 'rule="no-shell"' in m))[0] == 19 * 8 + 4
    assert denied["rule"] == "no-shell"
    text_event = next(x for x in records if x["event"] == "tpython.test.text")
    assert 'bracket ] newline' in text_event["args"][0]


def test_journald_holds_every_record_with_queryable_fields(tp, journald):
    tp.policy(POLICY.format(extra=""))
    tp.script(APP)
    r = tp("run", "--policy", "policy.toml", "--log", f"jsonl:{tp.log}", "--log", "journald", "app.py",
           wrap=tuple(journald.wrap(tp.cwd)))
    assert r.rc == 0 and "denied" in r.out, r.err
    records = r.records
    run = records[0]["run"]
    entries = wait_for(lambda: (lambda e: e if len(e) >= len(records) else None)(
        journald.entries(f"TPYTHON_RUN={run}")), what="the journal entries")
    assert len(entries) == len(records)
    lines = (tp.log).read_text().splitlines()
    by_seq = {int(e["TPYTHON_SEQ"]): e for e in entries}
    for record, line in zip(records, lines):
        entry = by_seq[record["seq"]]
        assert entry["TPYTHON_RECORD"] == line  # the exact record: the chain can be checked from the journal
        for key, value in _as_record_fields(record).items():
            assert entry[f"TPYTHON_{key.upper()}"] == value, key
        assert entry["SYSLOG_IDENTIFIER"] == "tpy-test" and entry["SYSLOG_FACILITY"] == "19"
        assert entry["PRIORITY"] == str({"deny": 4, "kill": 2, "ask": 5}.get(record["action"], 6))
        assert entry["MESSAGE"].startswith(f"{record['action']} {record['event']}")
    # queryable by field, as an operator would
    denials = journald.entries(f"TPYTHON_RUN={run}", "TPYTHON_ACTION=deny")
    assert [e["TPYTHON_RULE"] for e in denials] == ["no-shell"]


def test_journald_takes_a_record_too_large_for_a_datagram_through_a_memfd(tp, journald):
    """Records are bounded, but a record over the datagram limit (about 208 KB) must
    still arrive: the protocol's sealed-memfd path."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from tpython.sinks.journald import JournaldSink\n"
        "from tpython.policy.settings import LogSettings\n"
        "s = JournaldSink('journald', LogSettings())\n"
        "big = 'x' * 400000\n"
        "s.write({'event': 'tpython.test.big', 'action': 'log', 'run': 'bigrun', 'seq': 0, 'args': [big]},"
        " b'{}\\n')\n"
        "print('sent')\n")
    import tpython

    src = str(__import__("pathlib").Path(tpython.__file__).parent.parent)
    proc = subprocess.run([*journald.wrap(tp.cwd), sys.executable, "-c", code, src], capture_output=True, text=True,
                          timeout=30)
    assert proc.returncode == 0 and "sent" in proc.stdout, proc.stderr
    entries = wait_for(lambda: journald.entries("TPYTHON_RUN=bigrun"), what="the large entry")
    assert json.loads(entries[0]["TPYTHON_ARGS"]) == ["x" * 400000]


STOP_APP = """
import os, sys, time
def phase(n, wait_for=None):
    for i in range(5):
        open(__file__).close()
    open(f"phase{n}.done", "w").close()
    if wait_for:
        while not os.path.exists(wait_for):
            time.sleep(0.01)
phase(1, "go2")
phase(2, "go3")
phase(3)
"""


RESTART_APP = """
import os, sys, time
def phase(n, wait_for):
    for i in range(5):
        open(f"phase{n}-{i}.txt", "w").close()  # distinct arguments: a record each
    open(f"phase{n}.done", "w").close()
    while not os.path.exists(wait_for):
        time.sleep(0.01)
phase(1, "go2")
phase(2, "go3")
i = 0
while not os.path.exists("stop"):  # until the collector has the count (a TCP sink may be backing off)
    open(f"phase3-{i}.txt", "w").close()
    i += 1
    time.sleep(0.05)
"""


@pytest.mark.parametrize("transport", ["syslog", "syslog+tcp", "syslog+udp"])
def test_a_collector_stopped_and_restarted_mid_run_loses_only_what_it_reports(tp, rsyslog, transport):
    """Stop rsyslogd mid-run, start it again. What plain syslog can know, and no more:
    every record sent while the collector was certainly gone is counted (the local
    socket and TCP refuse each one; over UDP only the ICMP errors that come back tell,
    so at least one), no record the collector stored is counted, and the counts reach
    it with the records it gets afterwards, except over UDP, where a record carrying a
    count can be refused too (docs/forwarding.md, "Lost records")."""
    port = {"syslog": 0, "syslog+tcp": rsyslog.tcp_port, "syslog+udp": rsyslog.udp_port}[transport]
    sink = "syslog" if transport == "syslog" else f"{transport}://127.0.0.1:{port}"
    input_name = {"syslog": "unix", "syslog+tcp": "tcp", "syslog+udp": "udp"}[transport]
    tp.policy(POLICY.format(extra=f'syslog_socket = "{rsyslog.socket}"'))
    tp.script(RESTART_APP)
    argv = [*__import__("conftest").TPYTHON, "run", "--policy", "policy.toml", "--log", f"jsonl:{tp.log}",
            "--log", sink, "app.py"]

    def stored() -> dict[int, dict[str, str]]:
        out = {}
        for message in rsyslog.messages(input_name):
            _, params, _, _ = parse_rfc5424(message)
            if params["run"] == run:
                out[int(params["seq"])] = params
        return out

    proc = subprocess.Popen(argv, cwd=tp.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (tp.cwd / "phase1.done").exists(), what="phase 1")
        count1 = len(tp.events_of_log())
        run = tp.events_of_log()[0]["run"]
        wait_for(lambda: len(stored()) >= count1, what="phase 1 stored")
        rsyslog.stop()  # returns once rsyslogd has exited: nothing of ours is in flight
        (tp.cwd / "go2").touch()
        wait_for(lambda: (tp.cwd / "phase2.done").exists(), what="phase 2")
        count2 = len(tp.events_of_log())
        rsyslog.start()
        (tp.cwd / "go3").touch()
        # a TCP sink may be backing off (up to RETRY_MAX, 30 s): a guard against hanging, not a time limit
        wait_for(lambda: any("lost" in p for p in stored().values()), timeout=45, what="a count at the collector")
        (tp.cwd / "stop").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    records = tp.events_of_log()
    assert records[-1]["event"] == "tpython.exit"
    # rsyslogd writes what it receives a moment later: wait until it has the run's last record
    got = wait_for(lambda: (lambda s: s if records[-1]["seq"] in s else None)(stored()), timeout=45,
                   what="the exit record")
    reported = sum(json.loads(params["lost"])[sink] for params in got.values() if "lost" in params)
    counted = records[-1]["args"]["lost"][sink]  # the run's total, in its exit record
    missing = [x["seq"] for x in records if x["seq"] not in got]
    assert counted <= len(missing), (missing, counted)  # nothing it stored is counted as lost
    assert counted >= (1 if transport == "syslog+udp" else count2 - count1), (count2 - count1, counted)
    assert "counting lost records" in err
    if transport == "syslog+udp":  # a count rides on a datagram, which can be refused in turn
        assert 1 <= reported <= counted
    else:  # a count rides on a record the collector took: every count reached it
        assert reported == counted


def test_a_collector_down_at_start_never_blocks_and_every_record_is_counted(tp):
    """No collector on the TCP port, no socket at the syslog path, no journald: the
    program runs at full speed, and the exit summary counts exactly what was lost."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens once closed
    tp.policy(POLICY.format(extra=f'syslog_socket = "{tp.cwd}/no-such.sock"'))
    tp.script(APP)
    started = time.monotonic()
    r = tp("run", "--policy", "policy.toml", "--log", f"jsonl:{tp.log}", "--log", f"syslog+tcp://127.0.0.1:{port}",
           "--log", "syslog", "app.py")
    assert time.monotonic() - started < 10
    assert r.rc == 0 and "denied" in r.out, r.err
    produced = len(r.records)
    lost = dict(re.findall(r"(syslog\S*): (\d+)", r.err.split("LOST records: ", 1)[1].splitlines()[0]))
    assert lost == {f"syslog+tcp://127.0.0.1:{port}": str(produced), "syslog": str(produced)}


def test_a_critical_failure_of_tpython_goes_to_syslog_and_ends_with_255(tp, rsyslog):
    """As spython does (syslog(LOG_CRIT, ...); _exit(255)): tpython failing while it starts
    never lets the program run unwatched, and says so where operations look."""
    tp.policy(POLICY.format(extra=f'syslog_socket = "{rsyslog.socket}"'))
    tp.script("open('ran', 'w').close()\n")
    r = tp("run", "--policy", "policy.toml", "app.py", env={"TPYTHON_INJECT_FAULT": "boot"})
    assert r.rc == 255 and not (tp.cwd / "ran").exists()
    assert r.err.strip() == "tpython: critical failure: RuntimeError: fault injected (TPYTHON_INJECT_FAULT=boot)"

    def critical() -> list[str]:
        return [m for m in rsyslog.read("unix").decode().splitlines() if "tpython critical failure" in m]

    message = wait_for(critical, what="the critical message")[0]
    assert message.startswith("<154>1 ")  # local3 (19) * 8 + critical (2)
    assert " tpy-test " in message and "RuntimeError: fault injected" in message


def test_a_critical_failure_in_the_launcher_ends_with_255_and_no_traceback(tp):
    tp.script("open('ran', 'w').close()\n")
    r = tp("run", "app.py", env={"TPYTHON_INJECT_FAULT": "launch"})
    assert r.rc == 255 and not (tp.cwd / "ran").exists()
    assert r.err.strip() == "tpython: critical failure: RuntimeError: fault injected (TPYTHON_INJECT_FAULT=launch)"


def test_journald_stopped_and_restarted_mid_run_loses_only_what_it_reports(tp, journald):
    tp.policy(POLICY.format(extra=""))
    tp.script(STOP_APP)
    argv = [*journald.wrap(tp.cwd), *__import__("conftest").TPYTHON, "run", "--policy", "policy.toml",
            "--log", f"jsonl:{tp.log}", "--log", "journald", "app.py"]
    proc = subprocess.Popen(argv, cwd=tp.cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: (tp.cwd / "phase1.done").exists(), what="phase 1")
        run = tp.events_of_log()[0]["run"]
        count1 = len(tp.events_of_log())
        wait_for(lambda: len(journald.entries(f"TPYTHON_RUN={run}")) >= count1, what="phase 1 in the journal")
        journald.stop()
        (tp.cwd / "go2").touch()
        wait_for(lambda: (tp.cwd / "phase2.done").exists(), what="phase 2")
        time.sleep(1.1)  # past the sink's reconnection back-off
        journald.restart_in(proc.pid)
        (tp.cwd / "go3").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    records = tp.events_of_log()
    entries = journald.entries(f"TPYTHON_RUN={run}")
    stored = {int(e["TPYTHON_SEQ"]) for e in entries}
    reported = sum(json.loads(e["TPYTHON_LOST"])["journald"] for e in entries if "TPYTHON_LOST" in e)
    missing = [x["seq"] for x in records if x["seq"] not in stored]
    assert missing, "journald was down for phase 2: some records must have missed it"
    assert len(missing) == reported, (missing, reported)
