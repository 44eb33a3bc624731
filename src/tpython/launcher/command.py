"""`tpython run`: parse the command line, validate everything, exec the hardened interpreter.

Everything that can be checked before the target starts is checked here
(policy, sinks, log paths), so a mistake is one line and a non-zero
status, not a half-started program.
"""
from __future__ import annotations

import os
import sys

from tpython.engine import c_module
from tpython.errors import Error, SinkError, UsageError
from tpython.launcher.spec import ENV_VAR, FAULT_VARIABLE, LaunchSpec, Target, interpreter_argv
from tpython.policy.model import MODES, Policy
from tpython.policy.profile_cache import cached_policy
from tpython.sinks.spec import DEFAULT_SPEC, parse_sink_spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional


_HELP = """usage: tpython run [--policy FILE|PROFILE] [--mode audit|enforce]
                   [--log SINK]... [--quiet]
                   [--] (SCRIPT | -m MODULE | -c CODE | -) [ARGS...]

Run a Python program under tpython's audit hook and policy.

options:
  --policy FILE|PROFILE  a policy file, or a built-in profile: default, strict (default: default)
  --mode audit|enforce   override the policy's mode; audit blocks nothing
  --log SINK             where records go (repeatable): jsonl:PATH, stderr, syslog,
                         syslog+udp://HOST:PORT, syslog+tcp://HOST:PORT, journald
                         (default: the policy's [log] sinks, else jsonl:tpython-audit.jsonl)
  --quiet, -q            no summary on stderr at exit
"""


def parse_run_args(argv: list[str]) -> tuple[dict[str, object], Target]:
    """Split `tpython run` arguments into tpython's options and the target."""
    opts: dict[str, object] = {"policy": None, "mode": None, "log": [], "quiet": False,
                               "no_program": False}
    i = 0

    def value(name: str) -> str:
        nonlocal i
        arg = argv[i]
        if "=" in arg and arg.startswith("--"):
            return arg.split("=", 1)[1]
        if i + 1 >= len(argv):
            raise UsageError(f"tpython run: {name} needs a value")
        i += 1
        return argv[i]

    while i < len(argv):
        arg = argv[i]
        if arg in ("-h", "--help"):
            raise _HelpRequested
        if arg == "--":
            i += 1
            break
        if arg == "--policy" or arg.startswith("--policy="):
            opts["policy"] = value("--policy")
        elif arg == "--mode" or arg.startswith("--mode="):
            mode = value("--mode")
            if mode not in MODES:
                raise UsageError(f"tpython run: --mode must be audit or enforce, not {mode!r}")
            opts["mode"] = mode
        elif arg == "--log" or arg.startswith("--log="):
            opts["log"].append(value("--log"))  # type: ignore[attr-defined]
        elif arg in ("--quiet", "-q"):
            opts["quiet"] = True
        elif arg.startswith("--"):
            raise UsageError(f"tpython run: unknown option {arg!r} (see tpython run --help)")
        else:
            break
        i += 1
    rest = argv[i:]
    if not rest:  # as python: the prompt on a terminal, else standard input (see _check_no_program)
        opts["no_program"] = True
        return opts, Target("interactive" if sys.stdin.isatty() else "stdin")
    first = rest[0]
    if first in ("-m", "-c"):
        if len(rest) < 2:
            raise UsageError(f"tpython run: {first} needs an argument")
        return opts, Target("module" if first == "-m" else "command", rest[1], tuple(rest[2:]))
    if first.startswith("-m") and len(first) > 2:
        return opts, Target("module", first[2:], tuple(rest[1:]))
    if first.startswith("-c") and len(first) > 2:
        return opts, Target("command", first[2:], tuple(rest[1:]))
    if first == "-":
        return opts, Target("stdin", None, tuple(rest[1:]))
    if first.startswith("-"):
        raise UsageError(f"tpython run: unknown option {first!r} (see tpython run --help)")
    return opts, Target("file", first, tuple(rest[1:]))


class _HelpRequested(Exception):
    pass


def _check_no_program(target: Target, policy: Policy) -> None:
    """`tpython run` given no program does what python does (the interactive prompt on a
    terminal, else the program read from standard input) when the policy allows that
    launch; otherwise the program was most likely forgotten: say how to give one."""
    if target.kind in policy.launch_allow:
        return
    message = "tpython run: no program given: SCRIPT, -m MODULE, -c CODE, or - for standard input"
    if target.kind == "interactive":
        message += (f" (without one, python starts its prompt, which [launch] allow of policy {policy.name!r} "
                    "does not include)")
    raise UsageError(f"{message}; see tpython run --help")


def check_sink_writable(spec_text: str) -> None:
    """Refuse a log path that cannot be written, before the target starts."""
    spec = parse_sink_spec(spec_text)
    if spec.kind != "jsonl":
        return
    from tpython.sinks.jsonl import open_log

    path = os.path.abspath(os.path.expanduser(spec.path or ""))
    try:
        os.close(open_log(path))
    except OSError as exc:
        raise SinkError(f"cannot open log {path}: {exc.strerror}") from None


def _load_policy(ref: str) -> Policy:
    """REF's policy: a built-in profile from its merged cache when that holds (the
    loader, about a sixth of start-up's code, is then not loaded), else the loader's."""
    policy = cached_policy(ref)
    if policy is None:
        from tpython.policy.loader import load_policy

        policy = load_policy(ref)
    return policy


def _verify_manifest(policy: Policy) -> Optional[str]:
    """Check the manifest's signature once, here (a bad or missing one stops the launch
    with one line and a `tpython.integrity` record); the started interpreter gets the
    digest of the bytes that were verified."""
    integrity = policy.integrity
    if not integrity.manifest:
        return None
    from tpython.integrity import manifest
    from tpython.integrity.errors import IntegrityError

    pubkey = integrity.pubkey
    try:
        return manifest.load(integrity.manifest, pubkey).sha256
    except IntegrityError as exc:
        record_refusal(policy, "tpython.integrity",
                       {"path": integrity.manifest, "reason": str(exc), "stage": "launch"})
        raise


def record_refusal(policy: Policy, event: str, args: dict[str, object]) -> None:
    """A launch stopped before the interpreter started still leaves its record: a
    one-record run, written to the policy's sinks, denied by rule `integrity`."""
    from tpython.engine.recorder import Recorder
    from tpython.sinks.spec import open_sink

    sinks = []
    for text in policy.sinks or (DEFAULT_SPEC,):
        try:
            sinks.append(open_sink(parse_sink_spec(text), policy.log))
        except Error:
            continue  # the refusal itself is still reported on stderr by the caller
    recorder = Recorder(sinks, warn_fd=2)
    recorder.emit(event, args, "deny", rule="integrity")
    recorder.close()


def _deny_xattr_writes() -> None:
    """Load the seccomp filter here, before the execve: it and no_new_privs carry over
    into the hardened interpreter, which then never needs ctypes for it."""
    from tpython.integrity.seccomp import deny_xattr_writes

    status = deny_xattr_writes()
    if not status.active:
        sys.stderr.write(f"tpython: [integrity] seccomp: {status.detail}; xattr writes are not blocked\n")


def _can_boot_here() -> bool:
    """Whether this interpreter may become the program's, saving a second start:
    it was started as the hardened interpreter is (``-I -S`` and no other option),
    and has loaded nothing that one must not start with (:func:`foreign_modules`)."""
    flags = sys.flags
    if not (flags.isolated and flags.no_site) or sys.warnoptions or getattr(sys, "_xoptions", None):
        return False
    if flags.optimize or flags.inspect or flags.interactive or flags.verbose or flags.bytes_warning \
            or flags.dont_write_bytecode or flags.dev_mode:
        return False
    return not foreign_modules(sys.modules)


def foreign_modules(modules: dict[str, Any]) -> list[str]:
    """Loaded modules the program must not inherit: ctypes (unaudited native calls), and
    any module from outside the standard library and tpython, such as `cryptography`
    after a manifest check (the program's own import of it must meet the hooks)."""
    stdlib = os.path.dirname(os.__file__) + os.sep
    own = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
    found = []
    for name, module in list(modules.items()):
        if name == "__main__":
            continue  # the launcher itself; the program gets a fresh __main__
        if name == "ctypes" or name.startswith(("ctypes.", "_ctypes")):
            found.append(name)
            continue
        path = getattr(module, "__file__", None)
        if path and not (path.startswith((stdlib, own)) or os.path.abspath(path).startswith(own)):
            found.append(name)
    return found


def run_command(argv: list[str], executable: Optional[str] = None,
                base_sys_path: Optional[list[str]] = None) -> int:
    """`tpython run`: never returns on success (the process becomes the target).

    Given BASE_SYS_PATH (the `tpython` script's sys.path before it added tpython's
    own directories) and an interpreter fit for it, the program is booted here;
    else the hardened interpreter is started with ``execve``."""
    try:
        opts, target = parse_run_args(argv)
    except _HelpRequested:
        sys.stdout.write(_HELP)
        return 0
    policy = _load_policy(str(opts["policy"] or "default"))
    policy = policy.with_overrides(mode=opts["mode"], sinks=tuple(opts["log"]))  # type: ignore[arg-type]
    if os.environ.get(FAULT_VARIABLE) == "launch":  # tests: tpython failing before the boot
        raise RuntimeError(f"fault injected ({FAULT_VARIABLE}=launch)")
    if opts["no_program"]:
        _check_no_program(target, policy)
    c_module.load()  # every decision is C's: without the module, one line and nothing runs
    for sink in policy.sinks or (DEFAULT_SPEC,):
        check_sink_writable(sink)
    manifest_sha256 = _verify_manifest(policy)
    if policy.integrity.seccomp:
        _deny_xattr_writes()
    spec = LaunchSpec(policy.to_json(), target, quiet=bool(opts["quiet"]), manifest_sha256=manifest_sha256)
    if executable is None and base_sys_path is not None and _can_boot_here():
        from tpython.launcher.bootstrap import boot

        sys.path[:] = base_sys_path
        boot(spec, policy, in_launcher=True)
    env = dict(os.environ)
    env[ENV_VAR] = spec.to_env()
    argv_new = interpreter_argv(executable)
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(argv_new[0], argv_new, env)
    return 0  # pragma: no cover - execve does not return
