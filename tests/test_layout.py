"""The layout the architecture asks for, held: C's files small and by concern, exit
statuses named once (tpython/exit_status.py) and given to C, not written in it."""
from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "tpython"


def test_no_c_file_of_the_engine_is_long():
    long = {p.name: n for p in (SRC / "native").glob("*.c") if (n := len(p.read_text().splitlines())) > 650}
    assert long == {}


def test_exit_statuses_are_named_once():
    """C gets the statuses it ends a process with at install; Python names them in one module."""
    in_c = [f"{p.name}: {m.group(0)}" for p in (SRC / "native").glob("*.c")
            for m in re.finditer(r"\b_?exit\(\s*\d+\s*\)", p.read_text())]
    assert in_c == []
    literal = re.compile(r"^\s*(exit_status|[A-Z_]*STATUS|EXIT_[A-Z_]+)\s*=\s*\d+", re.M)
    in_python = [f"{p.relative_to(SRC)}: {m.group(0).strip()}" for p in SRC.rglob("*.py")
                 if p.name != "exit_status.py" for m in literal.finditer(p.read_text())]
    assert in_python == []


def test_a_kill_ends_with_the_named_status(tp):
    from tpython import exit_status

    tp.policy('version = 1\n[[rules]]\nid = "stop"\nevents = ["os.chown"]\naction = "kill"\n')
    tp.script("import os\nos.chown('.', os.getuid(), os.getgid())\n")
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py")
    assert r.rc == exit_status.KILLED and r.records[-1]["args"]["status"] == exit_status.KILLED
