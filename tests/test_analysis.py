"""`tpython report`, `learn` and `diff` end to end on real logs, and the dense
logic under them (generalising names, bounded tables, the chain fast path)."""
from __future__ import annotations

import json
import os
import re

import pytest
from conftest import assert_one_line_error

WORKLOAD = """
import os, pickle, socket, subprocess, sys
open("inside.txt", "w").write("x")
open(sys.argv[1], "w").write("x")            # outside the working and temp directories
exec(compile("y = 40 + 2", "<generated>", "exec"))
subprocess.run(["true"])
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.close()
try:
    socket.socket().connect(("127.0.0.1", 9))
except OSError:
    pass
"""


@pytest.fixture
def outside(tmp_path_factory):
    """A file path outside the temp directory (and so outside the working directory)."""
    path = f"/var/tmp/tpython-analysis-{os.getpid()}-{tmp_path_factory.getbasetemp().name}.txt"
    yield path
    if os.path.exists(path):
        os.unlink(path)


@pytest.fixture
def audited(tp, outside):
    tp.script(WORKLOAD)
    r = tp("run", "--policy", "strict", "--mode", "audit", "app.py", outside)
    assert r.rc == 0, r.err
    return tp


def test_report_shows_runs_denials_destinations_programs_writes_and_code(audited, outside):
    r = audited.cli("report", str(audited.log))
    assert r.rc == 0, r.err
    out = r.out
    assert re.search(r"^  [0-9a-f]{16} pid \d+: app\.py .*\[strict, audit\].* exit 0$", out, re.M)
    denials = out.split("Denials and kills")[1].split("\n\n")[0]
    assert "deny (audit: not enforced) subprocess.Popen by rule strict-process in __main__" in denials
    assert "socket.connect by rule strict-network" in denials
    network = out.split("Network destinations")[1].split("\n\n")[0]
    assert "127.0.0.1:9 " in network and "127.0.0.1:0 " in network
    programs = out.split("Programs run")[1].split("\n\n")[0]
    assert "/usr/bin/true" in programs or "/bin/true" in programs
    writes = out.split("Files written outside")[1].split("\n\n")[0]
    assert outside in writes and "inside.txt" not in writes
    code = out.split("Dynamic code")[1].split("\n\n")[0]
    assert "'y = 40 + 2'" in code
    assert "none: every chain holds" in out


def test_report_json_has_the_same_tables(audited, outside):
    r = audited.cli("report", "--json", str(audited.log))
    data = json.loads(r.out)
    assert data["records"] == len(audited.events_of_log())
    assert [row["path"] for row in data["writes_outside"]["rows"]] == [outside]
    assert {"event": "subprocess.Popen", "rule": "strict-process"}.items() <= data["denials"]["rows"][0].items() \
        or any(row["event"] == "subprocess.Popen" for row in data["denials"]["rows"])
    series = data["timeline"]["series"]
    assert sum(map(sum, series.values())) == data["records"] + data["repeats"]  # summarised repeats count too
    assert data["problems"] == []


def test_report_counts_counted_events_from_the_exit_record(tp):
    tp.script("for i in range(50): id(i)\n")
    assert tp("run", "app.py").rc == 0
    data = json.loads(tp.cli("report", "--json", str(tp.log)).out)
    frequent = next(c for c in data["categories"] if c["category"] == "frequent")
    assert ("builtins.id", 50) in [tuple(t) for t in frequent["top"]] or frequent["count"] >= 50


def test_report_names_integrity_failures(tp):
    tp.script("import helper\n")
    (tp.cwd / "helper.py").write_text("x = 1\n")
    tp.policy('version = 1\nextends = "default"\n[integrity]\nrequire = true\nxattr = true\n')
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc != 0
    out = tp.cli("report", str(tp.log)).out
    section = out.split("Integrity failures")[1]
    assert f"{tp.cwd}/app.py: no user.org.python.x-spython-hash xattr" in section


def test_report_children_are_runs_of_their_own(tp):
    tp.script("import os\npid = os.fork()\nif pid == 0:\n    open('child.txt', 'w').close()\n    os._exit(0)\n"
              "os.waitpid(pid, 0)\n")
    assert tp("run", "app.py").rc == 0
    data = json.loads(tp.cli("report", "--json", str(tp.log)).out)
    assert len(data["runs"]) == 2
    parent, child = data["runs"]
    assert child["parent"] == parent["run"]


def test_corrupt_lines_and_broken_chains_are_reported_not_fatal(audited):
    lines = audited.log.read_text().splitlines()
    rec = json.loads(lines[5])
    rec["event"] = "edited"
    lines[5] = json.dumps(rec, separators=(",", ":"))
    del lines[7]
    lines.insert(3, "{not json")
    audited.log.write_text("\n".join(lines) + "\n")
    r = audited.cli("report", str(audited.log))
    assert r.rc == 1
    assert "Traceback" not in r.err
    problems = r.out.split("Log problems")[1]
    assert "line 4: not a JSON record" in problems
    assert "record edited" in problems
    assert "missing before it (deleted or moved)" in problems
    assert "subprocess.Popen by rule strict-process" in r.out  # the rest is still analysed
    learned = audited.cli("learn", str(audited.log), "--out", "p.toml")
    assert learned.rc == 0 and "problem(s) in the logs" in learned.out
    assert audited.cli("diff", str(audited.log), str(audited.log)).rc == 0


@pytest.mark.parametrize("argv, needle", [
    (["report", "missing.jsonl"], "cannot read log missing.jsonl"),
    (["learn", "missing.jsonl", "--out", "p.toml"], "cannot read log missing.jsonl"),
    (["diff", "missing.jsonl", "missing.jsonl"], "cannot read log missing.jsonl"),
    (["learn", "audit.jsonl", "--out", "/nonexistent/dir/p.toml"], "cannot write policy /nonexistent/dir/p.toml"),
    (["report", "audit.jsonl", "--html", "/nonexistent/dir/r.html"], "cannot write HTML report"),
])
def test_bad_input_is_one_clear_line(audited, argv, needle):
    assert_one_line_error(audited.cli(*argv), needle)


def test_learn_without_denials_says_how_to_record(tp):
    tp.script("open('x.txt', 'w').close()\n")
    assert tp("run", "app.py").rc == 0
    r = tp.cli("learn", str(tp.log), "--out", "p.toml")
    assert r.rc == 0
    assert "no denials in these logs (recorded under: default enforce)" in r.out
    assert "--policy strict --mode audit" in r.out
    assert tp.cli("policy", "check", "p.toml").rc == 0


def test_learned_rules_are_commented_and_limited_to_what_was_seen(audited):
    r = audited.cli("learn", str(audited.log), "--out", "p.toml")
    assert r.rc == 0, r.err
    text = (audited.cwd / "p.toml").read_text()
    assert text.count('action = "log"') == 2  # one destination, one program
    assert 'host = ["127.0.0.1"], port = [0, 9]' in text
    assert re.search(r'# program: true: 2 record\(s\) by __main__', text)
    assert 'module = ["__main__"]' in text
    check = audited.cli("policy", "check", "p.toml")
    assert check.rc == 0, check.err


DEPENDENCY = """
import json, os
def load_settings():
    with open("settings.json") as f:
        settings = json.load(f)
    if os.environ.get("DEPX_EVIL"):
        try:
            with open(os.path.expanduser("~/.aws/credentials")) as f:
                settings["stolen"] = f.read()
        except OSError:
            pass
    return settings
"""


def test_diff_flags_a_dependency_that_starts_reading_aws_credentials(tp):
    home = tp.cwd / "home"
    (home / ".aws").mkdir(parents=True)
    (home / ".aws" / "credentials").write_text("[default]\naws_secret_access_key = x\n")
    (tp.cwd / "depx").mkdir()
    (tp.cwd / "depx" / "__init__.py").write_text(DEPENDENCY)
    (tp.cwd / "settings.json").write_text('{"a": 1}')
    tp.script("import depx\nprint(depx.load_settings())\nopen('out.txt', 'w').write('done')\n")
    logs = {}
    for name, extra in (("baseline", {}), ("rerun", {}), ("evil", {"DEPX_EVIL": "1"})):
        log = tp.cwd / f"{name}.jsonl"
        r = tp("run", "--log", f"jsonl:{log}", "app.py", env={"HOME": str(home), **extra})
        assert r.rc == 0, r.err
        logs[name] = str(log)
    same = tp.cli("diff", logs["baseline"], logs["rerun"])
    assert (same.rc, same.out.splitlines()[-1]) == (0, "nothing new"), same.out
    evil = tp.cli("diff", logs["baseline"], logs["evil"])
    assert evil.rc == 1
    first = evil.out.splitlines()[2]
    assert first.split()[0] == "100" and "reads a secret" in first and ".aws/credentials" in first, evil.out
    assert "by depx in run" in first
    data = json.loads(tp.cli("diff", "--json", logs["baseline"], logs["evil"]).out)
    assert data["new"][0]["kind"] == "secret" and data["new"][0]["modules"] == ["depx"]
    assert [row["risk"] for row in data["new"]] == sorted((row["risk"] for row in data["new"]), reverse=True)


# --- the logic underneath ------------------------------------------------------

def test_run_specific_names_are_generalised():
    from tpython.analysis.generalise import Places, component, port_entry

    assert component("tmpk2j3x_9a") == "*" and component("pytest-7") == "*" and component("123") == "*"
    assert component("a1b2c3d4e5f6.json") == "*.json"
    assert component("site-packages") == "site-packages" and component("s1") == "s1"
    places = Places("/work/app", home="/home/u", tmp="/tmp")
    assert places.normal("/tmp/tmpab12cd34/x.txt") == "{tmp}/*/x.txt"
    assert places.normal("/work/app/.hypothesis/examples/0a1b2c3d4e5f6a7b/c") == "{cwd}/.hypothesis/examples/*/c"
    assert places.normal("/home/u/.aws/credentials") == "~/.aws/credentials"
    assert places.directory_glob("/tmp/tmpab12cd34/x.txt") == "{tmp}/**"
    assert places.directory_glob("/tmp") == "{tmp}" and places.directory_glob("/work/app") == "{cwd}"
    assert places.directory_glob("/work/app/build/lib/a/b.py") == "{cwd}/build/lib/**"
    assert places.directory_glob("/work/app/out.txt") == "{cwd}/out.txt"
    assert places.directory_glob("/var/cache/app/f1b2c3d4e5/x") == "/var/cache/app/**"
    assert places.in_work_area("/work/app/x") and not places.in_work_area("/home/u/x")
    low, high = __import__("tpython.analysis.generalise", fromlist=["EPHEMERAL"]).EPHEMERAL
    assert port_entry(443) == 443 and port_entry(low) == f"{low}-{high}"


def test_bounded_tables_and_timeline_keep_totals():
    from tpython.analysis.bounded import Group, Table, Timeline

    table = Table(Group, cap=3)
    for i in range(10):
        group = table.get(i % 5)
        if group is not None:
            group.add("m", "r", "log", "t")
    assert len(table) == 3 and table.dropped == 4
    timeline = Timeline()
    for minute in range(60):
        for second in (0, 30):
            timeline.add("file", f"2026-11-28T10:{minute:02d}:{second:02d}.000000Z")
    timeline.add("network", "2026-11-28T12:00:00.5Z")
    data = timeline.as_dict()
    assert data["bins"] <= Timeline.MAX_BINS and data["width"] > 1
    assert sum(data["series"]["file"]) == 120 and sum(data["series"]["network"]) == 1


def test_chain_fast_path_agrees_with_the_canonical_hash(audited):
    from tpython.logs.chain import expected_hash, hash_holds

    raw = audited.log.read_bytes().splitlines(keepends=True)[3]
    rec = json.loads(raw)
    assert hash_holds(rec, raw) and expected_hash(rec) == rec["hash"]
    spaced = json.dumps(rec).encode() + b"\n"  # same record, other spacing: slow path, still holds
    assert hash_holds(json.loads(spaced), spaced)
    rec["pid"] += 1
    assert not hash_holds(rec, raw.replace(b'"pid":', b'"pid":1'))


def test_learned_arg_conditions_match_the_engine_rendering():
    from tpython.analysis.learn import _arg_prefix

    rendered = ["ctypes", None, ["/x"], [], []]
    pattern = _arg_prefix(rendered)
    text = json.dumps(rendered, separators=(",", ":"), ensure_ascii=False)
    assert re.search(pattern, text)
    assert not re.search(pattern, json.dumps(["ctypes.util", None], separators=(",", ":")))
    assert _arg_prefix([None, "x"]) is None


def test_records_of_unexpected_shape_are_analysed_without_error(tmp_path):
    """A log is input like any other: arguments of the wrong shape for their event
    (a program's own objects, a hand-written or damaged log) never stop analysis."""
    from tpython.logs.chain import seal

    shapes = [
        ("open", {"not": "a list"}), ("open", [None, 5, "x"]), ("open", [["nested"], "w"]),
        ("socket.connect", [{"socket": {}}, "not-a-pair"]), ("socket.connect", [1]),
        ("socket.getaddrinfo", [None, "http"]), ("subprocess.Popen", [None, None, None, None]),
        ("subprocess.Popen", [{"exe": 1}, 7]), ("_posixsubprocess.fork_exec", [[None, 3], None, None]),
        ("os.rename", ["a"]), ("compile", [{"sha256": None}]), ("exec", [{"code": "text"}]),
        ("tpython.integrity", ["x"]), ("tpython.exit", {"counted": ["not", "a", "dict"]}),
        ("import", [None]), ("pickle.find_class", []), (7, None), ("tpython.start", {"cwd": 5, "policy": "x"}),
    ]
    lines, prev = [], None
    for seq, (event, args) in enumerate(shapes):
        rec = {"ts": "2026-11-28T10:00:00.000000Z", "seq": seq, "run": "r", "pid": 1, "event": event,
               "args": args, "action": "deny", "enforced": False, "rule": "x", "module": None,
               "package": None, "prev": prev}
        line = seal(rec)
        prev = rec["hash"]
        lines.append(line)
    log = tmp_path / "odd.jsonl"
    log.write_bytes(b"".join(lines))
    from tpython.analysis.diff import diff_logs
    from tpython.analysis.learn import learn_policy
    from tpython.analysis.report import build_report
    from tpython.analysis.report_html import render_html
    from tpython.analysis.report_text import render_text

    data = build_report(str(log))
    assert data["records"] == len(shapes) and data["problems"] == []
    render_text(data)
    render_html(data)
    text, _ = learn_policy(str(log))
    from tpython.policy.loader import load_policy

    (tmp_path / "p.toml").write_text(text)
    load_policy(str(tmp_path / "p.toml"))  # what learn writes always loads
    assert diff_logs(str(log), str(log))["new"] == []
