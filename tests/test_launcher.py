"""`tpython run` behaves as `python` does for the target, and hardens the start."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import MODULE_TPYTHON, TPYTHON, assert_one_line_error, run_on_pty, venv_python

PROBE = """
import json, os, sys
print(json.dumps({
    "argv": sys.argv, "name": __name__, "file": globals().get("__file__"),
    "path0": sys.path[0], "path": sys.path, "isolated": sys.flags.isolated, "no_site": sys.flags.no_site,
    "loader": type(__loader__).__name__, "spec": repr(__spec__), "ctypes": "ctypes" in sys.modules,
    "globals": sorted(globals()),
    "user_site_enabled": __import__("site").ENABLE_USER_SITE,
    "tpython_launch_env": "TPYTHON_LAUNCH" in os.environ,
}))
"""


def _probe(result):
    import json

    assert result.rc == 0, result.err
    return json.loads(result.out.strip().splitlines()[-1])


def test_script_sees_python_like_argv_main_and_path(tp):
    sub = tp.cwd / "pkg"
    sub.mkdir()
    tp.script(PROBE, "pkg/probe.py")
    got = _probe(tp("run", "pkg/probe.py", "a", "--flag"))
    plain = subprocess.run([sys.executable, "pkg/probe.py", "a", "--flag"], cwd=tp.cwd,
                           capture_output=True, text=True)
    want = _probe(type("R", (), {"rc": plain.returncode, "out": plain.stdout, "err": plain.stderr})())
    for key in ("argv", "name", "file", "path0", "path", "loader", "spec", "globals"):
        assert got[key] == want[key], key
    assert got["isolated"] == 1
    assert got["no_site"] == 0  # site did run, after the hook
    assert got["user_site_enabled"] is False
    assert got["tpython_launch_env"] is False


def test_the_tpython_command_boots_the_program_in_its_own_interpreter(tp):
    """One interpreter start, not two: the `tpython` script was started -I -S as the
    hardened interpreter is. The program still sees what `python` gives it."""
    if TPYTHON == MODULE_TPYTHON:
        pytest.skip("no installed tpython script beside this interpreter")
    tp.script(PROBE, "probe.py")
    for policy in ("default", "strict"):  # strict loads its seccomp filter first, in C
        r = tp("run", "--policy", policy, "probe.py")
        got = _probe(r)
        assert r.events("tpython.start")[0]["args"]["boot"] == "launcher"
        assert got["ctypes"] is False and got["tpython_launch_env"] is False
        assert got["no_site"] == 0 and got["isolated"] == 1


def test_python_m_tpython_starts_a_hardened_interpreter(tp):
    """`python -m tpython run` was not started -I -S: it execs one that is."""
    tp.script(PROBE, "probe.py")
    proc = subprocess.run(MODULE_TPYTHON + ["run", "--log", f"jsonl:{tp.log}", "probe.py", "x"], cwd=tp.cwd,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["argv"] == ["probe.py", "x"] and got["isolated"] == 1 and got["no_site"] == 0
    starts = [json.loads(line) for line in open(tp.log) if '"tpython.start"' in line]
    assert starts[-1]["args"]["boot"] == "exec"


def test_boot_in_launcher_refused_after_foreign_or_native_modules():
    """What the launcher must not hand to the program: ctypes, or any module from outside
    the standard library and tpython (a program's import of it must meet the hooks)."""
    from tpython.launcher.command import foreign_modules

    fake = {"os": os, "json": json, "__main__": type(sys)("__main__"), "ctypes": type(sys)("ctypes")}
    assert foreign_modules(fake) == ["ctypes"]
    third = type(sys)("thirdparty")
    third.__file__ = "/opt/site-packages/thirdparty/__init__.py"
    assert foreign_modules({"thirdparty": third, "json": json}) == ["thirdparty"]
    assert foreign_modules({"json": json, "_json": sys.modules.get("_json", json)}) == []


def test_module_launch_sets_argv0_and_cwd_path(tp):
    tp.script(PROBE, "probemod.py")
    got = _probe(tp("run", "-m", "probemod", "x"))
    plain = subprocess.run([sys.executable, "-m", "probemod", "x"], cwd=tp.cwd, capture_output=True, text=True)
    want = json.loads(plain.stdout.strip().splitlines()[-1])
    assert got["globals"] == want["globals"]  # nothing of tpython's launcher left in __main__
    assert got["argv"] == [str(tp.cwd / "probemod.py"), "x"]
    assert got["path0"] == str(tp.cwd)
    assert got["name"] == "__main__"


def test_exit_status_and_traceback_match_python(tp):
    tp.script("""
    import sys
    def f():
        raise ValueError("boom")
    if sys.argv[1] == "raise":
        f()
    sys.exit(int(sys.argv[1]))
    """)
    assert tp("run", "app.py", "7").rc == 7
    assert tp("run", "app.py", "0").rc == 0
    r = tp("run", "app.py", "raise")
    plain = subprocess.run([sys.executable, "app.py", "raise"], cwd=tp.cwd, capture_output=True, text=True)
    assert r.rc == plain.returncode == 1
    tb = [l for l in r.err.splitlines() if not l.startswith("tpython:")]
    assert tb == plain.stderr.splitlines()
    exit_rec = r.events("tpython.exit")[-1]
    assert exit_rec["args"]["status"] == 1


def test_sys_exit_with_message(tp):
    tp.script("import sys; sys.exit('bad thing')")
    r = tp("run", "app.py")
    assert r.rc == 1
    assert "bad thing" in r.err


def test_missing_script_is_one_clear_line(tp):
    r = tp("run", "--quiet", "nope.py")
    assert r.rc == 2
    assert "can't open file" in r.err and "nope.py" in r.err
    assert "Traceback" not in r.err


def test_command_and_stdin_refused_under_default(tp):
    r = tp("run", "--quiet", "-c", "print('hi')")
    assert_one_line_error(r, "refused", "-c")
    assert r.rc == 2 and r.out == ""
    assert r.events("tpython.launch")[0]["action"] == "deny"
    r = tp("run", "--quiet", "-", input="print('hi')\n")
    assert_one_line_error(r, "refused", "standard input")
    assert r.rc == 2 and r.out == ""


def test_interactive_refused_under_default(tp):
    # no target and a terminal on stdin is an interactive launch; refused by the policy, it
    # is most likely a forgotten program: a usage error that also says why no prompt starts
    status, out = run_on_pty(tp.cwd, TPYTHON + ["run", "--quiet"])
    assert status == 2
    assert "no program given" in out and "prompt" in out and "[launch] allow of policy 'default'" in out


def test_command_and_stdin_run_when_allowed(tp):
    tp.policy("""
    version = 1
    extends = "default"
    [launch]
    allow = ["file", "module", "command", "stdin"]
    """)
    r = tp("run", "--policy", "policy.toml", "-c", "import sys; print('hi', sys.argv)", "x")
    assert r.rc == 0, r.err
    assert "hi ['-c', 'x']" in r.out
    assert r.events("cpython.run_command")
    r = tp("run", "--policy", "policy.toml", "-", "y", input="import sys; print('from stdin', sys.argv)\n")
    assert r.rc == 0, r.err
    assert "from stdin ['-', 'y']" in r.out


def test_python_environment_variables_ignored_and_recorded(tp):
    (tp.cwd / "evil").mkdir()
    (tp.cwd / "evil" / "json.py").write_text("raise SystemExit('hijacked')\n")
    tp.script("import json, sys; print('ok', 'evil' in ''.join(sys.path))")
    r = tp("run", "app.py", env={"PYTHONPATH": str(tp.cwd / "evil"), "PYTHONINSPECT": "1"})
    assert r.rc == 0, r.err
    assert "ok False" in r.out
    start = r.events("tpython.start")[0]["args"]
    assert "PYTHONPATH" in start["environment"]["ignored_python_variables"]
    assert "PYTHONINSPECT" in start["environment"]["ignored_python_variables"]


def test_ld_preload_recorded_and_refusable(tp):
    lib = "/lib/x86_64-linux-gnu/libc.so.6"
    if not os.path.exists(lib):
        lib = [p for p in ("/lib64/libc.so.6", "/usr/lib/libc.so.6") if os.path.exists(p)][0]
    tp.script("print('ran')")
    r = tp("run", "app.py", env={"LD_PRELOAD": lib})
    assert r.rc == 0 and "ran" in r.out
    assert r.events("tpython.start")[0]["args"]["environment"]["LD_PRELOAD"] == lib
    tp.policy("""
    version = 1
    extends = "default"
    [launch]
    refuse_ld_preload = true
    """)
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py", env={"LD_PRELOAD": lib})
    assert_one_line_error(r, "LD_PRELOAD")
    assert r.rc == 2 and "ran" not in r.out


def test_hook_is_in_before_site_reads_pth_files(tp, venv):
    # a .pth file with code in site-packages: its compile and exec must be logged, after tpython.start
    (venv / "zz_probe.pth").write_text("import sys; sys.stdout.write('')\n")
    tp.script("print('main ran')")
    proc = subprocess.run([venv_python(venv), "-m", "tpython", "run", "--log", f"jsonl:{tp.log}",
                           "--quiet", "app.py"], cwd=tp.cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    records = tp.log.read_text().splitlines()
    assert '"event":"tpython.start"' in records[0]
    assert any("zz_probe.pth" in line for line in records[1:])


def test_package_names_the_owning_distribution(tp, venv):
    pkg = venv / "fakedist_mod"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import os\ndef touch(path):\n    open(path, 'w').close()\n")
    info = venv / "fakedist-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: fakedist\nVersion: 1.2.3\n")
    (info / "top_level.txt").write_text("fakedist_mod\n")
    (info / "RECORD").write_text("fakedist_mod/__init__.py,,\n")
    tp.script("import fakedist_mod\nfakedist_mod.touch('made.txt')\nopen('direct.txt', 'w').close()\n")
    proc = subprocess.run([venv_python(venv), "-m", "tpython", "run", "--log", f"jsonl:{tp.log}",
                           "--quiet", "app.py"], cwd=tp.cwd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in tp.log.read_text().splitlines()]
    made = [r for r in records if r["event"] == "open" and str(r["args"][0]).endswith("made.txt")][0]
    assert made["module"] == "fakedist_mod"
    assert made["package"] == {"name": "fakedist", "version": "1.2.3"}
    direct = [r for r in records if r["event"] == "open" and str(r["args"][0]).endswith("direct.txt")][0]
    assert direct["module"] == "__main__" and direct["package"] is None


def test_interactive_session_when_allowed(tp):
    tp.policy("""
    version = 1
    extends = "default"
    [launch]
    allow = ["file", "module", "interactive"]
    """)
    argv = TPYTHON + ["run", "--quiet", "--log", f"jsonl:{tp.log}", "--policy", "policy.toml"]
    typed = b"import os; os.listdir('.'); print(6 * 7)\nraise SystemExit(3)\n"
    status, out = run_on_pty(tp.cwd, argv, {b">>> ": typed})
    assert status == 3
    assert "42" in out and "audited session" in out
    log = tp.log.read_text()
    assert '"event":"cpython.run_stdin"' in log and '"event":"os.listdir","args":["."]' in log


def test_uncaught_keyboard_interrupt_ends_like_python(tp):
    tp.script("raise KeyboardInterrupt")
    r = tp("run", "app.py")
    plain = subprocess.run([sys.executable, "app.py"], cwd=tp.cwd, capture_output=True, text=True)
    assert r.rc == plain.returncode == -2  # killed by SIGINT
    assert "KeyboardInterrupt" in r.err
    assert r.events("tpython.exit")[0]["args"]["status"] == 130


def test_exit_130_is_just_a_status(tp):
    tp.script("raise SystemExit(130)")
    assert tp("run", "app.py").rc == 130
