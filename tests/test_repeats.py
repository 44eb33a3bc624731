"""The same event from the same place with the same arguments: recorded once, then counted.

Native engine only: the Python engine (`--engine python`, about to be removed) writes
every record. Each test reads what a user reads: the JSONL log, `tpython log verify`.
"""
from __future__ import annotations

import os
import subprocess
from typing import Any

import pytest
from conftest import TPYTHON, Result, Runner

pytest.importorskip("tpython._native", reason="repeats are summarised by the native engine only")


def _summaries(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if r["event"] == "tpython.repeats"]


def _items(records: list[dict[str, Any]], event: str) -> list[dict[str, Any]]:
    return [item for r in _summaries(records) for item in r["args"]["repeats"] if item["event"] == event]


def _verify(tp: Runner) -> None:
    v = subprocess.run(TPYTHON + ["log", "verify", str(tp.log)], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout + v.stderr


def test_a_repeated_event_is_recorded_once_then_counted_before_the_exit(tp):
    tp.script("""
    code = compile("x = 1", "<template>", "exec")
    for i in range(500):
        exec(code, {})  # one `exec` event per pass, from this line, with the same code
    """)
    r = tp("run", "app.py")
    assert r.rc == 0, r.err
    recs = r.records
    written = [x for x in recs if x["event"] == "exec" and x["module"] == "__main__"]
    assert len(written) == 1, written
    [item] = [i for i in _items(recs, "exec") if i["module"] == "__main__"]
    first = written[0]
    assert item["count"] == 499 and item["seq"] == first["seq"]
    assert item["args"] == first["args"] == [{"code": {"file": "<template>", "name": "<module>", "line": 1}}]
    assert (item["module"], item["package"], item["rule"]) == ("__main__", None, None)
    assert item["place"] == f"{tp.cwd / 'app.py'}:4"
    summary = _summaries(recs)[-1]
    assert recs[-1]["event"] == "tpython.exit" and summary["seq"] == recs[-1]["seq"] - 1
    assert summary["action"] == "log"
    assert recs[-1]["args"]["actions"]["log"] >= 500  # every decision is in the tally, written or counted
    _verify(tp)


def test_other_arguments_other_places_and_changed_objects_are_records_of_their_own(tp):
    tp.script("""
    import sys
    for i in range(30):
        sys.audit("app.tick", i % 3)  # three argument lists, ten times each
    for i in range(4):
        sys.audit("app.here", "same")
        sys.audit("app.here", "same")  # the same, from another line
    items = []
    for i in range(3):
        items.append(i)
        sys.audit("app.list", items)  # one list object, rendered differently each time
    for i in range(5):
        sys.audit("app.fresh", [1, 2])  # a new object each time, rendered the same
    """)
    r = tp("run", "app.py")
    assert r.rc == 0, r.err
    recs = r.records
    ticks = [x["args"] for x in recs if x["event"] == "app.tick"]
    assert sorted(ticks) == [[0], [1], [2]]
    assert sorted((i["args"], i["count"]) for i in _items(recs, "app.tick")) == [([0], 9), ([1], 9), ([2], 9)]
    assert len([x for x in recs if x["event"] == "app.here"]) == 2
    assert sorted(i["place"].rsplit(":", 1)[1] for i in _items(recs, "app.here")) == ["6", "7"]
    assert [x["args"] for x in recs if x["event"] == "app.list"] == [[[0]], [[0, 1]], [[0, 1, 2]]]
    assert _items(recs, "app.list") == []
    assert len([x for x in recs if x["event"] == "app.fresh"]) == 1
    assert [i["count"] for i in _items(recs, "app.fresh")] == [4]


def test_denials_are_recorded_every_time(tp):
    tp.policy("""
    version = 1
    extends = "default"
    [[rules]]
    id = "no-forbidden"
    events = ["app.forbidden"]
    action = "deny"
    """)
    tp.script("""
    import sys
    for i in range(5):
        try:
            sys.audit("app.forbidden", "same")
        except PermissionError:
            pass
    print("went on")
    """)
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc == 0 and "went on" in r.out, r.err
    denials = [x for x in r.records if x["event"] == "app.forbidden"]
    assert [x["action"] for x in denials] == ["deny"] * 5
    assert _items(r.records, "app.forbidden") == []


def test_a_million_repeats_are_summarised_on_the_way_and_at_the_end(tp):
    tp.script("""
    import sys
    for i in range(1_000_001):
        sys.audit("app.busy", "same")
    """)
    r = tp("run", "app.py", timeout=300)
    assert r.rc == 0, r.err
    recs = r.records
    assert len([x for x in recs if x["event"] == "app.busy"]) == 1
    counts = [i["count"] for i in _items(recs, "app.busy")]
    assert len(counts) >= 2 and sum(counts) == 1_000_000  # a periodic summary, then the final one
    assert os.path.getsize(tp.log) < 200_000
    _verify(tp)


def test_a_full_table_records_new_keys_in_full_and_says_how_many(tp):
    tp.script("""
    import sys
    for rnd in range(2):
        for i in range(5000):  # more distinct records than the table keeps (4096)
            sys.audit("app.key", i)
    """)
    r = tp("run", "app.py", timeout=300)
    assert r.rc == 0, r.err
    recs = r.records
    written = len([x for x in recs if x["event"] == "app.key"])
    counted = sum(i["count"] for i in _items(recs, "app.key"))
    assert written + counted == 10_000  # nothing dropped
    assert written > 5000 and counted > 0
    untracked = sum(s["args"].get("untracked", 0) for s in _summaries(recs))
    assert untracked >= 2 * (5000 - 4096)
    _verify(tp)


def test_a_forked_child_records_its_first_of_each_in_its_own_run(tp):
    tp.script("""
    import os, sys
    for i in range(3):
        sys.audit("app.both", "same")
    pid = os.fork()
    if pid == 0:
        for i in range(3):
            sys.audit("app.both", "same")
        sys.exit(0)
    os.waitpid(pid, 0)
    """)
    r = tp("run", "app.py")
    assert r.rc == 0, r.err
    runs: dict[str, list[dict[str, Any]]] = {}
    for x in r.records:
        runs.setdefault(x["run"], []).append(x)
    assert len(runs) == 2
    for recs in runs.values():
        assert len([x for x in recs if x["event"] == "app.both"]) == 1
        assert [i["count"] for i in _items(recs, "app.both")] == [2]
    _verify(tp)


def test_the_summary_reaches_the_other_sinks_too(tp):
    tp.script("""
    import sys
    for i in range(10):
        sys.audit("app.tick", "same")
    """)
    r = tp("run", "--log", f"jsonl:{tp.log}", "--log", "stderr", "app.py")
    assert r.rc == 0, r.err
    assert r.err.count("[log] app.tick ") == 1
    assert r.err.count("[log] tpython.repeats ") == 1


def test_the_default_log_rotates(tp):
    log = tp.cwd / "tpython-audit.jsonl"  # the default sink
    with open(log, "wb") as f:  # just under the default limit (100 MiB), without using the disk
        f.truncate(100 * 1024 * 1024 - 100)
    tp.script("print('ok')")
    r = tp("run", "app.py", log=False)
    assert r.rc == 0, r.err
    assert (tp.cwd / "tpython-audit.jsonl.1").stat().st_size == 100 * 1024 * 1024 - 100
    assert 0 < log.stat().st_size < 1024 * 1024
    assert {x["event"] for x in Result(0, "", "", log).records} >= {"tpython.start", "tpython.exit"}


def test_rotate_bytes_zero_never_rotates(tp):
    tp.policy("""
    version = 1
    extends = "default"
    [log]
    rotate_bytes = 0
    """)
    with open(tp.log, "wb") as f:
        f.truncate(100 * 1024 * 1024 + 100)
    tp.script("print('ok')")
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    assert not (tp.cwd / "audit.jsonl.1").exists()
    assert tp.log.stat().st_size > 100 * 1024 * 1024 + 100
