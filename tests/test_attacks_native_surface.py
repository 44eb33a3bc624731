"""Attacks on what the C module offers the program, found by attacking our own build.

`tpython._native` is in `sys.modules`; its functions are plain system calls with no
audit event. Once the program runs they refuse anything tpython did not set up
before it; no C path lets program code run while the hook stands aside; records
cannot be forged through the chain; a worker names the real run as its parent.
"""
from __future__ import annotations

import json
import os

import pytest

NO_SYSTEM = """
version = 1
extends = "default"

[[rules]]
id = "no-system"
events = ["os.system"]
action = "deny"
"""


@pytest.fixture
def home(tp):
    home = tp.cwd / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("SECRET-KEY-7f3\n")
    (home / ".bashrc").write_text("# original\n")
    return home


RAW = """
import os, sys
n = sys.modules["tpython._native"]
home = os.path.expanduser("~")
attempts = {
    "sink_open": lambda: os.read(n.sink_open(home + "/.ssh/id_rsa", os.O_RDONLY, 0), 100),
    "sink_open append": lambda: os.write(n.sink_open(home + "/.bashrc", os.O_WRONLY | os.O_APPEND, 0), b"pwned"),
    "sink_rename": lambda: n.sink_rename(home + "/.bashrc", home + "/.bashrc.moved"),
    "sink_truncate": lambda: n.sink_truncate(os.open(home + "/.bashrc", os.O_RDONLY), 0),
    "sink_lock": lambda: n.sink_lock(0),
    "net_address": lambda: n.net_address("192.0.2.1", 9, False),
    "net_open": lambda: n.net_open(2, bytes([2, 0, 0, 9, 192, 0, 2, 1]) + bytes(8), False, True, 1.0),
    "net_send": lambda: n.net_send(1, b"exfil", None, False, False),
    "net_send_memfd": lambda: n.net_send_memfd(1, b"x", b"\\x01\\x00/tmp/sock"),
    "check_code": lambda: n.check_code(home + "/.ssh/id_rsa", {"max_size": 1 << 20, "manifest": None,
                                                              "kernel_check": False, "require": False,
                                                              "xattr": False})[2],
    "seccomp_filter": lambda: n.seccomp_filter(b"\\x06\\x00\\x00\\x00\\x00\\x00\\xff\\x7f"),
}
for name, attempt in attempts.items():
    try:
        result = attempt()
    except PermissionError as exc:
        print(name, "refused", "tpython" in str(exc))
    except Exception as exc:
        print(name, "ERROR", type(exc).__name__, exc)
    else:
        print(name, "TOOK IT", result)
"""


def test_the_c_modules_system_calls_are_refused_once_the_program_runs(tp, home):
    tp.script(RAW)
    r = tp("run", "--quiet", "--policy", "strict", "app.py", env={"HOME": str(home)})
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert len(lines) == 11 and all(line.endswith(" refused True") for line in lines), r.out
    assert "SECRET" not in r.out and (home / ".bashrc").read_text() == "# original\n"


CHAIN = """
import sys
n = sys.modules["tpython._native"]
forged = [
    (b'["x"],"event":"os.system","action":"allow","enforced":true,"rule":null,"x":{}', "log", "null", ""),
    (b'["a\\nb"]', "log", "null", ""),
    (b'["x"]', "allow\\",\\"event\\":\\"x", "null", ""),
    (b'["x"]', "log", 'null,"event":"os.system"', ""),
    (b'["x"]', "log", "null", ',"event":"os.system"'),
]
for args_json, action, module, extra in forged:
    try:
        n.chain_record("tpython.exit", args_json, action, True, None, module, "null", extra, "")
        print("TOOK IT")
    except (ValueError, PermissionError) as exc:
        print("refused")
"""


def test_records_cannot_be_forged_through_the_chain(tp):
    tp.script(CHAIN)
    r = tp("run", "--quiet", "app.py")
    assert r.rc == 0 and r.out.split() == ["refused"] * 5, (r.out, r.err)
    assert all(rec["event"] != "os.system" for rec in r.records)
    assert tp.cli("log", "verify", str(tp.log)).rc == 0


COLLECTOR = """
import gc, os, sys
n = sys.modules["tpython._native"]
sys.path.insert(0, os.path.abspath("mods"))
ran_aside = []

def hook_stands_aside():  # C counts builtins.id unless it stands aside for this thread
    before = n.counts().get("builtins.id", 0)
    id(0)
    return n.counts().get("builtins.id", 0) == before

class Garbage:
    def __init__(self):
        self.me = self  # a cycle: only the collector frees it
    def __del__(self):
        if hook_stands_aside():
            ran_aside.append(1)
            try:
                os.system("touch pwned")
            except PermissionError:
                pass
        Garbage()  # garbage for the next collection, wherever it runs

Garbage()
gc.set_threshold(1)
for i in range(150):
    __import__(f"m{i}")  # each import: io.open_code, C's checks
    compile("x = 1", "<s>", "exec")
gc.set_threshold(700)
print("ran aside", len(ran_aside))
"""


def test_the_collector_never_runs_program_code_while_the_hook_stands_aside(tp):
    """A finalizer the collector runs inside tpython's C work (the open_code checks, the
    guard) runs under the hook, like any code: its os.system is denied and recorded."""
    tp.policy(NO_SYSTEM)
    mods = tp.cwd / "mods"
    mods.mkdir()
    for i in range(150):
        (mods / f"m{i}.py").write_text(f"VALUE = {i}\n")
    tp.script(COLLECTOR)
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    assert not (tp.cwd / "pwned").exists()
    assert r.out.strip() == "ran aside 0", r.out


WORKER = """
import os, sys
n = sys.modules["tpython._native"]
pid = n.spawn_worker("import multiprocessing; print('worker ran')", [], (), "0000forgedparent")
os.waitpid(pid, 0)
for bad in ((10 ** 10,), (-1,)):
    try:
        n.spawn_worker("import multiprocessing", [], bad, "x")
        print("TOOK IT")
    except (ValueError, OverflowError):
        print("refused")
"""


def test_a_worker_started_by_the_program_names_the_real_parent_run(tp):
    tp.script(WORKER)
    r = tp("run", "--quiet", "app.py")
    assert r.rc == 0, r.err
    assert r.out.split().count("refused") == 2 and "TOOK IT" not in r.out, r.out
    starts = r.events("tpython.start")
    parent = starts[0]["run"]
    children = [s for s in starts if s["run"] != parent]
    assert children and all(s["args"].get("parent_run") == parent for s in children), json.dumps(starts)[:2000]
    assert all(s["args"].get("parent_run") != "0000forgedparent" for s in starts)


def test_the_sinks_still_reach_their_collectors_after_the_start(tp):
    """What the seal leaves the sinks: the addresses they resolved and the sockets they
    opened before the program ran (syslog over UDP, to a listener of the test's)."""
    import socket

    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(10)
    port = listener.getsockname()[1]
    tp.script("import os\nos.listdir('.')\n")
    r = tp("run", "--quiet", "--log", f"jsonl:{tp.log}", "--log", f"syslog+udp://127.0.0.1:{port}", "app.py")
    assert r.rc == 0, r.err
    got = []
    try:
        while True:
            got.append(listener.recv(65536))
    except OSError:
        pass
    finally:
        listener.close()
    assert any(b"os.listdir" in packet for packet in got) and any(b"tpython.exit" in packet for packet in got)
    assert "refused" not in r.err and os.path.exists(tp.log)


TRUE_ONLY = """
version = 1
extends = "strict"

[[rules]]
id = "true-only"
events = ["subprocess.Popen", "_posixsubprocess.fork_exec", "os.posix_spawn", "os.exec"]
action = "allow"
when = { executable = ["/usr/bin/true"] }
"""

LYING_LIST = """
import _posixsubprocess, os, sys
class L(list):
    def __getitem__(self, i):
        return b"/bin/sh"
exe = L([b"/usr/bin/true"])
args = [b"/usr/bin/true", b"-c", b"touch pwned"]
r, w = os.pipe()
try:
    pid = _posixsubprocess.fork_exec(args, exe, True, (w,), None, None, -1, -1, -1, -1, -1, -1, r, w, True, False,
                                     -1, None, None, None, -1, None, False)
    os.waitpid(pid, 0)
    print("ran")
except PermissionError:
    print("denied")
"""


@pytest.mark.skipif(not os.path.exists("/usr/bin/true"), reason="needs /usr/bin/true")
def test_a_program_list_that_answers_otherwise_when_executed_is_unknown(tp):
    """CPython reads fork_exec's program list through the list's own __getitem__; C cannot
    know what that answers, so the list is unknown and never opens the exemption."""
    import sys

    if sys.version_info[:2] != (3, 11):
        pytest.skip("fork_exec's 23-argument form is 3.11's")
    tp.policy(TRUE_ONLY)
    tp.script(LYING_LIST)
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py")
    assert not (tp.cwd / "pwned").exists(), (r.out, r.err)
    assert "denied" in r.out and r.events("_posixsubprocess.fork_exec")[-1]["action"] == "deny"


DENY_EVIL_PROGRAM = """
version = 1
extends = "default"

[[rules]]
id = "no-evil"
events = ["subprocess.Popen", "_posixsubprocess.fork_exec", "os.exec", "os.posix_spawn", "os.spawn", "os.system"]
action = "deny"
when = { executable = ["EVIL/prog"] }
"""

CHDIR_WHILE_CONVERTING = """
import os, subprocess
class Arg:
    def __fspath__(self):
        os.chdir("evil")  # runs while fork_exec's arguments are converted
        return "x"
try:
    subprocess.run(["./prog", Arg()])
    print("ran")
except PermissionError:
    print("denied")
"""


def test_program_code_run_while_fork_exec_converts_its_arguments_comes_before_the_decision(tp):
    """Found by attacking our own build: a path object's __fspath__ in the argument list ran
    inside fork_exec after the decision and moved the working directory, so `./prog` ran
    from another directory than the one decided on. C converts the arguments first."""
    import subprocess as sp

    if not hasattr(sp, "_fork_exec") or not hasattr(sp, "_USE_POSIX_SPAWN"):
        pytest.skip("this subprocess has no _fork_exec")
    for where, marker in (("evil", "pwned"), ("", "harmless")):
        d = tp.cwd / where if where else tp.cwd
        d.mkdir(exist_ok=True)
        prog = d / "prog"
        prog.write_text(f"#!/bin/sh\\ntouch {tp.cwd / marker}\\n")
        prog.chmod(0o755)
    tp.policy(DENY_EVIL_PROGRAM.replace("EVIL", str(tp.cwd / "evil")))
    tp.script("import subprocess\nsubprocess._USE_POSIX_SPAWN = False\n" + CHDIR_WHILE_CONVERTING)
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py")
    assert not (tp.cwd / "pwned").exists(), (r.out, r.err)
    assert "denied" in r.out, (r.out, r.err)
    assert r.events("_posixsubprocess.fork_exec")[-1]["rule"] == "no-evil"
