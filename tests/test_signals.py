"""Signals as a user (or `systemctl stop`) sends them: a signal that ends the run is
recorded with the exit and the process still dies by it; a signal the program handles
is recorded as received and the run goes on; the program's handlers behave as under
plain python. Real signals to real processes."""
from __future__ import annotations

import json
import os
import resource
import select
import signal
import subprocess
import sys
import time
from typing import Any, Optional

import pytest
from conftest import TPYTHON
from test_ask import converse

DEADLINE = 60  # seconds: only so that a broken build fails instead of hanging

WAIT = """
import time
print("ready", flush=True)
time.sleep(60)
print("not killed")
"""


def _no_core() -> None:
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # SIGQUIT's default dumps core: not here


class Program(subprocess.Popen):  # type: ignore[type-arg]
    """A started program whose output is read a line at a time, then to its end."""

    unread = b""


def start(tp: Any, *args: str, plain: bool = False, ignore: tuple[int, ...] = (), quiet: bool = False,
          policy: Optional[str] = None) -> Program:
    """`tpython run app.py ARGS` (or `python app.py` when PLAIN), its stdout a pipe,
    with the signals in IGNORE ignored from the start (as `nohup` does)."""
    if plain:
        argv = [sys.executable, "app.py", *args]
    else:
        if policy is not None:
            tp.policy(policy)
        argv = [*TPYTHON, "run", "--log", f"jsonl:{tp.log}", *(["--quiet"] if quiet else []),
                *(["--policy", "policy.toml"] if policy is not None else []),
                "app.py", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPYTHON")}

    def prepare() -> None:
        _no_core()
        for number in (signal.SIGINT, signal.SIGQUIT):  # as from a terminal, whatever runs the tests
            signal.signal(number, signal.SIG_DFL)
        for number in ignore:
            signal.signal(number, signal.SIG_IGN)

    return Program(argv, cwd=tp.cwd, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                   stderr=subprocess.PIPE, preexec_fn=prepare)


def read_until(proc: Program, text: str) -> list[str]:
    """Lines of PROC's stdout up to and including the one that is TEXT."""
    lines: list[str] = []
    end = time.monotonic() + DEADLINE
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    while time.monotonic() < end:
        while b"\n" in proc.unread:
            line, proc.unread = proc.unread.split(b"\n", 1)
            lines.append(line.decode())
            if lines[-1] == text:
                return lines
        ready, _, _ = select.select([fd], [], [], 1)
        if ready:
            chunk = os.read(fd, 4096)
            if not chunk:
                break
            proc.unread += chunk
    proc.kill()
    raise AssertionError(f"no {text!r} line; got {lines}, stderr {proc.communicate()[1].decode()}")


def finish(proc: Program, typed: bytes = b"") -> tuple[int, str, str]:
    out, err = proc.communicate(typed, timeout=DEADLINE)
    return proc.returncode, (proc.unread + out).decode(), err.decode()


def records(tp: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in tp.log.read_text().splitlines()]


def exit_args(tp: Any) -> dict[str, Any]:
    last = records(tp)[-1]
    assert last["event"] == "tpython.exit", last
    return last["args"]  # type: ignore[no-any-return]


def killed(tp: Any, number: int, script: str = WAIT, **kw: Any) -> tuple[int, str, str]:
    tp.script(script)
    proc = start(tp, **kw)
    read_until(proc, "ready")
    proc.send_signal(number)
    return finish(proc)


def test_sigterm_is_recorded_with_the_exit_and_still_ends_the_process(tp):
    rc, out, err = killed(tp, signal.SIGTERM)
    assert rc == -signal.SIGTERM, err  # killed by SIGTERM: a shell says 143
    assert "not killed" not in out
    args = exit_args(tp)
    assert args["signal"] == "SIGTERM" and args["status"] == 128 + signal.SIGTERM
    assert f"tpython: run {records(tp)[0]['run']}" in err  # the summary
    verify = tp.cli("log", "verify", str(tp.log))
    assert verify.rc == 0 and "no tpython.exit" not in verify.out, verify.out
    report = json.loads(tp.cli("report", "--json", str(tp.log)).out)
    assert [run["status"] for run in report["runs"]] == [128 + signal.SIGTERM]


@pytest.mark.parametrize("name", ["SIGHUP", "SIGQUIT", "SIGUSR1", "SIGALRM"])
def test_every_signal_that_ends_python_ends_the_run_recorded(tp, name):
    number = getattr(signal, name)
    tp.script(WAIT)
    plain = start(tp, plain=True)
    read_until(plain, "ready")
    plain.send_signal(number)
    assert finish(plain)[0] == -number  # what python itself does
    rc, _, err = killed(tp, number, quiet=True)
    assert rc == -number, err
    assert err == ""  # --quiet: no summary
    assert exit_args(tp)["signal"] == name


HANDLES_HUP = """
import os, signal, time
reloads = []
def reload(number, frame):
    reloads.append(number)
    os.write(1, b"reloaded\\n")  # print() could find stdout's buffer in use: python refuses that
print(repr(signal.signal(signal.SIGHUP, reload)), signal.getsignal(signal.SIGHUP) is reload, flush=True)
print("ready", flush=True)
while not reloads:
    time.sleep(0.01)
print("still running", flush=True)
"""


def test_a_handled_signal_is_recorded_and_the_run_goes_on(tp):
    tp.script(HANDLES_HUP)
    proc = start(tp)
    assert read_until(proc, "ready") == ["<Handlers.SIG_DFL: 0> True", "ready"]
    proc.send_signal(signal.SIGHUP)
    rc, out, err = finish(proc)
    assert rc == 0, err
    assert out.splitlines() == ["reloaded", "still running"]
    received = [r["args"] for r in records(tp) if r["event"] == "tpython.signal"]
    assert received == [{"signal": "SIGHUP", "received": 1, "handler": "__main__.reload"}]
    args = exit_args(tp)
    assert args["status"] == 0 and "signal" not in args


AS_PYTHON = """
import os, signal, sys, traceback
names = ("SIGTERM", "SIGHUP", "SIGINT", "SIGUSR1", "SIGUSR2", "SIGCHLD", "SIGPIPE")
print([signal.getsignal(getattr(signal, n)) for n in names])
def on_usr1(number, frame):
    print("usr1", number, frame.f_code.co_name)
def boom(number, frame):
    raise RuntimeError("from the handler")
print(signal.signal(signal.SIGUSR1, on_usr1), signal.signal(signal.SIGUSR1, on_usr1) is on_usr1)
signal.raise_signal(signal.SIGUSR1)
print(signal.signal(signal.SIGUSR2, signal.SIG_IGN), signal.getsignal(signal.SIGUSR2))
os.kill(os.getpid(), signal.SIGUSR2)  # ignored
print(signal.signal(signal.SIGUSR2, signal.SIG_DFL), signal.getsignal(signal.SIGUSR2))
print(signal.signal(signal.SIGTERM, boom), signal.getsignal(signal.SIGTERM) is boom)
try:
    signal.raise_signal(signal.SIGTERM)
except RuntimeError:
    print(traceback.format_exc() if sys.version_info >= (3, 11) else "raised")
print(signal.signal(signal.SIGTERM, signal.SIG_DFL) is boom, signal.getsignal(signal.SIGTERM))
print(signal.signal(signal.SIGINT, signal.default_int_handler) is signal.default_int_handler)
try:
    signal.raise_signal(signal.SIGINT)
except KeyboardInterrupt:
    print(traceback.format_exc() if sys.version_info >= (3, 11) else "interrupted")
import threading
def elsewhere():
    try:
        signal.signal(signal.SIGHUP, on_usr1)
    except ValueError as exc:
        print("thread:", exc)
thread = threading.Thread(target=elsewhere)
thread.start()
thread.join()
print("done")
"""


def test_the_programs_handlers_behave_as_under_plain_python(tp):
    tp.script(AS_PYTHON)
    plain = finish(start(tp, plain=True))
    assert plain[0] == 0, plain[2]
    rc, out, err = finish(start(tp, quiet=True))
    assert (rc, err) == (0, "")
    assert out == plain[1]
    received = [r["args"]["signal"] for r in records(tp) if r["event"] == "tpython.signal"]
    assert received == ["SIGUSR1", "SIGTERM"]


def test_a_signal_ignored_at_start_stays_ignored(tp):
    tp.script("""
    import signal, sys
    print(repr(signal.getsignal(signal.SIGHUP)), flush=True)
    print("ready", flush=True)
    print("got", sys.stdin.readline().strip())
    """)
    proc = start(tp, ignore=(signal.SIGHUP,))
    assert read_until(proc, "ready") == ["<Handlers.SIG_IGN: 1>", "ready"]
    proc.send_signal(signal.SIGHUP)
    rc, out, err = finish(proc, b"go\n")
    assert rc == 0, err
    assert out == "got go\n"
    assert exit_args(tp)["status"] == 0


def test_an_uncaught_keyboard_interrupt_names_sigint(tp):
    tp.script("""
    import signal
    print("ready", flush=True)
    signal.raise_signal(signal.SIGINT)
    """)
    rc, _, err = finish(start(tp))
    assert rc == -signal.SIGINT, err  # as python: it ends itself with SIGINT
    assert "KeyboardInterrupt" in err
    args = exit_args(tp)
    assert args["signal"] == "SIGINT" and args["status"] == 128 + signal.SIGINT


def test_sigint_set_to_its_default_by_the_program_is_recorded(tp):
    script = """
    import signal, time
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    print("ready", flush=True)
    time.sleep(60)
    """
    rc, out, err = killed(tp, signal.SIGINT, script)
    assert rc == -signal.SIGINT, err
    assert out == ""  # what came before "ready" was read already
    assert exit_args(tp)["signal"] == "SIGINT"


BUSY = """
import os, sys
handled = acked = 0
def on_usr1(number, frame):
    global handled
    handled += 1
    try:
        os.listdir(f"/nonexistent/handler-{handled}")
    except OSError:
        pass
if sys.argv[1:] == ["handler"]:
    import signal
    signal.signal(signal.SIGUSR1, on_usr1)
print("ready", flush=True)
i = 0
while acked < 20:
    i += 1
    try:
        os.listdir(f"/nonexistent/{i}")  # a record each time: the main thread mostly in tpython's work
    except OSError:
        pass
    if handled != acked:
        acked = handled
        os.write(1, f"handled {acked}\\n".encode())
print("handled all", flush=True)
"""

POLICY = """
version = 1
extends = "default"
[[rules]]
id = "log-listdir"
events = ["os.listdir"]
action = "log"
"""


@pytest.mark.parametrize("attempt", range(3))
def test_a_signal_while_records_are_written_ends_the_run_with_a_whole_chain(tp, attempt):
    tp.script(BUSY)
    proc = start(tp, quiet=True, policy=POLICY)
    read_until(proc, "ready")
    proc.send_signal(signal.SIGTERM)
    rc, _, err = finish(proc)
    assert rc == -signal.SIGTERM, err
    assert exit_args(tp)["signal"] == "SIGTERM"  # every line parses: none torn
    assert tp.cli("log", "verify", str(tp.log)).rc == 0


def test_the_programs_handler_never_runs_as_tpythons_own_work(tp):
    """Signals come while the main thread is mostly in tpython's work (deciding and
    writing records): what the handler does is recorded like anything else the program
    does, and nothing waits for a lock the thread holds."""
    tp.script(BUSY)
    proc = start(tp, "handler", quiet=True, policy=POLICY)
    read_until(proc, "ready")
    for n in range(1, 21):
        proc.send_signal(signal.SIGUSR1)
        read_until(proc, f"handled {n}")
    rc, out, err = finish(proc)
    assert rc == 0 and out == "handled all\n", err
    recs = records(tp)
    by_handler = [r for r in recs if r["event"] == "os.listdir" and "/handler-" in r["args"][0]]
    assert len(by_handler) == 20
    assert [r["args"]["received"] for r in recs if r["event"] == "tpython.signal"] == list(range(1, 21))
    assert tp.cli("log", "verify", str(tp.log)).rc == 0


def test_a_handler_arriving_during_a_question_runs_as_the_programs_work(tp):
    """Deterministically in tpython's own work: the signal comes while `ask` waits for an
    answer. The handler runs then, as under python (the read is interrupted), and what
    it does is recorded like anything else the program does."""
    tp.policy("""
    version = 1
    extends = "default"
    [[rules]]
    id = "ask-mkdir"
    events = ["os.mkdir"]
    action = "ask"
    [[rules]]
    id = "log-listdir"
    events = ["os.listdir"]
    action = "log"
    """)
    tp.script("""
    import os, signal, time
    ran = []
    def on_usr1(number, frame):
        try:
            os.listdir("/nonexistent/from-the-handler")
        except OSError:
            pass
        ran.append(number)
    signal.signal(signal.SIGUSR1, on_usr1)
    try:
        os.mkdir("made")
    except PermissionError:
        print("refused", ran)
    while not ran:
        time.sleep(0.01)
    print("handler ran")
    """)
    argv = [*TPYTHON, "run", "--quiet", "--log", f"jsonl:{tp.log}", "--policy", "policy.toml",
            "app.py"]
    status, shown = converse(tp.cwd, argv, [b"n\n"], signal=signal.SIGUSR1)
    assert status == 0, shown
    assert "refused [10]" in shown and "handler ran" in shown  # during the question
    recs = records(tp)
    assert ["/nonexistent/from-the-handler"] in [r["args"] for r in recs if r["event"] == "os.listdir"]
    assert [r["args"]["signal"] for r in recs if r["event"] == "tpython.signal"] == ["SIGUSR1"]


def test_sigterm_during_a_question_ends_the_run_recorded(tp):
    tp.policy('version = 1\nextends = "default"\n[[rules]]\nid = "ask-mkdir"\nevents = ["os.mkdir"]\naction = "ask"\n')
    tp.script('import os\nos.mkdir("made")\n')
    argv = [*TPYTHON, "run", "--quiet", "--log", f"jsonl:{tp.log}", "--policy", "policy.toml",
            "app.py"]
    status, shown = converse(tp.cwd, argv, [], signal=signal.SIGTERM)
    assert status == -signal.SIGTERM, shown
    assert exit_args(tp)["signal"] == "SIGTERM"
    assert not (tp.cwd / "made").exists()


def test_a_signal_never_waits_for_a_blocked_main_thread(tp):
    """Python runs handlers in the main thread: a signal another thread receives marks it,
    but leaves a main thread blocked in a lock as it is. Under python the default action
    ends the process at once; under tpython the run must end too, recorded."""
    script = """
    import signal, threading, time
    held = threading.Lock()
    held.acquire()
    def elsewhere():
        time.sleep(0.2)  # (the main thread is blocked by then, or the test only gets easier)
        signal.pthread_kill(threading.get_ident(), signal.SIGTERM)
    threading.Thread(target=elsewhere).start()
    print("ready", flush=True)
    held.acquire()
    """
    tp.script(script)
    assert finish(start(tp, plain=True))[0] == -signal.SIGTERM
    rc, _, err = finish(start(tp, quiet=True))
    assert rc == -signal.SIGTERM, err
    assert exit_args(tp)["signal"] == "SIGTERM"


def test_a_terminated_forked_worker_ends_its_run_recorded_and_quietly(tp):
    tp.script("""
    import multiprocessing, time
    def wait(ready):
        ready.set()
        time.sleep(60)
    if __name__ == "__main__":
        context = multiprocessing.get_context("fork")
        ready = context.Event()
        worker = context.Process(target=wait, args=(ready,))
        worker.start()
        ready.wait()
        worker.terminate()  # SIGTERM, as a pool's terminate() sends its workers
        worker.join()
        print(worker.exitcode)
    """)
    r = tp("run", "app.py")
    assert r.rc == 0 and r.out == f"{-signal.SIGTERM}\n", r.err
    assert r.err.count("tpython: run ") == 1  # the summary of the run started, not the worker's
    ends = {rec["run"]: rec["args"] for rec in r.events("tpython.exit")}
    forked = [rec["run"] for rec in r.events("tpython.start") if rec["args"].get("forked")]
    assert len(forked) == 1 and ends[forked[0]]["signal"] == "SIGTERM"
    verify = tp.cli("log", "verify", str(tp.log))
    assert verify.rc == 0 and "no tpython.exit" not in verify.out, verify.out


def test_sigkill_still_ends_a_run_without_its_exit_record(tp):
    """SIGKILL cannot be caught: said in docs/limits.md; a later recorder process writes it."""
    rc, _, _ = killed(tp, signal.SIGKILL)
    assert rc == -signal.SIGKILL
    assert records(tp)[-1]["event"] != "tpython.exit"
    verify = tp.cli("log", "verify", str(tp.log))
    assert "no tpython.exit" in verify.out

