"""Child processes under the same policy.

* fork: the child starts a new run (new id, seq 0) whose `tpython.start`
  names the parent run (``os.register_at_fork``).
* multiprocessing spawn and forkserver: their interpreters are started
  through tpython's bootstrap with the same policy, by wrapping
  ``multiprocessing.util.spawnv_passfds`` when that module is imported.
* ``_posixsubprocess.fork_exec`` raises no audit event before CPython 3.13
  (python/cpython#115322); it is wrapped to raise the event 3.13 raises.
"""
from __future__ import annotations

import os
import sys
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any, Callable, Optional, Sequence

from tpython.launcher.spec import ENV_VAR, LaunchSpec, Target, interpreter_argv

MP_PROGRAM_PREFIXES = ("from multiprocessing.", "import multiprocessing")


def wrap_fork_exec(audit: Callable[..., None]) -> None:
    """Make `_posixsubprocess.fork_exec` raise `_posixsubprocess.fork_exec` first (CPython < 3.13)."""
    import _posixsubprocess  # imported before the hook on every version: strict denies re-imports

    if sys.version_info >= (3, 13):
        return

    original = _posixsubprocess.fork_exec

    def fork_exec(args: Any, executable_list: Any, *rest: Any) -> Any:
        cwd = rest[2] if len(rest) > 2 else None
        env = rest[3] if len(rest) > 3 else None
        audit("_posixsubprocess.fork_exec", args, executable_list, cwd, env)
        return original(args, executable_list, *rest)

    fork_exec.__doc__ = original.__doc__
    _posixsubprocess.fork_exec = fork_exec


class _WrappingLoader(Loader):
    def __init__(self, inner: Loader, after: Callable[[ModuleType], None]) -> None:
        self.inner = inner
        self.after = after

    def create_module(self, spec: ModuleSpec) -> Optional[ModuleType]:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        self.inner.exec_module(module)
        module.__spec__.loader = self.inner  # type: ignore[union-attr]
        module.__loader__ = self.inner
        self.after(module)


class PatchOnImport(MetaPathFinder):
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
                spec.loader = _WrappingLoader(spec.loader, patch)
                return spec
        return None


def _same_interpreter(path: Any) -> bool:
    try:
        return os.path.realpath(os.fsdecode(path)) == os.path.realpath(sys.executable)
    except (TypeError, ValueError):
        return False


def make_mp_patch(policy_json: str, current_run: Callable[[], str],
                  internal: Callable[[], Any]) -> Callable[[ModuleType], None]:
    """The patch for `multiprocessing.util`: its interpreters start through tpython."""

    def patch(util: ModuleType) -> None:
        original = util.spawnv_passfds

        def spawnv_passfds(path: Any, args: Any, passfds: Any) -> Any:
            argv = list(args)
            if _same_interpreter(path) and "-c" in argv:
                at = argv.index("-c")
                program = argv[at + 1] if at + 1 < len(argv) else ""
                if isinstance(program, str) and program.startswith(MP_PROGRAM_PREFIXES):
                    spec = LaunchSpec(policy_json, Target("command", program, argv[at + 2:]),
                                      quiet=True, parent_run=current_run(), internal="multiprocessing")
                    with internal():
                        os.environ[ENV_VAR] = spec.to_env()
                        try:
                            return original(path, interpreter_argv(os.fsdecode(path)), passfds)
                        finally:
                            del os.environ[ENV_VAR]
            return original(path, args, passfds)

        spawnv_passfds.__doc__ = original.__doc__
        setattr(util, "spawnv_passfds", spawnv_passfds)  # noqa: B010

    return patch
