"""The benchmark's floor runs a script as plain `python SCRIPT` does, with only the
no-op C audit hook added (benchmarks/floor): else every ratio against it is off."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"

SCRIPT = """
import sys
print(repr(__file__), sys.argv, sys.path[0], __name__, sorted(k for k in globals() if not k.startswith("__")))
if sys.argv[1:] == ["fail"]:
    raise ValueError("the program's own error")
sys.exit(int(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def floor_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import overhead
    finally:
        sys.path.remove(str(BENCHMARKS))
    return overhead.build_floor(sys.executable, tmp_path_factory.mktemp("floor") / "build", dict(os.environ))


@pytest.mark.parametrize("arg", ["0", "3", "fail"])
def test_the_floor_runs_a_script_as_python_does(floor_dir: Path, tmp_path: Path, arg: str) -> None:
    script = tmp_path / "app.py"
    script.write_text(SCRIPT)
    plain = subprocess.run([sys.executable, str(script), arg], capture_output=True, text=True, check=False)
    floor = subprocess.run([sys.executable, str(BENCHMARKS / "floor" / "run_with_floor.py"), str(floor_dir),
                            str(script), arg], capture_output=True, text=True, check=False)
    assert (floor.returncode, floor.stdout, floor.stderr) == (plain.returncode, plain.stdout, plain.stderr)
    assert plain.returncode == (1 if arg == "fail" else int(arg))
