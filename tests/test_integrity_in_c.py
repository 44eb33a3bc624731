"""Integrity is C's: with a signed manifest or the spython xattr, and `require = true`, no
Python function of tpython runs while a file is checked or a guarded event is decided, so
a program that replaces, wraps or deletes every one of them still cannot run code that no
trust source vouches for."""
from __future__ import annotations

import glob
import os
import shutil
import sysconfig

import pytest
from conftest import xattrs_supported

# Run inside the program before it tries its way in: every function, class and module
# global of every tpython.integrity.* module (and tpython.sha256) in sys.modules is
# replaced by a forgery that passes everything, or wrapped, or a copy (KIND "forge": on the
# Python checks, this lets evil.py in), or deleted (KIND "delete"); the classes themselves,
# which C may hold, get forged members too.
ATTACK = r'''
import copy, sys, types
KIND = "forge"

def forged_check_file(path, *args, **kwargs):  # the file checks: whatever is asked passes
    data = open(path, "rb").read()
    return types.SimpleNamespace(path=path, ok=True, reason=None, data=data, sha256=None, vouched_by="attacker")

def allow(*args, **kwargs):
    return None

FORGED = {"check_file": forged_check_file, "vouches": lambda *a, **k: (True, ""), "_check": allow,
          "__call__": allow, "_known": allow, "_library": allow, "sha256_hex": lambda data: "0" * 64}
touched = 0
for name, module in sorted(sys.modules.items()):
    if module is None or not (name.startswith("tpython.integrity") or name == "tpython.sha256"):
        continue
    for attr, value in list(vars(module).items()):
        if attr.startswith("__"):
            continue
        touched += 1
        if isinstance(value, type):
            for member in list(vars(value)):
                if member in FORGED or (member == "__init__" and issubclass(value, BaseException)):
                    try:
                        setattr(value, member, FORGED.get(member, allow))
                    except (AttributeError, TypeError):
                        pass
        if KIND == "delete":
            delattr(module, attr)
        elif attr in FORGED:
            setattr(module, attr, FORGED[attr])
        elif isinstance(value, type):
            try:
                setattr(module, attr, type(value.__name__, (value,), {"__module__": value.__module__}))
            except Exception:
                pass  # a class that cannot be derived from keeps its forged members
        elif isinstance(value, types.FunctionType):
            setattr(module, attr, (lambda f: lambda *a, **k: f(*a, **k))(value))
        elif isinstance(value, types.ModuleType):
            setattr(module, attr, types.SimpleNamespace(**vars(value)))
        else:
            setattr(module, attr, copy.copy(value))
print("touched", touched, "names")
'''


def _policy(tp, **integrity):
    lines = "\n".join(f"{k} = {str(v).lower()}" if isinstance(v, bool) else f"{k} = {str(v)!r}".replace("'", '"')
                      for k, v in integrity.items())
    tp.policy(f"version = 1\nextends = \"default\"\n[integrity]\n{lines}\n")


def _signed_manifest(tp, *extra):
    """A signed manifest (through `tpython trust`) of the stdlib, site-packages, tpython and EXTRA."""
    assert tp.cli("trust", "keygen", "--out", "k").rc == 0
    paths = sorted({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"],
                    sysconfig.get_paths()["purelib"], os.path.dirname(os.path.dirname(__import__("tpython").__file__))})
    r = tp.cli("trust", "manifest", *paths, *map(str, extra), "--out", "m.json", "--sign", "k.key")
    assert r.rc == 0, r.err
    return {"manifest": str(tp.cwd / "m.json"), "pubkey": str(tp.cwd / "k.pub")}


@pytest.fixture(params=["manifest", "xattr"])
def vouched(request, tp):
    """An app directory whose program (app/main.py, written by the test) is vouched for,
    by the signed manifest or by its xattr (the interpreter's files by the manifest), and
    a module app/evil.py that nothing vouches for. Returns a function writing main.py."""
    app = tp.cwd / "app"
    app.mkdir()
    (app / "evil.py").write_text("print('EVIL RAN')\n")
    if request.param == "xattr" and not xattrs_supported(app / "evil.py"):
        pytest.skip("no user xattrs on this file system")

    def write(source):
        main = app / "main.py"
        main.write_text(source)
        if request.param == "manifest":
            config = _signed_manifest(tp, main)
        else:
            config = _signed_manifest(tp)
            r = tp.cli("trust", "stamp", str(main))
            assert r.rc == 0 and "2 new" in r.out, r.out + r.err  # the script and its .pyc
            config["xattr"] = True
        _policy(tp, **config, require=True)
        return tp

    return write


def _run(tp, *args):
    return tp("run", "--policy", "policy.toml", "app/main.py", *args, timeout=300)


@pytest.mark.parametrize("kind", ["forge", "delete"])
def test_replacing_every_integrity_function_does_not_let_an_unvouched_module_in(vouched, kind):
    attack = ATTACK.replace('KIND = "forge"', f"KIND = {kind!r}")
    tp = vouched(attack + "try:\n    import evil\nexcept ImportError as exc:\n"
                          "    print('refused:', type(exc).__name__, exc)\n")
    r = _run(tp)
    assert r.rc == 0, r.err
    assert "touched" in r.out and "EVIL RAN" not in r.out
    evil = str(tp.cwd / "app" / "evil.py")
    assert f"refused: CodeRefused tpython: refused to read {evil} as code: " in r.out
    [record] = [x for x in r.events("tpython.integrity") if x["args"]["path"] == evil]
    assert record["action"] == "deny" and record["rule"] == "integrity"
    reason = record["args"]["reason"]
    if "xattr = true" in (tp.cwd / "policy.toml").read_text():
        assert reason == (f"not in the manifest {tp.cwd / 'm.json'}; no user.org.python.x-spython-hash xattr")
    else:
        assert reason == f"not in the manifest {tp.cwd / 'm.json'}"
    assert len(record["args"]["sha256"]) == 64
    assert tp.cli("log", "verify", str(tp.log)).rc == 0


def test_a_changed_stamped_module_is_refused_as_stale(tp):
    """With the xattr source: a stamped module runs; changed after stamping, it is refused
    with the manifest's reason and the xattr's, in that order."""
    app = tp.cwd / "app"
    app.mkdir()
    if not xattrs_supported(app):
        pytest.skip("no user xattrs on this file system")
    (app / "main.py").write_text("import mod\nprint('mod says', mod.X)\n")
    (app / "mod.py").write_text("X = 1\n")
    config = _signed_manifest(tp)
    assert tp.cli("trust", "stamp", str(app)).rc == 0
    _policy(tp, **config, xattr=True, require=True)
    r = _run(tp)
    assert r.rc == 0 and "mod says 1" in r.out, r.err
    assert r.events("tpython.start")[0]["args"]["integrity"]["sources"] == [
        f"manifest {tp.cwd / 'm.json'}", "xattr user.org.python.x-spython-hash"]
    (app / "mod.py").write_text("X = 2\n")
    r = _run(tp)
    assert r.rc == 1 and "mod says" not in r.out
    [record] = [x for x in r.events("tpython.integrity") if x["args"]["path"] == str(app / "mod.py")]
    assert record["args"]["reason"].startswith(f"not in the manifest {tp.cwd / 'm.json'}; stale xattr (stamped ")


def _extension_copy(tp):
    import _bisect

    candidates = glob.glob(os.path.join(os.path.dirname(_bisect.__file__), "xxlimited.*.so"))
    if not candidates:
        pytest.skip("this Python has no xxlimited extension module to copy")
    shutil.copy(candidates[0], tp.cwd / "app")
    return tp.cwd / "app" / os.path.basename(candidates[0])


def test_an_extension_module_loaded_by_path_is_refused_after_the_attack(vouched):
    tp = vouched(ATTACK + "import importlib.util, sys\n"
                          "spec = importlib.util.spec_from_file_location('xxlimited', sys.argv[1])\n"
                          "try:\n    module = importlib.util.module_from_spec(spec)\n"
                          "    print('LOADED', module)\n"
                          "except ImportError as exc:\n    print('refused:', type(exc).__name__, exc)\n")
    ext = _extension_copy(tp)
    r = _run(tp, str(ext))
    assert r.rc == 0, r.err
    assert "LOADED" not in r.out and f"refused: CodeRefused tpython: refused to read {ext} as code" in r.out
    [record] = [x for x in r.events("tpython.integrity") if x["args"]["path"] == str(ext)]
    assert record["args"]["event"] == "import" and record["args"]["reason"].startswith("not in the manifest")


def test_a_ctypes_library_outside_the_manifest_is_refused_after_the_attack(vouched):
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    if not os.path.exists(libc):
        pytest.skip("no glibc at the Debian path")
    tp = vouched(ATTACK + "import ctypes, sys\n"
                          "for name in sys.argv[1:]:\n"
                          "    try:\n        ctypes.CDLL(name)\n        print('LOADED', name)\n"
                          "    except (ImportError, OSError) as exc:\n"
                          "        print('refused:', name, type(exc).__name__)\n")
    shutil.copy(libc, tp.cwd / "app" / "mylib.so")
    r = _run(tp, str(tp.cwd / "app" / "mylib.so"), "libc.so.6", "libnothere.so.9")
    assert r.rc == 0, r.err
    assert "LOADED" not in r.out
    for name in (str(tp.cwd / "app" / "mylib.so"), "libc.so.6", "libnothere.so.9"):
        assert f"refused: {name} CodeRefused" in r.out
    reasons = {x["args"]["path"]: x["args"]["reason"] for x in r.events("tpython.integrity")
               if x["args"].get("event") == "ctypes.dlopen"}
    assert reasons[str(tp.cwd / "app" / "mylib.so")].startswith("not in the manifest")
    assert reasons[os.path.realpath(libc)].startswith("not in the manifest")
    assert reasons["libnothere.so.9"] == ("a library the dynamic linker would search for, and tpython cannot "
                                          "find to check")


def test_routes_around_open_code_are_refused_after_the_attack(vouched):
    """compile() of an unvouched file's source under its name, and marshal.loads of its
    byte code, after the attack: refused by the guard in C."""
    tp = vouched(ATTACK + "import marshal, sys\n"
                          "path = sys.argv[1]\n"
                          "for how in ('compile', 'marshal'):\n"
                          "    try:\n"
                          "        code = compile(open(path, 'rb').read(), path, 'exec') if how == 'compile' else \\\n"
                          "            marshal.loads(marshal.dumps(compile(open(path).read(), '<x>', 'exec')))\n"
                          "        exec(code)\n"
                          "    except ImportError as exc:\n"
                          "        print('refused:', how, type(exc).__name__)\n")
    r = _run(tp, str(tp.cwd / "app" / "evil.py"))
    assert r.rc == 0, r.err
    assert "EVIL RAN" not in r.out
    assert "refused: compile CodeRefused" in r.out and "refused: marshal CodeRefused" in r.out
    events = {x["args"].get("event") for x in r.events("tpython.integrity")}
    assert {"compile", "marshal.loads"} <= events


def test_the_program_cannot_reconfigure_the_checks_or_write_refusals(vouched):
    """Once sealed, C takes no new configuration (install_open_code), its guard is its hook's
    own (no function of the C module calls it), and check_code (for `tpython trust check`: it reads any file with no
    audit event) is refused."""
    tp = vouched(
        "import sys\n"
        "native = sys.modules['tpython._native']\n"
        "lax = {'max_size': 1 << 30, 'kernel_check': False, 'require': False, 'xattr': False, 'manifest': None}\n"
        "for name, args in [('install_open_code', (lax, ImportError, PermissionError))]:\n"
        "    try:\n        getattr(native, name)(*args)\n        print(name, 'TOOK IT')\n"
        "    except RuntimeError as exc:\n        print(name, 'refused:', exc)\n"
        "try:\n    native.check_code(sys.argv[1], lax)\n    print('check_code TOOK IT')\n"
        "except PermissionError as exc:\n    print('check_code refused:', exc)\n"
        "try:\n    import evil\nexcept ImportError as exc:\n    print('evil refused')\n")
    r = _run(tp, str(tp.cwd / "app" / "evil.py"))
    assert r.rc == 0, r.err
    assert "TOOK IT" not in r.out and "EVIL RAN" not in r.out
    assert "install_open_code refused: tpython's open_code hook is already installed" in r.out
    assert not hasattr(__import__("tpython._native").__dict__["_native"], "guard_event")  # the hook's own, only
    assert "check_code refused: tpython: check_code is tpython's own" in r.out and "evil refused" in r.out
    [record] = r.events("tpython.integrity")  # evil.py's, not one the program asked for
    assert record["args"]["path"] == str(tp.cwd / "app" / "evil.py") and "event" not in record["args"]


def test_an_extension_under_any_name_or_a_str_subclass_is_checked(vouched):
    """Found by attacking our own build: a file loaded as an extension module whose name
    ends in no extension suffix, or named by a str subclass, was loaded unchecked."""
    tp = vouched(ATTACK + "import importlib.machinery as m, importlib.util, shutil, sys\n"
                          "class S(str):\n    pass\n"
                          "odd = sys.argv[1] + '.bin'\n"
                          "shutil.copy(sys.argv[1], odd)\n"
                          "for name, path in (('odd', odd), ('sub', S(sys.argv[1]))):\n"
                          "    loader = m.ExtensionFileLoader('xxlimited', path)\n"
                          "    spec = importlib.util.spec_from_loader('xxlimited', loader, origin=path)\n"
                          "    try:\n        module = importlib.util.module_from_spec(spec)\n"
                          "        print('LOADED', name)\n"
                          "    except ImportError as exc:\n        print('refused:', name, type(exc).__name__)\n")
    ext = _extension_copy(tp)
    r = _run(tp, str(ext))
    assert r.rc == 0, r.err
    assert "LOADED" not in r.out and "refused: odd CodeRefused" in r.out and "refused: sub CodeRefused" in r.out
    refused = {x["args"]["path"] for x in r.events("tpython.integrity") if x["args"].get("event") == "import"}
    assert {str(ext), str(ext) + ".bin"} <= refused


def test_code_unmarshalled_from_a_file_is_refused_under_require(vouched):
    """marshal.load's event carries no data to check: under require = true it is refused."""
    tp = vouched(ATTACK + "import marshal, sys\n"
                          "with open(sys.argv[1] + '.bin', 'wb') as f:\n"
                          "    marshal.dump(compile(open(sys.argv[1]).read(), '<x>', 'exec'), f)\n"
                          "try:\n    exec(marshal.load(open(sys.argv[1] + '.bin', 'rb')))\n"
                          "except ImportError as exc:\n    print('refused:', type(exc).__name__)\n")
    r = _run(tp, str(tp.cwd / "app" / "evil.py"))
    assert r.rc == 0, r.err
    assert "EVIL RAN" not in r.out and "refused: CodeRefused" in r.out
    assert "marshal.load" in {x["args"].get("event") for x in r.events("tpython.integrity")}


DUP2 = """
import os, sys
null = os.open("/dev/null", os.O_WRONLY)
for fd in range(3, 1024):
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        continue
    if target.endswith("audit.jsonl"):
        os.dup2(null, fd)
try:
    os.system("touch pwned")
except PermissionError:
    print("denied")
"""


def test_a_denial_reaches_the_log_after_the_program_dup2s_over_its_descriptor(tp):
    """Found by attacking our own build: dup2 of /dev/null over the log's descriptor (no
    audit event) hid the denials while the writes succeeded. A block's record checks the
    descriptor is still the log's file, and writes to the file again."""
    tp.policy('version = 1\nextends = "default"\n[[rules]]\nid = "no-system"\nevents = ["os.system"]\n'
              'action = "deny"\n')
    tp.script(DUP2)
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py")
    assert r.rc == 0 and "denied" in r.out, (r.out, r.err)
    assert not (tp.cwd / "pwned").exists()
    assert [x["rule"] for x in r.events("os.system")] == ["no-system"]
    assert len(r.events("tpython.exit")) == 1  # written after it, to the log's file too
