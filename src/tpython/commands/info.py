"""`tpython info`: the C engine and what this platform offers."""
from __future__ import annotations

import os
import platform
import sys
from typing import TextIO

from tpython import __version__
from tpython.engine import c_module


def info(out: TextIO = sys.stdout) -> int:
    """Print whether the C engine loads, and the platform features."""
    print(f"tpython {__version__}", file=out)
    missing = c_module.missing_reason()
    print(f"engine: {'C audit hook (tpython._native)' if not missing else 'missing: ' + missing}", file=out)
    print(f"python: {platform.python_implementation()} {platform.python_version()} ({sys.executable})", file=out)
    print(f"platform: {platform.system()} {platform.release()} {platform.machine()}", file=out)
    native = None if missing else c_module.load()
    from tpython.integrity import kernel

    features = {
        "open_code hook (tpython._native built)": native is not None,
        "USDT probe tpython:audit (built with sys/sdt.h)": bool(native is not None and native.PROBES),
        "AT_EXECVE_CHECK (Linux 6.14+)": kernel.execve_check_available(),
        "syslog socket (/dev/log)": os.path.exists("/dev/log"),
        "journald socket": os.path.exists("/run/systemd/journal/socket"),
        "_posixsubprocess.fork_exec audit event": sys.version_info >= (3, 14),
        "controlling terminal for `ask`": _has_tty(),
    }
    for name, present in features.items():
        print(f"  {name}: {'yes' if present else 'no'}", file=out)
    return 0


def _has_tty() -> bool:
    try:
        os.close(os.open("/dev/tty", os.O_RDWR | os.O_NOCTTY))
        return True
    except OSError:
        return False
