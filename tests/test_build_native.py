"""Installing without what the C module needs stops with one line naming it.

The C module is the engine: without it nothing can be decided, so the build
fails plainly instead of installing a tpython that cannot run anything.
"""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _setup_module():
    spec = importlib.util.spec_from_file_location("tpython_setup", ROOT / "setup.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # `setup()` runs only as __main__
    return module


def test_no_compiler_is_named_in_one_line(tmp_path):
    pytest.importorskip("setuptools.command.build", reason="setup.py needs setuptools 64 or later here")
    env = {**os.environ, "CC": str(tmp_path / "no-such-cc")}
    r = subprocess.run([sys.executable, "setup.py", "build_ext", "--build-lib", str(tmp_path / "lib"),
                        "--build-temp", str(tmp_path / "tmp")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode != 0
    lines = [line for line in r.stderr.splitlines() if line.startswith("tpython:")]
    assert lines and "no C compiler" in lines[0] and "gcc" in lines[0], r.stderr


def test_a_missing_header_is_named_with_its_package(monkeypatch):
    pytest.importorskip("setuptools.command.build", reason="setup.py needs setuptools 64 or later here")
    setup = _setup_module()
    monkeypatch.setattr(setup, "NATIVE_NEEDS", (("Python.h", "the Python headers"),
                                                ("tpython-test-absent/none.h", "the test's absent package")))
    from setuptools.dist import Distribution

    command = setup.BuildNative(Distribution())
    with pytest.raises(SystemExit) as caught:
        command.preflight()
    message = str(caught.value)
    assert message.startswith("tpython: cannot build its C module") and "<tpython-test-absent/none.h>" in message
    assert "the test's absent package" in message and "\n" not in message


def test_run_without_the_c_module_refuses_in_one_line(tmp_path):
    """A copy of tpython's sources with no C module: `tpython run` says what is missing."""
    import shutil

    copy = tmp_path / "src"
    shutil.copytree(ROOT / "src" / "tpython", copy / "tpython",
                    ignore=shutil.ignore_patterns("_native*.so", "__pycache__", "*.bundle", "*.cache"))
    (tmp_path / "app.py").write_text("print('ran')\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TPYTHON", "PYTHON"))}
    start = (f"import runpy, sys; sys.path.insert(0, {str(copy)!r}); sys.argv = ['tpython', 'run', 'app.py']; "
             "runpy.run_module('tpython', run_name='__main__')")
    r = subprocess.run([sys.executable, "-I", "-S", "-c", start], cwd=tmp_path, env=env, capture_output=True,
                       text=True)  # -S: not the installed tpython (site's .pth), only the copy
    assert r.returncode == 78 and "ran" not in r.stdout, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("tpython: tpython's C module cannot be loaded"), r.stderr
    assert "nettle-dev" in lines[0]
