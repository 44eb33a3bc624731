"""Build the C module tpython._native; tpython still installs if it cannot be built.

Metadata lives in pyproject.toml; this file only declares the extension.
`optional=True` makes setuptools warn and go on when there is no compiler or
no Python headers; tpython then runs the Python engine, reports the open_code
hook as unavailable (`tpython info`, `tpython.start`) and refuses policies that
require either. The USDT probe is compiled in when <sys/sdt.h> is present
(Debian: systemtap-sdt-dev). SHA-256 (the record chain, code digests) comes
from GNU Nettle (Debian: nettle-dev to build, libnettle8 to run), which loads
in a fraction of the time OpenSSL's libcrypto takes at every start.
"""
from setuptools import Extension, setup

NATIVE = "src/tpython/native/"
NATIVE_SOURCES = [NATIVE + name for name in ("module.c", "dispatch.c", "record.c", "render.c", "attrib.c",
                                             "opencode.c", "kernel.c", "conditions.c", "spawn.c", "regex.c",
                                             "literals.c", "net.c")]
NATIVE_HEADERS = [NATIVE + name for name in ("dispatch.h", "record.h", "render.h", "attrib.h", "opencode.h",
                                             "kernel.h", "conditions.h", "probes.h", "spawn.h", "regex.h",
                                             "literals.h", "net.h")]

setup(ext_modules=[Extension("tpython._native", NATIVE_SOURCES, depends=NATIVE_HEADERS,
                             libraries=["nettle"],  # SHA-256 (GNU Nettle)
                             extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
                             optional=True)])
