"""The engine (`tpython._native`): built, deciding every event in C, observable."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest
from conftest import assert_one_line_error


def test_native_engine_is_built_and_is_the_engine(tp):
    """CI builds the extension: without it nothing runs, so a missing build fails here."""
    import tpython._native as native  # noqa: F401

    tp.script("print('ran')\n")
    r = tp("run", "app.py")
    assert r.rc == 0 and "ran" in r.out
    engine = r.events("tpython.start")[0]["args"]["engine"]
    assert engine["name"] == "native" and engine["hook"] == "PySys_AddAuditHook"
    assert engine["probes"] is bool(native.PROBES)


def test_the_engine_setting_of_old_policies_and_the_removed_option(tp):
    """One engine, in C: `engine = "auto"` or `"native"` change nothing; `"python"` and
    `--engine` are one-line errors."""
    tp.script("print('ran')\n")
    for value in ("auto", "native"):
        tp.policy(f'version = 1\nextends = "default"\nengine = "{value}"\n')
        r = tp("run", "--policy", "policy.toml", "app.py")
        assert r.rc == 0 and "ran" in r.out, r.err
    tp.policy('version = 1\nextends = "default"\nengine = "python"\n', name="old.toml")
    assert_one_line_error(tp("run", "--policy", "old.toml", "app.py"),
                          "engine = 'python' is not available: tpython has one engine, in C")
    assert_one_line_error(tp("run", "--engine", "python", "app.py"), "unknown option '--engine'")


RESOLVE = """
import json, sys
from tpython.engine.engine import Engine as NativeEngine
from tpython.policy.catalog import EVENTS
from tpython.policy.loader import load_policy
import tpython._native as native

policy = load_policy(sys.argv[1])
engine = NativeEngine(policy, [], warn_fd=2)
defaults, other, rules = engine.frozen_tables()
engine_options = engine.c_options()
native.install_audit(defaults, other, rules, engine_options)
native.set_busy(True)  # this checker's own events are not decided
names = sorted(EVENTS) + ["made.up.event", "os.made_up", "socket.made_up", "tpython.x", "x"]
out = {name: native.entry(name)[0] for name in names}
try:
    native.install_audit(defaults, other, rules, engine_options)
except RuntimeError as exc:
    out["<second install>"] = str(exc)
print(json.dumps(out))
"""


def test_every_catalogued_event_has_a_known_category():
    """The C table's defaults are made per category (NativeEngine.frozen_tables)."""
    from tpython.policy.catalog import CATEGORIES, EVENTS

    assert {info.category for info in EVENTS.values()} <= set(CATEGORIES)


@pytest.mark.parametrize("policy", ["default", "strict", "custom"])
def test_c_resolves_every_event_itself(tp, policy):
    """Every event name resolves in C to an action C carries out: none to Python."""
    if policy == "custom":
        tp.policy(textwrap.dedent("""
            version = 1
            extends = "default"
            [defaults]
            process = "count"
            "*" = "count"
            [[rules]]
            id = "quiet-listdir"
            events = ["os.listdir", "os.scandir"]
            action = "allow"
            [[rules]]
            id = "conditional-first"
            events = ["builtins.*"]
            action = "deny"
            when = { arg = "nope" }
            [[rules]]
            id = "then-count"
            events = ["builtins.id"]
            action = "count"
            [[rules]]
            id = "conditional-kill"
            events = ["os.chown"]
            action = "kill"
            when = { path = ["/etc/**"] }
        """))
    source = str(tp.cwd / "policy.toml") if policy == "custom" else policy
    script = tp.script(RESOLVE, name="resolve.py")
    proc = subprocess.run([sys.executable, str(script), source], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    raw = json.loads(proc.stdout)
    assert raw.pop("<second install>") == "tpython's audit hook is already installed"
    assert {name: action for name, action in raw.items() if action == "python"} == {}
    if policy == "custom":
        assert raw["builtins.id"] == "conditions-in-c" and raw["os.listdir"] == "allow"
        assert raw["os.chown"] == "conditions-in-c"
    else:
        assert raw["builtins.id"] == "count"
    if policy == "default":
        assert raw["open"] == "log-in-c" and raw["os.system"] == "log-in-c"
    if policy == "strict":
        assert raw["open"] == "conditions-in-c" and raw["os.system"] == "deny-in-c"
        assert raw["import"] == "conditions-in-c" and raw["pickle.find_class"] == "conditions-in-c"
        assert raw["object.__setattr__"] == "conditions-in-c"


COUNTS = """
import sys
for i in range(500):
    id(i)
sys.audit("tpython.test.custom", 1)
print("done")
"""


def test_counts_are_c_s_and_reach_the_exit_record(tp):
    tp.policy('version = 1\nextends = "default"\n[defaults]\nother = "count"\n')
    tp.script(COUNTS)
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc == 0 and "done" in r.out, r.err
    counted = r.events("tpython.exit")[-1]["args"]["counted"]
    assert counted["builtins.id"] >= 500 and counted["tpython.test.custom"] == 1


DYNAMIC_NAMES = """
import sys
denied = 0
for i in range(3000):
    name = "tpython.test.dyn" + str(i % 3)  # a new str each time: its bytes' address is reused
    try:
        sys.audit(name, i)
    except PermissionError:
        denied += 1
print("denied", denied)
"""


def test_event_names_made_at_run_time_are_decided_by_their_text_every_time(tp):
    """The native hook keeps entries by address only for CPython's own literal names
    (native/literals.c); a name in a str the program made, whose memory the next name may
    reuse, is looked up by its text each time: each of three names gets its own action."""
    tp.policy(textwrap.dedent("""
        version = 1
        extends = "default"
        [[rules]]
        id = "dyn0"
        events = ["tpython.test.dyn0"]
        action = "count"
        [[rules]]
        id = "dyn1"
        events = ["tpython.test.dyn1"]
        action = "deny"
    """))
    tp.script(DYNAMIC_NAMES)
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc == 0 and "denied 1000" in r.out, (r.out, r.err)
    assert r.events("tpython.exit")[-1]["args"]["counted"]["tpython.test.dyn0"] == 1000
    assert len(r.events("tpython.test.dyn2")) == 1000 and r.events("tpython.test.dyn0") == []
    assert len([e for e in r.events("tpython.test.dyn1") if e["action"] == "deny"]) == 1000


MANY_NAMES = """
import sys
from tpython import _native
capacity = _native.stats()["capacity"]
for i in range(capacity + 500):  # more names than C keeps: the table fills up
    sys.audit(f"tpython.test.many.{i}")
    sys.audit("tpython.test.counted")
full = _native.stats()["events"]
denied = 0
for i in range(3):  # names first seen once the table is full
    try:
        sys.audit("tpython.test.late.denied", i)
    except PermissionError:
        denied += 1
    sys.audit("tpython.test.late.counted")
print("capacity", capacity, "full", full, "denied", denied)
"""


def test_names_past_the_tables_capacity_are_still_decided_and_counted(tp):
    """C keeps up to `capacity` event names; the names it cannot keep are resolved again
    each time they are seen, and decided as the others: counted, denied, logged."""
    tp.policy(textwrap.dedent("""
        version = 1
        extends = "default"
        [defaults]
        other = "count"
        [[rules]]
        id = "late"
        events = ["tpython.test.late.denied"]
        action = "deny"
    """))
    tp.script(MANY_NAMES)
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    words = r.out.split()
    capacity, full = int(words[1]), int(words[3])
    assert full == capacity >= 1000 and words[5] == "3", r.out
    counted = r.events("tpython.exit")[-1]["args"]["counted"]
    assert counted["tpython.test.counted"] == capacity + 500
    assert counted["tpython.test.late.counted"] == 3
    assert counted["tpython.test.many.0"] == 1 and counted[f"tpython.test.many.{capacity + 499}"] == 1
    assert [e["rule"] for e in r.events("tpython.test.late.denied")] == ["late"] * 3


SUBINTERPRETER = """
import _xxsubinterpreters as interpreters
interp = interpreters.create()
interpreters.run_string(interp, '''
for i in range(300):
    id(i)
import sys
for command in ("true", "rm -rf /nonexistent-tpython-test"):
    try:
        sys.audit("tpython.test.command", command)
    except PermissionError as exc:
        print("sub: denied:", command)
    else:
        print("sub: ran:", command)
''')
interpreters.destroy(interp)
print("main done")
"""


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="_xxsubinterpreters was renamed in 3.13")
@pytest.mark.parametrize("condition, ran", [
    ('{ arg = "rm -rf" }', ["true"]),  # C evaluates it there too: exactly the policy
    # and every other condition: the subinterpreter's top-level `<string>` code is, like
    # the launcher's, no module's (attribution), so no `module` matches there
    ('{ module = ["__main__"] }', ["true", "rm -rf /nonexistent-tpython-test"]),
])
def test_subinterpreter_events_meet_the_native_hook(tp, condition, ran):
    """A C hook is runtime-wide: the subinterpreter's events are counted, and decided by
    the policy, whose conditions C evaluates."""
    tp.policy(textwrap.dedent(f"""
        version = 1
        extends = "default"
        [[rules]]
        id = "no-rm"
        events = ["tpython.test.command"]
        action = "deny"
        when = {condition}
    """))
    tp.script(SUBINTERPRETER)
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    commands = ["true", "rm -rf /nonexistent-tpython-test"]
    assert [line for line in r.out.splitlines() if line.startswith("sub:")] == [
        f"sub: {'ran' if c in ran else 'denied'}: {c}" for c in commands]
    assert "main done" in r.out
    assert r.events("tpython.exit")[-1]["args"]["counted"]["builtins.id"] >= 300


PROBED = """
import os, sys, time
open("pid", "w").write(str(os.getpid()))
while not os.path.exists("go"):
    time.sleep(0.02)
for i in range(3):
    sys.audit("tpython.probe.test", i)
    id(i)
print("script done")
"""


def test_bpftrace_sees_every_decided_event_through_the_usdt_probe(tp):
    import tpython._native as native

    bpftrace = shutil.which("bpftrace")
    if bpftrace is None:
        pytest.skip("bpftrace is not installed (Debian package bpftrace)")
    if not native.PROBES:
        pytest.skip("tpython._native was built without <sys/sdt.h> (Debian package systemtap-sdt-dev)")
    if os.geteuid() != 0:
        pytest.skip("attaching bpftrace needs root")
    tp.script(PROBED)
    target = subprocess.Popen([sys.executable, "-m", "tpython", "run", "--quiet", "--log", f"jsonl:{tp.log}",
                               "app.py"], cwd=tp.cwd, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not (tp.cwd / "pid").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        pid = int((tp.cwd / "pid").read_text())
        program = f'usdt:{native.__file__}:tpython:audit {{ printf("%s|%s|%s\\n", str(arg0), str(arg1), str(arg2)); }}'
        tracer = subprocess.Popen([bpftrace, "-p", str(pid), "-e", program], stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True)
        attached = ""
        while "Attaching" not in attached and time.monotonic() < deadline:
            line = tracer.stdout.readline()  # type: ignore[union-attr]
            if not line:
                break
            attached += line
        if "Attaching" not in attached:
            tracer.kill()
            pytest.skip(f"bpftrace could not attach here: {attached.strip()}")
        time.sleep(1.0)  # bpftrace prints "Attaching" just before the probe is live
        (tp.cwd / "go").touch()
        assert target.wait(timeout=30) == 0
        time.sleep(0.5)
        tracer.send_signal(2)
        seen, _ = tracer.communicate(timeout=30)
    finally:
        target.kill()
    lines = [line.split("|") for line in seen.splitlines() if line.count("|") == 2]
    assert [a for e, a, _ in lines if e == "tpython.probe.test"] == ["log", "log", "log"], seen
    assert [a for e, a, _ in lines if e == "builtins.id"] == ["count"] * 3, seen  # decided in C


TAMPER = r"""
import gc, os, sys, types

native = sys.modules["tpython._native"]
tries = {"native": 0, "native_refused": 0, "modules": 0, "objects": 0, "functions": 0, "cells": 0}

# 1. Every function of the C module, with plausible and junk arguments.
CALLS = {
    "set_busy": [(True,)], "seal": [()], "reset_counts": [()], "chain_restart": [("00", os.getpid())],
    "chain_start": [("00", os.getpid(), [], 2)], "install_audit": [({}, "allow", [], {})],
    "install_open_code": [({"max_size": 1 << 30, "kernel_check": False, "require": False, "xattr": False,
                            "manifest": None}, ImportError, PermissionError)],
    "spawn_configure": [("{}", None, ["/bin/sh"], [])],
    "spawn_worker": [("import os; os.system('touch pwned-spawn')", [], (), "00")],
    "chain_record": [("os.system", b"[]", "allow", False, None, "null", "null", "", ""),
                     ("tpython.start", b"{}", "log", True, None, "null", "null", "", "")],
}
for name in dir(native):
    fn = getattr(native, name)
    if not callable(fn):
        continue
    for args in CALLS.get(name, [()]) + [(None,), ("x", 1)]:
        tries["native"] += 1
        try:
            fn(*args)
        except Exception:
            tries["native_refused"] += 1

# A worker launch runs under the same policy, whatever program text it is given.
try:
    pid = native.spawn_worker("import multiprocessing, os; os.system('touch pwned-spawn')", [], (), "00")
    tries["spawned"] = os.waitpid(pid, 0)[1] != 0
except Exception as exc:
    tries["spawned"] = repr(exc)

# 2. Every attribute of every tpython module.
for name, module in list(sys.modules.items()):
    if name.startswith("tpython") and name != "tpython._native":
        for attr in list(vars(module)):
            if not attr.startswith("__"):
                try:
                    setattr(module, attr, None)
                    tries["modules"] += 1
                except Exception:
                    pass

# 3. Every object, function and closure cell of tpython's that gc can reach.
noop = (lambda *a, **k: ("allow", None, None)).__code__
gc.unfreeze()  # tpython froze its start-up objects (a speed-up, not a hiding place)
for obj in gc.get_objects():
    try:
        module = type(obj).__module__ or ""
        if isinstance(obj, types.FunctionType) and (obj.__module__ or "").startswith("tpython"):
            for cell in obj.__closure__ or ():
                try:
                    cell.cell_contents = None
                    tries["cells"] += 1
                except Exception:
                    pass
            try:
                obj.__code__ = noop
                tries["functions"] += 1
            except Exception:
                pass
        elif module.startswith("tpython") and hasattr(obj, "__dict__"):
            for attr in list(vars(obj)):
                setattr(obj, attr, None)
            tries["objects"] += 1
    except Exception:
        pass

print("tampered:", tries, flush=True)
try:
    os.system("touch pwned")
except PermissionError as exc:
    print("still denied:", type(exc).__name__, flush=True)
"""


def test_tampering_with_everything_python_can_reach_does_not_undo_a_c_decision(tp):
    """The native engine's decisions that need no condition, and their records, are C's:
    after the program has changed everything of tpython's it can reach (the C module's
    functions called with anything, every module attribute, every object, function and
    closure cell gc finds), a denied action is still denied and recorded."""
    tp.policy(textwrap.dedent("""
        version = 1
        extends = "default"
        [[rules]]
        id = "no-system"
        events = ["os.system"]
        action = "deny"
    """))
    tp.script(TAMPER)
    r = tp("run", "--policy", "policy.toml", "app.py", timeout=120)
    assert "tampered:" in r.out, r.err
    tries = eval(r.out.split("tampered:", 1)[1].splitlines()[0])  # the script's own dict literal
    assert tries["native_refused"] >= 9 and tries["modules"] > 100 and tries["objects"] >= 5, tries
    # (Replacing a function's code raises object.__setattr__, whose decision needs the Python
    # code just broken: it fails closed, so those attempts mostly fail; not asserted.)
    assert tries["spawned"] is True  # the worker ran, was denied os.system and failed
    assert "still denied:" in r.out
    forged = [x for x in r.records if x["event"] == "os.system" and x["action"] == "allow"]
    assert not forged  # chain_record refuses the program's own records once sealed
    assert not (tp.cwd / "pwned").exists() and not (tp.cwd / "pwned-spawn").exists()
    denied = [x for x in r.records if x["event"] == "os.system"]
    assert denied and denied[-1]["action"] == "deny" and denied[-1]["rule"] == "no-system"
    chained = tp.cli("log", "verify", str(tp.log))
    assert "chain broken" not in chained.out and "hash mismatch" not in chained.out, chained.out


def test_install_audit_takes_no_python_callable():
    """C decides every event: the hook is given tables and options, no Python callable to
    hand events to (no slow path)."""
    import tpython._native as native

    with pytest.raises(TypeError, match="exactly 4 arguments"):  # the old (..., guarded, slow_path, options)
        native.install_audit({}, "allow", [], (), lambda event, args: ("allow", None, None), {})


PYTHON_ENGINE_BROKEN = r"""
import pathlib, shutil, sys, types

def stub(*args, **kwargs):
    raise RuntimeError("tpython's Python engine was called")

broken = 0

def breaks(fn):
    global broken
    try:
        fn.__code__ = stub.__code__  # bound methods and closures holding it too
        broken += 1
        return True
    except Exception:
        return False

for name in [n for n in sys.modules if n.startswith("tpython.engine")]:
    module = sys.modules.get(name)
    for attr, value in list(vars(module or types.ModuleType("gone")).items()):
        if isinstance(value, types.FunctionType) and not breaks(value):
            setattr(module, attr, stub)
        elif isinstance(value, type) and value.__module__ == name:
            for member in vars(value).values():
                fn = getattr(member, "__func__", member)
                if isinstance(fn, types.FunctionType):
                    breaks(fn)
print("broken:", broken, flush=True)
try:
    shutil.copyfile(pathlib.Path("secret.txt"), pathlib.Path("copy.txt"))  # its event carries the Paths
    print("copied", flush=True)
except PermissionError as exc:
    print("denied:", type(exc).__name__, exc, flush=True)
"""


def test_a_pathlib_argument_is_decided_in_c_with_the_python_engine_broken(tp):
    """No decision reaches Python: with every function of the Python engine's modules
    replaced by one that raises, a pathlib argument under a path-conditioned deny rule
    is still denied and recorded (a path C cannot read is an unknown fact, which never
    opens a hole: a rule that widens a denial matches)."""
    tp.policy(textwrap.dedent("""
        version = 1
        extends = "default"
        [[rules]]
        id = "no-secret"
        events = ["shutil.copyfile"]
        action = "deny"
        when = { path = ["**/secret.txt"] }
    """))
    (tp.cwd / "secret.txt").write_text("s")
    tp.script(PYTHON_ENGINE_BROKEN)
    r = tp("run", "--policy", "policy.toml", "app.py", timeout=120)
    assert "broken:" in r.out, r.err
    assert "denied: PolicyViolation" in r.out and "no-secret" in r.out, (r.out, r.err)
    assert not (tp.cwd / "copy.txt").exists()
    denied = [x for x in r.events("shutil.copyfile") if x["action"] == "deny"]
    assert [x["rule"] for x in denied] == ["no-secret"]


SUBINTERPRETER_PATHS = '''
import _xxsubinterpreters as interpreters
interp = interpreters.create()
interpreters.run_string(interp, """
for name in ("plain.txt", "secret.txt"):
    try:
        open(name).close()
        print("sub:", name, "read")
    except PermissionError as exc:
        print("sub:", name, "denied:", exc)
""")
interpreters.destroy(interp)
'''


@pytest.mark.skipif(sys.version_info >= (3, 13), reason="_xxsubinterpreters was renamed in 3.13")
def test_path_conditions_hold_in_a_subinterpreter(tp):
    """Path conditions are evaluated in C: in a subinterpreter they decide exactly as in
    the main one (by the rule itself, not the fail-closed stand-in)."""
    tp.policy(textwrap.dedent("""
        version = 1
        extends = "default"
        [[rules]]
        id = "no-secret"
        message = "no secrets"
        events = ["open"]
        action = "deny"
        when = { path = ["**/secret.txt"] }
    """))
    tp.script(SUBINTERPRETER_PATHS)
    (tp.cwd / "secret.txt").write_text("s")
    (tp.cwd / "plain.txt").write_text("p")
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    assert "sub: plain.txt read" in r.out
    assert "sub: secret.txt denied: tpython: open denied by rule no-secret" in r.out, r.out
    denied = [x for x in r.events("open") if x["action"] == "deny"]
    assert [x["rule"] for x in denied] == ["no-secret"] and denied[0]["args"][0].endswith("secret.txt")
    assert not [x for x in r.events("open") if x["rule"] == "tpython-subinterpreter"]  # decided, not stood in for


_SOURCES = {
    "plain": b"x = 1\ndef f(a, *, b=2):\n    return a + b\n",
    "future": b"from __future__ import annotations\ndef g(x: Undefined) -> None: ...\n",
    "latin-1 cookie": "# -*- coding: latin-1 -*-\ns = 'caf\xe9'\n".encode("latin-1"),
    "BOM": b"\xef\xbb\xbfs = 'bom'\n",
    "empty": b"",
}


@pytest.mark.parametrize("name", sorted(_SOURCES))
def test_compile_source_gives_what_compile_gives(name):
    """The main script is compiled in C (compile() would create the ast module's classes
    first, about 2 ms of every run); same code, same audit event, same errors."""
    import marshal

    from tpython._native import compile_source

    source = _SOURCES[name]
    want = compile(source, "/app/x.py", "exec", dont_inherit=True)
    got = compile_source(source, "/app/x.py")
    assert marshal.dumps(got) == marshal.dumps(want)
    namespace: dict[str, object] = {}
    exec(got, namespace)
    if name == "latin-1 cookie":
        assert namespace["s"] == "caf\xe9"


def test_compile_source_reports_errors_and_the_event_as_compile_does(tmp_path):
    program = textwrap.dedent("""
        import sys
        from tpython._native import compile_source
        seen = []
        sys.addaudithook(lambda event, args: seen.append(args) if event == "compile" else None)
        try:
            compile_source(b"def broken(:\\n", "/app/bad.py")
        except SyntaxError as exc:
            print("SyntaxError", exc.filename, exc.lineno, exc.msg)
        try:
            compile_source(b"a\\0b", "/app/nul.py")
        except ValueError as exc:
            print("ValueError")
        compile_source(b"x = 1", "/app/ok.py")
        ours = list(seen)
        seen.clear()
        for source, name in ((b"def broken(:\\n", "/app/bad.py"), (b"x = 1", "/app/ok.py")):
            try:
                compile(source, name, "exec", dont_inherit=True)
            except SyntaxError:
                pass
        print(ours == seen == [(b"def broken(:\\n", "/app/bad.py"), (b"x = 1", "/app/ok.py")])
    """)
    r = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=False)
    try:
        compile(b"def broken(:\n", "/app/bad.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        expected = f"SyntaxError /app/bad.py {exc.lineno} {exc.msg}"
    assert r.stdout.splitlines() == [expected, "ValueError", "True"], r.stderr
