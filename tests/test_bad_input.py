"""Every user mistake is one clear line, a non-zero status, and no traceback."""
from __future__ import annotations

import os

import pytest
from conftest import assert_one_line_error

BAD_POLICIES = {
    "malformed": ('version = 1\n[[rules]\nid = "x"\n', ["not valid TOML"]),
    "unknown action": ('version = 1\n[[rules]]\nid = "r1"\nevents = ["open"]\naction = "explode"\n',
                       ["policy.toml:5", "rule 'r1'", "unknown action 'explode'"]),
    "bad cidr": ('version = 1\n[[rules]]\nid = "net"\nevents = ["socket.connect"]\naction = "deny"\n'
                 'unless = { host = ["10.0.0.300/8"] }\n', ["policy.toml:6", "rule 'net'", "bad CIDR"]),
    "unknown condition key": ('version = 1\n[[rules]]\nid = "c"\nevents = ["open"]\naction = "deny"\n'
                              'when = { hots = ["x"] }\n',
                              ["policy.toml:6", "rule 'c'", "unknown condition key 'hots'"]),
    "unknown top key": ('version = 1\nrulez = []\n', ["policy.toml:2", "unknown key 'rulez'"]),
    "bad regex": ('version = 1\n[[rules]]\nid = "a"\nevents = ["open"]\naction = "deny"\n'
                  'when = { arg = ["(unclosed"] }\n', ["rule 'a'", "bad regex", "missing closing parenthesis"]),
    "bad glob": ('version = 1\n[[rules]]\nid = "g"\nevents = ["open"]\naction = "deny"\n'
                 'when = { path = ["/etc/[abc"] }\n', ["rule 'g'", "unclosed '['"]),
    "missing id": ('version = 1\n[[rules]]\nevents = ["open"]\naction = "deny"\n', ["missing `id`"]),
    "bad port": ('version = 1\n[[rules]]\nid = "p"\nevents = ["socket.connect"]\naction = "deny"\n'
                 'when = { port = [70000] }\n', ["rule 'p'", "out of range"]),
    "wrong version": ('version = 2\n', ["unsupported policy version"]),
    "bad mode": ('version = 1\nmode = "yolo"\n', ["mode must be one of"]),
    "bad launch kind": ('version = 1\n[launch]\nallow = ["file", "everything"]\n', ["[launch] allow"]),
    "extends loop": ('version = 1\nextends = "policy.toml"\n', ["loops back"]),
    "missing extends": ('version = 1\nextends = "nowhere.toml"\n', ["'nowhere.toml' not found"]),
    "unknown sink in policy": ('version = 1\n[log]\nsinks = ["kafka://x"]\n', ["unknown sink 'kafka://x'"]),
    "require without a source": ('version = 1\n[integrity]\nrequire = true\n', ["require = true needs a manifest"]),
    "integrity type": ('version = 1\n[integrity]\nxattr = "yes"\n', ["policy.toml:3", "xattr must be true or false"]),
    "integrity size": ('version = 1\n[integrity]\nmax_size = -1\n', ["max_size must be a positive number"]),
    "bad facility": ('version = 1\n[log]\nfacility = "lokal0"\n', ["policy.toml:3", "[log] facility must be one of"]),
    "bad app name": ('version = 1\n[log]\napp_name = "two words"\n', ["policy.toml:3", "[log] app_name must be"]),
    "relative syslog socket": ('version = 1\n[log]\nsyslog_socket = "dev/log"\n',
                               ["policy.toml:3", "syslog_socket must be an absolute path"]),
    "tiny rotate_bytes": ('version = 1\n[log]\nrotate_bytes = 10\n',
                          ["policy.toml:3", "rotate_bytes must be a whole number of at least 1024"]),
    "bad on_sink_failure": ('version = 1\n[log]\non_sink_failure = "panic"\n',
                            ["policy.toml:3", 'on_sink_failure must be "continue" or "fail-closed"']),
}


@pytest.mark.parametrize("name", sorted(BAD_POLICIES))
def test_bad_policy_refused_before_target_runs(tp, name):
    text, needles = BAD_POLICIES[name]
    tp.policy(text)
    tp.script("print('target ran')")
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert_one_line_error(r, *needles)
    assert r.rc == 78
    assert "target ran" not in r.out
    check = tp.cli("policy", "check", "policy.toml")
    assert_one_line_error(check, *needles)


def test_missing_policy_file(tp):
    tp.script("print('target ran')")
    r = tp("run", "--policy", "missing.toml", "app.py")
    assert_one_line_error(r, "'missing.toml' not found")


def test_unknown_profile_name_hints_at_profiles(tp):
    r = tp("run", "--policy", "stricter", "app.py")
    assert_one_line_error(r, "built-in profiles: default, strict")


def test_unwritable_log_path_refused_before_target_starts(tp):
    tp.script("open('side-effect.txt', 'w').write('x')")
    r = tp("run", "--log", "jsonl:/proc/no/such/dir/audit.jsonl", "app.py")
    assert_one_line_error(r, "cannot open log /proc/no/such/dir/audit.jsonl")
    assert r.rc == 78
    assert not (tp.cwd / "side-effect.txt").exists()


def test_log_path_that_is_a_directory(tp):
    tp.script("print('x')")
    r = tp("run", "--log", f"jsonl:{tp.cwd}", "app.py")
    assert_one_line_error(r, "cannot open log")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to make a read-only file that root cannot write")
def test_read_only_log_file_refused(tp):
    import subprocess

    log = tp.cwd / "ro.jsonl"
    log.write_text("")
    subprocess.run(["chattr", "+i", str(log)], check=False)
    try:
        if os.access(log, os.W_OK) and subprocess.run(["lsattr", str(log)], capture_output=True,
                                                      text=True).stdout[:20].count("i") == 0:
            pytest.skip("chattr +i is not supported on this file system")
        tp.script("print('x')")
        r = tp("run", "--log", f"jsonl:{log}", "app.py")
        assert_one_line_error(r, "cannot open log")
    finally:
        subprocess.run(["chattr", "-i", str(log)], check=False)


@pytest.mark.parametrize("sink,needle", [
    ("kafka://broker:9092", "unknown sink"),
    ("jsonl:", "jsonl needs a path"),
    ("syslog+udp://nohost", "expected syslog+udp://HOST:PORT"),
    ("syslog+tcp://host:99999", "out of range"),
])
def test_unknown_or_malformed_sink(tp, sink, needle):
    tp.script("print('target ran')")
    r = tp("run", "--log", sink, "app.py")
    assert_one_line_error(r, needle)
    assert "target ran" not in r.out


def test_bad_run_options(tp):
    assert_one_line_error(tp("run", "--mode", "maybe", "app.py"), "--mode must be audit or enforce")
    assert_one_line_error(tp("run", "--frobnicate", "app.py"), "unknown option '--frobnicate'")
    assert_one_line_error(tp("run", "-m"), "-m needs an argument")


def test_verbose_shows_the_traceback(tp):
    tp.policy('version = 1\nmode = "yolo"\n')
    r = tp.cli("--verbose", "policy", "check", "policy.toml")
    assert r.rc == 78 and "Traceback" in r.err


def test_log_commands_on_missing_file(tp):
    assert_one_line_error(tp.cli("log", "verify", "nope.jsonl"), "cannot read log")
    assert_one_line_error(tp.cli("log", "show", "nope.jsonl"), "cannot read log")


def test_profile_cache_is_used_only_for_the_exact_text_and_never_trusted_when_broken(tmp_path):
    """The parsed built-in profiles are cached beside them (as byte code is); the cache
    is believed only for the very text it was made from, and ignored when unreadable."""
    import os

    from tpython.policy import profile_cache

    profile = tmp_path / "profiles" / "p.toml"
    profile.parent.mkdir()
    text = 'version = 1\n[defaults]\n"*" = "log"\n'
    profile.write_text(text)
    assert profile_cache.load(str(profile), text) is None  # nothing cached yet
    profile_cache.store(str(profile), text, {"version": 1, "defaults": {"*": "log"}})
    assert profile_cache.load(str(profile), text) == {"version": 1, "defaults": {"*": "log"}}
    assert profile_cache.load(str(profile), text + "# edited\n") is None  # stale: parsed again
    cache = next((profile.parent / "__pycache__").iterdir())
    cache.write_bytes(b"\x00garbage")
    assert profile_cache.load(str(profile), text) is None
    os.chmod(cache.parent, 0o500)  # unwritable: storing is skipped silently (root may still write)
    try:
        profile_cache.store(str(profile), text, {"version": 1})
    finally:
        os.chmod(cache.parent, 0o700)
    assert [p.name for p in cache.parent.iterdir() if p.name.endswith(".tmp")] == []


@pytest.mark.parametrize("profile", ["default", "strict"])
def test_builtin_profiles_load_the_same_with_and_without_their_caches(profile, monkeypatch):
    from tpython.policy import loader, profile_cache

    first = loader.load_policy(profile)  # from the merged cache, or made and then kept there
    assert profile_cache.cached_policy(profile) == first
    monkeypatch.setattr(profile_cache, "load_merged", lambda *args: None)  # validate and merge again
    assert loader.load_policy(profile) == first
    monkeypatch.setattr(profile_cache, "load", lambda path, text: None)  # and parse the TOML again
    assert loader.load_policy(profile) == first
    assert first.to_json() == loader.load_policy(profile).to_json()


def test_merged_profile_cache_holds_only_while_texts_placeholders_and_loader_code_are_unchanged(tmp_path):
    """The merged policy of a built-in profile is kept beside it; it is believed only for
    the very texts of its `extends` chain, the placeholder values it expanded and the
    loader code that made it, and ignored when unreadable or not what it should be."""
    from tpython.policy import profile_cache

    folder = tmp_path / "profiles"
    folder.mkdir()
    top, base, code = folder / "top.toml", folder / "base.toml", tmp_path / "loader.py"
    top.write_text('version = 1\nextends = "base"\n')
    base.write_text('version = 1\n[defaults]\n"*" = "log"\n')
    code.write_text("# the loader\n")
    chain = [(str(top), top.read_text()), (str(base), base.read_text())]
    data = {"name": "top", "rules": (("r", ("open",), "deny", {"path": ["{home}/x"]}, {}, "", "<top>:3"),)}

    def load(places: dict[str, list[str]] | None = None) -> object:
        return profile_cache.load_merged(str(top), [str(code)], places or {"home": ["/home/a"]})

    assert load() is None  # nothing kept yet
    profile_cache.store_merged(str(top), [str(code)], chain, {"home": ["/home/a"]}, data)
    assert load() == data
    assert load({"home": ["/home/b"]}) is None  # a placeholder has another value here
    base.write_text(chain[1][1] + "# edited\n")
    assert load() is None  # a file of the chain changed
    base.write_text(chain[1][1])
    assert load() == data
    cache = profile_cache.merged_path(str(top))
    with open(cache, "rb") as f:
        good = f.read()
    for broken in (b"\x00garbage", b"", good[: len(good) // 2]):
        with open(cache, "wb") as f:
            f.write(broken)
        assert load() is None
    with open(cache, "wb") as f:
        f.write(good)
    assert load() == data
    code.write_text("# the loader, changed\n")
    assert load() is None  # made by other code
    code.unlink()
    assert load() is None and profile_cache.store_merged(str(top), [str(code)], chain, {}, data) is None
