"""The `ask` action on a real terminal (a pseudo-terminal that is the program's
controlling terminal): only a typed yes allows, one question per launch naming the
program that would really run, a plain reason without a terminal, refusals counted."""
from __future__ import annotations

import json
import os
import pty
import select
import signal
import sys
import time
from pathlib import Path
from typing import Optional

import pytest
from conftest import TPYTHON

PROMPT = b"Continue [y/N] "
DEADLINE = 60  # seconds: only so that a broken build fails instead of hanging

POLICY = """
version = 1
extends = "default"

[[rules]]
id = "ask-run"
events = ["subprocess.Popen", "_posixsubprocess.fork_exec", "os.posix_spawn", "os.exec"]
action = "ask"

[[rules]]
id = "ask-mkdir"
events = ["os.mkdir"]
action = "ask"

[[rules]]
id = "ask-custom"
events = ["custom.*"]
action = "ask"
"""

RUN_TRUE = """
import subprocess
try:
    print("ran, status", subprocess.run(["true"]).returncode)
except PermissionError as exc:
    print("refused:", exc)
"""


def converse(cwd: Path, argv: list[str], answers: list[bytes], env: Optional[dict[str, str]] = None,
             before: Optional[tuple[bytes, bytes, Path]] = None, signal: Optional[int] = None,
             answer_after: Optional[bytes] = None) -> tuple[int, str]:
    """Run ARGV on a new pseudo-terminal (its controlling terminal: pty.fork makes the
    child a session leader) and type ANSWERS, one each time the question appears (`n`
    once they are used up); SIGNAL is sent to it while the first question waits, and
    that question is answered only once ANSWER_AFTER is shown (if given).
    BEFORE = (cue, typed, go): once CUE is shown, type TYPED, then create the file GO.
    Returns (exit status, everything the terminal showed)."""
    pid, fd = pty.fork()
    if pid == 0:
        os.chdir(cwd)
        os.execve(argv[0], argv, env if env is not None else dict(os.environ))
    shown, asked, end = b"", 0, time.monotonic() + DEADLINE
    pending = list(answers)
    held: Optional[bytes] = None
    try:
        while time.monotonic() < end:
            ready, _, _ = select.select([fd], [], [], 1)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the child and its terminal are gone
                break
            if not chunk:
                break
            shown += chunk
            if before is not None and before[0] in shown:
                os.write(fd, before[1])
                before[2].write_text("go")
                before = None
            while shown.count(PROMPT) > asked:  # a question more than expected is answered no
                asked += 1
                typed = pending.pop(0) if pending else b"n\n"
                if signal is not None:
                    os.kill(pid, signal)
                    signal = None
                if answer_after is not None and asked == 1:
                    held = typed
                    continue
                os.write(fd, typed)
            if held is not None and answer_after is not None and answer_after in shown:
                os.write(fd, held)
                held = None
        else:
            os.kill(pid, 9)
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


def _records(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def _run(tp, answers: list[bytes], script: str = RUN_TRUE, **kw) -> tuple[int, str, list[dict]]:
    tp.policy(POLICY)
    tp.script(script)
    if tp.log.exists():
        tp.log.unlink()
    (tp.cwd / "nothing").mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPYTHON")}
    env["PATH"] = f"{tp.cwd / 'nothing'}:/usr/bin:/bin"  # the first PATH candidate does not exist
    argv = [*TPYTHON, "run", "--quiet", "--log", f"jsonl:{tp.log}", "--policy", "policy.toml"]
    status, shown = converse(tp.cwd, [*argv, "app.py"], answers, env, **kw)
    return status, shown, _records(tp.log)


def _asked(records: list[dict]) -> list[tuple[str, str]]:
    return [(r["event"], r["answer"]) for r in records if r["action"] == "ask"]


@pytest.mark.parametrize("typed", [b"y\n", b"yes\n", b"Y\n"])
def test_a_typed_yes_allows(tp, typed):
    status, shown, records = _run(tp, [typed])
    assert status == 0, shown
    assert "ran, status 0" in shown
    assert _asked(records) == [("subprocess.Popen", "yes"), ("_posixsubprocess.fork_exec", "yes")]


@pytest.mark.parametrize("typed", [b"n\n", b"\n", b"\x04", b"sure\n", b"y\x04\x04"],
                         ids=["no", "empty-line", "end-of-file", "anything-else", "y-without-enter"])
def test_anything_but_a_typed_yes_is_a_no(tp, typed):
    status, shown, records = _run(tp, [typed])
    assert status == 0, shown
    assert "ran" not in shown
    assert "refused: tpython: subprocess.Popen denied by rule 'ask-run'" in shown
    assert "not confirmed at the terminal" in shown
    assert _asked(records) == [("subprocess.Popen", "no")]


def test_one_question_per_launch_naming_the_program_that_runs(tp):
    status, shown, records = _run(tp, [b"y\n", b"y\n"])
    assert status == 0, shown
    assert shown.count(PROMPT.decode()) == 1, shown
    assert "Attempt to run /usr/bin/true: true (subprocess.Popen) (tpython rule ask-run)" in shown
    assert str(tp.cwd / "nothing") not in shown  # a PATH candidate that does not exist is never named
    assert _asked(records) == [("subprocess.Popen", "yes"), ("_posixsubprocess.fork_exec", "yes")]


def test_a_program_that_is_nowhere_is_said_so_once_and_fails_as_under_python(tp):
    script = """
    import subprocess
    try:
        subprocess.run(["no-such-tool", "--version"])
    except FileNotFoundError as exc:
        print("not found:", exc.filename)
    """
    status, shown, records = _run(tp, [b"y\n"], script)
    assert status == 0, shown
    assert shown.count(PROMPT.decode()) == 1, shown
    assert "Attempt to run no-such-tool, not found (subprocess.Popen)" in shown
    assert "not found: no-such-tool" in shown
    assert _asked(records) == [("subprocess.Popen", "yes"), ("_posixsubprocess.fork_exec", "yes")]


def test_what_was_typed_before_the_question_does_not_answer_it(tp):
    script = """
    import os, time
    print("waiting", flush=True)
    while not os.path.exists("go"):
        time.sleep(0.02)
    try:
        os.mkdir("made")
        print("made it")
    except PermissionError:
        print("refused")
    """
    status, shown, records = _run(tp, [b"n\n"], script, before=(b"waiting", b"y\n", tp.cwd / "go"))
    assert status == 0, shown
    assert "refused" in shown and "made it" not in shown
    assert _asked(records) == [("os.mkdir", "no")]
    assert not (tp.cwd / "made").exists()


def test_the_question_cannot_be_redrawn_by_the_program(tp):
    script = ('import os\ntry:\n    os.mkdir("x\\x1b[2K\\rAttempt to mkdir harmless")\n'
              'except PermissionError:\n    pass\n')
    status, shown, _ = _run(tp, [b"n\n"], script)
    assert status == 0, shown
    assert "\x1b" not in shown
    assert "x\\x1b[2K\\rAttempt to mkdir harmless (tpython rule ask-mkdir). Continue [y/N]" in shown


def test_without_a_terminal_the_denial_says_so_and_report_counts_it(tp):
    tp.policy(POLICY)
    tp.script(RUN_TRUE)
    r = tp("run", "--policy", "policy.toml", "app.py")  # a new session: no controlling terminal
    assert r.rc == 0, r.err
    assert ("refused: tpython: subprocess.Popen denied by rule 'ask-run' of policy "
            f"'{tp.cwd / 'policy.toml'}': no terminal to ask on") in r.out
    assert [(x["event"], x["answer"]) for x in r.actions("ask")] == [("subprocess.Popen", "no-terminal")]
    report = tp.cli("report", "--json", str(tp.log))
    assert report.rc == 0, report.err
    data = json.loads(report.out)
    assert [run["denials"] for run in data["runs"]] == [1]
    assert [(row["event"], row["action"]) for row in data["denials"]["rows"]] == [("subprocess.Popen", "ask")]


def test_a_yes_is_not_counted_as_a_denial(tp):
    _, shown, _ = _run(tp, [b"y\n"])
    assert "ran, status 0" in shown
    data = json.loads(tp.cli("report", "--json", str(tp.log)).out)
    assert [run["denials"] for run in data["runs"]] == [0]


def test_a_terminal_the_program_made_its_own_is_not_asked_on(tp):
    """The program leaves tpython's terminal (setsid) and makes a pseudo-terminal it holds
    the other end of its controlling terminal: it would see the question and answer it."""
    script = """
    import os, subprocess, threading
    pid = os.fork()
    if pid == 0:
        os.setsid()
        m, s = os.openpty()
        import fcntl, termios  # os.login_tty(s), which 3.9 and 3.10 lack
        fcntl.ioctl(s, termios.TIOCSCTTY, 0)
        for fd in (0, 1, 2):
            os.dup2(s, fd)
        def answer():
            seen = b""
            while b"Continue [y/N]" not in seen:
                seen += os.read(m, 1024)
            os.write(m, b"y\\n")
        threading.Thread(target=answer, daemon=True).start()
        try:
            subprocess.run(["true"])
            result = "ran"
        except PermissionError as exc:
            result = f"refused: {exc}"
        with open("result", "w") as out:
            out.write(result)
        os._exit(0)
    os.waitpid(pid, 0)
    print("parent done")
    """
    status, shown, records = _run(tp, [], script)
    assert status == 0, shown
    assert "parent done" in shown
    assert (tp.cwd / "result").read_text().endswith("the terminal is not the one tpython started on")
    assert _asked(records) == [("subprocess.Popen", "other-terminal")]
    tp.log.unlink()
    r = tp("run", "--policy", "policy.toml", "app.py")  # started with no terminal at all
    assert r.rc == 0, r.err
    assert (tp.cwd / "result").read_text().endswith("no terminal to ask on")
    assert [(x["event"], x["answer"]) for x in r.actions("ask")] == [("subprocess.Popen", "no-terminal")]


def test_the_program_named_is_found_from_the_directory_it_starts_in(tp):
    """`./ls` with cwd=DIR runs DIR/ls: the question names it, an `executable` rule matches it."""
    (tp.cwd / "evil").mkdir()
    (tp.cwd / "evil" / "ls").write_text("#!/bin/sh\necho EVIL RAN\n")
    (tp.cwd / "evil" / "ls").chmod(0o755)
    script = """
    import os, subprocess
    here = os.getcwd()
    os.chdir("/usr/bin")
    try:
        subprocess.run(["./ls", "-d", "."], cwd=os.path.join(here, "evil"))
    except PermissionError as exc:
        print("refused:", exc)
    """
    status, shown, records = _run(tp, [b"n\n"], script)
    assert status == 0, shown
    assert f"Attempt to run {tp.cwd / 'evil' / 'ls'}: ./ls -d . (subprocess.Popen)" in shown
    assert _asked(records) == [("subprocess.Popen", "no")]
    policy = f"""
version = 1
extends = "default"

[[rules]]
id = "no-evil"
events = ["subprocess.Popen"]
action = "deny"
when = {{ executable = ["{tp.cwd / 'evil' / 'ls'}"] }}
"""
    tp.policy(policy)
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert "refused: tpython: subprocess.Popen denied by rule 'no-evil'" in r.out, r.out + r.err


def test_a_yes_does_not_carry_to_a_list_changed_after_it(tp):
    script = """
    import subprocess, sys
    class Env(dict):
        def items(self):  # runs after the yes to subprocess.Popen, before the program starts
            sys._getframe(1).f_locals["args"][2] = "echo EVIL"
            return dict.items(self)
    try:
        subprocess.run(["/bin/sh", "-c", "echo hello"], env=Env(PATH="/usr/bin:/bin"))
    except PermissionError as exc:
        print("refused:", exc)
    """
    status, shown, records = _run(tp, [b"y\n", b"n\n"], script)
    assert status == 0, shown
    assert "EVIL" not in shown.replace("'echo EVIL'", "")  # the changed list never ran unasked
    if sys.version_info < (3, 13):  # 3.13 launches through os.posix_spawn here and does not read the list again
        assert "/bin/sh -c 'echo EVIL' (_posixsubprocess.fork_exec)" in shown
        assert _asked(records) == [("subprocess.Popen", "yes"), ("_posixsubprocess.fork_exec", "no")]


def test_a_yes_does_not_carry_into_a_forked_child(tp):
    script = """
    import os, subprocess
    class Env(dict):
        def items(self):  # runs after the yes to subprocess.Popen, before the program starts
            os.fork()
            return dict.items(self)
    try:
        subprocess.run(["/bin/sh", "-c", "echo launched >> launches"], env=Env(PATH="/usr/bin:/bin"))
    except PermissionError as exc:
        print("refused:", exc)
    """
    status, shown, records = _run(tp, [b"y\n", b"n\n"], script)
    assert status == 0, shown
    assert (tp.cwd / "launches").read_text() == "launched\n"  # one yes, one launch
    if sys.version_info < (3, 13):  # 3.13 launches through os.posix_spawn here
        assert sorted(_asked(records)) == [("_posixsubprocess.fork_exec", "no"),
                                           ("_posixsubprocess.fork_exec", "yes"), ("subprocess.Popen", "yes")]


# Replace every function of the Python modules that decided `ask` before it was C's, and
# every method of their classes, with one that says yes.
TAMPER_YES = """
import os, signal, sys, types
def yes(*args, **kwargs):
    return True, "yes"
for name in [n for n in sys.modules if n.startswith("tpython.")]:
    module = sys.modules.get(name)
    for owner in ([module] + [v for v in vars(module).values() if isinstance(v, type)]) if module else []:
        for key, value in list(vars(owner).items()):
            if isinstance(value, types.FunctionType) and not key.startswith("__"):
                setattr(owner, key, yes)
print("tampered", flush=True)
try:
    os.mkdir("made")
    print("made it")
except PermissionError as exc:
    print("refused:", exc)
"""


def test_a_program_that_replaces_the_python_engine_cannot_answer_for_itself(tp):
    tp.policy(POLICY)
    tp.script(TAMPER_YES)
    r = tp("run", "--policy", "policy.toml", "app.py")  # no terminal, no one to type
    assert r.rc == 0, r.err
    assert "tampered" in r.out and "made it" not in r.out
    assert "refused: tpython: os.mkdir of 'made' denied by rule 'ask-mkdir'" in r.out
    assert "no terminal to ask on" in r.out
    assert not (tp.cwd / "made").exists()
    assert [(x["event"], x["answer"]) for x in r.actions("ask")] == [("os.mkdir", "no-terminal")]
    status, shown, records = _run(tp, [b"\n"], TAMPER_YES)  # on a terminal: asked, and an empty line is a no
    assert status == 0, shown
    assert shown.count(PROMPT.decode()) == 1 and "refused:" in shown and "made it" not in shown
    assert _asked(records) == [("os.mkdir", "no")]


def test_a_yes_typed_after_the_program_tampered_is_asked_and_recorded(tp):
    status, shown, records = _run(tp, [b"yes\n"], TAMPER_YES)
    assert status == 0, shown
    assert shown.count(PROMPT.decode()) == 1, shown
    assert f"Attempt to os.mkdir {tp.cwd / 'made'} (tpython rule ask-mkdir). Continue [y/N]" in shown
    assert "made it" in shown and (tp.cwd / "made").is_dir()
    assert _asked(records) == [("os.mkdir", "yes")]


def test_a_signal_handler_run_while_the_question_waits_is_watched(tp):
    """The program's handler runs while the question waits (as under os.read): its own
    `ask` is a no without a second question, and its events are recorded."""
    script = """
    import os, signal
    def handler(signum, frame):
        try:
            os.mkdir("from-handler")
            print("handler made it", flush=True)
        except PermissionError as exc:
            print("handler refused:", exc, flush=True)
    signal.signal(signal.SIGUSR1, handler)
    try:
        os.mkdir("made")
        print("made it")
    except PermissionError:
        print("refused")
    """
    status, shown, records = _run(tp, [b"y\n"], script, signal=signal.SIGUSR1, answer_after=b"handler ")
    assert status == 0, shown
    assert shown.count(PROMPT.decode()) == 1, shown
    assert "handler refused:" in shown and "not confirmed at the terminal" in shown
    assert not (tp.cwd / "from-handler").exists()
    assert "made it" in shown
    assert _asked(records) == [("os.mkdir", "no"), ("os.mkdir", "yes")]


def test_an_event_without_a_place_or_program_is_described_by_its_arguments(tp):
    """As str() shows the arguments rendered as the log has them, cut to 200 characters,
    control characters escaped."""
    script = """
    import sys
    try:
        sys.audit("custom.thing", {"k": [1, None, True], "n": 1.5}, "two words", b"\\x00\\xff", 10**20,
                  float("inf"), "caf\\u00e9\\u202e")
        print("allowed")
    except PermissionError:
        print("refused")
    """
    status, shown, records = _run(tp, [b"n\n"], script)
    assert status == 0, shown
    assert ("Attempt to custom.thing {'k': [1, None, True], 'n': 1.5}, two words, {'bytes': 2, 'sha256': "
            "'06eb7d6a69ee19e5fbdf749018d3d2abfa04bcbd1365db312eb86dc7169389b8'}, 100000000000000000000, inf, "
            "caf\u00e9\\u202e (tpython rule ask-custom). Continue [y/N]") in shown, shown
    assert "refused" in shown
    assert _asked(records) == [("custom.thing", "no")]


def test_other_threads_run_and_are_watched_while_the_question_waits(tp):
    """The question waits without holding the interpreter: another thread of the program's
    runs meanwhile, its events decided and recorded as ever."""
    script = """
    import os, threading, time
    def elsewhere():
        while not os.path.exists("go"):
            time.sleep(0.01)
        try:
            os.listdir("/nonexistent/from-the-thread")
        except OSError:
            pass
        print("thread ran", flush=True)
    threading.Thread(target=elsewhere).start()
    try:
        os.mkdir("made")
        print("made it")
    except PermissionError:
        print("refused")
    """
    policy = POLICY + '\n[[rules]]\nid = "log-listdir"\nevents = ["os.listdir"]\naction = "log"\n'
    tp.policy(policy)
    tp.script(script)
    argv = [*TPYTHON, "run", "--quiet", "--log", f"jsonl:{tp.log}", "--policy", "policy.toml", "app.py"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPYTHON")}
    status, shown = converse(tp.cwd, argv, [b"y\n"], env, before=(b"Continue [y/N]", b"", tp.cwd / "go"),
                             answer_after=b"thread ran")
    assert status == 0, shown
    assert "thread ran" in shown and "made it" in shown
    records = _records(tp.log)
    listed = [r["seq"] for r in records
              if r["event"] == "os.listdir" and r["args"] == ["/nonexistent/from-the-thread"]]
    asked = [r["seq"] for r in records if r["action"] == "ask"]
    assert len(listed) == 1 and asked and listed[0] < asked[0]  # recorded while the question waited
