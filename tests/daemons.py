"""Real log daemons for the sink tests: rsyslogd with docs/rsyslog/tpython-collector.conf,
and systemd-journald in a private mount namespace (so it never touches the machine's
own journal). Both need root; when one cannot run here the constructor raises
DaemonUnavailable with the reason (the test fixtures skip with it). Also used by
benchmarks/sink_rate.py."""
from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path
from typing import Any, Callable, Optional

CONF = Path(__file__).resolve().parent.parent / "docs" / "rsyslog" / "tpython-collector.conf"
JOURNALD = "/lib/systemd/systemd-journald"


class DaemonUnavailable(Exception):
    """This machine cannot run the daemon (not installed, not root); the message says which."""


def _free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], Any], timeout: float = 10.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        time.sleep(0.02)


class Rsyslog:
    """rsyslogd -n with the documented collector configuration, in DIRECTORY."""

    def __init__(self, directory: Path) -> None:
        if shutil.which("rsyslogd") is None:
            raise DaemonUnavailable("rsyslogd is not installed (Debian package rsyslog; .ci/run installs it)")
        if os.geteuid() != 0:
            raise DaemonUnavailable("the rsyslogd fixture runs as root")
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.udp_port = _free_port(socket.SOCK_DGRAM)
        self.tcp_port = _free_port(socket.SOCK_STREAM)
        self.socket = str(directory / "log.sock")
        self.conf = directory / "rsyslog.conf"
        text = CONF.read_text().replace("@DIR@", str(directory))
        self.conf.write_text(text.replace("@UDP_PORT@", str(self.udp_port)).replace("@TCP_PORT@", str(self.tcp_port)))
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> Rsyslog:
        stderr = open(self.dir / "rsyslogd.stderr", "ab")
        self.proc = subprocess.Popen(["rsyslogd", "-n", "-f", str(self.conf), "-i", str(self.dir / "rsyslogd.pid")],
                                     stdout=stderr, stderr=subprocess.STDOUT)
        stderr.close()

        def listening() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"rsyslogd exited: {(self.dir / 'rsyslogd.stderr').read_text()}")
            if not os.path.exists(self.socket):
                return False
            try:
                socket.create_connection(("127.0.0.1", self.tcp_port), timeout=0.2).close()
                return True
            except OSError:
                return False

        wait_for(listening, what="rsyslogd to listen")

        def udp_ready() -> bool:  # UDP cannot be probed by connecting: a message must land
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.sendto(b"<14>1 - - probe - - - udp-ready", ("127.0.0.1", self.udp_port))
            time.sleep(0.02)
            return b"udp-ready" in self.read("udp")

        wait_for(udp_ready, what="rsyslogd's UDP input")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def read(self, input_name: str) -> bytes:
        try:
            return (self.dir / f"{input_name}.log").read_bytes()
        except FileNotFoundError:
            return b""

    def messages(self, input_name: str) -> list[str]:
        """The tpython messages stored from INPUT_NAME (unix, udp, tcp), one per line."""
        return [m for m in self.read(input_name).decode("utf-8", "replace").splitlines() if "[tpython@32473" in m]


class Journald:
    """systemd-journald in its own mount namespace: /run/systemd, /run/log and
    /var/log/journal are directories of the test there. Programs reach it through
    `wrap` (nsenter into that namespace); `entries` reads its journal."""

    def __init__(self, directory: Path) -> None:
        if not os.access(JOURNALD, os.X_OK):
            raise DaemonUnavailable(f"{JOURNALD} is not installed (Debian package systemd)")
        if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("nsenter") is None:
            raise DaemonUnavailable("the journald fixture needs root, unshare and nsenter")
        self.dir = directory
        for sub in ("run", "runlog", "varlog"):
            (directory / sub).mkdir(parents=True, exist_ok=True)
        for point in ("/run/systemd", "/run/log", "/var/log/journal"):
            os.makedirs(point, exist_ok=True)  # mount points (empty directories) on the host
        self.proc: Optional[subprocess.Popen[bytes]] = None

    def start(self) -> Journald:
        d = self.dir
        script = (f"mount --bind {d}/run /run/systemd && mount --bind {d}/runlog /run/log && "
                  f"mount --bind {d}/varlog /var/log/journal && exec {JOURNALD}")
        log = open(d / "journald.out", "ab")
        self.proc = subprocess.Popen(["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
                                     stdout=log, stderr=subprocess.STDOUT)
        log.close()

        def ready() -> bool:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"journald exited: {(d / 'journald.out').read_text()}")
            return (d / "run" / "journal" / "socket").exists()

        wait_for(ready, what="journald's socket")
        return self

    def restart_in(self, pid: int) -> None:
        """Start journald again in the mount namespace process PID is in (the first one
        ends with the journald that made it, unless a program still lives in it)."""
        log = open(self.dir / "journald.out", "ab")
        self.proc = subprocess.Popen(["nsenter", "-t", str(pid), "-m", "--", JOURNALD], stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        socket_path = self.dir / "run" / "journal" / "socket"

        def accepting() -> bool:
            probe = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                probe.sendto(b"MESSAGE=probe\n", str(socket_path))
                return True
            except OSError:
                return False
            finally:
                probe.close()

        wait_for(accepting, what="journald to accept again")

    def wrap(self, cwd: Path) -> list[str]:
        """The command prefix that runs a program in journald's mount namespace, in CWD
        (entering a mount namespace starts at its root directory otherwise)."""
        assert self.proc is not None
        return ["nsenter", "-t", str(self.proc.pid), "-m", f"--wd={cwd}", "--"]

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None

    def entries(self, *matches: str) -> list[dict[str, Any]]:
        out = subprocess.run(["journalctl", "-D", str(self.dir / "runlog" / "journal"), "--no-pager", "-a",
                              "-o", "json", *matches], capture_output=True, text=True, check=False)
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
