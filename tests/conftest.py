"""Shared helpers: run `tpython` in a fresh process and read what it logged.

Audit hooks cannot be removed, so every scenario runs in its own
interpreter (as CPython's own test_audit does); the test asserts on what
a user would see: exit status, stdout/stderr, and the JSONL records.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import pytest

# The installed `tpython` command, as users run it (it boots the program in its own
# interpreter); `python -m tpython` (which starts a second, hardened one) where there is none.
_SCRIPT = os.path.join(os.path.dirname(sys.executable), "tpython")
TPYTHON = [_SCRIPT] if os.access(_SCRIPT, os.X_OK) else [sys.executable, "-m", "tpython"]
MODULE_TPYTHON = [sys.executable, "-m", "tpython"]


@dataclass
class Result:
    """What one `tpython` invocation did."""

    rc: int
    out: str
    err: str
    log: Path

    @property
    def records(self) -> list[dict[str, Any]]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def events(self, name: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["event"] == name]

    def actions(self, action: str) -> list[dict[str, Any]]:
        return [r for r in self.records if r["action"] == action]


class Runner:
    """Runs `tpython …` in a temporary working directory."""

    def __init__(self, cwd: Path) -> None:
        self.cwd = cwd
        self.log = cwd / "audit.jsonl"

    def script(self, source: str, name: str = "app.py") -> Path:
        path = self.cwd / name
        path.write_text(textwrap.dedent(source))
        return path

    def policy(self, text: str, name: str = "policy.toml") -> Path:
        path = self.cwd / name
        path.write_text(textwrap.dedent(text))
        return path

    def __call__(self, *args: str, input: Optional[str] = None, env: Optional[dict[str, str]] = None,
                 log: bool = True, timeout: float = 120, wrap: tuple[str, ...] = ()) -> Result:
        argv = list(args)
        if log and argv and argv[0] == "run" and not any(a.startswith("--log") for a in argv):
            argv[1:1] = ["--log", f"jsonl:{self.log}"]
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("TPYTHON")}
        if env:
            full_env.update(env)
        proc = subprocess.run([*wrap, *TPYTHON, *argv], cwd=self.cwd, input=input, capture_output=True, text=True,
                              errors="replace",
                              env=full_env, timeout=timeout, stdin=None if input is not None else subprocess.DEVNULL,
                              start_new_session=True)  # no controlling terminal: `ask` must not block
        return Result(proc.returncode, proc.stdout, proc.stderr, self.log)

    def events_of_log(self) -> list[dict[str, Any]]:
        """Every record in this runner's log."""
        return Result(0, "", "", self.log).records

    def cli(self, *args: str) -> Result:
        return self(*args, log=False)


@pytest.fixture
def tp(tmp_path: Path) -> Runner:
    """A runner for `tpython` in a fresh temporary directory."""
    return Runner(tmp_path)


def assert_one_line_error(result: Result, *needles: str) -> None:
    """A user error: non-zero, one line on stderr, no traceback."""
    assert result.rc != 0, result
    lines = [l for l in result.err.splitlines() if l.strip()]
    assert len(lines) == 1, result.err
    assert "Traceback" not in result.err
    for needle in needles:
        assert needle in lines[0], lines[0]


def run_on_pty(cwd: Path, argv: list[str], replies: Optional[dict[bytes, bytes]] = None) -> tuple[int, str]:
    """Run ARGV with a pseudo-terminal as its controlling terminal and stdio.

    REPLIES maps a prompt to the bytes typed once that prompt appears.
    Returns (exit status, everything the terminal showed).
    """
    import pty

    pid, fd = pty.fork()
    if pid == 0:  # the child: a session leader whose terminal is the pty
        os.chdir(cwd)
        os.execv(argv[0], argv)
    pending = dict(replies or {})
    out = b""
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        out += chunk
        for prompt in [p for p in pending if p in out]:
            os.write(fd, pending.pop(prompt))
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), out.decode("utf-8", "replace")


@pytest.fixture
def venv(tmp_path: Path) -> Path:
    """A fresh virtual environment that can run this tpython (via a .pth), for
    tests that need their own site-packages. Returns its site-packages."""
    import sysconfig

    import tpython

    root = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(root)], check=True)
    site_dir = next((root / "lib").glob("python*/site-packages"))
    here = [os.path.dirname(os.path.dirname(tpython.__file__)), sysconfig.get_paths()["purelib"]]
    (site_dir / "tpython_src.pth").write_text("\n".join(here) + "\n")  # tpython and its dependencies
    return site_dir


def venv_python(site_dir: Path) -> str:
    """The interpreter of the venv whose site-packages is SITE_DIR."""
    return str(site_dir.parents[2] / "bin" / "python")


@pytest.fixture
def mount_tmpfs(tmp_path: Path) -> Any:
    """mount_tmpfs(name, options) -> a tmpfs mounted for this test (root only; skips otherwise)."""
    mounted: list[Path] = []

    def mount(name: str, options: str) -> Path:
        if os.geteuid() != 0:
            pytest.skip("mounting a tmpfs needs root")
        point = tmp_path / name
        point.mkdir()
        if subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(point)], check=False).returncode:
            pytest.skip("cannot mount a tmpfs here")
        mounted.append(point)
        return point

    yield mount
    for point in mounted:
        subprocess.run(["umount", str(point)], check=False)


@pytest.fixture
def noexec_dir(mount_tmpfs: Any) -> Path:
    """A directory on a tmpfs mounted noexec."""
    return mount_tmpfs("noexec", "noexec,size=1m")  # type: ignore[no-any-return]


def xattrs_supported(path: Path) -> bool:
    """Whether user xattrs can be set on PATH's file system."""
    try:
        os.setxattr(path, "user.tpython-test", b"1")
        os.removexattr(path, "user.tpython-test")
        return True
    except OSError:
        return False


def _daemon(kind: str, directory: Path) -> Any:
    """A started daemon of tests/daemons.py, or a skip saying why it cannot run here."""
    import daemons

    try:
        return getattr(daemons, kind)(directory).start()
    except daemons.DaemonUnavailable as exc:
        pytest.skip(str(exc))


@pytest.fixture
def rsyslog(tmp_path: Path) -> Any:
    """A real rsyslogd (docs/rsyslog/tpython-collector.conf) on a unix socket, UDP and TCP."""
    daemon = _daemon("Rsyslog", tmp_path / "rsyslog")
    yield daemon
    daemon.stop()


@pytest.fixture
def journald(tmp_path: Path) -> Any:
    """A real systemd-journald in its own mount namespace."""
    daemon = _daemon("Journald", tmp_path / "journald")
    yield daemon
    daemon.stop()
