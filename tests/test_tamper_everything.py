"""The program reaches every Python object of tpython it can and tampers with it; every
decision still holds and is recorded.

The class of attack: tpython's Python modules are in `sys.modules`, their functions
and classes are plain objects, and nothing audits replacing them. Whatever the
program does to them (replace each with a stub, wrap each so that the attacker's code
runs whenever tpython calls it, delete it), the decisions are C's: a denied event is
still denied and recorded, a `kill` still ends the process, a `count` is still
counted. The wrapper tries a denied thing itself each time it runs, so that any
tpython function still called while the hook stands aside would show as a file.
"""
from __future__ import annotations

import shutil

import pytest

TOUCH = shutil.which("touch") or "/usr/bin/touch"

# Run first in the program: tamper with every function, class and module global of every
# tpython module loaded, and with the methods of every tpython class.
TAMPER = '''
import os, sys, types
MODE = {mode!r}
TOUCH = {touch!r}

def attacker(name):
    def run(*args, **kwargs):
        try:
            os.system(TOUCH + " " + os.path.abspath("pwned-" + name.replace("/", "_")))
        except BaseException:
            pass
    return run

def replacement(name, original):
    if MODE == "stub":
        return lambda *args, **kwargs: None
    if MODE == "raise":
        def raising(*args, **kwargs):
            raise RuntimeError("tampered")
        return raising
    evil = attacker(name)
    def wrapped(*args, **kwargs):
        evil()
        return original(*args, **kwargs)
    return wrapped

def tamper_namespace(owner, prefix, setter, deleter):
    for key, value in list(vars(owner).items()):
        if key.startswith("__") and key not in ("__init__", "__call__", "__enter__", "__exit__"):
            continue
        name = prefix + "." + key
        try:
            if MODE == "delete":
                deleter(key)
            elif isinstance(value, (types.FunctionType, types.BuiltinFunctionType, staticmethod, classmethod)):
                setter(key, replacement(name, value))
        except (AttributeError, TypeError):
            pass

seen = set()
for module_name, module in list(sys.modules.items()):
    if not module_name.startswith("tpython") or module is None:
        continue
    for key, value in list(vars(module).items()):
        if isinstance(value, type) and id(value) not in seen and value.__module__.startswith("tpython"):
            seen.add(id(value))
            tamper_namespace(value, module_name + "." + key,
                             lambda k, v, c=value: setattr(c, k, v), lambda k, c=value: delattr(c, k))
    tamper_namespace(module, module_name, lambda k, v, m=module: setattr(m, k, v),
                     lambda k, m=module: delattr(m, k))
print("tampered", flush=True)
'''

POLICY = """
version = 1
extends = "default"

[[rules]]
id = "no-system"
events = ["os.system"]
action = "deny"

[[rules]]
id = "no-secret"
events = ["open"]
action = "deny"
when = { path = ["**/secret.txt"] }

[[rules]]
id = "count-notes"
events = ["open"]
action = "count"
when = { path = ["**/notes-*.txt"] }

[[rules]]
id = "stop-chown"
events = ["os.chown"]
action = "kill"
when = { path = ["**/victim"] }
"""

AFTER = '''
import os
def attempt(what, fn):
    try:
        fn()
    except PermissionError as exc:
        print(what, "DENIED", flush=True)
    except BaseException as exc:
        print(what, "ERROR", type(exc).__name__, flush=True)
    else:
        print(what, "ALLOWED", flush=True)
attempt("system", lambda: os.system(TOUCH + " " + os.path.abspath("pwned-direct")))
attempt("secret", lambda: print(open("secret.txt").read()))
for i in range(3):
    with open("notes-%d.txt" % i, "w") as f:
        f.write("x")
open("victim", "w").close()
print("before chown", flush=True)
os.chown("victim", os.getuid(), os.getgid())
print("after chown", flush=True)
'''


@pytest.mark.parametrize("sinks", [(), ("--log", "stderr")], ids=["jsonl", "jsonl+stderr"])
@pytest.mark.parametrize("mode", ["stub", "raise", "wrap", "delete"])
def test_decisions_hold_whatever_the_program_does_to_tpython(tp, mode, sinks):
    tp.policy(POLICY)
    (tp.cwd / "secret.txt").write_text("TOP-SECRET-VALUE\n")
    tp.script(TAMPER.format(mode=mode, touch=TOUCH) + AFTER)
    log_options = ("--log", f"jsonl:{tp.log}", *sinks)
    r = tp("run", "--quiet", "--policy", "policy.toml", *log_options, "app.py")
    assert "tampered" in r.out, r.out + r.err
    pwned = sorted(p.name for p in tp.cwd.glob("pwned*"))
    assert pwned == [], (pwned, r.out, r.err)
    assert "system DENIED" in r.out and "secret DENIED" in r.out, r.out + r.err
    assert "TOP-SECRET-VALUE" not in r.out
    assert r.rc == 255 and "before chown" in r.out and "after chown" not in r.out, (r.rc, r.out, r.err)
    records = r.records
    denied = {(x["event"], x["rule"]) for x in records if x["action"] == "deny" and x["enforced"]}
    assert ("os.system", "no-system") in denied and ("open", "no-secret") in denied, denied
    kills = [x for x in records if x["action"] == "kill"]
    assert [(x["event"], x["rule"]) for x in kills] == [("os.chown", "stop-chown")]
