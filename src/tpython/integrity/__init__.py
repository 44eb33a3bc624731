"""Code integrity (SPEC 3): which files may run as code, and who vouches for them.

* :mod:`.checks` — the checks on one file's bytes, in SPEC order.
* :mod:`.kernel` — what the kernel says (noexec mounts, ``AT_EXECVE_CHECK``, securebits).
* :mod:`.sources` — trust sources: a signed manifest, the spython xattr.
* :mod:`.keys`, :mod:`.manifest`, :mod:`.xattrs`, :mod:`.walk` — the tools behind `tpython trust`.
"""

DEFAULT_MAX_SIZE = 64 * 1024 * 1024  # the largest file read as code, unless [integrity] max_size is set
