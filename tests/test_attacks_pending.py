"""Attacks that still work: the program reaches tpython's Python state (the real
_signal.signal, the engine through closures). Each test asserts what a user should see
once that is closed, and is expected to fail until then (strict: it flips to a failure
to remove the mark when the attack stops working)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from conftest import TPYTHON

BOTH_ENGINES = True

REASON = ("Python state of tpython reachable by the program; closed by the one C decision engine "
          "and the recorder process (issues 19 and 20)")
PENDING = pytest.mark.xfail(strict=True, reason=REASON)


def pending_under(request: pytest.FixtureRequest, engine: str) -> None:
    """Expect a failure only under ENGINE, where the attack works (the other passes)."""
    if request.getfixturevalue("engine") == engine:
        request.applymarker(pytest.mark.xfail(strict=True, reason=REASON))


DENY_SYSTEM = """
version = 1
extends = "default"

[[rules]]
id = "no-system"
events = ["os.system"]
action = "deny"
"""


def test_a_raw_handler_run_while_tpython_decides_is_still_decided(tp, request):
    """8/11: a handler set with the genuine _signal.signal runs while tpython decides an
    event (this thread marked busy), and its os.system is neither recorded nor denied
    (Python engine: there the decision runs in Python frames for every logged event)."""
    pending_under(request, "python")
    tp.policy(DENY_SYSTEM)
    tp.script("""
    import _signal, os, time
    real = _signal.signal.__globals__["_real_signal"]
    done = []
    def raw(n, f):
        if done:
            return
        while f is not None:
            if f.f_code.co_filename.endswith(("engine/hook.py", "engine/native.py")):
                done.append(1)
                _signal.setitimer(_signal.ITIMER_REAL, 0, 0)
                os.system("touch pwned")
                return
            f = f.f_back
    real(_signal.SIGALRM, raw)
    _signal.setitimer(_signal.ITIMER_REAL, 0.002, 0.002)
    end = time.time() + 8
    while not done and time.time() < end:
        os.mkdir("d"); os.rmdir("d")
    _signal.setitimer(_signal.ITIMER_REAL, 0, 0)
    """)
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert not (tp.cwd / "pwned").exists(), r.out + r.err


@PENDING
def test_sigterm_reset_by_the_genuine_signal_function_is_still_recorded(tp):
    """10: the program sets SIGTERM to SIG_DFL with the real _signal.signal, so SIGTERM
    kills it before tpython can write the exit record."""
    tp.script("""
    import _signal, time
    real = _signal.signal.__globals__["_real_signal"]
    real(_signal.SIGTERM, _signal.SIG_DFL)
    print("ready", flush=True)
    time.sleep(60)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPYTHON")}
    argv = [*TPYTHON, "run", "--quiet", "--log", f"jsonl:{tp.log}"]
    if tp.engine:
        argv += ["--engine", tp.engine]
    with subprocess.Popen([*argv, "app.py"], cwd=tp.cwd, env=env, stdout=subprocess.PIPE) as program:
        assert program.stdout is not None
        assert program.stdout.readline() == b"ready\n"
        program.send_signal(signal.SIGTERM)
        assert program.wait(60) == -signal.SIGTERM
    exits = [line for line in tp.log.read_text().splitlines() if '"event":"tpython.exit"' in line]
    assert len(exits) == 1 and "SIGTERM" in exits[0]


def test_the_program_cannot_forge_records_through_the_engine(tp, request):
    """12: the engine is reachable from the closures of the _signal.signal wrapper; the
    program writes a forged signal record and a forged exit, then goes on (native engine;
    the Python engine too on 3.13, whose wrapper's closures reach it as well)."""
    pending_under(request, "native")
    if sys.version_info >= (3, 13):
        pending_under(request, "python")
    tp.script("""
    import _signal
    def find(fn, want, seen=set()):
        for cell in (fn.__closure__ or ()):
            v = cell.cell_contents
            if type(v).__name__ == want:
                return v
            if callable(v) and getattr(v, "__closure__", None) and id(v) not in seen:
                seen.add(id(v))
                r = find(v, want)
                if r:
                    return r
    eng = find(_signal.signal, "NativeEngine") or find(_signal.signal, "Engine")
    eng.emit_internal("tpython.signal", {"signal": "SIGHUP", "received": 1, "handler": "forged.handler"})
    eng.finish(143, signal="SIGTERM")
    """)
    r = tp("run", "app.py")
    text = r.log.read_text()
    assert "forged.handler" not in text
    assert text.count('"event":"tpython.exit"') == 1 and '"status":143' not in text
