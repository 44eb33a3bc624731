"""Every rule condition is evaluated in C: `host`, `port`, `executable`, `module` and
`arg` (PCRE2) beside `path`, `write` and `caller`, end to end through `tpython run`.

Each program first replaces the Python engine's condition code in sys.modules with
stubs (STUBS: what an attacker did in issue 19 to switch enforcement off), so every
decision seen here is C's.
"""
from __future__ import annotations

import os
import textwrap

import pytest
from conftest import assert_one_line_error

native = pytest.importorskip("tpython._native")

TRY = """
import sys

def attempt(label, action):
    try:
        action()
    except PermissionError:
        print(label, "denied")
    except Exception as exc:
        print(label, "ran", type(exc).__name__)
    else:
        print(label, "ran")
"""


def _outcomes(out: str) -> dict[str, str]:
    return {line.rsplit(" ", 1)[0] if line.endswith(" denied") else line.split(" ran")[0]:
            "denied" if line.endswith(" denied") else "ran"
            for line in out.splitlines() if line.strip() and not line.startswith("replaced ")}


def _run(tp, policy: str, body: str, stubbed: bool = True) -> tuple[dict[str, str], object]:
    """Run BODY under POLICY with the native engine; STUBBED: the Python engine's condition
    code replaced by stubs first (STUBS), so that only C can have decided."""
    tp.policy(policy)
    tp.script(TRY + (STUBS if stubbed else "") + textwrap.dedent(body))
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    return _outcomes(r.out), r


HOST_POLICY = """
    version = 1
    [[rules]]
    id = "no-loopback"
    events = ["socket.connect", "socket.getaddrinfo", "urllib.Request"]
    action = "deny"
    when = { host = ["127.0.0.0/8", "2001:db8::/32", "*.blocked.test"] }
"""


def test_host_conditions_read_every_form_of_an_address_in_c(tp):
    outcomes, r = _run(tp, HOST_POLICY, """
        import socket, urllib.parse
        for host in ["127.1", "0x7f.1", "2130706433", "0177.0.0.1", "::ffff:127.0.0.1", "2001:db8::5",
                     "[2001:db8::6]", "a.blocked.test", "A.Blocked.Test.", "10.1.2.3", "2001:db9::1", "ok.test"]:
            attempt("getaddrinfo " + host, lambda: socket.getaddrinfo(host, 80, type=socket.SOCK_STREAM))
        s = socket.socket(socket.AF_INET6)
        attempt("connect6 ::ffff:127.0.0.2", lambda: s.connect(("::ffff:127.0.0.2", 9)))
        for url in ["http://127.1:8080/x", "http://[2001:db8::1]/", "https://user@X.Blocked.Test/",
                    "http://ok.test/", "http://[::1/"]:
            attempt("url " + url, lambda: sys.audit("urllib.Request", url, None, {}, "GET"))  # urlopen's event
    """)
    denied = {k for k, v in outcomes.items() if v == "denied"}
    assert denied == {
        "getaddrinfo 127.1", "getaddrinfo 0x7f.1", "getaddrinfo 2130706433", "getaddrinfo 0177.0.0.1",
        "getaddrinfo ::ffff:127.0.0.1", "getaddrinfo 2001:db8::5", "getaddrinfo [2001:db8::6]",
        "getaddrinfo a.blocked.test", "getaddrinfo A.Blocked.Test.", "connect6 ::ffff:127.0.0.2",
        "url http://127.1:8080/x", "url http://[2001:db8::1]/", "url https://user@X.Blocked.Test/",
        "url http://[::1/",  # urlsplit refuses it: no host is known, and a `when` that denies holds
    }, outcomes
    assert {rec["rule"] for rec in r.events("socket.getaddrinfo") if rec["action"] == "deny"} == {"no-loopback"}


def test_an_unknown_host_never_opens_an_exemption(tp):
    """`allow ... when host` must hold for the host; a URL whose host cannot be known
    does not get through the allow, the later denial takes it."""
    outcomes, _ = _run(tp, """
        version = 1
        [[rules]]
        id = "only-ok"
        events = ["urllib.Request"]
        action = "allow"
        when = { host = ["ok.test"] }
        [[rules]]
        id = "rest"
        events = ["urllib.Request"]
        action = "deny"
    """, """
        import urllib.parse
        for url in ["http://ok.test/a", "http://ok.test:99999/", "http://other.test/"]:
            attempt(url, lambda: sys.audit("urllib.Request", url, None, {}, "GET"))  # urlopen's event
    """)
    assert outcomes == {"http://ok.test/a": "ran", "http://ok.test:99999/": "denied",
                        "http://other.test/": "denied"}


def test_port_conditions_in_c(tp):
    outcomes, r = _run(tp, """
        version = 1
        [[rules]]
        id = "high-ports"
        events = ["socket.connect", "socket.getaddrinfo"]
        action = "deny"
        when = { port = [25, "9000-9010"] }
    """, """
        import socket
        for port in [25, 9000, 9005, "9010", 9011, 80, "http"]:
            attempt(f"port {port}", lambda: socket.getaddrinfo("localhost", port, type=socket.SOCK_STREAM))
    """)
    assert outcomes == {"port 25": "denied", "port 9000": "denied", "port 9005": "denied", "port 9010": "denied",
                        "port 9011": "ran", "port 80": "ran", "port http": "denied"}  # a service name: unknown
    assert {rec["rule"] for rec in r.events("socket.getaddrinfo") if rec["action"] == "deny"} == {"high-ports"}


def test_executable_conditions_find_a_bare_name_on_path(tp):
    bin_dir = tp.cwd / "bin"
    bin_dir.mkdir()
    tool = bin_dir / "mytool"
    tool.write_text("#!/bin/sh\necho tool\n")
    tool.chmod(0o755)
    (bin_dir / "alias").symlink_to(tool)
    outcomes, r = _run(tp, f"""
        version = 1
        [[rules]]
        id = "no-tool"
        events = ["subprocess.Popen", "os.exec", "os.posix_spawn", "os.system"]
        action = "deny"
        when = {{ executable = ["{tool}", "cat"] }}
    """, f"""
        import os, subprocess
        env = dict(os.environ, PATH="{bin_dir}:" + os.environ["PATH"])
        attempt("bare name on the event's PATH", lambda: subprocess.run(["mytool"], env=env))
        attempt("a link to it", lambda: subprocess.run(["{bin_dir}/alias"]))
        attempt("relative from cwd", lambda: subprocess.run(["./mytool"], cwd="{bin_dir}"))
        attempt("cat by basename", lambda: subprocess.run(["cat", "/dev/null"]))
        attempt("cat through the shell", lambda: subprocess.run("cat /dev/null", shell=True))
        attempt("os.system cat", lambda: os.system("cat /dev/null"))
        attempt("true", lambda: subprocess.run(["true"]))
        os.environ["PATH"] = "{bin_dir}:" + os.environ["PATH"]
        attempt("bare name on our PATH", lambda: subprocess.run(["mytool"]))
    """)
    assert outcomes == {"bare name on the event's PATH": "denied", "a link to it": "denied",
                        "relative from cwd": "denied", "cat by basename": "denied",
                        "cat through the shell": "denied", "os.system cat": "denied", "true": "ran",
                        "bare name on our PATH": "denied"}, outcomes
    assert {rec["rule"] for rec in r.actions("deny")} == {"no-tool"}


def test_module_conditions_name_the_responsible_module(tp):
    pkg = tp.cwd / "vendored"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "net.py").write_text("import os\ndef listing():\n    return os.listdir('.')\n")
    outcomes, r = _run(tp, """
        version = 1
        [[rules]]
        id = "vendored-no-listing"
        events = ["os.listdir"]
        action = "deny"
        when = { module = ["vendored.*"] }
    """, """
        import os, glob
        from vendored import net
        attempt("vendored", net.listing)
        attempt("main", lambda: os.listdir("."))
        attempt("stdlib for main", lambda: glob.glob("*"))  # the stdlib frame is not responsible
    """)
    assert outcomes == {"vendored": "denied", "main": "ran", "stdlib for main": "ran"}
    denied = [rec for rec in r.events("os.listdir") if rec["action"] == "deny"]
    assert denied and {rec["rule"] for rec in denied} == {"vendored-no-listing"}
    assert {rec["module"] for rec in denied} == {"vendored.net"}


@pytest.mark.parametrize("pattern, denied, allowed", [
    (r"secret(?=\d)", "secret7", "secretx"),             # lookahead
    (r"(\w)\1\1", "aaa", "aba"),                         # a backreference
    (r"\bkey\b", "my key", "mykey"),                      # word boundaries
    (r"\p{Greek}", "αβγ", "abc"),                         # a Unicode property
    (r"(?i)^\[\"README", "readme", "notes"),              # an inline flag
    (r"\d{3}", "file123", "file12"),
])
def test_arg_patterns_are_pcre2(tp, pattern, denied, allowed):
    outcomes, r = _run(tp, f"""
        version = 1
        custom_events = ["myapp.check"]
        [[rules]]
        id = "named"
        events = ["myapp.check"]
        action = "deny"
        when = {{ arg = ['{pattern}'] }}
    """, f"""
        attempt("denied", lambda: sys.audit("myapp.check", {denied!r}))
        attempt("allowed", lambda: sys.audit("myapp.check", {allowed!r}))
    """)
    assert outcomes == {"denied": "denied", "allowed": "ran"}
    assert [rec["rule"] for rec in r.actions("deny")] == ["named"]


def test_a_pattern_pcre2_refuses_is_one_line_naming_the_rule(tp):
    tp.policy("""
        version = 1
        [[rules]]
        id = "broken"
        events = ["open"]
        action = "deny"
        when = { arg = ['(?<=a+)b'] }
    """)
    r = tp.cli("policy", "check", "policy.toml")
    assert_one_line_error(r, "rule 'broken'", "bad regex", "lookbehind assertion is not fixed length")
    tp.script("print('ran')\n")
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert_one_line_error(r, "rule 'broken'", "lookbehind assertion is not fixed length")


STUBS = """
import sys

class Stub:
    def __init__(self, *a, **k):
        pass
    def __call__(self, *a, **k):
        return None
    def __getattr__(self, name):
        return Stub()
    def __bool__(self):
        return False
    def __iter__(self):
        return iter(())

def stub(*a, **k):
    return None

ALLOWING = {"event_host_port": lambda *a, **k: ("example.org", 443), "event_executables": lambda *a, **k: [],
            "event_paths": lambda *a, **k: [], "is_write": lambda *a, **k: False, "parse_address": stub}
replaced = 0
for name in ("tpython.engine.facts", "tpython.engine.rules", "tpython.policy.argregex"):
    module = sys.modules.get(name)
    if module is None:
        continue
    for attr, value in list(vars(module).items()):
        if attr.startswith("__") or not callable(value):
            continue
        setattr(module, attr, ALLOWING.get(attr, Stub if isinstance(value, type) else stub))
        replaced += 1
print("replaced", replaced)
"""


def test_the_python_engine_stubbed_out_changes_no_decision(tp):
    """The attack of issue 19: every function and class of the Python engine's condition
    code replaced through sys.modules. C decides, so every denial still holds and is
    recorded."""
    bin_dir = tp.cwd / "bin"
    bin_dir.mkdir()
    (bin_dir / "tool").write_text("#!/bin/sh\necho tool\n")
    os.chmod(bin_dir / "tool", 0o755)
    pkg = tp.cwd / "vendored"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("import os\ndef listing():\n    return os.listdir('.')\n")
    policy = """
        version = 1
        [[rules]]
        id = "c-host"
        events = ["socket.getaddrinfo"]
        action = "deny"
        when = { host = ["127.0.0.0/8"] }
        [[rules]]
        id = "c-port"
        events = ["socket.connect"]
        action = "deny"
        when = { port = ["9000-9100"] }
        [[rules]]
        id = "c-exe"
        events = ["subprocess.Popen"]
        action = "deny"
        when = { executable = ["tool"] }
        [[rules]]
        id = "c-module"
        events = ["os.listdir"]
        action = "deny"
        when = { module = ["vendored"] }
        [[rules]]
        id = "c-arg"
        events = ["open"]
        action = "deny"
        when = { arg = ['secret(?=\\d)'] }
        [[rules]]
        id = "c-path"
        events = ["open"]
        action = "deny"
        when = { path = ["{cwd}/private/**"], write = true }
    """
    body = f"""
        import os, socket, subprocess
        import vendored
        env = dict(os.environ, PATH="{bin_dir}:" + os.environ["PATH"])
        os.makedirs("private", exist_ok=True)
        s = socket.socket()
        s.settimeout(0.2)
        attempt("host", lambda: socket.getaddrinfo("127.1", 80))
        attempt("port", lambda: s.connect(("127.0.0.1", 9050)))
        attempt("exe", lambda: subprocess.run(["tool"], env=env))
        attempt("module", vendored.listing)
        attempt("arg", lambda: open("secret1", "w"))
        attempt("path", lambda: open("private/x", "w"))
    """
    checks = ["host", "port", "exe", "module", "arg", "path"]
    outcomes, _ = _run(tp, policy, body, stubbed=False)
    assert outcomes == {c: "denied" for c in checks}, outcomes  # the policy denies them all
    outcomes, r = _run(tp, policy, body)
    assert {k: v for k, v in outcomes.items() if k in checks} == {c: "denied" for c in checks}, outcomes
    assert "replaced " in r.out and "replaced 0\n" not in r.out
    assert {rec["rule"] for rec in r.actions("deny")} == {f"c-{c}" for c in checks}


@pytest.mark.parametrize("action", ["kill", "ask"])
def test_a_condition_of_a_rule_c_hands_to_python_is_still_c_s(tp, action):
    tp.policy(f"""
        version = 1
        [[rules]]
        id = "stop-local"
        events = ["socket.getaddrinfo"]
        action = "{action}"
        when = {{ host = ["127.0.0.0/8"] }}
    """)
    tp.script(TRY + STUBS + "import socket\nattempt('local', lambda: socket.getaddrinfo('127.1', 80))\n")
    r = tp("run", "--quiet", "--policy", "policy.toml", "app.py", input="")
    assert "replaced " in r.out and "local ran" not in r.out, r.out
