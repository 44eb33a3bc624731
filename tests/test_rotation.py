"""JSONL rotation by size: the chain stays verifiable across the rotated files."""
from __future__ import annotations

import json
import subprocess

from conftest import TPYTHON

POLICY = """
version = 1
extends = "default"
[log]
sinks = ["jsonl:{log}"]
rotate_bytes = 4096
rotate_keep = {keep}
"""

# Distinct events (the same record repeated from one place is counted, not written again).
APP = """
import os, sys
for i in range(60):
    sys.audit("app.step", i)
if os.fork() == 0:  # a forked child writes into the same rotating log
    for i in range(40):
        sys.audit("app.step", i)
    os._exit(0)
for i in range(40):
    sys.audit("app.step", i)
os.wait()
"""


def _set(tp) -> list:
    return sorted(tp.cwd.glob("audit.jsonl*"))


def test_rotated_files_keep_the_chain_and_verify_as_a_set(tp):
    log = tp.cwd / "audit.jsonl"
    tp.policy(POLICY.format(log=log, keep=50))
    tp.script(APP)
    r = tp("run", "--policy", "policy.toml", "app.py", log=False)
    assert r.rc == 0, r.err
    files = _set(tp)
    assert len(files) >= 5, files  # about 100 records of ~400 bytes over 4 KiB files
    sizes = [f.stat().st_size for f in files]
    assert max(sizes) <= 4096 + 1024, sizes  # a file never grows far past the limit (one record over at most)
    records = [json.loads(line) for f in files for line in f.read_text().splitlines()]
    assert {x["event"] for x in records} >= {"tpython.start", "app.step", "tpython.exit"}
    assert len({x["run"] for x in records}) == 2  # the parent's run and the forked child's
    # given in any order, the set verifies: every run complete and chained across files
    given = [str(f) for f in reversed(files)]
    v = subprocess.run(TPYTHON + ["log", "verify", *given], capture_output=True, text=True)
    assert v.returncode == 0, v.stdout
    assert v.stdout.count("ok   run") == 2 and "FAIL" not in v.stdout
    # one file of the middle missing: verify says which records are missing
    middle = files[len(files) // 2]
    rest = [str(f) for f in files if f != middle]
    v = subprocess.run(TPYTHON + ["log", "verify", *rest], capture_output=True, text=True)
    assert v.returncode == 1 and "missing before it" in v.stdout


def test_rotate_keep_limits_the_files_and_verify_names_the_missing_start(tp):
    log = tp.cwd / "audit.jsonl"
    tp.policy(POLICY.format(log=log, keep=2))
    tp.script(APP)
    r = tp("run", "--policy", "policy.toml", "app.py", log=False)
    assert r.rc == 0, r.err
    names = sorted(f.name for f in _set(tp))
    assert names == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2"]
    v = subprocess.run(TPYTHON + ["log", "verify", *[str(f) for f in _set(tp)]], capture_output=True, text=True)
    assert v.returncode == 1 and "seq 0-" in v.stdout  # the oldest records were rotated away: said, not hidden


STORM = """
import os, sys
children = []
for n in range(6):  # six forked writers and the parent, all rotating one small log
    pid = os.fork()
    if pid == 0:
        for i in range(150):
            sys.audit("app.step", i, __file__)
        os._exit(0)
    children.append(pid)
for i in range(150):
    sys.audit("app.step", i, __file__)
for pid in children:
    os.waitpid(pid, 0)
"""


def test_forked_writers_rotating_at_once_lose_no_record(tp):
    """Rotation is serialised between processes that share the log's open file: a lock
    on that shared descriptor would be held by parent and children alike (flock locks
    belong to the open file description, which fork shares), and two rotations at once
    overwrite each other's renamed files."""
    log = tp.cwd / "audit.jsonl"
    tp.policy(POLICY.format(log=log, keep=5000))
    tp.script(STORM)
    r = tp("run", "--policy", "policy.toml", "app.py", log=False)
    assert r.rc == 0, r.err
    files = _set(tp)
    assert len(files) >= 100, len(files)
    v = subprocess.run(TPYTHON + ["log", "verify", *map(str, files)], capture_output=True, text=True)
    assert v.returncode == 0 and v.stdout.count("ok   run") == 7, v.stdout
