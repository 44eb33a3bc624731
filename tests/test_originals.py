"""The C functions tpython wraps are wrapped in C (native/originals.c, signalguard.c): the
program cannot reach the originals, whichever instance of the module it makes, and the
PolicyViolation C raises is a type the program cannot modify (native/violation.c)."""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest
from conftest import TPYTHON

TOUCH = shutil.which("touch") or "/usr/bin/touch"

DENY_FORK_EXEC = """
version = 1
extends = "default"

[[rules]]
id = "no-fork-exec"
events = ["_posixsubprocess.fork_exec"]
action = "deny"
"""

# Each route to a `_posixsubprocess` module object other than the one tpython saw at start.
POSIXSUBPROCESS_ROUTES = {
    "reimport": "del sys.modules['_posixsubprocess']\nimport _posixsubprocess as m",
    "module_from_spec": "spec = importlib.util.find_spec('_posixsubprocess')\n"
                        "m = importlib.util.module_from_spec(spec)\nspec.loader.exec_module(m)",
    "create_dynamic": "spec = importlib.util.find_spec('_posixsubprocess')\n"
                      "m = _imp.create_dynamic(spec)\n_imp.exec_dynamic(m)",
    "closure": "import _posixsubprocess as m\n"
               "cells = [c.cell_contents for c in (getattr(m.fork_exec, '__closure__', None) or ())]\n"
               "cells = [c for c in cells if getattr(c, '__name__', '') == 'fork_exec']\n"
               "m = types.SimpleNamespace(fork_exec=(cells or [m.fork_exec])[0])",
}


@pytest.mark.skipif(sys.version_info >= (3, 14), reason="CPython raises the event itself")
@pytest.mark.parametrize("route", POSIXSUBPROCESS_ROUTES.values(), ids=POSIXSUBPROCESS_ROUTES.keys())
def test_every_instance_of_fork_exec_raises_its_audit_event(tp, route):
    """fork_exec of a fresh module instance, or the original from a Python wrapper's
    closure, raises `_posixsubprocess.fork_exec`: the policy denies it, nothing runs."""
    tp.policy(DENY_FORK_EXEC)
    tp.script(f"""
import _imp, importlib.util, subprocess, sys, types
import tpython
{route}
subprocess._fork_exec = m.fork_exec  # subprocess calls it with the arguments of this version
subprocess._posixsubprocess = m
subprocess._USE_POSIX_SPAWN = False  # 3.13 would take os.posix_spawn (an event of its own)
try:
    subprocess.run([{TOUCH!r}, "pwned"])
except tpython.PolicyViolation as exc:
    print("DENIED", exc.rule)
""")
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert "DENIED no-fork-exec" in r.out, r.out + r.err
    assert not (tp.cwd / "pwned").exists()
    assert [d["rule"] for d in r.events("_posixsubprocess.fork_exec")] == ["no-fork-exec"]


SIGNAL_ROUTES = {
    "module": "import _signal as m",
    "globals": "import _signal\n"
               "m = types.SimpleNamespace(signal=getattr(_signal.signal, '__globals__', {}).get('_real_signal', "
               "_signal.signal), SIGTERM=_signal.SIGTERM, SIG_DFL=_signal.SIG_DFL)",
    "reimport": "del sys.modules['_signal']\nimport _signal as m",
    "create_builtin": "m = _imp.create_builtin(importlib.util.find_spec('_signal'))\n_imp.exec_builtin(m)",
    "reimport_only": "del sys.modules['_signal']\nimport _signal\nm = None",
}


@pytest.mark.parametrize("route", SIGNAL_ROUTES.values(), ids=SIGNAL_ROUTES.keys())
def test_sigterm_is_recorded_whatever_signal_function_reset_it(tp, route):
    """The program puts SIGTERM back to its default through each `_signal` it can reach
    (or makes a new instance of the module, which forgot Python's handlers): SIGTERM still
    ends the run by SIGTERM, with one tpython.exit record."""
    tp.script(f"""
import _imp, importlib.util, sys, time, types
{route}
if m is not None:
    print("previous", m.signal(m.SIGTERM, m.SIG_DFL), flush=True)
print("ready", flush=True)
time.sleep(60)
""")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPYTHON")}
    argv = [*TPYTHON, "run", "--quiet", "--log", f"jsonl:{tp.log}"]
    with subprocess.Popen([*argv, "app.py"], cwd=tp.cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE) as program:
        assert program.stdout is not None and program.stderr is not None
        lines: list[bytes] = []
        while not lines or lines[-1] not in (b"ready\n", b""):
            lines.append(program.stdout.readline())
        assert lines[-1] == b"ready\n", lines + [program.stderr.read()]
        program.send_signal(signal.SIGTERM)
        assert program.wait(60) == -signal.SIGTERM, program.stderr.read()
    assert lines[:-1] == ([] if "m = None" in route else [b"previous 0\n"])  # what plain python says
    exits = [record for record in tp.events_of_log() if record["event"] == "tpython.exit"]
    assert len(exits) == 1 and exits[0]["args"]["signal"] == "SIGTERM"


def test_the_genuine_signal_function_is_not_a_python_function(tp):
    """`_signal.signal` and `getsignal` are the builtins (no __globals__ or closure to
    follow), and getsignal reports what the program set."""
    tp.script("""
    import _signal, signal
    print(type(_signal.signal).__name__, type(_signal.getsignal).__name__)
    print(hasattr(_signal.signal, "__globals__"), hasattr(_signal.signal, "__closure__"))
    def handler(n, f):
        pass
    print(signal.signal(signal.SIGTERM, handler) == signal.SIG_DFL, signal.getsignal(signal.SIGTERM) is handler)
    print(signal.signal(signal.SIGTERM, signal.SIG_DFL) is handler, signal.getsignal(signal.SIGTERM) == signal.SIG_DFL)
    """)
    r = tp("run", "app.py")
    assert r.out.split("\n")[:4] == [
        "builtin_function_or_method builtin_function_or_method", "False False", "True True", "True True",
    ], r.out + r.err


def test_policy_violation_cannot_be_modified_or_replaced(tp):
    """The class cannot be changed; a subclass, or another class put in tpython.errors,
    changes nothing that is raised; the message names the path, as before."""
    tp.script("""
    import os
    import tpython, tpython.errors
    PV = tpython.PolicyViolation
    print(PV is tpython.errors.PolicyViolation, PV.__mro__[1].__name__)
    for name, value in (("__str__", lambda self: "forged"), ("__init__", None), ("event", "forged")):
        try:
            setattr(PV, name, value)
            print("SET", name)
        except TypeError:
            print("refused", name)
    class Fake(PermissionError):
        pass
    class Sub(PV):
        pass
    tpython.errors.PolicyViolation = Fake
    tpython.PolicyViolation = Sub
    try:
        open(os.path.join(os.path.expanduser("~"), ".ssh", "id_rsa"))
    except BaseException as exc:
        print(type(exc) is PV, type(exc).__module__, type(exc).__qualname__)
        print(exc.event, exc.rule, exc.policy, exc.path == os.path.join(os.path.expanduser("~"), ".ssh", "id_rsa"))
        print(str(exc).replace(os.path.expanduser("~"), "HOME"))
        print(exc.reason == str(exc)[len("tpython: "):], exc.args == (str(exc),))
    """)
    home = tp.cwd / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_rsa").write_text("secret\n")
    r = tp("run", "--policy", "strict", "app.py", env={"HOME": str(home)})
    assert r.out.split("\n")[:9] == [
        "True PermissionError", "refused __str__", "refused __init__", "refused event",
        "True tpython.errors PolicyViolation",
        "open strict-secrets strict True",
        "tpython: open of 'HOME/.ssh/id_rsa' denied by rule 'strict-secrets' of policy 'strict': "
        "reading credentials is denied under strict",
        "True True", "",
    ], r.out + r.err
