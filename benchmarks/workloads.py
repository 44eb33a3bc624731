"""Workloads timed by ``overhead.py``; each runs in its own process, plain or under tpython.

Usage: ``workloads.py WORKLOAD ITERATIONS EXPECT`` where EXPECT is ``plain`` or
``tpython``. The process checks that it really runs the way the caller expects
(``'tpython' in sys.modules`` is true exactly under ``tpython run``) and exits with
status 3 otherwise, so a broken set-up fails instead of producing numbers. On success
it prints one JSON line: the loop's own ``time.perf_counter()`` and
``time.process_time()`` figures (start-up excluded) and facts about the interpreter.

Only the standard library is used, and nothing the ``strict`` profile denies: no
sockets, no processes, and files are written only in a fresh temporary directory.
"""
from __future__ import annotations

import sys
import time

TYPE_CHECKING = False
if TYPE_CHECKING:  # not imported at run time: the bare start-up row is an (almost) empty script
    from typing import Any, Callable

# Modules imported by the start-up workload.
# asyncio is deliberately absent: under the `strict` profile `import asyncio` fails
# (types.coroutine assigns a function's __code__, which rule strict-code-swap denies).
STARTUP_MODULES = (
    "json", "email.message", "email.parser", "http.client", "decimal", "logging",
    "argparse", "sqlite3", "xml.etree.ElementTree", "unittest",
)
EXIT_WRONG_MODE = 3


class Timer:
    """Wall-clock (perf_counter) and CPU (process_time) seconds of a ``with`` block."""

    wall = 0.0
    cpu = 0.0

    def __enter__(self) -> Timer:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._wall
        self.cpu = time.process_time() - self._cpu


def startup_imports(iterations: int, timer: Timer) -> None:
    """Import the start-up modules; the figure that matters is the whole process's time."""
    with timer:
        for name in STARTUP_MODULES:
            __import__(name)


def startup_bare(iterations: int, timer: Timer) -> None:
    """Do nothing: the process's time is interpreter (and launcher) start-up alone."""


def _tree(depth: int, width: int) -> dict[str, object]:
    """A nested dict/list structure of the kind configuration or JSON data has."""
    node: dict[str, object] = {
        "name": f"node-{depth}",
        "size": depth * 1.5,
        "tags": ["alpha", "beta", str(depth)],
        "meta": {"owner": "bench", "ids": list(range(5)), "ok": True},
    }
    if depth > 0:
        node["children"] = [_tree(depth - 1, width) for _ in range(width)]
    return node


def deepcopy_loop(iterations: int, timer: Timer) -> None:
    """``copy.deepcopy`` a nested structure (every ``id()`` call is an audit event)."""
    import copy

    data = _tree(3, 3)
    with timer:
        for _ in range(iterations):
            copy.deepcopy(data)


def file_io_loop(iterations: int, timer: Timer) -> None:
    """Open, write, close, open, read and close small files in a temporary directory."""
    import os
    import tempfile

    payload = "tpython benchmark line\n" * 8
    with tempfile.TemporaryDirectory(prefix="tpython-bench-") as tmp:
        paths = [os.path.join(tmp, f"file-{i}.txt") for i in range(16)]
        with timer:
            for i in range(iterations):
                path = paths[i % 16]
                with open(path, "w", encoding="utf-8") as out:
                    out.write(payload)
                with open(path, encoding="utf-8") as inp:
                    if inp.read() != payload:
                        raise RuntimeError(f"{path}: read back something else")


def logging_loop(iterations: int, timer: Timer) -> None:
    """Log formatted INFO records through a ``logging.FileHandler``."""
    import logging
    import os
    import tempfile

    with tempfile.TemporaryDirectory(prefix="tpython-bench-") as tmp:
        handler = logging.FileHandler(os.path.join(tmp, "bench.log"), encoding="utf-8")
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s %(funcName)s: %(message)s"))
        logger = logging.getLogger("tpython.bench")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
        try:
            with timer:
                for i in range(iterations):
                    logger.info("request %d handled in %.3f ms by %s", i, i / 7, "worker")
        finally:
            logger.removeHandler(handler)
            handler.close()


def json_loop(iterations: int, timer: Timer) -> None:
    """``json.dumps`` and ``json.loads`` of a nested document (the C accelerator's path)."""
    import json

    document = _tree(3, 3)
    with timer:
        for _ in range(iterations):
            if json.loads(json.dumps(document))["name"] != "node-3":
                raise RuntimeError("json: read back something else")


# One small module of the imports loop: constants, a function, a class, a dict.
MODULE_SOURCE = '''"""Module {i} of the imports benchmark."""
NUMBER = {i}
NAMES = ("alpha", "beta", "gamma", "module-{i}")


def scale(value, factor=NUMBER):
    """Multiply VALUE by FACTOR."""
    return value * factor


class Record:
    """A small class, as most modules have."""

    def __init__(self, name, size):
        self.name = name
        self.size = size

    def describe(self):
        return f"{{self.name}}: {{self.size}}"


TABLE = {{name: scale(len(name)) for name in NAMES}}
'''


def imports_loop(iterations: int, timer: Timer) -> None:
    """Import ITERATIONS fresh modules, each once, from source files in a temporary directory.

    The modules are written before the timer starts; byte code is not written
    (``sys.dont_write_bytecode``), so every configuration finds, reads, compiles and
    executes each module the same way (under tpython: the open_code hook, and the
    ``import``, ``open``, ``compile`` and ``exec`` events of each import).
    """
    import importlib
    import os
    import tempfile

    sys.dont_write_bytecode = True
    with tempfile.TemporaryDirectory(prefix="tpython-bench-") as tmp:
        names = [f"tpython_bench_mod_{i}" for i in range(iterations)]
        for i, name in enumerate(names):
            with open(os.path.join(tmp, f"{name}.py"), "w", encoding="utf-8") as out:
                out.write(MODULE_SOURCE.format(i=i))
        sys.path.insert(0, tmp)
        importlib.invalidate_caches()
        try:
            with timer:
                for name in names:
                    __import__(name)
        finally:
            sys.path.remove(tmp)
        if sys.modules[names[-1]].NUMBER != iterations - 1:
            raise RuntimeError("imports: imported something else")


WORKLOADS: dict[str, Callable[[int, Timer], None]] = {
    "startup": startup_imports,
    "startup-bare": startup_bare,
    "deepcopy": deepcopy_loop,
    "file-io": file_io_loop,
    "logging": logging_loop,
    "json": json_loop,
    "imports": imports_loop,
}


def main(argv: list[str]) -> int:
    """Check the expected mode, run one workload, print its figure as JSON."""
    if len(argv) != 3 or argv[0] not in WORKLOADS or argv[2] not in ("plain", "tpython"):
        sys.stderr.write(f"usage: workloads.py {{{','.join(WORKLOADS)}}} ITERATIONS "
                         "{plain,tpython}\n")
        return 2
    name, iterations, expect = argv[0], int(argv[1]), argv[2]
    under_tpython = "tpython" in sys.modules
    if under_tpython != (expect == "tpython"):
        sys.stderr.write(f"workloads.py: expected to run {expect}, but 'tpython' in "
                         f"sys.modules is {under_tpython}\n")
        return EXIT_WRONG_MODE
    timer = Timer()
    WORKLOADS[name](iterations, timer)
    import os

    report: dict[str, Any] = {
        "workload": name,
        "iterations": iterations,
        "seconds": timer.wall,
        "cpu_seconds": timer.cpu,
        "tpython": under_tpython,
        "executable": os.path.realpath(sys.executable),
        "prefix": sys.prefix,
        "version": sys.version,
    }
    print(_json_line(report))
    return 0


def _json_line(report: dict[str, Any]) -> str:
    """REPORT as one JSON line, without importing `json` (with `re` and `enum` behind it:
    milliseconds that would otherwise be part of every row, the bare start-up included)."""
    from _json import encode_basestring_ascii as text

    def value(v: Any) -> str:
        if isinstance(v, str):
            return str(text(v))
        return {True: "true", False: "false"}[v] if isinstance(v, bool) else repr(v)

    return "{" + ",".join(f"{text(k)}:{value(v)}" for k, v in report.items()) + "}"


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
