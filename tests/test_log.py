"""`tpython log show` and `tpython log verify` on real logs."""
from __future__ import annotations

import hashlib
import json

import pytest

SCRIPT = """
import sys
for i in range(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
    open(f"f{i}.txt", "w").close()
"""


@pytest.fixture
def logged(tp):
    tp.script(SCRIPT)
    r = tp("run", "app.py")
    assert r.rc == 0, r.err
    return tp


def _lines(tp):
    return tp.log.read_text().splitlines()


def _write(tp, lines):
    tp.log.write_text("\n".join(lines) + "\n")


def _rehash(rec):
    body = {k: v for k, v in rec.items() if k != "hash"}
    rec["hash"] = hashlib.sha256(json.dumps(body, separators=(",", ":")).encode()).hexdigest()
    return json.dumps(rec, separators=(",", ":"))


def _verify(tp):
    return tp.cli("log", "verify", str(tp.log))


def test_intact_log_verifies(logged):
    r = _verify(logged)
    assert r.rc == 0 and r.out.startswith("ok ") and "ended with status 0" in r.out


def test_deleted_record_is_named(logged):
    lines = _lines(logged)
    gone = json.loads(lines[4])
    del lines[4]
    _write(logged, lines)
    r = _verify(logged)
    assert r.rc == 1
    assert f"seq {gone['seq']} missing before it (deleted or moved)" in r.out


def test_reordered_records_are_named(logged):
    lines = _lines(logged)
    lines[3], lines[4] = lines[4], lines[3]
    _write(logged, lines)
    r = _verify(logged)
    assert r.rc == 1
    assert "out of order" in r.out and "missing before it" in r.out


def test_inserted_record_is_named(logged):
    lines = _lines(logged)
    fake = json.loads(lines[3])
    fake["args"] = ["/tmp/planted"]
    lines.insert(4, _rehash(fake))
    _write(logged, lines)
    r = _verify(logged)
    assert r.rc == 1
    assert f"line 5: run {fake['run']} seq {fake['seq']}: out of order" in r.out


def test_replaced_and_rehashed_record_breaks_the_chain(logged):
    lines = _lines(logged)
    rec = json.loads(lines[3])
    rec["args"] = ["/tmp/other"]
    lines[3] = _rehash(rec)
    _write(logged, lines)
    r = _verify(logged)
    assert r.rc == 1
    assert f"seq {rec['seq'] + 1}: chain broken" in r.out


def test_corrupt_line_is_reported_not_fatal(logged):
    lines = _lines(logged)
    lines.insert(2, "{not json")
    _write(logged, lines)
    r = _verify(logged)
    assert r.rc == 1 and "line 3: not a JSON record" in r.out
    shown = logged.cli("log", "show", str(logged.log))
    assert "audit.jsonl:3: not a JSON record" in shown.err and "tpython.start" in shown.out


def test_truncated_run_is_reported(logged):
    lines = _lines(logged)
    _write(logged, lines[:-1])
    r = _verify(logged)
    assert r.rc == 0 and "no tpython.exit" in r.out


def test_show_filters(logged):
    tp = logged
    out = tp.cli("log", "show", str(tp.log), "--event", "open").out.splitlines()
    assert out and all(" open " in l for l in out)
    out = tp.cli("log", "show", str(tp.log), "--action", "deny").out
    assert out == ""
    first = json.loads(_lines(tp)[0])
    out = tp.cli("log", "show", str(tp.log), "--run", first["run"][:6], "--module", "__main__").out.splitlines()
    assert out and all("module=__main__" in l for l in out)
    out = tp.cli("log", "show", str(tp.log), "--until", "2000-01-01T00:00:00Z").out
    assert out == ""
    out = tp.cli("log", "show", str(tp.log), "--since", first["ts"], "--json").out.splitlines()
    assert json.loads(out[0])["seq"] == 0
    bad = tp.cli("log", "show", str(tp.log), "--since", "next tuesday")
    assert bad.rc == 2 and "--since: not a time: 'next tuesday'" in bad.err


def test_many_processes_appending_never_interleave(tp):
    tp.script("""
    import os, sys
    for i in range(300):
        os.stat(".")
        open(os.devnull, "w").close()
    """)
    import subprocess
    import sys

    procs = [subprocess.Popen([sys.executable, "-m", "tpython", "run", "--quiet", "--log", f"jsonl:{tp.log}",
                               "app.py"], cwd=tp.cwd) for _ in range(6)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    lines = _lines(tp)
    runs = {json.loads(l)["run"] for l in lines}  # every line parses
    assert len(runs) == 6
    r = _verify(tp)
    assert r.rc == 0, r.out
    assert r.out.count("ended with status 0") == 6
