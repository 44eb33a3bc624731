"""The README's two set-up commands, in order, in one fresh clone, as a new user runs them.

The demo command installs tpython (`pip install .`) and runs it twice; the test command
then replaces that install with an editable one (`pip install -e '.[test]'`). A run must
not leave anything in tpython's installation (start-up caches, byte code): what is left
is not the installer's to remove, and code that runs before the hooks is not a watched
program's to plant. Both commands need the package registry (pip's build isolation).
"""
from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _readme_commands() -> tuple[str, str]:
    """The README's demo and test commands: the two `python3 -m venv` lines under "Set up"."""
    lines = [line for line in (ROOT / "README.md").read_text().splitlines() if line.startswith("python3 -m venv ")]
    assert len(lines) == 2, lines
    return lines[0], lines[1]


def _fresh_clone(tmp_path: Path) -> Path:
    """The repository's files as a clone holds them (tracked and new, not ignored ones)."""
    names = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, check=True,
                           capture_output=True).stdout.decode().split("\0")
    clone = tmp_path / "clone"
    for name in filter(None, names):
        source = ROOT / name
        if source.is_file():
            (clone / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, clone / name)
    return clone


def _bash(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])  # python3: this one
    return subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


def _site_packages(clone: Path) -> Path:
    found = glob.glob(str(clone / ".venv" / "lib" / "python3*" / "site-packages"))
    assert len(found) == 1, found
    return Path(found[0])


def _installed_files_not_in_record(site: Path) -> list[str]:
    """Files under site-packages/tpython that the installer did not write (RECORD lists
    every file pip installed, the byte code it compiled included)."""
    records = glob.glob(str(site / "tpython-*.dist-info" / "RECORD"))
    assert len(records) == 1, records
    recorded = {os.path.normpath(site / line.split(",")[0]) for line in Path(records[0]).read_text().splitlines()
                if line}
    return sorted(os.path.relpath(os.path.join(folder, name), site)
                  for folder, _, files in os.walk(site / "tpython") for name in files
                  if os.path.normpath(os.path.join(folder, name)) not in recorded)


def test_the_readme_demo_then_test_commands_in_one_clone(tmp_path):
    demo, test = _readme_commands()
    clone = _fresh_clone(tmp_path)

    # 1. The demo command, exactly: installs tpython, runs the demo under default and strict.
    r = _bash(demo, clone)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "run a subprocess: ok" in r.stdout and "run a subprocess: DENIED" in r.stdout, r.stdout
    site = _site_packages(clone)
    assert (site / "tpython" / "__pycache__").is_dir()
    bundles = glob.glob(str(site / "tpython" / "__pycache__" / "startup.*.bundle"))
    assert len(bundles) == 1, "the start-up bundle is built with the package and installed with it"
    # The two runs wrote nothing into tpython's installation.
    assert _installed_files_not_in_record(site) == []
    # Both built-in profiles come merged from the install (strict's `{tpython}` was merged
    # for where pip installed it), so no run needs the loader.
    check = "from tpython.policy import profile_cache as p; print([p.cached_policy(n) is not None for n in p.PROFILES])"
    r = _bash(f". .venv/bin/activate && python -I -c '{check}'", clone)
    assert r.stdout.split() == ["[True,", "True]"], r.stdout + r.stderr

    # What an older tpython's runs left there (a cache pip does not know of): uninstalling
    # leaves it, in a `tpython` directory without `__init__.py`.
    (site / "tpython" / "__pycache__" / "startup.old.bundle").write_bytes(b"left by an older version")

    # 2. The test command, up to the test run itself (which is this suite): the editable
    # install replaces the demo's install, and tpython works from the sources.
    install = test.split(" && python -m pytest")[0]
    assert install != test, test
    r = _bash(install + " && tpython run examples/demo.py && tpython info", clone)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "run a subprocess: ok" in r.stdout
    left = sorted(os.path.relpath(os.path.join(folder, name), site)
                  for folder, _, files in os.walk(site / "tpython") for name in files)
    assert left == ["tpython/__pycache__/startup.old.bundle"]  # every installed file went with the install
    assert re.search(r"engine: C audit hook", r.stdout), r.stdout


def test_a_run_writes_nothing_into_an_editable_install(tp):
    """The test suite's own install (editable): a run under `default` leaves tpython's
    sources, byte code and caches as they were."""
    import tpython

    package = Path(tpython.__file__).parent

    def snapshot() -> dict[str, tuple[int, int]]:
        return {os.path.relpath(os.path.join(folder, name), package): (st.st_size, st.st_mtime_ns)
                for folder, _, files in os.walk(package) for name in files
                for st in [os.stat(os.path.join(folder, name))]}

    tp.script("import json, email.message\nprint('done')\n")
    before = snapshot()
    r = tp("run", "--quiet", "app.py")
    assert r.rc == 0 and r.out.strip() == "done", r.err
    assert snapshot() == before
