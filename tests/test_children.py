"""Child processes: forked runs, and multiprocessing workers under the same policy."""
from __future__ import annotations

import pytest

MP = """
import multiprocessing as mp, os, sys

def work(n):
    open(f"worker-{n}.txt", "w").close()
    return n * n

if __name__ == "__main__":
    ctx = mp.get_context(sys.argv[1])
    with ctx.Pool(2) as pool:
        print(sorted(pool.map(work, range(4))))
    p = ctx.Process(target=work, args=(9,))
    p.start(); p.join()
    print("exitcode", p.exitcode)
"""


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_multiprocessing_workers_are_audited(tp, method):
    tp.script(MP)
    r = tp("run", "app.py", method, timeout=180)
    assert r.rc == 0, r.err
    assert "[0, 1, 4, 9]" in r.out and "exitcode 0" in r.out
    recs = r.records
    parent = recs[0]["run"]
    starts = [x for x in recs if x["event"] == "tpython.start"]
    children = [x for x in starts if x["run"] != parent]
    assert children, "no child run recorded"
    for child in children:
        assert child["seq"] == 0
        assert child["args"]["parent_run"] is not None
    # every worker file write is in the log, from a child run, attributed to the script
    writes = [x for x in recs if x["event"] == "open" and "worker-" in str(x["args"][0])]
    assert len(writes) == 5
    assert all(x["run"] != parent for x in writes)
    assert all(x["module"] in ("__main__", "__mp_main__") for x in writes)
    assert tp.cli("log", "verify", str(tp.log)).rc == 0


def test_spawned_workers_run_under_the_same_policy(tp):
    tp.script("""
    import multiprocessing as mp, socket
    def work(_):
        try:
            socket.getaddrinfo("localhost", 80)
            return "resolved"
        except PermissionError as exc:
            return type(exc).__name__
    if __name__ == "__main__":
        with mp.get_context("spawn").Pool(1) as pool:
            print(pool.map(work, [0]))
    """)
    r = tp("run", "--policy", "strict", "app.py", timeout=180)
    assert r.rc == 0, r.err
    assert "['PolicyViolation']" in r.out
    denies = r.actions("deny")
    assert any(d["event"] == "socket.getaddrinfo" and d["run"] != r.records[0]["run"] for d in denies)


def test_fork_child_starts_a_new_run_naming_its_parent(tp):
    tp.script("""
    import os
    pid = os.fork()
    if pid == 0:
        open("child.txt", "w").close()
        os._exit(0)
    os.waitpid(pid, 0)
    open("parent.txt", "w").close()
    """)
    r = tp("run", "app.py")
    assert r.rc == 0, r.err
    parent_run = r.records[0]["run"]
    child_start = [x for x in r.events("tpython.start") if x["run"] != parent_run][0]
    assert child_start["seq"] == 0 and child_start["args"]["parent_run"] == parent_run
    assert child_start["args"]["forked"] is True
    child_open = [x for x in r.events("open") if str(x["args"][0]).endswith("child.txt")][0]
    assert child_open["run"] == child_start["run"] and child_open["seq"] >= 1
