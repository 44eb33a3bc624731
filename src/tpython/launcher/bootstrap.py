"""Runs first inside the hardened interpreter that `tpython run` starts.

Order matters, and is the point of this module:

1. take the launch spec out of the environment;
2. wrap the private process-spawning routes CPython does not audit;
3. open the sinks (a log that cannot be written stops the launch here);
4. install the audit hook and write `tpython.start`;
5. register exit and fork handling (`tpython.exit`, new runs in children);
6. refuse launches the policy does not allow;
7. only now run `site` (so `.pth` files and sitecustomize are seen);
8. run the target as `python` would: argv, __main__, sys.path[0],
   tracebacks and exit status.
"""
from __future__ import annotations

import atexit
import builtins
import gc
import os
import sys

import tpython
from tpython import exit_status as status
from tpython import startup_bundle
from tpython.engine import c_module
from tpython.errors import Error, LaunchRefused, PolicyViolation, StartDenied
from tpython.launcher import children, guards, signals
from tpython.launcher.spec import ENV_VAR, FAULT_VARIABLE, LaunchSpec, Target, interpreter_argv, package_parent
from tpython.lean_typing import tuple_class
from tpython.policy.model import Policy
from tpython.sinks.critical import critical_failure
from tpython.sinks.spec import DEFAULT_SPEC, open_sink, parse_sink_spec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import TracebackType
    from typing import Any, NoReturn, Optional

    from tpython.engine.engine import Engine


_TPYTHON_DIR = os.path.dirname(os.path.abspath(tpython.__file__)) + os.sep
EXIT_LAUNCH_REFUSED = status.USAGE
EXIT_CODE_REFUSED = status.CODE_REFUSED
INTERRUPTED = object()  # an uncaught KeyboardInterrupt: python ends itself with SIGINT
from tpython._native import compile_source as _c_compile  # noqa: E402


def _die(message: str, status: int) -> NoReturn:
    sys.stderr.write(f"tpython: {message}\n")
    sys.stderr.flush()
    os._exit(status)


def _refuse_start(engine: Engine, exc: Error) -> NoReturn:
    """The integrity layer cannot work: record why, say it in one line, stop."""
    engine.emit_internal("tpython.integrity", {"reason": str(exc), "stage": "start"}, "deny", rule="integrity")
    engine.recorder.close()
    _die(str(exc), exc.exit_status)


def _start_denied(engine: Engine, exc: PolicyViolation) -> NoReturn:
    """The policy denied what the interpreter itself does before the program (`site`
    reading pyvenv.cfg and .pth files): one line naming it and what to do, not a crash."""
    error = StartDenied(f"Python cannot start under this policy: {exc.reason} (while site set up sys.path, before "
                        "the program); let the interpreter read its own files ({prefix}, {stdlib}, {site}) "
                        "with an allow rule before that one")
    engine.exit_hooks.clear()  # the line below is what the user needs, not the summary
    engine.finish(error.exit_status)
    _die(str(error), error.exit_status)


def main() -> NoReturn:
    """Entry of an interpreter started with the launch spec in its environment
    (`tpython run` when it cannot boot in its own interpreter, workers, children)."""
    if sys.path and sys.path[0] == package_parent():
        del sys.path[0]
    # 1. The launch spec.
    raw = os.environ.pop(ENV_VAR, None)
    if raw is None:
        _die("this interpreter was not started by `tpython run` (no launch spec)", 2)
    spec = LaunchSpec.from_env(raw)
    boot(spec, Policy.from_json(spec.policy_json), in_launcher=False)


def boot(spec: LaunchSpec, policy: Policy, in_launcher: bool) -> NoReturn:
    """Boot the engine with POLICY (the one SPEC carries), then run the target; never returns.
    IN_LAUNCHER: this is the `tpython` command's own interpreter (no second start).

    A failure of tpython itself while it starts (not a mistake of the user's, which is
    one line and its own status) is a critical failure: a critical message to syslog,
    one line on stderr, and status 255; the program never starts unwatched."""
    try:
        if os.environ.get(FAULT_VARIABLE) == "boot":
            raise RuntimeError(f"fault injected ({FAULT_VARIABLE}=boot)")
        engine, status_box, main_is_package, site_flags = _start(spec, policy, in_launcher)
    except (SystemExit, KeyboardInterrupt):
        raise
    except BaseException as exc:
        critical_failure(f"{type(exc).__name__}: {exc}", policy.log)
    # The `tpython` command wrote no byte code while tpython started (a run never writes
    # into tpython's installation); the program writes its own as under plain python.
    sys.dont_write_bytecode = bool(sys.flags.dont_write_bytecode)
    import site

    try:
        site.main()
    except PolicyViolation as exc:
        _start_denied(engine, exc)
    if site_flags is not None:
        sys.flags = site_flags
    # What exists now (tpython, its policy and engine, the modules loaded for them, site's
    # work) lives as long as the process: the collector need not walk it again, in the
    # program's full collections or at exit (about 5 ms of every run here). Not a
    # defence: gc.unfreeze() hands it back (tests/test_native.py's tamperer does).
    gc.freeze()
    gc.enable()  # the `tpython` command disables it for start-up (so does main())
    # 8. The target.
    code = _run_target(spec.target, engine, main_is_package)
    status_box[0] = code
    sys.exit(128 + 2 if code is INTERRUPTED else code)


def _start(spec: LaunchSpec, policy: Policy, in_launcher: bool) -> tuple[Engine, list[Any], bool, Any]:
    """Steps 2-7: sinks, engine, hooks, tpython.start, exit and fork handling, launch
    checks, seal. Returns the engine, the exit-status box, whether the target is a
    package, and the sys.flags to show once site has run."""
    warn_fd = os.dup(2)
    os.set_inheritable(warn_fd, False)
    # 2-3. Private routes, sinks.
    try:
        sinks = [open_sink(parse_sink_spec(s), policy.log) for s in (policy.sinks or (DEFAULT_SPEC,))]
    except Error as exc:
        _die(str(exc), exc.exit_status)
    try:
        c_module.load()
        from tpython.engine.engine import Engine

        engine = Engine(policy, sinks, warn_fd=warn_fd)
    except Error as exc:
        _die(str(exc), exc.exit_status)
    guards.wrap_fork_exec(sys.audit)
    start_loader_env = children.loader_environment()
    site_flags = _flags_with_site()
    # The codec `site` reads .pth files with, loaded before the checks (under the hooks,
    # an exec-restricted process could not import it from the standard library).
    if sys.version_info >= (3, 13):
        import encodings.utf_8_sig  # noqa: F401
    else:  # the locale's encoding (ASCII in a C locale without UTF-8 mode), as a text file gets it
        import io

        io.TextIOWrapper(io.BytesIO(), encoding="locale" if sys.version_info >= (3, 10) else None)
    integrity = _integrity_state(policy)
    # 4. The hooks (audit, then open_code), then the first record.
    try:
        trust = _prepare_integrity(policy, spec)
    except Error as exc:
        _refuse_start(engine, exc)
    startup_bundle.finish()  # out of sys.meta_path before the hooks and the program
    engine.install()
    try:
        with engine.internal():  # tpython's own imports and reads, not the program's
            integrity.update(_install_open_code(trust, engine, spec.quiet))
    except Error as exc:
        _refuse_start(engine, exc)
    with engine.internal():
        engine.start({**_start_args(spec, policy, engine), "boot": "launcher" if in_launcher else "exec",
                      "integrity": integrity})
    # 5. Exit and children.
    status_box: list[Any] = [0]
    atexit.register(_at_exit, engine, status_box)
    if not spec.quiet:
        engine.exit_hooks.append(lambda status: _summary(engine, warn_fd))
    signals.install(engine)  # a signal that ends the run writes tpython.exit too
    # Look the lock up at each fork: a forked child replaces it (restart_after_fork),
    # and a bound `.acquire` of the parent's lock (held across the fork) never returns.
    os.register_at_fork(before=lambda: engine.recorder.lock.acquire(),
                        after_in_parent=lambda: engine.recorder.lock.release(),
                        after_in_child=engine.after_fork_in_child)
    patches = {
        "socket": lambda module: guards.audit_name_resolution(module.socket, sys.audit),
        "multiprocessing.util": children.make_mp_patch(start_loader_env, engine.emit_internal,
                                                       engine.worker_starter()),
    }
    for name in [n for n in patches if n in sys.modules]:  # already imported during start-up
        patches.pop(name)(sys.modules[name])
    sys.meta_path.insert(0, children.PatchOnImport(patches))
    # 6. Launch checks.
    try:
        _check_launch(spec, policy)
    except LaunchRefused as exc:
        engine.emit_internal("tpython.launch", {"kind": spec.target.kind, "refused": str(exc)},
                             "deny", rule="launch")
        engine.exit_hooks.clear()  # the refusal is the one line the user sees
        engine.finish(EXIT_LAUNCH_REFUSED)
        _die(str(exc), EXIT_LAUNCH_REFUSED)
    # 7. Seal (C takes no more orders from Python), then site, under the hook.
    engine.configure_workers(spec.policy_json, spec.manifest_sha256, interpreter_argv(sys.executable),
                             start_loader_env)
    main_is_package = _main_is_package(spec.target, engine)
    engine.seal()
    return engine, status_box, main_is_package, site_flags


def _prepare_integrity(policy: Policy, spec: LaunchSpec) -> dict[str, Any]:
    """What `[integrity]` asks of C's checks (a manifest loaded as the bytes the launcher
    verified), read before the hooks so that an unusable one stops the launch."""
    from tpython.integrity.hook import trust_config

    return trust_config(policy.integrity, spec.manifest_sha256)


def _install_open_code(config: dict[str, Any], engine: Engine, quiet: bool) -> dict[str, Any]:
    """Put every file read as code through C's integrity checks (SPEC 3), before `site`."""
    from tpython.integrity.hook import CacheRefused, CodeRefused, close_sourceless_gap

    try:
        import tpython._native as native
    except ImportError as exc:
        if config["manifest"] or config["xattr"] or config["require"]:
            from tpython.integrity.errors import IntegrityError

            raise IntegrityError(f"[integrity] needs the open_code hook, but tpython's C module was not built "
                                 f"({exc}); reinstall tpython where gcc and the Python headers are present") from None
        return {"open_code": f"unavailable ({exc})"}
    if not quiet:
        import tpython.logs.summary  # noqa: F401  (what tpython imports at exit, before the hook checks it)

    native.install_open_code(config, CodeRefused, CacheRefused)
    close_sourceless_gap()
    bits = native.securebits()
    available = native.execve_check_available(sys.executable)
    return {
        "open_code": "active",
        "sources": native.trust_sources(config),
        "require": config["require"],
        "max_size": config["max_size"],
        "kernel_check": config["kernel_check"],
        "execve_check": "available" if available else "unavailable (kernel without AT_EXECVE_CHECK)",
        "securebits": {"exec_restrict_file": bool(bits & native.SECBIT_EXEC_RESTRICT_FILE),
                       "exec_deny_interactive": bool(bits & native.SECBIT_EXEC_DENY_INTERACTIVE)},
    }


def _integrity_state(policy: Policy) -> dict[str, Any]:
    """What protects the trust state, as the kernel reports it for this process.

    The seccomp filter is loaded by the `tpython` command before it execs this
    interpreter (:func:`tpython.launcher.command.run_command`), so this
    interpreter never loads ctypes; filters and no_new_privs survive execve.
    """
    state: dict[str, Any] = {"seccomp_requested": policy.integrity.seccomp}
    try:  # bytes, decoded by the built-in ASCII decoder: open(encoding="ascii") imports encodings.ascii
        fd = os.open("/proc/self/status", os.O_RDONLY | os.O_CLOEXEC)
        try:
            text = os.read(fd, 1 << 16).decode("ascii", "replace")
        finally:
            os.close(fd)
    except OSError:
        return {**state, "seccomp": "unknown (no /proc/self/status)"}
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    mode = fields.get("Seccomp", "").strip()
    state["seccomp"] = {"0": "off", "1": "strict", "2": "filter"}.get(mode, mode or "unknown")
    if "Seccomp_filters" in fields:
        state["seccomp_filters"] = int(fields["Seccomp_filters"].strip() or 0)
    state["no_new_privs"] = fields.get("NoNewPrivs", "").strip() == "1"
    return state


def _temp_dir(env: os._Environ[str]) -> str:
    """The directory tempfile would use (without importing it at start): the first of
    TMPDIR, TEMP, TMP that is a directory, else /tmp."""
    for name in ("TMPDIR", "TEMP", "TMP"):
        value = env.get(name)
        if value and os.path.isdir(value):
            return os.path.abspath(value)
    return "/tmp"


def _start_args(spec: LaunchSpec, policy: Policy, engine: Engine) -> dict[str, Any]:
    env = os.environ
    ignored = sorted(k for k in env if k.startswith("PYTHON"))
    lacks = []
    if not os.path.exists("/dev/log"):
        lacks.append("syslog socket /dev/log")
    if not os.path.exists("/run/systemd/journal/socket"):
        lacks.append("journald socket")
    if sys.version_info < (3, 14):
        lacks.append("_posixsubprocess.fork_exec audit event (tpython wraps it)")
    return {
        "argv": [spec.target.value or "", *spec.target.args] if spec.target.kind != "interactive" else [""],
        "launch": spec.target.kind,
        "executable": sys.executable,
        "python": "%d.%d.%d" % sys.version_info[:3],
        "implementation": sys.implementation.name,
        "tpython": tpython.__version__,
        "engine": engine.describe(),
        "policy": {"name": policy.name, "digest": policy.digest, "mode": policy.mode,
                   "sources": list(policy.sources)},
        "sinks": [s.name for s in engine.recorder.sinks],
        "uid": os.getuid(),
        "hostname": os.uname().nodename,
        "cwd": os.getcwd(),
        "home": os.path.expanduser("~"),
        "tmp": _temp_dir(env),
        "environment": {
            "LD_PRELOAD": env.get("LD_PRELOAD"),
            "LD_LIBRARY_PATH": env.get("LD_LIBRARY_PATH"),
            "ignored_python_variables": ignored,
        },
        "parent_run": spec.parent_run,
        "lacks": lacks,
    }


def _deny_interactive_set() -> bool:
    """Whether this process has SECBIT_EXEC_DENY_INTERACTIVE set."""
    try:
        import tpython._native as native  # loaded at start: no code file is read now
    except ImportError:  # nor is there an open_code hook: the Python module is read as usual
        from tpython.integrity import kernel

        return bool(kernel.securebits() & kernel.SECBIT_EXEC_DENY_INTERACTIVE)
    # tpython.integrity.kernel is not loaded at start where C checks code files: read now,
    # through the hook, under SECBIT_EXEC_RESTRICT_FILE its .pyc (not executable) is refused
    return bool(native.securebits() & native.SECBIT_EXEC_DENY_INTERACTIVE)


def _check_launch(spec: LaunchSpec, policy: Policy) -> None:
    if policy.refuse_ld_preload and os.environ.get("LD_PRELOAD"):
        raise LaunchRefused(f"LD_PRELOAD is set ({os.environ['LD_PRELOAD']}); policy {policy.name!r} "
                            "refuses to start ([launch] refuse_ld_preload = true)")
    if spec.internal == "multiprocessing":
        return  # tpython's own worker launch, under this same policy
    kind = spec.target.kind
    if kind in ("command", "stdin", "interactive") and policy.integrity.kernel_check:
        if _deny_interactive_set():
            raise LaunchRefused("this process has SECBIT_EXEC_DENY_INTERACTIVE set: code that comes from no "
                                "file (-c, stdin, the interactive prompt) is refused")
    if kind not in policy.launch_allow:
        names = {"file": "a script file", "module": "-m MODULE", "command": "-c CODE",
                 "stdin": "code from standard input (-)", "interactive": "the interactive prompt"}
        raise LaunchRefused(
            f"launch of {names.get(kind, kind)} refused by policy {policy.name!r} "
            f"([launch] allow = {', '.join(policy.launch_allow) or 'nothing'})")


_FLAG_NAMES = ("debug", "inspect", "interactive", "optimize", "dont_write_bytecode", "no_user_site",
               "no_site", "ignore_environment", "verbose", "bytes_warning", "quiet", "hash_randomization",
               "isolated", "dev_mode", "utf8_mode", "warn_default_encoding", "safe_path", "int_max_str_digits")


def _flags_with_site() -> Any:
    """sys.flags as it will be once site has run: `-S` only deferred site until the
    hook was in, and interpreters started from sys.flags (subprocess, test.support)
    must get site too. Built before the hook, so it is not the program's behaviour."""
    flags = sys.flags
    fields = getattr(type(flags), "__match_args__", None)
    if not fields:  # Python 3.9: no __match_args__; the documented order
        fields = tuple(n for n in _FLAG_NAMES if hasattr(flags, n))
        if len(fields) != flags.n_sequence_fields:
            return None
    Flags = tuple_class("flags", fields)
    return Flags(*[0 if f == "no_site" else getattr(flags, f) for f in fields])


def _fresh_main(**extra: Any) -> dict[str, Any]:
    main_dict = sys.modules["__main__"].__dict__
    main_dict.clear()
    main_dict.update(__name__="__main__", __doc__=None, __package__=None, __spec__=None,
                     __annotations__={}, __builtins__=builtins)
    main_dict.update(extra)
    return main_dict


def _run_target(target: Target, engine: Engine, main_is_package: bool) -> Any:
    """Run the target; returns what `sys.exit` should get."""
    try:
        if target.kind == "file":
            _run_file(target, main_is_package)
        elif target.kind == "module":
            import runpy

            sys.argv = ["-m", *target.args]
            sys.path.insert(0, os.getcwd())
            _fresh_main()  # nothing of the launcher's own __main__ is left for the program
            runpy._run_module_as_main(target.value, alter_argv=True)  # type: ignore[attr-defined]
        elif target.kind == "command":
            sys.argv = ["-c", *target.args]
            sys.path.insert(0, "")
            sys.audit("cpython.run_command", target.value)
            main_dict = _fresh_main(__loader__=sys.__loader__)  # BuiltinImporter, as for python -c
            exec(compile(target.value or "", "<string>", "exec", dont_inherit=True), main_dict)
        elif target.kind == "stdin":
            sys.argv = ["-", *target.args]
            sys.path.insert(0, "")
            sys.audit("cpython.run_stdin")
            source = sys.stdin.buffer.read()
            main_dict = _fresh_main(__loader__=sys.__loader__)  # BuiltinImporter, as for python -c
            exec(_compile_source(source, "<stdin>"), main_dict)
        else:
            _interact()
    except SystemExit as exc:
        return exc.code
    except BaseException as exc:  # the program's own error: print it as python would
        _print_exception(exc)
        if isinstance(exc, KeyboardInterrupt):
            return INTERRUPTED
        return 1
    return 0


def _main_is_package(target: Target, engine: Engine) -> bool:
    """Whether the target file is a directory or zip with __main__ (tpython's own look, before sealing)."""
    if target.kind != "file":
        return False
    with engine.internal():
        path = target.value or ""
        return os.path.isdir(path) or _is_zip(path)


def _run_file(target: Target, package_like: bool) -> None:
    from _frozen_importlib_external import SourceFileLoader  # importlib.machinery's; loaded at start

    path = target.value or ""
    sys.argv = [path, *target.args]
    absolute = os.path.abspath(path)
    if package_like:
        import runpy

        sys.path.insert(0, absolute)
        _fresh_main()
        runpy._run_module_as_main("__main__", alter_argv=False)  # type: ignore[attr-defined]
        return
    sys.path.insert(0, os.path.dirname(os.path.realpath(path)))
    sys.audit("cpython.run_file", absolute)
    from tpython.integrity.hook import CodeRefused

    try:
        import io

        with io.open_code(absolute) as f:
            source = f.read()
    except CodeRefused as exc:
        sys.stderr.write(f"{exc}\n")
        raise SystemExit(EXIT_CODE_REFUSED) from None
    except PolicyViolation as exc:  # an OSError without errno or strerror: say what it is
        sys.stderr.write(f"tpython: can't open file {absolute!r}: {exc.reason}\n")
        raise SystemExit(2) from None
    except OSError as exc:
        sys.stderr.write(f"tpython: can't open file {absolute!r}: [Errno {exc.errno}] {exc.strerror}\n")
        raise SystemExit(2) from None
    main_dict = _fresh_main(__file__=absolute, __cached__=None,
                            __loader__=SourceFileLoader("__main__", absolute))
    exec(_compile_source(source, absolute), main_dict)


def _compile_source(source: bytes, filename: str) -> Any:
    """``compile(SOURCE, FILENAME, "exec", dont_inherit=True)``, through the C module when
    it is built: compile() would first create every class of the `ast` module (about
    2 ms of every run; `python SCRIPT` compiles in C too). A source holding a NUL byte
    goes to compile(), which reports it as python does."""
    if _c_compile is not None and b"\0" not in source:
        return _c_compile(source, filename)
    return compile(source, filename, "exec", dont_inherit=True)


def _is_zip(path: str) -> bool:
    if path.endswith(".py"):
        return False
    try:
        import zipfile

        return os.path.isfile(path) and zipfile.is_zipfile(path)
    except OSError:
        return False


def _interact() -> None:
    import code

    sys.argv = [""]
    sys.path.insert(0, "")
    sys.audit("cpython.run_stdin")
    try:
        import readline  # noqa: F401  (line editing, as the real prompt has)
    except ImportError:
        pass
    banner = f"Python {sys.version} on {sys.platform}\n(tpython {tpython.__version__}: audited session)"
    code.interact(banner=banner, local=_fresh_main(), exitmsg="")


def _strip_tpython(tb: Optional[TracebackType]) -> Optional[TracebackType]:
    """Drop the leading frames that belong to tpython's launcher, and the audit hook's
    frame at the end of a denial's (Python 3.9 and 3.10 keep it)."""
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if filename.startswith(_TPYTHON_DIR) or filename == "<string>" and tb.tb_frame.f_back is None:
            tb = tb.tb_next
            continue
        break
    node = tb
    while node is not None and node.tb_next is not None:
        code = node.tb_next.tb_frame.f_code
        if code.co_name == "tpython_audit_hook" and code.co_filename.startswith(_TPYTHON_DIR):
            node.tb_next = None
        node = node.tb_next
    return tb


def _print_exception(exc: BaseException) -> None:
    exc.__traceback__ = _strip_tpython(exc.__traceback__)
    try:
        sys.excepthook(type(exc), exc, exc.__traceback__)
    except Exception:  # a broken excepthook must not hide the error
        import traceback

        traceback.print_exception(type(exc), exc, exc.__traceback__)


def exit_status(code: Any) -> int:
    """The process status `sys.exit(code)` gives."""
    if code is None:
        return 0
    if code is INTERRUPTED:
        return 128 + 2
    if isinstance(code, int):
        return code & 0xFF
    return 1


def _at_exit(engine: Engine, status_box: list[Any]) -> None:
    interrupted = status_box[0] is INTERRUPTED
    engine.finish(exit_status(status_box[0]), signal="SIGINT" if interrupted else None)
    if interrupted:  # as python does: die of SIGINT, so the shell sees it
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except Exception:
                pass
        signals.die_by(signals.SIGINT)


def _summary(engine: Engine, fd: int) -> None:
    from tpython.logs.summary import format_summary

    text = format_summary(engine)
    try:
        os.write(fd, text.encode("utf-8", "replace"))
    except OSError:
        pass


__all__ = ["main", "exit_status", "PolicyViolation"]
