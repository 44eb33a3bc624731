"""Attacks through tpython's Python state (the real _signal.signal in a wrapper's
__globals__, the engine through its closures). `_signal.signal` is now wrapped in C
(native/signalguard.c): the genuine function is the builtin itself. Each test asserts
what a user sees; it takes the route the attack took where it still exists."""
from __future__ import annotations

import os
import signal
import subprocess

from conftest import TPYTHON

DENY_SYSTEM = """
version = 1
extends = "default"

[[rules]]
id = "no-system"
events = ["os.system"]
action = "deny"
"""


def test_a_raw_handler_run_while_tpython_decides_is_still_decided(tp):
    """8/11: a handler set with the genuine _signal.signal runs while tpython decides an
    event (this thread marked busy), and its os.system is neither recorded nor denied
    (Python engine: there the decision runs in Python frames for every logged event)."""
    tp.policy(DENY_SYSTEM)
    tp.script("""
    import _signal, os, time
    real = getattr(_signal.signal, "__globals__", {}).get("_real_signal", _signal.signal)  # the genuine one
    done = []
    def raw(n, f):
        if done:
            return
        while f is not None:
            if "/tpython/" in f.f_code.co_filename:  # any Python code of tpython's on the stack
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


def test_sigterm_reset_by_the_genuine_signal_function_is_still_recorded(tp):
    """10: the program sets SIGTERM to SIG_DFL with the real _signal.signal, so SIGTERM
    kills it before tpython can write the exit record."""
    tp.script("""
    import _signal, time
    real = getattr(_signal.signal, "__globals__", {}).get("_real_signal", _signal.signal)  # the genuine one
    real(_signal.SIGTERM, _signal.SIG_DFL)
    print("ready", flush=True)
    time.sleep(60)
    """)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPYTHON")}
    argv = [*TPYTHON, "run", "--quiet", "--log", f"jsonl:{tp.log}"]
    with subprocess.Popen([*argv, "app.py"], cwd=tp.cwd, env=env, stdout=subprocess.PIPE) as program:
        assert program.stdout is not None
        assert program.stdout.readline() == b"ready\n"
        program.send_signal(signal.SIGTERM)
        assert program.wait(60) == -signal.SIGTERM
    exits = [line for line in tp.log.read_text().splitlines() if '"event":"tpython.exit"' in line]
    assert len(exits) == 1 and "SIGTERM" in exits[0]


def test_the_program_cannot_forge_records_through_the_engine(tp):
    """12: the engine was reachable from the closures of the Python _signal.signal wrapper;
    the program wrote a forged signal record and a forged exit, then went on. With the
    wrapper in C there are no closures to follow."""
    tp.script("""
    import _signal
    def find(fn, want, seen=set()):
        for cell in (getattr(fn, "__closure__", None) or ()):
            v = cell.cell_contents
            if type(v).__name__ == want:
                return v
            if callable(v) and getattr(v, "__closure__", None) and id(v) not in seen:
                seen.add(id(v))
                r = find(v, want)
                if r:
                    return r
    eng = find(_signal.signal, "NativeEngine") or find(_signal.signal, "Engine")
    if eng is None:
        raise SystemExit("no engine")
    eng.emit_internal("tpython.signal", {"signal": "SIGHUP", "received": 1, "handler": "forged.handler"})
    eng.finish(143, signal="SIGTERM")
    """)
    r = tp("run", "app.py")
    text = r.log.read_text()
    assert "no engine" in r.err
    assert "forged.handler" not in text
    assert text.count('"event":"tpython.exit"') == 1 and '"status":143' not in text
