"""Child processes under the same policy.

* fork: the child starts a new run (new id, seq 0) whose `tpython.start`
  names the parent run (``os.register_at_fork``).
* multiprocessing spawn and forkserver: their interpreters are started
  through tpython's bootstrap with the same policy, by wrapping
  ``multiprocessing.util.spawnv_passfds`` when that module is imported.
"""
from __future__ import annotations

import os
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from importlib.machinery import ModuleSpec
    from types import ModuleType
    from typing import Any, Callable, Optional, Sequence


MP_PROGRAM_PREFIXES = ("from multiprocessing.", "import multiprocessing")


class _WrappingLoader:
    """A loader that runs a patch after the module it loads has executed."""

    def __init__(self, inner: Any, after: Callable[[ModuleType], None]) -> None:
        self.inner = inner
        self.after = after

    def create_module(self, spec: ModuleSpec) -> Optional[ModuleType]:
        module: Optional[ModuleType] = self.inner.create_module(spec)
        return module

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        module.__spec__.loader = self.inner  # type: ignore[union-attr]
        module.__loader__ = self.inner
        self.after(module)


class PatchOnImport:
    """Runs a patch right after a named module is first imported."""

    def __init__(self, patches: dict[str, Callable[[ModuleType], None]]) -> None:
        self.patches = patches

    def find_spec(self, fullname: str, path: Optional[Sequence[str]],
                  target: Optional[ModuleType] = None) -> Optional[ModuleSpec]:
        patch = self.patches.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if finder is self or not hasattr(finder, "find_spec"):
                continue
            spec = finder.find_spec(fullname, path, target)
            if spec is not None and spec.loader is not None:
                spec.loader = _WrappingLoader(spec.loader, patch)  # type: ignore[assignment]
                return spec
        return None


LOADER_VARIABLES = ("LD_", "GCONV_PATH", "GLIBC_TUNABLES", "MALLOC_", "OPENSSL_CONF", "OPENSSL_ENGINES")


def loader_environment() -> dict[str, str]:
    """The variables that make the dynamic loader or libc load code, as they are now."""
    return {k: v for k, v in os.environ.items() if k.startswith(LOADER_VARIABLES)}


def _same_interpreter(path: Any) -> bool:
    """PATH names this interpreter; only plain str/bytes are looked at (a subclass
    could answer one thing here and another to the exec)."""
    if type(path) is bytes:
        text = bytes.decode(path, sys.getfilesystemencoding(), "surrogateescape")
    elif type(path) is str:
        text = path
    else:
        return False
    return os.path.realpath(text) == os.path.realpath(sys.executable)


class _environment:  # noqa: N801 - used as a function: `with _environment(...)`
    """Temporarily give os.environ OURS for every variable starting with NAMES."""

    def __init__(self, ours: dict[str, str], names: tuple[str, ...]) -> None:
        self.ours = ours
        self.names = names
        self.saved: dict[str, str] = {}

    def __enter__(self) -> None:
        self.saved = {k: v for k, v in os.environ.items() if k.startswith(self.names)}
        for key in self.saved:
            del os.environ[key]
        os.environ.update(self.ours)

    def __exit__(self, *exc: object) -> None:
        for key in self.ours:
            os.environ.pop(key, None)
        os.environ.update(self.saved)


def make_mp_patch(start_loader_env: dict[str, str], record: Callable[[str, dict[str, Any]], None],
                  start_worker: Callable[[str, list[str], tuple[int, ...]], int]) -> Callable[[ModuleType], None]:
    """The patch for `multiprocessing.util`: its interpreters start through tpython, as
    this interpreter (never the program's path object), by C (START_WORKER: native/spawn.c,
    with the policy, manifest and loader variables frozen at start, and this run as the
    parent)."""

    def patch(util: ModuleType) -> None:
        original = util.spawnv_passfds

        def spawnv_passfds(path: Any, args: Any, passfds: Any) -> Any:
            argv = list(args)
            if _same_interpreter(path) and "-c" in argv:
                at = argv.index("-c")
                program = argv[at + 1] if at + 1 < len(argv) else ""
                if isinstance(program, str) and program.startswith(MP_PROGRAM_PREFIXES):
                    changed = sorted(k for k in set(loader_environment()) | set(start_loader_env)
                                     if os.environ.get(k) != start_loader_env.get(k))
                    record("tpython.spawn", {"program": program[:200], "args": argv[at + 2:][:16],
                                             "reset_environment": changed})
                    return start_worker(program, argv[at + 2:], tuple(passfds))
            return original(path, args, passfds)

        spawnv_passfds.__doc__ = original.__doc__
        setattr(util, "spawnv_passfds", spawnv_passfds)  # noqa: B010

    return patch
