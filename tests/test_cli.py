"""The informational commands and the command's own hardening."""
from __future__ import annotations

import json


def test_policy_check_summarises_a_valid_policy(tp):
    tp.policy("""
    version = 1
    extends = "strict"
    [log]
    sinks = ["stderr"]
    [[rules]]
    id = "api"
    events = ["socket.connect"]
    action = "allow"
    when = { host = ["10.0.0.0/8"], port = [443] }
    """)
    r = tp.cli("policy", "check", "policy.toml")
    assert r.rc == 0, r.err
    assert f"policy {tp.cwd / 'policy.toml'}: valid" in r.out
    assert "-> <profile strict> -> <profile default>" in r.out
    assert "api: allow socket.connect when host=[10.0.0.0/8], port=[443]" in r.out
    assert r.out.index("api:") < r.out.index("strict-process:")
    assert "sinks:    stderr" in r.out


def test_policy_check_of_builtin_profiles(tp):
    for name in ("default", "strict"):
        r = tp.cli("policy", "check", name)
        assert r.rc == 0 and "valid" in r.out


def test_events_lists_arguments_categories_and_profiles(tp):
    r = tp.cli("events", "--json")
    assert r.rc == 0
    rows = {row["event"]: row for row in json.loads(r.out)}
    assert len(rows) > 150
    assert rows["socket.connect"]["args"] == ["self", "address"]
    assert rows["socket.connect"]["category"] == "network"
    assert rows["socket.connect"]["default"] == "log"
    assert rows["socket.connect"]["strict"] == "deny (strict-network)"
    assert rows["builtins.id"]["default"] == "count"
    assert rows["open"]["strict"].startswith("deny? (strict-secrets)")
    text = tp.cli("events", "--category", "process").out
    assert "subprocess.Popen" in text and "socket.connect" not in text
    bad = tp.cli("events", "--category", "nonsense")
    assert bad.rc == 2 and "unknown category" in bad.err


def test_info_and_version(tp):
    r = tp.cli("info")
    assert r.rc == 0 and "engine: C audit hook (tpython._native)" in r.out and "python: CPython" in r.out
    v = tp.cli("--version")
    assert v.rc == 0 and v.out.startswith("tpython ")


def test_run_help(tp):
    r = tp.cli("run", "--help")
    assert r.rc == 0 and "--policy FILE|PROFILE" in r.out


def test_command_ignores_pythonpath_hijack(tp):
    import os
    import subprocess
    import sys

    evil = tp.cwd / "evil"
    evil.mkdir()
    for name in ("re", "argparse", "json", "typing", "__future__", "dataclasses", "enum", "functools"):
        (evil / f"{name}.py").write_text("raise SystemExit('hijacked')\n")
    command = os.path.join(os.path.dirname(sys.executable), "tpython")
    env = {**os.environ, "PYTHONPATH": str(evil)}
    for args in (["policy", "check", "default"], ["run", "--quiet", "--log", f"jsonl:{tp.log}", "app.py"]):
        tp.script("import json; print('target ok')")
        r = subprocess.run([command, *args], cwd=tp.cwd, env=env, capture_output=True, text=True)
        assert r.returncode == 0, r.stderr
        assert "hijacked" not in r.stderr + r.stdout


def test_readme_and_docs_list_exactly_the_commands_tpython_has(tp):
    """The README's command table and docs/commands.md's synopsis cannot drift from the parser."""
    import re
    from pathlib import Path

    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text().split("## Commands", 1)[1].split("\n## ", 1)[0]
    block = (root / "docs" / "commands.md").read_text().split("```", 2)[1]
    help_text = tp.cli("--help").out
    listed = set(re.findall(r"^    (\w+)\s", help_text, re.M))
    assert set(re.findall(r"^\| `tpython (\w+)", readme, re.M)) == listed
    documented = set(re.findall(r"^tpython (\w+)", block, re.M))
    assert documented == listed, (documented, listed)
    usage = "tpython run [--policy FILE|PROFILE] [--mode audit|enforce]"
    assert usage in block and usage in tp.cli("run", "--help").out
