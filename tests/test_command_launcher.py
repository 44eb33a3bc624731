"""The installed `tpython` command: the native launcher (scripts/tpython.c), and the
shell script (scripts/tpython) installed where the launcher cannot be built. Both must
start the interpreter exactly as `python -I -S` does, whatever the environment says."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path
from typing import Any

import pytest
from conftest import TPYTHON

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "tpython"
INSTALLED = Path(sys.executable).parent / "tpython"

# What the program sees of how its interpreter was started.
PROBE = """
import json, locale, signal, sys
print(json.dumps({
    "flags": list(sys.flags), "warnoptions": sys.warnoptions, "xoptions": sys._xoptions,
    "fs": [sys.getfilesystemencoding(), sys.getfilesystemencodeerrors()],
    "stdout": [sys.stdout.encoding, sys.stdout.errors, sys.stdout.line_buffering],
    "preferred": locale.getpreferredencoding(False),
    "signals": [repr(signal.getsignal(s)) for s in (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ)],
    "prefix": [sys.prefix, sys.base_prefix, sys.exec_prefix], "path": sys.path, "argv": sys.argv,
    "dev_mode": sys.flags.dev_mode, "utf8_mode": sys.flags.utf8_mode,
}))
"""
# Each would change the interpreter if it were read before tpython decides.
HOSTILE_ENVIRONMENT = {
    "PYTHONDEVMODE": "1", "PYTHONHASHSEED": "0", "PYTHONUTF8": "1", "PYTHONMALLOC": "debug",
    "PYTHONUNBUFFERED": "1", "PYTHONWARNINGS": "error", "PYTHONIOENCODING": "latin-1",
    "PYTHONINSPECT": "1", "PYTHONSTARTUP": "/nonexistent", "PYTHONPATH": "/nonexistent",
}
SHARED = bool(sysconfig.get_config_var("Py_ENABLE_SHARED"))

needs_installed = pytest.mark.skipif(TPYTHON != [str(INSTALLED)], reason="no installed tpython command")


def _is_elf(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"\x7fELF"


def _run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("TPYTHON", "PYTHON"))}
    return subprocess.run(command, cwd=cwd, env={**base, **env}, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)


def _run_logged(command: list[str], run_args: list[str], tmp_path: Path,
                env: dict[str, str]) -> tuple[str, list[dict[str, Any]]]:
    """`COMMAND run --quiet RUN_ARGS` into a fresh log: (stdout, its records)."""
    log = tmp_path / "audit.jsonl"
    if log.exists():
        log.unlink()
    proc = _run([*command, "run", "--quiet", "--log", f"jsonl:{log}", *run_args], tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, [json.loads(line) for line in log.read_text().splitlines()]


def _probe(command: list[str], tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    (tmp_path / "probe.py").write_text(PROBE)
    out, records = _run_logged(command, ["probe.py"], tmp_path, env)
    start = records[0]
    assert start["event"] == "tpython.start" and start["args"]["boot"] == "launcher", start
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture
def shell_command():
    """The shell script installed beside the interpreter under another name, as pip
    installs it where the launcher cannot be built."""
    target = INSTALLED.with_name(f"tpython-shell-test-{os.getpid()}")
    try:
        shutil.copyfile(SCRIPT, target)
    except OSError as exc:
        pytest.skip(f"cannot write beside the interpreter: {exc}")
    target.chmod(0o755)
    yield [str(target)]
    target.unlink()


@needs_installed
def test_installed_command_is_the_native_launcher_on_a_shared_interpreter():
    """setup.py builds the launcher wherever libpython is a shared library; elsewhere
    the shell script is installed."""
    if SHARED:
        assert _is_elf(INSTALLED), "the launcher was not built: pip's output has the reason"
    else:
        assert INSTALLED.read_bytes().startswith(b"#!/bin/sh\n")


@needs_installed
@pytest.mark.parametrize("env", [{}, HOSTILE_ENVIRONMENT, {"LC_ALL": "C", "LANG": "C"},
                                 {"LC_ALL": "C", "PYTHONCOERCECLOCALE": "0", "PYTHONUTF8": "0"}],
                         ids=["plain", "hostile", "c-locale", "c-locale-no-coercion"])
def test_launcher_and_shell_script_start_the_same_interpreter(tmp_path, shell_command, env):
    """The program sees the same flags, encodings, signal handlers, prefixes and path
    under both, and no PYTHON* variable changed either (the launcher sets what `-I -S`
    sets before Python reads anything)."""
    native = _probe(TPYTHON, tmp_path, env)
    shell = _probe(shell_command, tmp_path, env)
    assert native == shell
    assert native["warnoptions"] == [] and native["xoptions"] == {}
    assert native["dev_mode"] is False and native["stdout"][0] != "latin-1"  # type: ignore[index]
    assert "/nonexistent" not in native["path"]  # type: ignore[operator]
    plain = _probe_plain(tmp_path, env)
    assert native["flags"] == plain["flags"] and native["fs"] == plain["fs"]
    assert native["signals"] == plain["signals"] and native["prefix"] == plain["prefix"]


def _probe_plain(tmp_path: Path, env: dict[str, str]) -> dict[str, object]:
    """PROBE under `python -I`: the flags tpython's program must see (site runs)."""
    proc = _run([sys.executable, "-I", "probe.py"], tmp_path, env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@needs_installed
def test_launcher_through_a_symbolic_link_finds_its_installation(tmp_path):
    """A link to the command elsewhere (say /usr/local/bin/tpython) still runs the
    installation it points to: the launcher reads its own path from /proc/self/exe."""
    if not _is_elf(INSTALLED):
        pytest.skip("the shell script is installed here (it finds its interpreter from the link's directory)")
    link = tmp_path / "bin" / "tpython"
    link.parent.mkdir()
    link.symlink_to(INSTALLED)
    got = _probe([str(link)], tmp_path, {})
    assert got["prefix"][0] == sys.prefix  # type: ignore[index]


@needs_installed
def test_launcher_copied_away_from_its_installation_says_so_in_one_line(tmp_path):
    """Copied where no tpython is installed, it still starts the interpreter it was
    built for, and says in one line that tpython cannot be imported."""
    if not _is_elf(INSTALLED):
        pytest.skip("the shell script is installed here")
    stray = tmp_path / "bin" / "tpython"
    stray.parent.mkdir()
    shutil.copyfile(INSTALLED, stray)
    stray.chmod(0o755)
    proc = _run([str(stray), "--version"], tmp_path, {})
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"tpython: cannot import tpython beside {stray}"), proc.stderr


@needs_installed
def test_launcher_passes_every_argument_through_unchanged(tmp_path):
    """Arguments reach tpython as given: spaces, an empty one, bytes that are not UTF-8."""
    if not _is_elf(INSTALLED):
        pytest.skip("the shell script is installed here")
    (tmp_path / "args.py").write_text("import sys; print(repr(sys.argv[1:]))")
    args = ["a b", "", "--", "-I", "\udcff"]
    proc = subprocess.run([str(INSTALLED), "run", "--quiet", "--log", f"jsonl:{tmp_path / 'a.jsonl'}", "args.py",
                           *[os.fsencode(a) for a in args]], cwd=tmp_path, capture_output=True, text=True,
                          errors="surrogateescape", timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == repr(args)


APP = """
import json, os
with open("out.txt", "w") as f:
    f.write("x")
os.listdir(".")
exec("y = 1")
"""


@needs_installed
def test_launcher_and_shell_script_write_the_same_records(tmp_path, shell_command):
    """The same events, actions and responsible modules under both commands. Start-up's
    own events (`site`, opening and compiling the main script) reach the launcher's frame
    through tpython and the standard library alone, and are no module's (null), as when
    the bootstrap is exec'd; the program's are its module's."""
    (tmp_path / "app.py").write_text(APP)

    def records(command: list[str]) -> list[tuple[object, ...]]:
        _, logged = _run_logged(command, ["app.py"], tmp_path, {})
        return [(r["event"], r["action"], r["module"], r["package"])
                for r in logged if not r["event"].startswith("tpython.")]

    native, shell = records(TPYTHON), records(shell_command)
    assert native == shell
    by_event = {}
    for event, _, module, _ in native:
        by_event.setdefault(event, set()).add(module)
    assert by_event["cpython.run_file"] == {None}
    assert by_event["os.listdir"] >= {"__main__"} and by_event["exec"] >= {"__main__"}
    assert ("open", "log", "__main__", None) in native  # out.txt, by the program


def _build_launcher(tmp_path: Path, build_executable: str) -> Path:
    """A launcher built by setup.py's own build_launcher, around a script that must never
    run, with BUILD_EXECUTABLE as the interpreter it was built with, into a bin/ of its
    own (no python beside it)."""
    if not SHARED or (shutil.which("gcc") or shutil.which("cc")) is None:
        pytest.skip("needs a C compiler and a shared-library interpreter")
    import importlib.util

    spec = importlib.util.spec_from_file_location("tpython_setup", SCRIPT.parents[1] / "setup.py")
    assert spec is not None and spec.loader is not None
    setup_py = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(setup_py)  # defines build_launcher; setup() runs only as __main__
    except ImportError as exc:
        pytest.skip(f"setup.py needs setuptools here: {exc}")
    program = tmp_path / "bin" / "tpython"
    program.parent.mkdir()
    setup_py.build_launcher(str(program), script=b"raise SystemExit('unreachable')\n",
                            build_executable=os.fsencode(build_executable))
    return program


def test_launcher_without_an_interpreter_says_so_in_one_line(tmp_path):
    """No python beside it and the one it was built with gone: exit 127, one line."""
    program = _build_launcher(tmp_path, "/nonexistent/python3")
    proc = _run([str(program), "--version"], tmp_path, {})
    assert proc.returncode == 127
    assert proc.stderr == ("tpython: no python3 beside this program, nor the one it was built with: "
                           "/nonexistent/python3\n")


def test_launcher_without_proc_says_so_in_one_line(tmp_path):
    """/proc not mounted (it reads its own path from /proc/self/exe): exit 127, one line."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare(1) for a mount namespace without /proc")
    program = _build_launcher(tmp_path, sys.executable)
    proc = _run(["unshare", "--mount", "--fork", "sh", "-c", 'umount -l /proc && exec "$0" --version', str(program)],
                tmp_path, {})
    assert proc.returncode == 127, proc.stderr
    assert proc.stderr == "tpython: cannot find this program's path in /proc/self/exe\n"
