"""`tpython trust keygen | manifest | stamp | check`, and the checks behind them."""
from __future__ import annotations

import json
import os
import stat

import pytest
from conftest import assert_one_line_error, xattrs_supported

from tpython.integrity import checks, kernel
from tpython.integrity.xattrs import XATTR_NAME

XATTR = XATTR_NAME.encode()


@pytest.fixture
def app(tp):
    """An app tree with a module, a package and a .pth, and a key pair."""
    (tp.cwd / "app" / "pkg").mkdir(parents=True)
    (tp.cwd / "app" / "main.py").write_text("import pkg\nprint('app ran')\n")
    (tp.cwd / "app" / "pkg" / "__init__.py").write_text("VALUE = 1\n")
    (tp.cwd / "app" / "extra.pth").write_text("/nonexistent\n")
    (tp.cwd / "app" / "README.txt").write_text("not code\n")
    r = tp.cli("trust", "keygen", "--out", "k")
    assert r.rc == 0, r.err
    return tp


def test_keygen_writes_a_private_key_only_the_owner_reads_and_never_overwrites(app):
    tp = app
    assert stat.S_IMODE(os.stat(tp.cwd / "k.key").st_mode) == 0o600
    assert (tp.cwd / "k.pub").read_text().startswith("-----BEGIN PUBLIC KEY-----")
    again = tp.cli("trust", "keygen", "--out", "k")
    assert_one_line_error(again, "k.key already exists")


def test_manifest_holds_resolved_code_files_and_a_signature(app):
    tp = app
    os.symlink(tp.cwd / "app", tp.cwd / "link")
    r = tp.cli("trust", "manifest", "link", "--out", "m.json", "--sign", "k.key")
    assert r.rc == 0, r.err
    assert "3 files, signed" in r.out
    body = json.loads((tp.cwd / "m.json").read_text())
    assert body["version"] == 1 and body["algorithm"] == "sha256"
    assert set(body["files"]) == {str(tp.cwd / "app" / n) for n in ("main.py", "pkg/__init__.py", "extra.pth")}
    assert all(len(v) == 64 for v in body["files"].values())
    assert (tp.cwd / "m.json.sig").exists()


def test_check_passes_then_names_each_failing_file(app):
    tp = app
    tp.cli("trust", "manifest", "app", "--out", "m.json", "--sign", "k.key")
    ok = tp.cli("trust", "check", "app", "--manifest", "m.json", "--pubkey", "k.pub")
    assert ok.rc == 0 and "3 files checked" in ok.out and "0 failed" in ok.out
    with open(tp.cwd / "app" / "main.py", "a") as f:
        f.write("print('injected')\n")
    (tp.cwd / "app" / "new.py").write_text("print('new')\n")
    bad = tp.cli("trust", "check", "app", "--manifest", "m.json", "--pubkey", "k.pub")
    assert bad.rc == 1
    assert f"FAIL {tp.cwd / 'app' / 'main.py'}: hash mismatch with the manifest" in bad.out
    assert f"FAIL {tp.cwd / 'app' / 'new.py'}: not in the manifest" in bad.out
    assert "2 failed" in bad.out


def _writer(text):
    return lambda tp: (tp.cwd / "m.json").write_text(text)


MANIFEST_PROBLEMS = {
    "missing manifest": (lambda tp: None, ["--manifest", "none.json"], "manifest none.json not found"),
    "not JSON": (_writer("{nope"), ["--manifest", "m.json"], "is not JSON"),
    "wrong version": (_writer('{"version": 2, "algorithm": "sha256", "files": {}}'),
                      ["--manifest", "m.json"], "has version 2"),
    "wrong algorithm": (_writer('{"version": 1, "algorithm": "md5", "files": {}}'),
                        ["--manifest", "m.json"], "uses algorithm 'md5'"),
    "bad entry": (_writer('{"version": 1, "algorithm": "sha256", "files": {"/x": "zz"}}'),
                  ["--manifest", "m.json"], "is not a lowercase hex SHA-256"),
}


@pytest.mark.parametrize("name", sorted(MANIFEST_PROBLEMS))
def test_unusable_manifest_is_one_clear_line(app, name):
    make, args, needle = MANIFEST_PROBLEMS[name]
    make(app)
    r = app.cli("trust", "check", "app", *args)
    assert_one_line_error(r, needle)
    assert r.rc == 78


def test_unreadable_manifest(app):
    tp = app
    tp.cli("trust", "manifest", "app", "--out", "m.json")
    os.chmod(tp.cwd / "m.json", 0)
    if os.access(tp.cwd / "m.json", os.R_OK):  # root reads anything: use a directory instead
        os.chmod(tp.cwd / "m.json", 0o644)
        os.remove(tp.cwd / "m.json")
        (tp.cwd / "m.json").mkdir()
    r = tp.cli("trust", "check", "app", "--manifest", "m.json")
    assert_one_line_error(r, "manifest m.json cannot be read")


def test_signature_problems_stop_the_check(app):
    tp = app
    tp.cli("trust", "manifest", "app", "--out", "m.json", "--sign", "k.key")
    # signed, but no key given
    assert_one_line_error(tp.cli("trust", "check", "app", "--manifest", "m.json"), "is signed", "no public key")
    # key file missing
    assert_one_line_error(tp.cli("trust", "check", "app", "--manifest", "m.json", "--pubkey", "gone.pub"),
                          "public key gone.pub not found")
    # another key
    tp.cli("trust", "keygen", "--out", "other")
    assert_one_line_error(tp.cli("trust", "check", "app", "--manifest", "m.json", "--pubkey", "other.pub"),
                          "does not match manifest")
    # the manifest's bytes changed after signing (a hash swapped for the attacker's file)
    text = (tp.cwd / "m.json").read_text()
    (tp.cwd / "m.json").write_text(text.replace('"version": 1', '"version":  1'))
    assert_one_line_error(tp.cli("trust", "check", "app", "--manifest", "m.json", "--pubkey", "k.pub"),
                          "changed after signing")
    # a key given for an unsigned manifest
    os.remove(tp.cwd / "m.json.sig")
    assert_one_line_error(tp.cli("trust", "check", "app", "--manifest", "m.json", "--pubkey", "k.pub"),
                          "has no signature")


def test_stamp_is_mkxattr_compatible_and_check_finds_stale_stamps(app):
    tp = app
    if not xattrs_supported(tp.cwd / "app" / "main.py"):
        pytest.skip("this file system has no user xattrs")
    r = tp.cli("trust", "stamp", "app", "-v")
    assert r.rc == 0, r.err
    main = tp.cwd / "app" / "main.py"
    import hashlib

    assert os.getxattr(main, XATTR) == hashlib.sha256(main.read_bytes()).hexdigest().encode("ascii")
    pyc = tp.cwd / "app" / "__pycache__"
    assert any(p.name.startswith("main.") for p in pyc.iterdir())  # the .pyc refreshed and stamped
    for p in pyc.iterdir():
        assert os.getxattr(p, XATTR) == hashlib.sha256(p.read_bytes()).hexdigest().encode("ascii")
    assert tp.cli("trust", "check", "app", "--xattr").rc == 0
    main.write_text("print('changed after stamping')\n")
    bad = tp.cli("trust", "check", "app", "--xattr")
    assert bad.rc == 1 and f"FAIL {main}: stale xattr" in bad.out
    again = tp.cli("trust", "stamp", "app")
    assert "1 updated" in again.out or "2 updated" in again.out
    assert tp.cli("trust", "check", "app", "--xattr").rc == 0


def test_file_checks_noexec_not_regular_too_large(tp, noexec_dir):
    script = noexec_dir / "s.py"
    script.write_text("print(1)\n")
    v = checks.check_file(str(script), checks.config())
    assert not v.ok and v.reason == "on a noexec mount"
    fifo = tp.cwd / "fifo.py"
    os.mkfifo(fifo)
    v = checks.check_file(str(fifo), checks.config())
    assert not v.ok and v.reason == "not a regular file"
    big = tp.cwd / "big.py"
    big.write_text("x = 1\n" * 100)
    v = checks.check_file(str(big), checks.config(max_size=100))
    assert not v.ok and v.reason.startswith("too large (600 bytes")
    r = tp.cli("trust", "check", str(noexec_dir))
    assert r.rc == 1 and f"FAIL {script}: on a noexec mount" in r.out


def test_verdict_names_the_real_path_as_realpath_does(tp, monkeypatch):
    """The checked file's real path comes from the kernel (/proc/self/fd), and equals
    os.path.realpath's: symlinks to the file and to a directory on the way, `..` after a
    symlink, relative paths, bytes that are not UTF-8; realpath itself where /proc
    cannot tell. Manifests are keyed by that path."""
    real_dir = tp.cwd / "real" / "deep"
    real_dir.mkdir(parents=True)
    target = real_dir / "mod\udcff.py"  # a non-UTF-8 byte in the name
    target.write_text("x = 1\n")
    (tp.cwd / "dirlink").symlink_to(tp.cwd / "real")
    (tp.cwd / "filelink.py").symlink_to(target)
    (tp.cwd / "chain.py").symlink_to(tp.cwd / "filelink.py")
    monkeypatch.chdir(tp.cwd)
    paths = [str(target), "filelink.py", str(tp.cwd / "chain.py"), "dirlink/deep/mod\udcff.py",
             "dirlink/deep/../deep/mod\udcff.py", "./real/../dirlink/deep/mod\udcff.py"]
    for path in paths:
        verdict = checks.check_file(path, checks.config())
        assert verdict.ok and verdict.path == os.path.realpath(path) == str(target), path

    # where /proc cannot tell (here: not mounted, in a mount namespace of its own), realpath(3)
    import shutil
    import subprocess
    import sys

    if shutil.which("unshare") is None or os.geteuid() != 0:
        pytest.skip("unmounting /proc needs unshare and root")
    program = ("import sys\nfrom tpython.integrity import checks\n"
               "for path in sys.argv[2:]:\n    print(checks.check_file(path, checks.config()).path == sys.argv[1])\n")
    proc = subprocess.run(["unshare", "--mount", "--propagation", "private", "sh", "-c",
                           'umount -l /proc && test ! -e /proc/self && exec "$0" "$@"', sys.executable, "-c", program,
                           os.fsencode(str(target)), *map(os.fsencode, paths)],
                          cwd=tp.cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True"] * len(paths)


def test_check_reads_once_and_returns_the_bytes_it_hashed(tp):
    path = tp.cwd / "m.py"
    path.write_text("print('x')\n")
    import hashlib

    from tpython.integrity.manifest import Manifest

    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    manifest = Manifest("m.json", {str(path): digest}, False)
    v = checks.check_file(str(path), checks.config(manifest=manifest, require=True))
    assert v.ok and v.data == path.read_bytes() and v.sha256 == digest and v.vouched_by == "manifest"
    with pytest.raises(FileNotFoundError):  # as io.open_code would: a missing .pyc is normal
        checks.check_file(str(tp.cwd / "other.py"), checks.config(manifest=manifest, xattr=True, require=True))


def test_kernel_execve_check(tp, noexec_dir):
    if not kernel.execve_check_available():
        pytest.skip("this kernel has no AT_EXECVE_CHECK (Linux 6.14+)")
    script = noexec_dir / "s.py"
    script.write_text("print(1)\n")
    fd = os.open(script, os.O_RDONLY)
    try:
        v = kernel.execve_check(fd, str(script))
    finally:
        os.close(fd)
    assert v.available and not v.allowed and "execveat AT_EXECVE_CHECK" in v.reason
    plain = tp.cwd / "p.py"
    plain.write_text("print(1)\n")
    os.chmod(plain, 0o644)  # no exec permission: the kernel says no
    fd = os.open(plain, os.O_RDONLY)
    try:
        assert not kernel.execve_check(fd, str(plain)).allowed
    finally:
        os.close(fd)
    os.chmod(plain, 0o755)
    fd = os.open(plain, os.O_RDONLY)
    try:
        assert kernel.execve_check(fd, str(plain)).allowed
    finally:
        os.close(fd)


def test_manifest_shows_progress_on_a_terminal_only(tp):
    """Thousands of files take seconds: on a terminal the count moves; in a pipe, nothing."""
    import sysconfig

    from conftest import TPYTHON, run_on_pty

    stdlib = sysconfig.get_paths()["stdlib"]
    status, shown = run_on_pty(tp.cwd, TPYTHON + ["trust", "manifest", stdlib, "--out", "m.json"])
    assert status == 0, shown
    assert "hashed 200 files: " in shown and "hashed 1000 files: " in shown
    assert "\r\x1b[K" in shown  # the progress line is redrawn in place, then cleared
    count = len(json.loads((tp.cwd / "m.json").read_text())["files"])
    assert count > 1000 and f"{count} files" in shown
    piped = tp.cli("trust", "manifest", stdlib, "--out", "m2.json")
    assert piped.rc == 0 and "hashed" not in piped.err and "\x1b" not in piped.err + piped.out
