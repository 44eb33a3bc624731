"""Build the C module tpython._native; tpython still installs if it cannot be built.

Metadata lives in pyproject.toml; this file only declares the extension.
`optional=True` makes setuptools warn and go on when there is no compiler or
no Python headers; tpython then runs the Python engine, reports the open_code
hook as unavailable (`tpython info`, `tpython.start`) and refuses policies that
require either. The USDT probe is compiled in when <sys/sdt.h> is present
(Debian: systemtap-sdt-dev).
"""
from setuptools import Extension, setup

NATIVE_SOURCES = ["src/tpython/native/module.c", "src/tpython/native/dispatch.c", "src/tpython/native/opencode.c"]

setup(ext_modules=[Extension("tpython._native", NATIVE_SOURCES, depends=["src/tpython/native/dispatch.h",
                                                                        "src/tpython/native/opencode.h",
                                                                        "src/tpython/native/probes.h"],
                             extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"],
                             optional=True)])
