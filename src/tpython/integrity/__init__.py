"""Code integrity (SPEC 3): which files may run as code, and who vouches for them.

* :mod:`.hook` — the open_code hook's configuration and exceptions; the checks, the
  trust sources (a signed manifest, the spython xattr) and the audit hook's guard are
  tpython's C module's (``native/codecheck.c``, ``trust.c``, ``guard.c``).
* :mod:`.checks` — those checks on one file, for `tpython trust check`.
* :mod:`.kernel` — what the kernel says (``AT_EXECVE_CHECK``, securebits).
* :mod:`.keys`, :mod:`.manifest`, :mod:`.xattrs`, :mod:`.walk` — the tools behind `tpython trust`.
"""

