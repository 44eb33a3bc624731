"""CPython's own regression tests pass under `tpython run --mode audit -m test`.

Slow (about two minutes in all); deselect with `-m "not slow"`.
"""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent
MP_SUBSET = ["-m", "WithProcessesTestProcess", "-m", "WithProcessesTestQueue", "-m", "WithProcessesTestLock",
             "-m", "WithProcessesTestPool", "-m", "TestStartMethod", "-m", "TestNoForkBomb",
             "-m", "TestInitializers", "-m", "TestSimpleQueue"]

MODULES = {
    "test_json": [],
    "test_dataclasses": [],
    "test_logging": [],
    "test_tempfile": [],
    "test_subprocess": [],
    # the VSOCK tests hang on this machine under plain python too (no vsock transport)
    "test_socket": ["--ignore", "*VSOCK*"],
    "test_importlib": [],
    # this install lacks the module: tests/cpython rebuilds it from test._test_multiprocessing;
    # regrtest needs the split package's modules named; a fast subset of the process tests
    "test_multiprocessing_spawn": ["--testdir", str(HERE / "cpython"), "test_multiprocessing_spawn.test_misc",
                                   *MP_SUBSET],
}
TARGET = {"test_multiprocessing_spawn": "test_multiprocessing_spawn.test_processes"}

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(importlib.util.find_spec("test.libregrtest") is None,
                       reason="this Python has no test package (Lib/test)"),
    pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the module list and options are 3.11's"),
]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_cpython_regression_module_passes_under_tpython(tp, module):
    r = tp("run", "--mode", "audit", "--quiet", "-m", "test", TARGET.get(module, module), *MODULES[module],
           timeout=900)
    assert r.rc == 0, r.out[-3000:] + r.err[-3000:]
    assert "Tests result: SUCCESS" in r.out
    records = tp.log.read_text().splitlines()
    start = json.loads(records[0])
    assert start["event"] == "tpython.start" and start["args"]["launch"] == "module"
    if module == "test_multiprocessing_spawn":  # the workers ran under tpython too
        children = [json.loads(l) for l in records if '"event":"tpython.start"' in l]
        assert sum(1 for c in children if c["args"]["parent_run"]) >= 10
