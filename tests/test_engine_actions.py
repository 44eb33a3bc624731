"""Each action (allow, count, log, ask, deny, kill) as the user sees it."""
from __future__ import annotations

import os

from conftest import TPYTHON, run_on_pty

POLICY = """
version = 1
extends = "default"
[launch]
allow = ["file", "module", "command"]

[[rules]]
id = "quiet-stat"
events = ["os.listdir"]
action = "allow"

[[rules]]
id = "tally-env"
events = ["os.putenv"]
action = "count"

[[rules]]
id = "no-chmod"
events = ["os.chmod"]
action = "deny"
message = "permissions are fixed"

[[rules]]
id = "stop-chown"
events = ["os.chown"]
action = "kill"

[[rules]]
id = "ask-connect"
events = ["socket.connect"]
action = "ask"
"""

SCRIPT = """
import os, sys
os.listdir(".")
for i in range(3):
    os.environ[f"X{i}"] = "1"
try:
    os.chmod("app.py", 0o600)
except PermissionError as exc:
    print("chmod:", type(exc).__name__, exc)
if sys.argv[1:] == ["chown"]:
    print("before chown", flush=True)
    os.chown("app.py", os.getuid(), os.getgid())
    print("after chown")
"""


def test_allow_count_log_deny(tp):
    tp.policy(POLICY)
    tp.script(SCRIPT)
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    assert ("chmod: PolicyViolation tpython: os.chmod of 'app.py' denied by rule 'no-chmod' of policy "
            f"'{tp.cwd / 'policy.toml'}': permissions are fixed") in r.out
    assert not [x for x in r.events("os.listdir") if x["args"][0] == "."]  # allowed: silent
    assert r.events("os.putenv") == []  # counted, not logged
    exit_rec = r.events("tpython.exit")[-1]
    assert exit_rec["args"]["counted"]["os.putenv"] == 3
    deny = r.events("os.chmod")[0]
    assert deny["action"] == "deny" and deny["rule"] == "no-chmod" and deny["enforced"] is True
    assert oct(os.stat(tp.cwd / "app.py").st_mode & 0o777) != "0o600"
    assert "1 denied" in r.err


def test_kill_exits_255_after_the_record(tp):
    tp.policy(POLICY)
    tp.script(SCRIPT)
    r = tp("run", "--policy", "policy.toml", "app.py", "chown")
    assert r.rc == 255
    assert "before chown" in r.out and "after chown" not in r.out
    kill = r.events("os.chown")[0]
    assert kill["action"] == "kill" and kill["rule"] == "stop-chown"
    exit_rec = r.records[-1]
    assert exit_rec["event"] == "tpython.exit" and exit_rec["args"]["status"] == 255
    assert tp.cli("log", "verify", str(tp.log)).rc == 0


def test_kill_in_audit_mode_only_records(tp):
    tp.policy(POLICY)
    tp.script(SCRIPT)
    r = tp("run", "--policy", "policy.toml", "--mode", "audit", "app.py", "chown")
    assert r.rc == 0 and "after chown" in r.out
    assert r.events("os.chown")[0]["enforced"] is False


CONNECT = """
import socket, sys
srv = socket.socket(); srv.bind(("127.0.0.1", 0)); srv.listen(1)
c = socket.socket()
try:
    c.connect(srv.getsockname())
    print("connected")
except PermissionError as exc:
    print("refused:", exc.__class__.__name__)
"""


def test_ask_without_terminal_denies(tp):
    tp.policy(POLICY)
    tp.script(CONNECT)
    r = tp("run", "--policy", "policy.toml", "app.py")  # stdin is /dev/null, no controlling tty? see below
    rec = r.events("socket.connect")[0]
    assert rec["action"] == "ask"
    assert rec["answer"] == "no-terminal"
    assert "refused: PolicyViolation" in r.out


def _run_on_pty(tp, answer: bytes) -> str:
    argv = TPYTHON + ["run", "--quiet", "--log", f"jsonl:{tp.log}", "--policy", "policy.toml", "app.py"]
    return run_on_pty(tp.cwd, argv, {b"Continue [y/N]": answer})[1]


def test_ask_on_terminal_yes_and_no(tp):
    tp.policy(POLICY)
    tp.script(CONNECT)
    out = _run_on_pty(tp, b"y\n")
    assert "Attempt to connect 127.0.0.1:" in out and "(tpython rule ask-connect)" in out
    assert "connected" in out
    recs = [r for r in _records(tp) if r["event"] == "socket.connect"]
    assert recs[-1]["answer"] == "yes"
    out = _run_on_pty(tp, b"n\n")
    assert "refused: PolicyViolation" in out
    recs = [r for r in _records(tp) if r["event"] == "socket.connect"]
    assert recs[-1]["answer"] == "no"


def _records(tp):
    import json

    return [json.loads(l) for l in tp.log.read_text().splitlines()]


def test_engine_own_work_is_not_logged(tp):
    tp.script("print('hi')")
    r = tp("run", "app.py")
    assert r.rc == 0
    import tpython

    own = os.path.dirname(tpython.__file__)
    for rec in r.records:
        if rec["event"].startswith("tpython."):
            continue
        text = str(rec["args"])
        assert own not in text, rec  # no record of tpython's own imports, opens or writes
        assert str(tp.log) not in text, rec
    # and nothing before tpython.start
    assert r.records[0]["event"] == "tpython.start"


def test_violation_is_a_permission_error_naming_event_rule_policy(tp):
    tp.script("""
    import socket
    from tpython import PolicyViolation
    try:
        socket.getaddrinfo("localhost", 80)
    except PermissionError as exc:
        assert isinstance(exc, PolicyViolation)
        print(exc.event, exc.rule, exc.policy)
    """)
    r = tp("run", "--policy", "strict", "app.py")
    assert r.out.strip() == "socket.getaddrinfo strict-network strict"


def test_arguments_are_rendered_bounded_and_json_safe(tp):
    tp.script("""
    import marshal, os, socket
    long = "x" * 5000
    eval(compile("a = 1\\n" + "#" * 3000, "<dyn>", "exec"))
    marshal.loads(marshal.dumps(long))
    fd = os.open("app.py", os.O_RDONLY)
    with open(fd) as f:
        f.read()
    open(b"bytes-name.txt", "w").close()
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::1", 0))
    s.close()
    """)
    r = tp("run", "app.py")
    assert r.rc == 0, r.err
    comp = [x for x in r.events("compile") if x["args"][1] == "<dyn>"][0]
    src = comp["args"][0]
    assert src["length"] == len("a = 1\n") + 3000 and len(src["excerpt"]) == 200 and len(src["sha256"]) == 64
    ml = r.events("marshal.loads")
    assert any(isinstance(x["args"][0], dict) and "bytes" in x["args"][0] for x in ml)
    opens = [x["args"][0] for x in r.events("open")]
    assert str(tp.cwd / "app.py") in opens  # the fd, shown as its path
    assert "bytes-name.txt" in opens
    bind = r.events("socket.bind")[0]["args"]
    assert bind[0] == {"socket": {"family": "AF_INET6", "type": "SOCK_DGRAM"}}
    assert bind[1][0] == "::1"
    assert all(len(line) < 20000 for line in tp.log.read_text().splitlines())


def test_os_system_command_is_logged_as_text_and_arg_rules_see_it(tp):
    """CPython hands os.system its command as bytes; the log shows the command, and an
    `arg` rule can name it (it could not when the bytes were shown as a digest)."""
    tp.policy("""
        version = 1
        extends = "default"
        [[rules]]
        id = "no-rm"
        events = ["os.system"]
        action = "deny"
        when = { arg = ['"rm -rf '] }
    """)
    tp.script("""
    import os
    os.system("true --version")
    try:
        os.system("rm -rf /nonexistent-tpython-test")
    except PermissionError:
        print("denied")
    """)
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    assert r.out.strip() == "denied"
    commands = [(x["args"][0], x["action"]) for x in r.events("os.system")]
    assert commands == [("true --version", "log"), ("rm -rf /nonexistent-tpython-test", "deny")]
