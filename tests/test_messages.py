"""Messages that name the real cause and what to do (issue 18, item 11): an interpreter
this user may not reach, `tpython run` without a program, a policy version of the wrong
type, a policy that denies what Python needs to start or the program's own file, and a
denial's traceback, which ends at the program's own call (no tpython frames after it)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import assert_one_line_error

from tpython.launcher import bootstrap

DENY_ALL_OPEN = """
version = 1
[[rules]]
id = "no-open"
events = ["open"]
action = "deny"
"""


# -- the native launcher ----------------------------------------------------------------

def _build_launcher(bin_dir: Path, build_executable: str) -> Path:
    """scripts/tpython.c built by setup.py's build_launcher (as test_command_launcher.py
    does), around a script that must never run."""
    import sysconfig

    if not sysconfig.get_config_var("Py_ENABLE_SHARED") or (shutil.which("gcc") or shutil.which("cc")) is None:
        pytest.skip("needs a C compiler and a shared-library interpreter")
    import importlib.util

    spec = importlib.util.spec_from_file_location("tpython_setup", Path(__file__).resolve().parents[1] / "setup.py")
    assert spec is not None and spec.loader is not None
    setup_py = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(setup_py)
    except ImportError as exc:
        pytest.skip(f"setup.py needs setuptools here: {exc}")
    program = bin_dir / "tpython"
    setup_py.build_launcher(str(program), script=b"raise SystemExit('unreachable')\n",
                            build_executable=os.fsencode(build_executable))
    return program


def test_launcher_says_permission_denied_on_an_interpreter_this_user_cannot_reach():
    """The interpreter beside the launcher is a link into a directory (mode 0700) the user
    may not enter: the message says permission denied and names that directory, not
    "no python3 beside this program"."""
    if os.geteuid() != 0 or shutil.which("setpriv") is None:
        pytest.skip("needs root and setpriv(1) to run as another user")
    root = Path(tempfile.mkdtemp(prefix="tpython-messages-", dir="/tmp"))  # pytest's tmp_path is root's only
    try:
        root.chmod(0o755)
        private = root / "private"
        private.mkdir(mode=0o700)
        (private / "python3").symlink_to(sys.executable)
        bin_dir = root / "bin"
        bin_dir.mkdir()
        (bin_dir / "python3").symlink_to(private / "python3")
        program = _build_launcher(bin_dir, str(private / "python3"))
        as_root = subprocess.run([str(program), "--version"], capture_output=True, text=True, timeout=60)
        assert as_root.stderr == "unreachable\n"  # root reaches it: the script ran
        proc = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", str(program),
                               "--version"], cwd=root, capture_output=True, text=True, timeout=60)
        if "error while loading shared libraries" in proc.stderr:
            pytest.skip(f"this user cannot load libpython here: {proc.stderr.strip()}")
        assert proc.returncode == 126, proc.stderr
        assert proc.stderr == (f"tpython: cannot run the interpreter {bin_dir}/python3 -> {private}/python3: "
                               f"permission denied: this user (uid 65534) may not enter the directory {private}; "
                               "run tpython as a user who may, or install it with an interpreter this user can "
                               "reach\n")
    finally:
        shutil.rmtree(root)


def test_shell_script_says_which_python3_it_could_not_run(tmp_path):
    """The shell script (installed where the launcher cannot be built) with no python3 it
    may run beside it or on PATH: one line naming where it looked and why it may fail."""
    script = tmp_path / "bin" / "tpython"
    script.parent.mkdir()
    shutil.copyfile(Path(__file__).parent.parent / "scripts" / "tpython", script)
    script.chmod(0o755)
    (script.parent / "python3").symlink_to(tmp_path / "gone" / "python3")  # a venv whose interpreter went away
    proc = subprocess.run(["/bin/sh", str(script), "info"], env={"PATH": str(tmp_path / "empty")},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 127
    assert proc.stderr == (f"tpython: no python3 this user can run, beside {script} or on PATH: missing, "
                           "or a directory on its way is not searchable\n")


# -- tpython run without a program ------------------------------------------------------

def test_run_without_a_program_is_a_usage_error(tp):
    r = tp.cli("run")  # standard input is not a terminal (DEVNULL): python would read the program from it
    assert_one_line_error(r, "tpython run: no program given: SCRIPT, -m MODULE, -c CODE, or - for standard input",
                          "tpython run --help")
    assert r.rc == 2
    assert "refused" not in r.err


def test_run_without_a_program_reads_standard_input_when_the_policy_allows_it(tp):
    """As python does; only a policy that refuses that launch makes it a usage error."""
    tp.policy("""
    version = 1
    extends = "default"
    [launch]
    allow = ["file", "stdin"]
    """)
    r = tp("run", "--quiet", "--policy", "policy.toml", input="print('from stdin')\n")
    assert r.rc == 0, r.err
    assert r.out == "from stdin\n"


# -- policy version ------------------------------------------------------------------------

@pytest.mark.parametrize("value, shown", [('"1"', "the string '1'"), ("true", "the boolean True"),
                                          ("1.0", "the float 1.0")])
def test_version_of_the_wrong_type_says_so(tp, value, shown):
    tp.policy(f"version = {value}\n")
    r = tp.cli("policy", "check", "policy.toml")
    assert_one_line_error(r, f"policy.toml:1: version must be the number 1, not {shown} (write: version = 1)")
    assert r.rc == 78


def test_unsupported_version_number(tp):
    tp.policy("version = 2\n")
    r = tp.cli("policy", "check", "policy.toml")
    assert_one_line_error(r, "unsupported policy version 2 (this tpython reads version 1)")


# -- denials -----------------------------------------------------------------------------

def test_policy_denying_every_open_names_the_path_and_what_to_do(tp):
    """`site` cannot read pyvenv.cfg: one line with the path, the rule and the fix, status
    78, and the run's log still ends with tpython.exit; not a "critical failure"."""
    tp.policy(DENY_ALL_OPEN)
    tp.script("print('ran')")
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert_one_line_error(r, "tpython: Python cannot start under this policy: open of '",
                          "' denied by rule 'no-open' of policy", "allow rule")
    assert "critical failure" not in r.err
    assert r.rc == 78 and r.out == ""
    path = r.err.split("open of '", 1)[1].split("'", 1)[0]
    assert os.path.isabs(path)
    assert r.events("open")[0]["action"] == "deny"
    assert r.events("tpython.exit")[0]["args"]["status"] == 78


def test_denied_main_script_names_the_denial(tp):
    tp.policy("""
    version = 1
    [[rules]]
    id = "no-app"
    events = ["open"]
    action = "deny"
    when = { path = ["**/app.py"] }
    """)
    tp.script("print('ran')")
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py")
    app = tp.cwd / "app.py"
    assert r.rc == 2 and r.out == ""
    assert r.err == f"tpython: can't open file '{app}': open of '{app}' denied by rule 'no-app' of policy " \
                    f"'{tp.cwd / 'policy.toml'}'\n"


DENIED_PROGRAM = """
import sys, traceback

def read_secret():
    with open("secret.txt") as f:
        return f.read()

try:
    read_secret()
except PermissionError:
    traceback.print_exc()
    print("----", file=sys.stderr)
read_secret()
"""


def _traceback_files(text: str) -> list[str]:
    return [line.split('"')[1] for line in text.splitlines() if line.startswith('  File "')]


@pytest.mark.parametrize("condition", [
    'path = ["**/secret.txt"]',
    'path = ["**/secret.txt"], module = ["__main__"]',
])
def test_denial_traceback_ends_at_the_programs_call(tp, condition):
    """Caught and printed by the program, and uncaught: the traceback ends at the
    program's `open(...)`, with no tpython frame after it, and names the path."""
    tp.policy(f"""
    version = 1
    [[rules]]
    id = "no-secret"
    events = ["open"]
    action = "deny"
    when = {{ {condition} }}
    """)
    (tp.cwd / "secret.txt").write_text("x")
    app = tp.script(DENIED_PROGRAM)
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py")
    assert r.rc == 1
    caught, uncaught = r.err.split("----\n")
    for text in (caught, uncaught):
        files = _traceback_files(text)
        assert files and all(f == str(app) for f in files), text
        lines = [line for line in text.strip().splitlines() if set(line.strip()) - set("^~ ")]  # 3.11+: carets
        assert lines[-2].strip() == 'with open("secret.txt") as f:', text
        assert lines[-1] == ("tpython.errors.PolicyViolation: tpython: open of 'secret.txt' denied by rule "
                             f"'no-secret' of policy '{tp.cwd / 'policy.toml'}'"), text


def test_launcher_leaves_out_a_trailing_audit_hook_frame():
    """Python 3.9 and 3.10 keep the hook's own frame at the end of a denial's traceback
    (a bare raise re-raises the traceback saved when the handler was entered); the
    launcher leaves it out when it prints an uncaught one."""
    hook_file = os.path.join(bootstrap._TPYTHON_DIR, "engine", "hook.py")
    space: dict[str, object] = {}
    exec(compile("def tpython_audit_hook():\n    raise PermissionError('denied')\n", hook_file, "exec"), space)

    def program() -> None:
        space["tpython_audit_hook"]()  # type: ignore[operator]

    try:
        program()
    except PermissionError as exc:
        tb = exc.__traceback__
    names = []
    node = bootstrap._strip_tpython(tb)
    while node is not None:
        names.append(node.tb_frame.f_code.co_name)
        node = node.tb_next
    assert names == ["test_launcher_leaves_out_a_trailing_audit_hook_frame", "program"]
