"""Analysis counts what `tpython.repeats` summaries counted.

The native engine writes a repeated `log` record once per run and counts the
rest in `tpython.repeats` records. `report` (text, --json, --html), `diff` and
`log show` read each summary item as the record it stands for, as many times
as it happened: a program that does something 1,005 times is reported doing it
1,005 times. End to end on real runs, plus the shapes a damaged log can hold.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from conftest import Runner

from tpython.analysis.bounded import Group, Table
from tpython.analysis.diff import diff_logs
from tpython.analysis.repeats import expand_repeats
from tpython.analysis.report import build_report
from tpython.logs.chain import seal

pytest.importorskip("tpython._native", reason="repeats are summarised by the native engine only")

N = 1005
PROGRAM = """
import socket, subprocess, sys
outside, n = sys.argv[1], int(sys.argv[2])
code = compile("y = 40 + 2", "<generated>", "exec")
for i in range(1005):
    exec(code, {})                                  # dynamic code, the same each time
    socket.getaddrinfo("127.0.0.1", 9)              # a lookup (no traffic: a numeric address)
for i in range(n):
    with open(outside, "a") as f:                   # a write outside the working and temp directories
        f.write("x")
for i in range(20):
    subprocess.run(["true"])                        # a program, run 20 times
"""


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A file path outside the temp directory (and so outside the working directory)."""
    path = f"/var/tmp/tpython-repeats-{os.getpid()}-{tmp_path_factory.getbasetemp().name}.txt"
    yield path
    if os.path.exists(path):
        os.unlink(path)


def _run(tp: Runner, outside: str, writes: int, log: str) -> Path:
    tp.script(PROGRAM)
    r = tp("run", "--log", f"jsonl:{tp.cwd / log}", "app.py", outside, str(writes))
    assert r.rc == 0, r.err
    return tp.cwd / log


def _records(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()]


def _counted(records: list[dict[str, Any]]) -> int:
    """Occurrences the log's summaries count (as a reader of the log adds them up)."""
    return sum(i["count"] for r in records if r["event"] == "tpython.repeats" for i in r["args"]["repeats"])


def test_report_counts_each_repeat_in_every_table(tp: Runner, outside: str) -> None:
    log = _run(tp, outside, N, "audit.jsonl")
    records = _records(log)
    assert len([r for r in records if r["event"] == "socket.getaddrinfo"]) == 1  # the rest were summarised
    data = json.loads(tp.cli("report", "--json", str(log)).out)
    network = next(c for c in data["categories"] if c["category"] == "network")
    assert network["count"] == N and network["top"] == [["socket.getaddrinfo", N]]
    assert data["records"] == len(records) and data["repeats"] == _counted(records) > 3 * 1000
    execs = dict(next(c for c in data["categories"] if c["category"] == "code")["top"])["exec"]
    assert execs >= N
    [lookup] = data["network"]["rows"]
    assert (lookup["host"], lookup["port"], lookup["kind"], lookup["count"]) == ("127.0.0.1", 9, "lookup", N)
    assert lookup["actions"] == {"log": N} and lookup["modules"] == ["__main__"]
    [written] = data["writes_outside"]["rows"]
    assert (written["path"], written["count"]) == (outside, N)
    [program] = data["programs"]["rows"]
    assert program["program"].endswith("/true") and program["count"] == 20  # Popen and its fork_exec: once
    code = [row for row in data["dynamic_code"]["rows"] if row["event"] == "exec" and row["module"] == "__main__"
            and row["code"] == "<generated>:<module>"]
    assert [row["count"] for row in code] == [N]
    assert data["denials"]["rows"] == []
    [run] = data["runs"]
    assert (run["records"], run["repeats"], run["denials"]) == (data["records"], data["repeats"], 0)
    series = data["timeline"]["series"]
    assert sum(map(sum, series.values())) == data["records"] + data["repeats"]
    assert sum(series["network"]) == N

    text = tp.cli("report", str(log)).out
    assert f"{data['repeats']} repeats counted in tpython.repeats records" in text.splitlines()[0]
    assert re.search(rf"^ +{N}  127\.0\.0\.1:9  lookup  log  by __main__$", text, re.M), text
    assert re.search(rf"^  network +{N}  socket\.getaddrinfo {N}$", text, re.M), text
    assert re.search(rf"^ +{N}  {re.escape(outside)}  \(open\)  by __main__$", text, re.M), text

    page = tp.cwd / "report.html"
    assert tp.cli("report", str(log), "--html", str(page)).rc == 0
    html = page.read_text()
    network_section = html.split('<section id="network">')[1].split("</section>")[0]
    assert f'<td class="num">{N}</td>' in network_section
    assert f'data-key="repeats"><b>{data["repeats"]}</b>' in html


def test_diff_says_how_often_and_nothing_new_between_two_such_runs(tp: Runner, outside: str) -> None:
    quiet = _run(tp, outside, 0, "quiet.jsonl")
    busy = _run(tp, outside, N, "busy.jsonl")
    again = _run(tp, outside, N, "again.jsonl")
    same = tp.cli("diff", str(busy), str(again))
    assert same.rc == 0 and "nothing new" in same.out, same.out
    new = tp.cli("diff", "--json", str(quiet), str(busy))
    assert new.rc == 1, new.err
    rows = {row["kind"]: row for row in json.loads(new.out)["new"]}
    assert rows["write-outside"]["count"] == N, rows
    text = tp.cli("diff", str(quiet), str(busy)).out
    assert re.search(rf"writes outside the working and temp directories: .* {N}x\)$", text, re.M), text


def test_learn_reads_the_same_policy_from_a_log_with_repeats(tp: Runner, outside: str) -> None:
    """Repeats are only ever `log` records: learn's rules (from denials) and the places
    it confines writes to are those of the records written in full."""
    tp.script(PROGRAM)
    log = tp.cwd / "strict.jsonl"
    r = tp("run", "--log", f"jsonl:{log}", "--policy", "strict", "--mode", "audit", "app.py", outside, "3")
    assert r.rc == 0, r.err
    assert _counted(_records(log)) > 0
    learned = tp.cli("learn", str(log), "--out", "learned.toml")
    assert learned.rc == 0, learned.err
    policy = (tp.cwd / "learned.toml").read_text()
    assert f"from 1 run(s), {len(_records(log))} records" in policy
    assert '"127.0.0.1"' in policy  # the lookup strict denies, recorded in full each time
    rerun = tp("run", "--log", f"jsonl:{tp.cwd / 'enforced.jsonl'}", "--policy", "learned.toml", "app.py",
               outside, "3")
    assert rerun.rc == 0, rerun.err
    assert not [r for r in _records(tp.cwd / "enforced.jsonl") if r["action"] in ("deny", "kill")]


def test_log_show_prints_each_summarised_record_with_its_count(tp: Runner, outside: str) -> None:
    log = _run(tp, outside, N, "audit.jsonl")
    verify = tp.cli("log", "verify", str(log))
    assert verify.rc == 0, verify.out + verify.err  # summaries are records of the chain like any other
    out = tp.cli("log", "show", str(log)).out.splitlines()
    summary = next(i for i, line in enumerate(out) if "[log] tpython.repeats: " in line)
    assert re.search(r"tpython\.repeats: \d+ record\(s\) repeated \d+ more time\(s\)$", out[summary])
    items = out[summary + 1:]
    place = f"({tp.cwd / 'app.py'}:7)"
    lookup = [line for line in items if " socket.getaddrinfo " in line]
    assert len(lookup) == 1 and f"   +{N - 1} socket.getaddrinfo [" in lookup[0], items
    assert lookup[0].endswith(f"module=__main__  {place}") and lookup[0][:36] == out[summary][:36]
    assert any(f"   +{N - 1} exec " in line for line in items), items

    chosen = tp.cli("log", "show", str(log), "--event", "socket.getaddrinfo", "--module", "__main__").out
    lines = chosen.splitlines()
    assert len(lines) == 2 and all(" socket.getaddrinfo " in line for line in lines), chosen
    assert "[log] socket.getaddrinfo " in lines[0] and f"+{N - 1} socket.getaddrinfo" in lines[1]
    as_json = tp.cli("log", "show", str(log), "--event", "socket.getaddrinfo", "--json").out.splitlines()
    assert [json.loads(line)["event"] for line in as_json] == ["socket.getaddrinfo", "tpython.repeats"]


# Logs written by hand (sealed, so their chains hold): what a damaged or forged summary can hold.

def _log(path: Path, records: list[tuple[str, Any]]) -> str:
    lines, prev = [], None
    for seq, (event, args) in enumerate(records):
        rec = {"ts": f"2026-11-28T10:00:{seq:02d}.000000Z", "seq": seq, "run": "r1", "pid": 1, "event": event,
               "args": args, "action": "log", "enforced": True, "rule": None, "module": None, "package": None,
               "prev": prev}
        lines.append(seal(rec))
        prev = rec["hash"]
    path.write_bytes(b"".join(lines))
    return str(path)


def _item(event: str, args: Any, count: Any, module: Any = "app") -> dict[str, Any]:
    return {"event": event, "args": args, "rule": None, "module": module, "package": None, "place": "app.py:3",
            "seq": 1, "count": count}


START = ("tpython.start", {"cwd": "/work", "tmp": "/tmp", "home": "/root", "policy": {"name": "default"}})


def test_items_of_the_wrong_shape_are_skipped() -> None:
    summary = {"ts": "t", "run": "r", "pid": 1, "event": "tpython.repeats", "args": {"repeats": [
        _item("open", ["/etc/x", "w"], 4), _item("open", ["/etc/x", "w"], True), _item("open", [], -3),
        _item("open", [], 0), _item("open", [], "9"), _item(7, [], 2), "not an item",  # type: ignore[arg-type]
        _item("tpython.repeats", {"repeats": [_item("open", [], 5)]}, 1),
        dict(_item("exec", [], 2), subinterpreter=True)]}}
    found = list(expand_repeats(summary))
    assert [(r["event"], n) for r, n in found] == [("open", 4), ("exec", 2)]
    first = found[0][0]
    assert (first["action"], first["enforced"], first["ts"], first["run"], first["module"]) == ("log", True, "t", "r",
                                                                                              "app")
    assert found[1][0]["subinterpreter"] is True
    shapes: list[Any] = [None, [], {"repeats": "x"}, {"repeats": None}]
    for args in shapes:
        assert list(expand_repeats({"event": "tpython.repeats", "args": args})) == []


def test_report_and_diff_weigh_hand_written_summaries(tmp_path: Path) -> None:
    write = ("open", ["/etc/app.conf", "w"])
    base = _log(tmp_path / "base.jsonl", [START, write, ("tpython.exit", {"status": 0})])
    run = _log(tmp_path / "run.jsonl", [START, write, ("tpython.repeats", {"repeats": [
        _item("open", ["/etc/app.conf", "w"], 41, None), _item("open", ["/etc/app.conf", "w"], "bad", None)]}),
        ("tpython.exit", {"status": 0})])
    data = build_report(run)
    assert [(r["path"], r["count"]) for r in data["writes_outside"]["rows"]] == [("/etc/app.conf", 42)]
    assert (data["records"], data["repeats"]) == (4, 41)
    # The summary is bookkeeping, not behaviour: a baseline without one has nothing less.
    result = diff_logs(base, run)
    assert result["new"] == [], result["new"]
    grown = diff_logs(_log(tmp_path / "empty.jsonl", [START]), run)
    assert [(r["kind"], r["count"]) for r in grown["new"] if r["kind"] == "write-outside"] == [("write-outside", 42)]


def test_tables_past_their_cap_count_the_weight_they_drop() -> None:
    table: Table[Group] = Table(Group, cap=1)
    group = table.get("a", 3)
    assert group is not None
    group.add("m", "r", "log", "t", n=3)
    assert table.get("b", 41) is None
    assert (group.count, group.actions, table.dropped) == (3, {"log": 3}, 41)
