"""The issue's acceptance scenarios, end to end through `tpython run`."""
from __future__ import annotations

import json

from conftest import TPYTHON  # noqa: F401  (documents how tpython is invoked)

WORKLOAD = """
import os, socket, subprocess, sys
from tpython import PolicyViolation

def attempt(name, fn):
    try:
        fn()
        print(name, "ok")
    except PolicyViolation as exc:
        print(name, "DENIED", exc.event, exc.rule)

def write():
    with open("out.txt", "w") as f:
        f.write("data")

def connect():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    c = socket.socket()
    try:
        c.connect(("127.0.0.1", port))
    finally:
        c.close()
        server.close()

def connect_only():
    c = socket.socket()
    try:
        c.connect(("127.0.0.1", int(os.environ.get("PORT", "9"))))
    except ConnectionRefusedError:
        pass
    finally:
        c.close()

attempt("write", write)
attempt("connect", connect if sys.argv[1:] != ["connect-only"] else connect_only)
attempt("subprocess", lambda: subprocess.run(["true"], check=True))
attempt("eval", lambda: eval("40 + 2"))
"""


def test_default_logs_every_behaviour_with_module_and_valid_chain(tp):
    tp.script(WORKLOAD)
    r = tp("run", "app.py")
    assert r.rc == 0, r.err
    assert r.out.split() == "write ok connect ok subprocess ok eval ok".split()
    recs = r.records
    assert recs[0]["event"] == "tpython.start" and recs[0]["seq"] == 0
    assert recs[-1]["event"] == "tpython.exit"
    by_event = {}
    for rec in recs:
        by_event.setdefault(rec["event"], []).append(rec)
    writes = [x for x in by_event["open"] if x["args"][0].endswith("out.txt")]
    assert writes and writes[0]["module"] == "__main__" and writes[0]["action"] == "log"
    assert any(x["args"][1] == ["127.0.0.1", x["args"][1][1]] for x in by_event["socket.connect"])
    assert all(x["module"] == "__main__" for x in by_event["socket.connect"])
    assert by_event["subprocess.Popen"][0]["module"] == "__main__"
    compiles = [x for x in by_event["compile"] if x["args"][0].get("excerpt") == "40 + 2"]
    assert compiles and len(compiles[0]["args"][0]["sha256"]) == 64
    # the summary on stderr says what happened and where the log is
    assert "logged" in r.err and str(tp.log) in r.err
    verify = tp.cli("log", "verify", str(tp.log))
    assert verify.rc == 0, verify.out
    assert verify.out.startswith("ok")


def test_editing_one_record_fails_verify_and_names_it(tp):
    tp.script(WORKLOAD)
    tp("run", "app.py")
    lines = tp.log.read_text().splitlines()
    rec = json.loads(lines[5])
    rec["args"] = ["/tmp/innocent"]
    lines[5] = json.dumps(rec, separators=(",", ":"))
    tp.log.write_text("\n".join(lines) + "\n")
    verify = tp.cli("log", "verify", str(tp.log))
    assert verify.rc == 1
    assert f"line 6: run {rec['run']} seq {rec['seq']}: record edited" in verify.out


def test_strict_denies_connect_and_subprocess_but_allows_ordinary_work(tp):
    tp.script(WORKLOAD)
    r = tp("run", "--policy", "strict", "app.py")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0] == "write ok"
    assert lines[1].startswith("connect DENIED socket.bind strict-network")
    assert lines[2] == "subprocess DENIED subprocess.Popen strict-process"
    assert lines[3] == "eval ok"
    denies = r.actions("deny")
    assert {d["event"] for d in denies} == {"socket.bind", "subprocess.Popen"}
    assert all(d["enforced"] is True and d["module"] == "__main__" for d in denies)


def test_strict_denies_connect_itself(tp):
    tp.script(WORKLOAD)
    r = tp("run", "--policy", "strict", "app.py", "connect-only")
    assert "connect DENIED socket.connect strict-network" in r.out


def test_audit_mode_denies_nothing_and_marks_would_be_denials(tp):
    tp.script(WORKLOAD)
    r = tp("run", "--policy", "strict", "--mode", "audit", "app.py")
    assert r.rc == 0, r.err
    assert r.out.split() == "write ok connect ok subprocess ok eval ok".split()
    denies = r.actions("deny")
    assert {"socket.bind", "socket.connect", "subprocess.Popen"} <= {d["event"] for d in denies}
    assert all(d["enforced"] is False for d in denies)
    assert "would deny" in r.err


def test_strict_runs_an_ordinary_program_unchanged(tp):
    tp.script("""
    import asyncio, collections, dataclasses, json, logging, tempfile, os, pathlib
    async def answer():
        await asyncio.sleep(0)
        return 42
    assert asyncio.run(answer()) == 42
    @dataclasses.dataclass
    class Point:
        x: int
        y: int = 0
    P = collections.namedtuple("P", "a b")
    logging.basicConfig(filename="app.log", level=logging.INFO)
    logging.getLogger("app").info("hello %s", Point(1))
    data = json.dumps({"p": dataclasses.asdict(Point(1, 2)), "t": P(1, 2)})
    with tempfile.TemporaryDirectory() as d:
        pathlib.Path(d, "x.json").write_text(data)
        assert json.loads(pathlib.Path(d, "x.json").read_text())["p"] == {"x": 1, "y": 2}
    pathlib.Path("result.txt").write_text(data)
    print("done", eval("1 + 1"))
    """)
    r = tp("run", "--policy", "strict", "app.py")
    assert r.rc == 0, r.err
    assert r.out.strip() == "done 2"
    assert r.actions("deny") == []
    assert "hello Point(x=1, y=0)" in (tp.cwd / "app.log").read_text()
