"""Failures inside the hook (a sink that cannot write, memory exhausted) never crash
the interpreter and never turn a deny into an allow; the failure is reported."""
from __future__ import annotations

import json
import os

DISK_FULL_APP = """
import os, sys
FULL = sys.argv[1]

def attempt(tag):
    try:
        os.system("touch " + os.path.join(os.getcwd(), "marker-" + tag))
        print(tag, "ALLOWED")
    except Exception as exc:
        print(tag, "denied", type(exc).__name__)

for i in range(5):
    open(__file__).close()   # logged: the full disk loses these records
attempt("while-full")
if sys.argv[2:] != ["stay-full"]:
    os.remove(os.path.join(FULL, "fill"))  # room again: the next record says how many were lost
open(__file__).close()
attempt("after")
"""


def _fill(directory) -> None:
    with open(os.path.join(directory, "fill"), "wb", buffering=0) as f:
        try:
            while True:
                f.write(bytes(4096))
        except OSError:  # ENOSPC: full
            pass


def test_a_full_disk_loses_records_not_denials_and_says_how_many(tp, mount_tmpfs):
    full = mount_tmpfs("full", "size=64k")
    (full / "log.jsonl").touch()
    _fill(full)
    tp.script(DISK_FULL_APP)
    r = tp("run", "--policy", "strict", "--log", f"jsonl:{tp.log}", "--log", f"jsonl:{full}/log.jsonl",
           "app.py", str(full))
    assert r.rc == 0, r.err
    assert r.out.splitlines() == ["while-full denied PolicyViolation", "after denied PolicyViolation"]
    assert not list(tp.cwd.glob("marker-*"))
    assert "No space left on device; counting lost records" in r.err
    assert "LOST" not in r.err  # reported in the record that got through; none lost at exit
    # the healthy sink has everything; the full one resumes with the count of what it missed
    healthy = r.records
    assert [d["args"][0] for d in r.events("os.system")] and len(r.actions("deny")) == 2
    resumed = [json.loads(line) for line in (full / "log.jsonl").read_text().splitlines()]
    assert resumed, "nothing was written once there was room again"
    lost = resumed[0]["lost"][f"jsonl:{full}/log.jsonl"]
    assert lost == len(healthy) - len(resumed), (lost, len(healthy), len(resumed))
    assert [x["seq"] for x in resumed] == [x["seq"] for x in healthy[-len(resumed):]]
    assert resumed[-1]["event"] == "tpython.exit"
    # the run's last record sums up every sink's losses, the recovered one's included
    assert healthy[-1]["args"]["lost"] == {f"jsonl:{full}/log.jsonl": lost}


def test_a_disk_full_to_the_end_is_reported_at_exit(tp, mount_tmpfs):
    full = mount_tmpfs("full", "size=64k")
    _fill(full)
    tp.script(DISK_FULL_APP)
    r = tp("run", "--policy", "strict", "--log", f"jsonl:{full}/log.jsonl", "app.py", str(full), "stay-full")
    assert r.rc == 0, r.err
    assert r.out.splitlines() == ["while-full denied PolicyViolation", "after denied PolicyViolation"]
    assert f"tpython: LOST records: jsonl:{full}/log.jsonl: " in r.err
    assert "records, not all written: see LOST" in r.err
    assert (full / "log.jsonl").read_text() == ""


OOM_APP = """
import os, resource, sys
command = "touch " + os.path.join(os.getcwd(), "marker")
outcomes = [None] * 30  # allocated before memory runs out: the loop below allocates nothing itself
soft, hard = resource.getrlimit(resource.RLIMIT_AS)
with open("/proc/self/statm") as f:
    used = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
resource.setrlimit(resource.RLIMIT_AS, (used + 64 * 1024 * 1024, hard))
hog = []
for size in (1 << 20, 1 << 12, 64):
    try:
        while True:
            hog.append(bytearray(size))
    except MemoryError:
        pass
for i in range(30):
    try:
        os.system(command)
        outcomes[i] = "ALLOWED"
    except BaseException as exc:
        outcomes[i] = type(exc).__name__
del hog
resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
print(sorted(set(outcomes)))
"""


def test_out_of_memory_in_the_hook_fails_closed(tp):
    """With the address space exhausted (RLIMIT_AS), whatever the hook can no longer
    allocate, the denied call still fails (PolicyViolation, or MemoryError when even that
    cannot be built), the command never runs, and the interpreter does not crash (the
    program itself may die of its own MemoryError: that is not tpython's to prevent)."""
    tp.script(OOM_APP)
    r = tp("run", "--policy", "strict", "app.py")
    assert not (tp.cwd / "marker").exists() and "ALLOWED" not in r.out
    assert "Fatal Python error" not in r.err and r.rc >= 0, r.err  # no abort, no crash by a signal
    if r.rc == 1:  # the program's own code ran out of memory (CPython 3.9: binding `except ... as exc`)
        assert "MemoryError" in r.err, r.err
        return
    assert r.rc == 0, r.err
    outcomes = json.loads(r.out.strip().splitlines()[-1].replace("'", '"'))
    assert "ALLOWED" not in outcomes and set(outcomes) <= {"PolicyViolation", "MemoryError", "PermissionError"}
    # (which of the two depends on what the allocator still had: the Python engine's hook
    # typically fails with MemoryError, the native one usually still finds the little it needs)
    assert not (tp.cwd / "marker").exists()


FAIL_CLOSED_POLICY = """
version = 1
extends = "default"
[log]
on_sink_failure = "{mode}"
[[rules]]
id = "no-shell"
events = ["os.system"]
action = "deny"
"""


def test_on_sink_failure_fail_closed_ends_the_process_when_a_deny_cannot_be_recorded(tp, mount_tmpfs):
    """With every sink failing, `fail-closed` ends the process at the first deny it
    could not record (status 255, as a kill); `continue` goes on, counting."""
    full = mount_tmpfs("full", "size=64k")
    _fill(full)
    tp.script(DISK_FULL_APP)
    sink = f"jsonl:{full}/log.jsonl"
    tp.policy(FAIL_CLOSED_POLICY.format(mode="fail-closed"))
    r = tp("run", "--policy", "policy.toml", "--log", sink, "app.py", str(full), "stay-full")
    assert r.rc == 255, (r.rc, r.out, r.err)
    assert "while-full" not in r.out and not list(tp.cwd.glob("marker-*"))
    assert 'could not be recorded by any sink; [log] on_sink_failure = "fail-closed": ending the process' in r.err
    tp.policy(FAIL_CLOSED_POLICY.format(mode="continue"))
    r = tp("run", "--policy", "policy.toml", "--log", sink, "app.py", str(full), "stay-full")
    assert r.rc == 0 and r.out.splitlines() == ["while-full denied PolicyViolation", "after denied PolicyViolation"]
    # logged events that cannot be recorded never end the process: only blocks do
    tp.policy(FAIL_CLOSED_POLICY.format(mode="fail-closed").replace('action = "deny"', 'action = "log"'))
    r = tp("run", "--policy", "policy.toml", "--log", sink, "app.py", str(full), "stay-full")
    assert r.rc == 0 and "while-full ALLOWED" in r.out


def test_fail_closed_is_not_triggered_while_one_sink_still_records(tp, mount_tmpfs):
    full = mount_tmpfs("full", "size=64k")
    _fill(full)
    tp.script(DISK_FULL_APP)
    tp.policy(FAIL_CLOSED_POLICY.format(mode="fail-closed"))
    r = tp("run", "--policy", "policy.toml", "--log", f"jsonl:{full}/log.jsonl", "--log", f"jsonl:{tp.log}",
           "app.py", str(full), "stay-full")
    assert r.rc == 0 and r.out.splitlines() == ["while-full denied PolicyViolation", "after denied PolicyViolation"]
    assert [d["rule"] for d in r.actions("deny")] == ["no-shell", "no-shell"]


def test_a_low_descriptor_limit_does_not_stop_recording(tp):
    """tpython keeps its log descriptors at 200 and above, out of the program's way;
    where RLIMIT_NOFILE is lower, it takes what there is instead of failing."""
    tp.script("import os\nopen(__file__).close()\nos.system('true')\n")
    r = tp("run", "app.py", wrap=("sh", "-c", 'ulimit -n 64 && exec "$@"', "sh"))
    assert r.rc == 0, r.err
    assert r.events("open") and r.events("os.system") and r.events("tpython.exit")
    v = __import__("subprocess").run(__import__("conftest").TPYTHON + ["log", "verify", str(tp.log)],
                                     capture_output=True, text=True)
    assert v.returncode == 0, v.stdout


TERMINATED_WRITERS = """
import os, signal, sys, time
children = []
for n in range(40):
    pid = os.fork()
    if pid == 0:
        while True:  # records of about 1 KB: many cross a page boundary of the log
            sys.audit("tpython.test.big", "x" * 500, n)
    children.append(pid)
    time.sleep(0.005)
for pid in children:
    os.kill(pid, signal.SIGTERM)
    os.waitpid(pid, 0)
print("done")
"""


def test_writers_terminated_mid_record_never_tear_a_line(tp):
    """Pool workers are ended with SIGTERM while they write; a record cut at a page
    boundary would glue the next process's record to half a line. Every line stays whole."""
    tp.script(TERMINATED_WRITERS)
    r = tp("run", "app.py", timeout=120)
    assert r.rc == 0 and "done" in r.out, r.err
    lines = tp.log.read_text().splitlines()
    torn = []
    for number, line in enumerate(lines, 1):
        try:
            json.loads(line)
        except ValueError:
            torn.append((number, line[:120]))
    assert not torn, torn[:3]
    assert sum('"tpython.test.big"' in line for line in lines) > 40
