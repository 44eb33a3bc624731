"""A rule that could never fire is an error (issue 18, item 7): an event name neither in
the catalogue nor a glob matching one, unless it is the program's own (a namespace
CPython does not use, or declared in `custom_events`); a string where `events` needs
a list. Through `tpython policy check` and `tpython run`, as a user meets them."""
from __future__ import annotations

import pytest
from conftest import assert_one_line_error

from tpython.policy.catalog import EVENTS


def _rule_policy(events: str, top: str = "") -> str:
    return f"""
    version = 1
    {top}
    [[rules]]
    id = "r"
    events = {events}
    action = "deny"
    """


@pytest.mark.parametrize("events, closest", [
    ('["opne"]', "'open'"),
    ('["socket.conect"]', "'socket.connect'"),
    ('["sokcet.connect"]', "'socket.connect'"),   # a misspelt namespace is not a namespace of one's own
    ('["subproces.Popen"]', "'subprocess.Popen'"),
    ('["sokcet.*"]', "'socket.*'"),
    ('["open", "os.sytem"]', "'os.system'"),
])
def test_unknown_event_is_an_error_naming_the_closest(tp, events, closest):
    tp.policy(_rule_policy(events))
    r = tp.cli("policy", "check", "policy.toml")
    assert_one_line_error(r, "policy.toml:6: rule 'r': unknown event", f"did you mean {closest}?",
                          "custom_events")
    assert r.rc == 78


def test_unknown_event_refuses_the_run(tp):
    tp.policy(_rule_policy('["opne"]'))
    tp.script("print('ran')")
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert_one_line_error(r, "unknown event 'opne'", "did you mean 'open'?")
    assert r.out == "" and r.rc == 78


def test_glob_matching_no_event_is_an_error(tp):
    tp.policy(_rule_policy('["*.frobnicate"]'))
    r = tp.cli("policy", "check", "policy.toml")
    assert_one_line_error(r, "unknown event glob '*.frobnicate'")


def test_events_as_a_string_is_an_error(tp):
    tp.policy(_rule_policy('"open"'))
    r = tp.cli("policy", "check", "policy.toml")
    assert_one_line_error(r, "policy.toml:6: rule 'r': `events` must be a list, not the string 'open'",
                          'events = ["open"]')
    assert r.rc == 78


def test_catalogue_names_and_globs_pass(tp):
    tp.policy(_rule_policy('["open", "socket.*", "*", "ctypes.dl*", "os.sys?em", "sys.monitoring.register_callback"]'))
    r = tp.cli("policy", "check", "policy.toml")
    assert r.rc == 0, r.err


def test_builtin_profiles_pass(tp):
    for profile in ("default", "strict"):
        r = tp.cli("policy", "check", profile)
        assert r.rc == 0, r.err


def test_program_events_in_a_namespace_of_their_own_pass_and_fire(tp):
    """sys.audit("myapp.login") is legitimate: a dotted name whose namespace CPython does
    not use needs no declaration, and the rule naming it fires."""
    tp.policy(_rule_policy('["myapp.login", "acme.billing.*"]'))
    tp.script("""
    import sys
    try:
        sys.audit("myapp.login", "alice")
    except PermissionError as exc:
        print("denied:", exc)
    """)
    assert tp.cli("policy", "check", "policy.toml").rc == 0
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    assert "denied: tpython: myapp.login" in r.out
    assert r.events("myapp.login")[0]["rule"] == "r"


def test_custom_events_declares_any_other_name(tp):
    """A name without a namespace, one that looks like a misspelt CPython event, or a newer
    CPython's event this catalogue lacks: declared in custom_events (here in the file
    extended), a rule may name it, and it fires."""
    tp.policy("""
    version = 1
    extends = "default"
    custom_events = ["heartbeat", "sokcet.*", "os.newer_event"]
    """, name="base.toml")
    tp.policy("""
    version = 1
    extends = "base.toml"
    [[rules]]
    id = "r"
    events = ["heartbeat", "sokcet.connect", "os.newer_event"]
    action = "deny"
    """)
    tp.script("""
    import sys
    try:
        sys.audit("heartbeat")
    except PermissionError as exc:
        print("denied:", exc)
    """)
    r = tp.cli("policy", "check", "policy.toml")
    assert r.rc == 0, r.err
    r = tp("run", "--policy", "policy.toml", "app.py")
    assert r.rc == 0, r.err
    assert "denied: tpython: heartbeat" in r.out


def test_custom_events_after_a_table_says_where_it_belongs(tp):
    tp.policy(_rule_policy('["heartbeat"]') + 'custom_events = ["heartbeat"]\n')
    r = tp.cli("policy", "check", "policy.toml")
    assert_one_line_error(r, "unknown key 'custom_events'", "top-level key")


def test_custom_events_must_be_a_list(tp):
    tp.policy(_rule_policy('["open"]', top='custom_events = "heartbeat"'))
    r = tp.cli("policy", "check", "policy.toml")
    assert_one_line_error(r, "custom_events must be a list")


# -- the rule itself, over the whole catalogue ----------------------------------------

def declared_matcher(declared: list[str]):
    from tpython.policy.eventnames import declared_matcher

    return declared_matcher(declared)


def event_problem(name: str, declared):
    from tpython.policy.eventnames import event_problem

    return event_problem(name, declared)


def test_every_catalogue_event_is_accepted():
    never = declared_matcher([])
    assert [name for name in EVENTS if event_problem(name, never)] == []


@pytest.mark.parametrize("name", ["myapp.login", "myapp.*", "tpython.test.custom", "bench.record", "db.query",
                                  "osx.notify", "socks.connect", "requests.get"])
def test_namespaces_of_ones_own(name):
    assert event_problem(name, declared_matcher([])) is None


@pytest.mark.parametrize("name", ["opne", "heartbeat", "os.newer_event", "pickel.find_class", "shuitl.copyfile",
                                  "my*.login", "*.frobnicate"])
def test_refused_unless_declared(name):
    assert event_problem(name, declared_matcher([])) is not None
    assert event_problem(name, declared_matcher([name])) is None


def test_declared_globs_cover_names_and_names_cover_globs():
    assert event_problem("heartbeat", declared_matcher(["heart*"])) is None
    assert event_problem("hb*", declared_matcher(["hb1", "hb2"])) is None
    assert event_problem("hb*", declared_matcher(["xyz"])) is not None
