"""`tpython learn` -> enforce, on real workloads: record under strict in audit mode,
learn, re-run under the learned policy in enforce mode: no denials; a new
behaviour is denied. `tpython diff` on the same runs."""
from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

SERVER = """
import http.server, json, sys, threading
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        if self.path == "/stop":  # answered first; server_close() below waits for this thread
            threading.Thread(target=self.server.shutdown).start()
    def log_message(self, *args):
        pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
srv.daemon_threads = False
with open(sys.argv[1], "w") as f:
    f.write(str(srv.server_port))
srv.serve_forever()
srv.server_close()
"""

CLIENT = """
import json, os, sys, urllib.request
port = int(open(sys.argv[1]).read())
items = []
for i in range(3):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/item/{i}", timeout=10) as r:
        items.append(json.load(r))
os.makedirs("cache", exist_ok=True)
with open("cache/items.json", "w") as f:
    json.dump(items, f)
new = sys.argv[2] if len(sys.argv) > 2 else ""
if new == "other-port":
    import socket
    socket.socket().connect(("127.0.0.1", 9))
elif new == "other-host":
    urllib.request.urlopen("http://tpython-test.invalid/", timeout=2)
elif new == "spawn":
    import subprocess
    subprocess.run(["true"])
elif new == "write-elsewhere":
    open("/var/tmp/tpython-learn-test.txt", "w").close()
urllib.request.urlopen(f"http://127.0.0.1:{port}/stop", timeout=10).read()
print("client done")
"""


def _workload(tp, tag: str, *run_args: str, new: str = "") -> tuple:
    """Server and client, each under `tpython run`, logging to their own files."""
    tp.script(SERVER, "server.py")
    tp.script(CLIENT, "client.py")
    port_file = tp.cwd / "port"
    port_file.unlink(missing_ok=True)
    server_log, client_log = tp.cwd / f"server-{tag}.jsonl", tp.cwd / f"client-{tag}.jsonl"
    import subprocess

    from conftest import TPYTHON

    env = {k: v for k, v in os.environ.items() if not k.startswith("TPYTHON")}
    server = subprocess.Popen([*TPYTHON, "run", *run_args, "--quiet", "--log", f"jsonl:{server_log}",
                               "server.py", str(port_file)], cwd=tp.cwd, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not (port_file.exists() and port_file.read_text()):
        assert server.poll() is None, server.communicate()
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    client = tp("run", *run_args, "--quiet", "--log", f"jsonl:{client_log}", "client.py", str(port_file),
                *([new] if new else []))
    if client.rc != 0:  # the client failed before stopping the server
        server.kill()
    out, err = server.communicate(timeout=30)
    return client, (server.returncode, err), server_log, client_log


def _denials(*logs: Path) -> list:
    found = []
    for log in logs:
        for line in log.read_text().splitlines():
            rec = json.loads(line)
            if rec["action"] in ("deny", "kill"):
                found.append((rec["event"], rec["rule"], rec["enforced"]))
    return found


@pytest.fixture
def learned_http(tp):
    """The HTTP workload recorded under strict in audit mode, and the policy learned from it."""
    client, server, slog, clog = _workload(tp, "audit", "--policy", "strict", "--mode", "audit")
    assert client.rc == 0 and "client done" in client.out, client.err
    assert server[0] == 0, server[1]
    audited = _denials(slog, clog)
    assert ("socket.bind", "strict-network", False) in audited  # what strict would stop
    assert ("socket.connect", "strict-network", False) in audited
    r = tp.cli("learn", str(slog), str(clog), "--out", "learned.toml")
    assert r.rc == 0, r.err
    assert "policy written to learned.toml" in r.out
    check = tp.cli("policy", "check", "learned.toml")
    assert check.rc == 0, check.err
    return tp, slog, clog


def test_http_workload_runs_unchanged_under_the_learned_policy(learned_http):
    tp, _, _ = learned_http
    policy = (tp.cwd / "learned.toml").read_text()
    assert 'extends = "strict"' in policy and "127.0.0.1" in policy and "learned-writes" in policy
    client, server, slog, clog = _workload(tp, "enforce", "--policy", "learned.toml")
    assert client.rc == 0 and "client done" in client.out, client.err
    assert server[0] == 0, server[1]
    assert _denials(slog, clog) == []
    starts = [json.loads(line) for line in clog.read_text().splitlines()[:1]]
    assert starts[0]["args"]["policy"]["mode"] == "enforce"


@pytest.mark.parametrize("new, event, rule", [
    ("other-port", "socket.connect", "strict-network"),
    ("other-host", "socket.getaddrinfo", "strict-network"),
    ("spawn", "subprocess.Popen", "strict-process"),
    ("write-elsewhere", "open", "learned-writes"),
])
def test_a_new_behaviour_is_denied_under_the_learned_policy(learned_http, new, event, rule):
    tp, _, _ = learned_http
    client, server, slog, clog = _workload(tp, new, "--policy", "learned.toml", new=new)
    assert client.rc != 0
    assert "PolicyViolation" in client.err and rule in client.err
    assert (event, rule, True) in _denials(clog)
    assert _denials(slog) == []  # the server did only what it was seen doing


def test_diff_of_a_rerun_is_empty_and_of_a_new_behaviour_is_not(learned_http):
    tp, slog, clog = learned_http
    _, _, _, rerun = _workload(tp, "rerun", "--policy", "strict", "--mode", "audit")
    same = tp.cli("diff", str(clog), str(rerun))
    assert same.rc == 0, same.out
    assert "nothing new" in same.out
    _, _, _, spawned = _workload(tp, "spawned", "--policy", "strict", "--mode", "audit", new="spawn")
    changed = tp.cli("diff", str(clog), str(spawned))
    assert changed.rc == 1
    first = changed.out.splitlines()[2]
    assert "runs a program: " in first and first.split()[0] == "90", changed.out
