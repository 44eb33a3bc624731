"""learn -> enforce on a real package's own test suite: attrs, from its sdist,
run with pytest under `tpython run` (with hypothesis, as attrs' suite uses it).

Recorded under strict in audit mode in one fresh copy of the sdist, the
learned policy must run the same suite in enforce mode in another fresh copy
(another path) with no denial; a test file that starts doing something new
must be denied."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from conftest import TPYTHON

pytestmark = pytest.mark.slow

ATTRS = "attrs==26.1.0"
# attrs' test files that need only pytest and hypothesis (test_make and test_funcs
# are left out for time; test_converters has a test failing on 3.11 without tpython).
TESTS = ["tests/test_functional.py", "tests/test_dunders.py", "tests/test_validators.py", "tests/test_cmp.py",
         "tests/test_annotations.py", "tests/test_next_gen.py", "tests/test_setattr.py", "tests/test_filters.py",
         "tests/test_hooks.py", "tests/test_slots.py", "tests/test_version_info.py", "tests/test_abc.py",
         "tests/test_init_subclass.py", "tests/test_config.py", "tests/test_compat.py", "tests/test_utils.py"]
if sys.version_info >= (3, 10):
    TESTS.append("tests/test_pattern_matching.py")  # `match` statements

NEW_BEHAVIOUR = """
import subprocess

def test_starts_running_programs():
    subprocess.run(["true"], check=True)
"""


@pytest.fixture(scope="module")
def sdist(tmp_path_factory) -> Path:
    pytest.importorskip("hypothesis", reason="attrs' tests need hypothesis (pip install -e '.[test]')")
    where = tmp_path_factory.mktemp("sdist")
    got = subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-binary", "attrs", "--no-deps",
                          ATTRS, "-d", str(where)], capture_output=True, text=True, check=False)
    archives = list(where.glob("attrs-*.tar.gz"))
    if got.returncode != 0 or not archives:
        pytest.skip(f"cannot download the {ATTRS} sdist: {got.stderr.strip()[-300:]}")
    return archives[0]


def _unpack(sdist: Path, into: Path) -> Path:
    with tarfile.open(sdist) as archive:
        archive.extractall(into)  # our own download from PyPI
    return next(into.glob("attrs-*"))


def _pytest_under_tpython(tree: Path, log: Path, home: Path, *policy: str,
                          extra: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("TPYTHON")}
    env["HOME"] = str(home)
    argv = [*TPYTHON, "run", *policy, "--quiet", "--log", f"jsonl:{log}",
            "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "pythonpath=src", *TESTS, *extra]
    return subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, timeout=600, check=False)


def _denials(log: Path) -> list[tuple[str, str, bool]]:
    out = []
    for line in log.read_text().splitlines():
        rec = json.loads(line)
        if rec["action"] in ("deny", "kill"):
            out.append((rec["event"], rec["rule"], rec["enforced"]))
    return out


def test_attrs_suite_learned_then_enforced(sdist, tmp_path):
    first = _unpack(sdist, tmp_path / "a")
    audit_log = tmp_path / "audit.jsonl"
    audited = _pytest_under_tpython(first, audit_log, tmp_path / "home-a", "--policy", "strict", "--mode", "audit")
    assert audited.returncode == 0, audited.stdout[-2000:] + audited.stderr[-2000:]
    assert " passed" in audited.stdout
    would_deny = _denials(audit_log)
    assert would_deny and all(not enforced for _, _, enforced in would_deny)  # strict would stop something

    policy = tmp_path / "learned.toml"
    learned = subprocess.run([*TPYTHON, "learn", str(audit_log), "--out", str(policy)],
                             capture_output=True, text=True, check=False)
    assert learned.returncode == 0, learned.stderr
    checked = subprocess.run([*TPYTHON, "policy", "check", str(policy)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stderr

    second = _unpack(sdist, tmp_path / "b")  # the same workload, from another directory
    enforce_log = tmp_path / "enforce.jsonl"
    enforced = _pytest_under_tpython(second, enforce_log, tmp_path / "home-b", "--policy", str(policy))
    assert enforced.returncode == 0, enforced.stdout[-2000:] + enforced.stderr[-2000:]
    assert _denials(enforce_log) == []
    start = json.loads(enforce_log.read_text().splitlines()[0])
    assert start["args"]["policy"]["mode"] == "enforce"
    assert audited.stdout.strip().splitlines()[-1].split(" in ")[0] == \
        enforced.stdout.strip().splitlines()[-1].split(" in ")[0]  # same tests passed

    (second / "tests" / "test_zz_new_behaviour.py").write_text(NEW_BEHAVIOUR)
    new_log = tmp_path / "new.jsonl"
    changed = _pytest_under_tpython(second, new_log, tmp_path / "home-b", "--policy", str(policy),
                                    extra=("tests/test_zz_new_behaviour.py",))
    assert changed.returncode == 1
    assert "1 failed" in changed.stdout and "PolicyViolation" in changed.stdout
    assert ("subprocess.Popen", "strict-process", True) in _denials(new_log)
