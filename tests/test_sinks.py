"""Sinks: stderr lines, and a sink that fails mid-run never loses records silently."""
from __future__ import annotations

import json

import pytest


def test_stderr_sink_one_readable_line_per_record(tp):
    tp.script("open('x.txt', 'w').close()")
    r = tp("run", "--quiet", "--log", "stderr", "app.py", log=False)
    assert r.rc == 0
    lines = r.err.splitlines()
    assert any("[log] open" in l and "x.txt" in l and "module=__main__" in l for l in lines)
    assert lines[0].startswith("tpython: ") and "[log] tpython.start" in lines[0]
    assert all(l.startswith("tpython: ") for l in lines)


def test_with_a_python_sink_c_still_decides_and_every_record_reaches_both(tp):
    """The native engine decides and writes in C, then hands each record it wrote to the
    sinks written by Python (NativeRecorder.feed): stderr gets every record of the log."""
    tp.script("import os\nfor i in range(50):\n    open(f'f{i}.txt', 'w').close()\nos.listdir('.')\n")
    r = tp("run", "--quiet", "--log", f"jsonl:{tp.log}", "--log", "stderr", "app.py",
           log=False)
    assert r.rc == 0, r.err
    records = r.records
    start = records[0]["args"]
    assert start["engine"]["name"] == "native" and start["engine"]["log_in_c"] is True
    assert records[-1]["args"]["actions"]["log"] >= 50
    lines = [l for l in r.err.splitlines() if l.startswith("tpython: ")]
    assert len(lines) == len(records)
    for line, record in zip(lines, records):
        assert f"[{record['action']}] {record['event']} " in line, (line, record)


def test_policy_sinks_used_when_no_log_option(tp):
    tp.policy(f"""
    version = 1
    extends = "default"
    [log]
    sinks = ["jsonl:{tp.cwd / 'from-policy.jsonl'}"]
    """)
    tp.script("print('ok')")
    r = tp("run", "--policy", "policy.toml", "app.py", log=False)
    assert r.rc == 0
    assert (tp.cwd / "from-policy.jsonl").read_text().count("\n") >= 2
    assert not (tp.cwd / "tpython-audit.jsonl").exists()


def test_default_sink_is_jsonl_in_cwd(tp):
    tp.script("print('ok')")
    r = tp("run", "app.py", log=False)
    assert r.rc == 0
    assert (tp.cwd / "tpython-audit.jsonl").exists()
    assert str(tp.cwd / "tpython-audit.jsonl") in r.err


@pytest.fixture
def tiny_fs(mount_tmpfs):
    return mount_tmpfs("tiny", "size=12k")


def test_full_disk_mid_run_is_counted_and_reported(tp, tiny_fs):
    tp.script("""
    import os, sys
    for i in range(200):  # distinct records (a repeated one would be counted, not written again)
        sys.audit("app.step", i, os.getcwd())
    print("done")
    """)
    small = tiny_fs / "audit.jsonl"
    r = tp("run", "--log", f"jsonl:{small}", "--log", f"jsonl:{tp.log}", "app.py")
    assert r.rc == 0 and "done" in r.out  # the program is not blocked
    assert f"cannot write to jsonl:{small}" in r.err
    assert "LOST records" in r.err
    recs = r.records  # the healthy sink has everything, with the count of what the other lost
    assert [x["seq"] for x in recs] == list(range(len(recs)))
    lost = [x["lost"][f"jsonl:{small}"] for x in recs if "lost" in x]
    assert lost == sorted(lost) and lost[-1] > 0
    assert recs[-1]["event"] == "tpython.exit" and recs[-1]["lost"][f"jsonl:{small}"] == lost[-1]
    small_lines = small.read_text().splitlines()
    # the exit record carries the count before it; the summary counts the exit record too
    assert len(small_lines) + lost[-1] + 1 == len(recs)
    assert f"LOST records: jsonl:{small}: {lost[-1] + 1}" in r.err
    assert all(json.loads(l) for l in small_lines)
