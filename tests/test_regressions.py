"""Regressions found by running CPython's own test suite under tpython."""
from __future__ import annotations


def test_lazy_module_class_swap_does_not_crash(tp):
    """test_importlib's LazyLoader tests segfaulted: isinstance() in the hook ran the
    program's __getattribute__ (via __class__) while CPython was assigning __class__."""
    tp.script("""
    import sys, types, importlib.util as util
    class L:
        def create_module(self, spec): return None
        def exec_module(self, m): exec("attr = 1", m.__dict__)
    for i in range(50):
        spec = util.spec_from_loader("lz", util.LazyLoader(L()))
        m = types.ModuleType("lz"); m.__spec__ = spec; m.__loader__ = spec.loader
        spec.loader.exec_module(m)
        m.attr
    print("survived")
    """)
    r = tp("run", "app.py")
    assert r.rc == 0, r.err
    assert "survived" in r.out


def test_a_forked_child_can_fork_again(tp):
    """The at-fork handler held on to the parent's recorder lock: a child's own fork hung."""
    tp.script("""
    import os
    pid = os.fork()
    if pid == 0:
        pid2 = os.fork()
        if pid2 == 0:
            os._exit(0)
        os.waitpid(pid2, 0)
        print("child forked grandchild ok", flush=True)
        os._exit(0)
    os.waitpid(pid, 0)
    print("parent done")
    """)
    r = tp("run", "app.py", timeout=30)
    assert r.rc == 0, r.err
    assert "child forked grandchild ok" in r.out and "parent done" in r.out
    assert len(r.events("tpython.start")) == 3


def test_program_objects_are_not_asked_about_themselves(tp):
    """Rendering and conditions use only the real type: a lying __class__, __len__,
    __getitem__ or __bytes__ never runs inside the hook."""
    tp.script("""
    import os, socket
    calls = []
    class Liar(tuple):
        def __len__(self): calls.append("len"); return 2
        def __getitem__(self, i): calls.append("getitem"); return ("127.0.0.1", 9)[i]
    class B(bytes):
        def __bytes__(self): calls.append("bytes"); return b"/etc/passwd"
    class C:
        @property
        def __class__(self): calls.append("class"); return str
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.sendto(b"x", Liar(("127.0.0.1", 9)))
    open(B(b"x.txt"), "w").close()
    try:
        os.stat(C())
    except TypeError:
        pass
    print("calls", calls)
    """)
    r = tp("run", "app.py")
    assert r.rc == 0, r.err
    assert "calls []" in r.out
    sendto = r.events("socket.sendto")[0]
    assert sendto["args"][1] == ["127.0.0.1", 9]
