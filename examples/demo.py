"""A small program that does security-relevant things, for trying tpython.

    tpython run examples/demo.py                    # default: logs everything
    tpython run --policy strict examples/demo.py    # strict: denies the connect and the process
"""
import os
import socket
import subprocess
import sys
import tempfile

try:
    from tpython import PolicyViolation
except ImportError:  # running under plain python
    PolicyViolation = PermissionError


def step(name, action):
    try:
        result = action()
        print(f"{name}: ok{'' if result is None else f' ({result})'}")
    except PolicyViolation as exc:
        print(f"{name}: DENIED ({exc})")


def write_file():
    path = os.path.join(tempfile.gettempdir(), "tpython-demo.txt")
    with open(path, "w") as f:
        f.write("hello\n")
    return path


def connect_loopback():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    port = server.getsockname()[1]
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass
    server.close()
    return f"127.0.0.1:{port}"


def run_process():
    return subprocess.run([sys.executable, "-c", "print('child')"], capture_output=True, text=True).stdout.strip()


step("write a file", write_file)
step("connect to a loopback listener", connect_loopback)
step("run a subprocess", run_process)
step("eval a string", lambda: eval("6 * 7"))
