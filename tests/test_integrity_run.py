"""`tpython run` with `[integrity]`: the open_code hook refuses code no source vouches for."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import assert_one_line_error


def _policy(tp, **integrity):
    lines = "\n".join(f"{k} = {v!r}".replace("'", '"') if not isinstance(v, bool) else f"{k} = {str(v).lower()}"
                      for k, v in integrity.items())
    tp.policy(f"version = 1\nextends = \"default\"\n[integrity]\n{lines}\n")


@pytest.fixture
def signed(tp):
    """An app, a key pair, and a signed manifest of the app, the stdlib and site-packages."""
    import sysconfig

    app = tp.cwd / "app"
    (app / "helper").mkdir(parents=True)
    (app / "main.py").write_text(
        "import asyncio, email.parser, http.client, json, sqlite3\n"
        "import pluggy  # a third-party package installed in the venv\n"
        "import helper\n"
        "sqlite3.connect(':memory:').execute('select 1')\n"
        "print('app ran', helper.VALUE, asyncio.run(asyncio.sleep(0, 'async ok')))\n")
    (app / "helper" / "__init__.py").write_text("VALUE = 42\n")
    assert tp.cli("trust", "keygen", "--out", "k").rc == 0
    paths = sorted({sysconfig.get_paths()["stdlib"], sysconfig.get_paths()["platstdlib"],
                    sysconfig.get_paths()["purelib"], os.path.dirname(os.path.dirname(__import__("tpython").__file__))})
    r = tp.cli("trust", "manifest", str(app), *paths, "--out", "m.json", "--sign", "k.key")
    assert r.rc == 0, r.err
    _policy(tp, manifest=str(tp.cwd / "m.json"), pubkey=str(tp.cwd / "k.pub"), require=True)
    return tp


def _run(tp, *args):
    return tp("run", "--policy", "policy.toml", *args, timeout=300)


def test_manifest_app_runs_and_a_modified_file_is_refused(signed):
    tp = signed
    r = _run(tp, "app/main.py")
    assert r.rc == 0, r.err
    assert "app ran 42 async ok" in r.out
    assert r.events("tpython.integrity") == []  # every file read as code was vouched for
    start = r.events("tpython.start")[0]["args"]
    assert start["integrity"]["open_code"] == "active" and start["integrity"]["require"] is True
    # checking the signature loaded `cryptography` in the launcher: the program gets a
    # fresh interpreter, where its own imports of it meet the hooks
    assert start["boot"] == "exec"
    # a trusted module changed after the manifest was built
    (tp.cwd / "app" / "helper" / "__init__.py").write_text("VALUE = 'evil'\n")
    r = _run(tp, "app/main.py")
    assert r.rc == 1 and "evil" not in r.out
    assert "refused to read" in r.err and "hash mismatch with the manifest" in r.err
    refusals = {x["args"]["path"]: x for x in r.events("tpython.integrity")}
    source = refusals[str(tp.cwd / "app" / "helper" / "__init__.py")]
    assert source["action"] == "deny" and "hash mismatch" in source["args"]["reason"]
    # the byte-code cache the first run wrote is in no manifest: refused, and the source used instead
    cached = [x for p, x in refusals.items() if "__pycache__" in p]
    assert cached and cached[0]["args"]["fallback"].endswith("helper/__init__.py")


def test_unverified_main_script_is_refused_cleanly(signed):
    tp = signed
    (tp.cwd / "app" / "other.py").write_text("print('should not run')\n")
    r = _run(tp, "app/other.py")
    assert r.rc == 126 and "should not run" not in r.out
    assert "refused to read" in r.err and "not in the manifest" in r.err
    assert "Traceback" not in r.err


def _rewrite_manifest(old, new):
    return lambda tp: (tp.cwd / "m.json").write_text((tp.cwd / "m.json").read_text().replace(old, new, 1))


def _signed_but_unusable(text=None, old=None, new=None):
    """A manifest whose signature is good but whose content tpython cannot use."""
    def spoil(tp):
        import base64

        from tpython.integrity import keys

        data = (text or (tp.cwd / "m.json").read_text().replace(old, new, 1)).encode()
        (tp.cwd / "m.json").write_bytes(data)
        (tp.cwd / "m.json.sig").write_bytes(base64.b64encode(keys.sign(data, str(tp.cwd / "k.key"))) + b"\n")
    return spoil


LAUNCH_STOPPERS = {
    "changed after signing": (_rewrite_manifest("}", "} "), "changed after signing"),
    "public key missing": (lambda tp: os.remove(tp.cwd / "k.pub"), "public key"),
    "signature missing": (lambda tp: os.remove(tp.cwd / "m.json.sig"), "has no signature"),
    "manifest missing": (lambda tp: os.remove(tp.cwd / "m.json"), "not found"),
    "manifest unreadable": (lambda tp: (os.remove(tp.cwd / "m.json"), (tp.cwd / "m.json").mkdir()), "cannot be read"),
    "not JSON": (_signed_but_unusable(text="{nope"), "is not JSON"),
    "wrong version": (_signed_but_unusable(old='"version": 1', new='"version": 2'), "has version 2"),
    "wrong algorithm": (_signed_but_unusable(old='"sha256"', new='"md5"'), "uses algorithm 'md5'"),
}


@pytest.mark.parametrize("name", sorted(LAUNCH_STOPPERS))
def test_unusable_manifest_stops_the_launch_and_is_recorded(signed, name):
    """Each way a manifest cannot be trusted: one line, status 78, nothing of the app runs,
    and a verifiable one-record run with the reason in the log."""
    tp = signed
    spoil, needle = LAUNCH_STOPPERS[name]
    spoil(tp)
    r = _run(tp, "app/main.py")
    assert_one_line_error(r, needle)
    assert r.rc == 78 and "app ran" not in r.out
    [record] = r.records
    assert record["event"] == "tpython.integrity" and record["action"] == "deny"
    assert record["args"]["path"] == str(tp.cwd / "m.json") and needle in record["args"]["reason"]
    assert tp.cli("log", "verify", str(tp.log)).rc == 0


# The checks are C's with or without a trust source (here the xattr source, not required:
# files it does not vouch for are still read); no Python checks are loaded in either case.
CHECKS = {"c": {}, "c-with-source": {"xattr": True}}


@pytest.mark.parametrize("checks", sorted(CHECKS))
def test_special_and_oversized_files_are_refused_as_code(tp, checks):
    """A main script that is a FIFO (the import system only lists regular files, so the
    main script is the route), and a module over `max_size`: refused and logged, with
    the same reasons with or without a trust source."""
    _policy(tp, max_size=1_000_000, **CHECKS[checks])  # above every file of the stdlib
    os.mkfifo(tp.cwd / "fifo.py")
    r = tp("run", "--policy", "policy.toml", "fifo.py", timeout=60)
    assert r.rc == 126 and "not a regular file" in r.err and "Traceback" not in r.err
    [fifo] = r.events("tpython.integrity")
    assert (fifo["args"]["path"], fifo["args"]["reason"]) == (str(tp.cwd / "fifo.py"), "not a regular file")
    (tp.cwd / "big_mod.py").write_text("X = 1\n" * 200_000)
    tp.script("import sys\n"
              "print('python checks:', 'tpython.integrity.checks' in sys.modules)\n"
              "try:\n"
              "    import big_mod\n"
              "except ImportError as exc:\n"
              "    print('refused:', exc)\n"
              "else:\n"
              "    print('LOADED')\n")
    r = tp("run", "--policy", "policy.toml", "app.py", timeout=60)
    assert r.rc == 0, r.err
    assert "python checks: False" in r.out
    assert "LOADED" not in r.out and "refused:" in r.out and "too large (1200000 bytes" in r.out
    [record] = [x for x in r.events("tpython.integrity") if x["args"]["path"] == str(tp.cwd / "big_mod.py")]
    assert record["args"]["reason"] == "too large (1200000 bytes; the limit is 1000000)"


def test_a_refused_cached_module_falls_back_to_its_source_and_a_refused_pth_is_skipped(tp, venv):
    """Without a trust source (C checks each file): a refused ``.pyc`` is recorded and its
    source read instead; a refused ``.pth`` file is recorded and skipped; the program runs."""
    from conftest import venv_python

    _policy(tp, max_size=100_000)  # above every file this run reads as code but the two below
    (tp.cwd / "mod.py").write_text("VALUE = 'from source'\n")
    cache = tp.cwd / "__pycache__"
    cache.mkdir()
    pyc = cache / f"mod.{sys.implementation.cache_tag}.pyc"
    pyc.write_bytes(b"\0" * 150_000)
    pth = venv / "zz_tpython_test.pth"
    pth.write_text("# a comment\n" * 20_000)  # 240,000 bytes: plain python (which starts tpython) skips it
    tp.script("import mod, sys\nprint(mod.VALUE, 'tpython.integrity.checks' in sys.modules)\n")
    r = subprocess.run([venv_python(venv), "-m", "tpython", "run", "--log", f"jsonl:{tp.log}", "--policy",
                        "policy.toml", "app.py"],
                       cwd=tp.cwd, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["from", "source", "False"]  # the Python checks were not loaded
    records = {x["args"]["path"]: x["args"] for x in tp.events_of_log() if x["event"] == "tpython.integrity"}
    assert records[str(pyc)]["reason"] == "too large (150000 bytes; the limit is 100000)"
    assert records[str(pyc)]["fallback"] == str(tp.cwd / "mod.py")
    assert records[str(pth)]["reason"] == "too large (240000 bytes; the limit is 100000)"
    assert records[str(pth)]["fallback"] == "skipped"


def test_stamped_tree_runs_with_xattr_and_no_manifest(tp):
    app = tp.cwd / "app"
    app.mkdir()
    (app / "main.py").write_text("import mod\nprint('stamped ran')\n")
    (app / "mod.py").write_text("X = 1\n")
    try:
        os.setxattr(app / "mod.py", "user.tpython-test", b"1")
    except OSError:
        pytest.skip("no user xattrs on this file system")
    import sysconfig

    stdlib = sysconfig.get_paths()["stdlib"]
    if not os.access(stdlib, os.W_OK):
        pytest.skip("stamping needs a writable standard library")
    # stamp the app, and the parts of the interpreter and tpython the run reads
    for path in (str(app), stdlib, sysconfig.get_paths()["purelib"],
                 os.path.dirname(os.path.dirname(__import__("tpython").__file__))):
        assert tp.cli("trust", "stamp", path).rc == 0
    _policy(tp, xattr=True, require=True)
    r = tp("run", "--policy", "policy.toml", "app/main.py", timeout=300)
    assert r.rc == 0, r.err
    assert "stamped ran" in r.out
    (app / "mod.py").write_text("X = 'changed'\n")
    r = tp("run", "--policy", "policy.toml", "app/main.py", timeout=300)
    assert r.rc == 1 and "stale xattr" in r.err
    stale = [x for x in r.events("tpython.integrity") if x["args"]["path"] == str(app / "mod.py")]
    assert stale and stale[-1]["args"]["reason"].startswith("stale xattr")


@pytest.mark.parametrize("checks", sorted(CHECKS))
def test_script_on_noexec_mount_is_refused(tp, noexec_dir, checks):
    _policy(tp, **CHECKS[checks])
    script = noexec_dir / "s.py"
    script.write_text("print('ran from noexec')\n")
    r = tp("run", "--policy", "policy.toml", str(script))
    assert r.rc == 126 and "ran from noexec" not in r.out
    assert "on a noexec mount" in r.err
    assert r.events("tpython.integrity")[0]["args"]["reason"] == "on a noexec mount"


def test_exec_restrict_securebit_refuses_a_script_without_exec_permission(tp, venv):
    """Under SECBIT_EXEC_RESTRICT_FILE every file read as code must pass AT_EXECVE_CHECK
    (here: have the exec permission). The run uses a bare venv, so that the code it reads
    is the script and the venv's .pth file, both under the test's control."""
    from conftest import venv_python

    from tpython.integrity import kernel

    if not kernel.execve_check_available():
        pytest.skip("this kernel has no AT_EXECVE_CHECK (Linux 6.14+)")
    if os.geteuid() != 0:
        pytest.skip("setting securebits needs CAP_SETPCAP")
    for pth in venv.glob("*.pth"):
        os.chmod(pth, 0o755)
    script = tp.cwd / "plain.py"
    script.write_text("print('ran without x')\n")
    os.chmod(script, 0o644)
    runnable = tp.cwd / "runnable.py"
    runnable.write_text("print('ran with x')\n")
    os.chmod(runnable, 0o755)
    # a parent that sets SECBIT_EXEC_RESTRICT_FILE and SECBIT_EXEC_DENY_INTERACTIVE, then execs tpython
    launcher = tp.cwd / "secure_launch.py"
    launcher.write_text(
        "import ctypes, os, sys\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        f"bits = libc.prctl(27, 0, 0, 0, 0) | {kernel.SECBIT_EXEC_RESTRICT_FILE} | "
        f"{kernel.SECBIT_EXEC_DENY_INTERACTIVE}\n"
        "if libc.prctl(28, bits, 0, 0, 0) != 0:\n"
        "    sys.exit('prctl failed: %d' % ctypes.get_errno())\n"
        "os.execv(sys.argv[1], [sys.argv[1], '-m', 'tpython', *sys.argv[2:]])\n")

    def run(*args):
        return subprocess.run([sys.executable, str(launcher), venv_python(venv), "run", "--log",
                               f"jsonl:{tp.log}", *args], cwd=tp.cwd, capture_output=True, text=True, timeout=120)

    r = run("runnable.py")
    if "prctl failed" in r.stderr:
        pytest.skip(r.stderr.strip())
    assert r.returncode == 0, r.stderr
    assert "ran with x" in r.stdout
    r = run("plain.py")
    assert r.returncode == 126 and "ran without x" not in r.stdout
    assert "refused by the kernel" in r.stderr
    r = run("-c", "print('from -c')")
    assert r.returncode == 2 and "SECBIT_EXEC_DENY_INTERACTIVE" in r.stderr


def test_sourceless_pyc_goes_through_the_checks(signed):
    """CPython reads a .pyc with no source through FileIO, not open_code (CVE-2026-2297)."""
    import py_compile

    tp = signed
    src = tp.cwd / "gen.py"
    src.write_text("print('sourceless ran')\n")
    py_compile.compile(str(src), cfile=str(tp.cwd / "app" / "sourceless.pyc"))
    (tp.cwd / "app" / "uses.py").write_text("import sourceless\n")
    # neither is in the manifest: the sourceless module is refused like any other code
    r = _run(tp, "app/uses.py")
    assert "sourceless ran" not in r.out
    refusals = [x["args"]["path"] for x in r.events("tpython.integrity")]
    assert str(tp.cwd / "app" / "uses.py") in refusals
    # with the script trusted, the sourceless .pyc itself is refused, not read behind the hook
    from tpython.integrity import manifest

    m = manifest.load(str(tp.cwd / "m.json"), str(tp.cwd / "k.pub"))
    files = dict(m.files)
    from tpython.integrity.walk import sha256_file

    files[str(tp.cwd / "app" / "uses.py")] = sha256_file(str(tp.cwd / "app" / "uses.py"))
    manifest.write(str(tp.cwd / "m.json"), files, sign_with=str(tp.cwd / "k.key"))
    r = _run(tp, "app/uses.py")
    assert r.rc == 1 and "sourceless ran" not in r.out
    assert "sourceless.pyc as code: not in the manifest" in r.err
    # and once it is in the manifest, it runs
    files[str(tp.cwd / "app" / "sourceless.pyc")] = sha256_file(str(tp.cwd / "app" / "sourceless.pyc"))
    manifest.write(str(tp.cwd / "m.json"), files, sign_with=str(tp.cwd / "k.key"))
    r = _run(tp, "app/uses.py")
    assert r.rc == 0 and "sourceless ran" in r.out, r.err


def test_extension_module_not_vouched_for_is_refused_before_it_loads(signed):
    import _bisect
    import glob
    import shutil

    candidates = glob.glob(os.path.join(os.path.dirname(_bisect.__file__), "xxlimited.*.so"))
    if not candidates:
        pytest.skip("this Python has no xxlimited extension module to copy")
    tp = signed
    ext_dir = tp.cwd / "app" / "ext"
    ext_dir.mkdir()
    shutil.copy(candidates[0], ext_dir)
    (tp.cwd / "app" / "loadext.py").write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ext_dir)!r})\n"
        "try:\n    import xxlimited\n    print('loaded', xxlimited.__file__)\n"
        "except ImportError as exc:\n    print('refused:', exc)\n")
    _trust(tp, tp.cwd / "app" / "loadext.py")
    r = _run(tp, "app/loadext.py")
    assert r.rc == 0, r.err
    assert "refused: tpython: refused to read" in r.out and "not in the manifest" in r.out
    assert any(x["args"].get("event") == "import" for x in r.events("tpython.integrity"))
    # the interpreter's own copy is in the manifest: it loads
    (tp.cwd / "app" / "loadext2.py").write_text("import xxlimited\nprint('loaded', xxlimited.__file__)\n")
    _trust(tp, tp.cwd / "app" / "loadext2.py")
    r = _run(tp, "app/loadext2.py")
    assert r.rc == 0 and "loaded" in r.out and "lib-dynload" in r.out, r.err


def _trust(tp, *paths):
    """Add PATHS to the signed manifest."""
    from tpython.integrity import manifest
    from tpython.integrity.walk import sha256_file

    files = dict(manifest.load(str(tp.cwd / "m.json"), str(tp.cwd / "k.pub")).files)
    for path in paths:
        files[os.path.realpath(path)] = sha256_file(str(path))
    manifest.write(str(tp.cwd / "m.json"), files, sign_with=str(tp.cwd / "k.key"))


ROUTES_AROUND_OPEN_CODE = {
    "_io.open_code replaced": (
        "import _io, io\n"
        "_io.open_code = io.open_code = lambda path: open(path, 'rb')\n"
        "import untrusted\n"),
    "own meta_path finder": (
        "import importlib.abc, importlib.util, sys\n"
        "class Finder(importlib.abc.MetaPathFinder, importlib.abc.Loader):\n"
        "    def find_spec(self, name, path, target=None):\n"
        "        if name == 'untrusted':\n"
        "            return importlib.util.spec_from_loader(name, self)\n"
        "    def create_module(self, spec):\n        return None\n"
        "    def exec_module(self, module):\n"
        "        path = sys.argv[1]\n"
        "        exec(compile(open(path, 'rb').read(), path, 'exec'), module.__dict__)\n"
        "sys.meta_path.insert(0, Finder())\n"
        "import untrusted\n"),
    "marshal of an untrusted .pyc": (
        "import marshal, sys\n"
        "exec(marshal.loads(open(sys.argv[1] + 'c', 'rb').read()[16:]))\n"),
}


@pytest.mark.parametrize("route", sorted(ROUTES_AROUND_OPEN_CODE))
def test_routes_around_open_code_are_refused_by_the_audit_hook(signed, route):
    tp = signed
    untrusted = tp.cwd / "app" / "untrusted.py"
    untrusted.write_text("print('UNTRUSTED CODE RAN')\n")
    import py_compile

    py_compile.compile(str(untrusted), cfile=str(untrusted) + "c")  # made outside the run
    (tp.cwd / "app" / "route.py").write_text(ROUTES_AROUND_OPEN_CODE[route])
    _trust(tp, tp.cwd / "app" / "route.py")
    r = _run(tp, "app/route.py", str(untrusted))
    assert "UNTRUSTED CODE RAN" not in r.out, r.err
    assert "refused" in r.err and "no trust source vouches for" in r.err
    assert r.events("tpython.integrity")


def test_marshal_of_plain_data_is_not_code(signed):
    tp = signed
    (tp.cwd / "app" / "data.py").write_text("import marshal\nprint(marshal.loads(marshal.dumps({'a': [1, 2]})))\n")
    _trust(tp, tp.cwd / "app" / "data.py")
    r = _run(tp, "app/data.py")
    assert r.rc == 0 and "{'a': [1, 2]}" in r.out, r.err


def test_untrusted_pth_zip_and_module_targets_are_refused(signed, venv):
    """A .pth file (skipped by site), a zip import and an -m target, none in the manifest."""
    import zipfile

    tp = signed
    zpath = tp.cwd / "app" / "bundle.zip"
    with zipfile.ZipFile(zpath, "w") as z:
        z.writestr("zipped.py", "print('ZIPPED RAN')\n")
    (tp.cwd / "app" / "usezip.py").write_text(f"import sys\nsys.path.insert(0, {str(zpath)!r})\nimport zipped\n")
    _trust(tp, tp.cwd / "app" / "usezip.py")
    r = _run(tp, "app/usezip.py")
    # zipimport's path hook fails on the refused archive, so the module is simply not found
    assert "ZIPPED RAN" not in r.out and "No module named 'zipped'" in r.err, r.err
    zip_refusal = [x for x in r.events("tpython.integrity") if x["args"]["path"] == str(zpath)]
    assert zip_refusal and zip_refusal[0]["args"]["reason"].startswith("not in the manifest")
    # -m of a module that is not in the manifest
    (tp.cwd / "modtarget.py").write_text("print('MODULE RAN')\n")
    r = _run(tp, "-m", "modtarget")
    assert r.rc != 0 and "MODULE RAN" not in r.out and "not in the manifest" in r.err
    # a .pth file in site-packages that is not in the manifest: skipped, logged
    from conftest import venv_python

    # (`python -m tpython` runs `site` itself, so its own process prints 0; the started
    # interpreter, where site runs under the hook, would print 1)
    (venv / "zz_untrusted.pth").write_text("import sys; print('PTH RAN', sys.flags.no_site)\n")
    _trust(tp, *venv.glob("tpython_src.pth"))
    proc = subprocess.run([venv_python(venv), "-m", "tpython", "run", "--policy", "policy.toml", "--log",
                           f"jsonl:{tp.log}", "app/main.py"], cwd=tp.cwd, capture_output=True, text=True,
                          timeout=300)
    assert "PTH RAN 1" not in proc.stdout and "app ran" in proc.stdout, proc.stderr
    records = tp.events_of_log()
    last = [x for x in records if x["event"] == "tpython.start"][-1]["run"]
    assert any(x["run"] == last and x["args"]["path"].endswith("zz_untrusted.pth")
               and x["args"].get("fallback") == "skipped"
               for x in records if x["event"] == "tpython.integrity")


def test_ctypes_libraries_must_be_vouched_for(signed):
    import shutil

    tp = signed
    libc = "/lib/x86_64-linux-gnu/libc.so.6"
    if not os.path.exists(libc):
        pytest.skip("no glibc at the Debian path")
    shutil.copy(libc, tp.cwd / "app" / "mylib.so")
    (tp.cwd / "app" / "load.py").write_text(
        "import ctypes, sys\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n        ctypes.CDLL(name)\n        print('loaded', name)\n"
        "    except (ImportError, OSError) as exc:\n        print('refused', name, type(exc).__name__)\n")
    _trust(tp, tp.cwd / "app" / "load.py")
    r = _run(tp, "app/load.py", str(tp.cwd / "app" / "mylib.so"), "libc.so.6")
    assert r.rc == 0, r.err
    assert f"refused {tp.cwd / 'app' / 'mylib.so'} CodeRefused" in r.out
    assert "refused libc.so.6 CodeRefused" in r.out  # the system libc is in no manifest here
    _trust(tp, tp.cwd / "app" / "mylib.so", libc)
    r = _run(tp, "app/load.py", str(tp.cwd / "app" / "mylib.so"), "libc.so.6")
    assert f"loaded {tp.cwd / 'app' / 'mylib.so'}" in r.out and "loaded libc.so.6" in r.out, r.out + r.err
