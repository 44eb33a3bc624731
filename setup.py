"""Build the one C module, tpython._opencode; tpython still installs if it cannot be built.

Metadata lives in pyproject.toml; this file only declares the extension.
`optional=True` makes setuptools warn and go on when there is no compiler or
no Python headers; tpython then reports the open_code hook as unavailable
(`tpython info`, `tpython.start`) and refuses policies that require it.
"""
from setuptools import Extension, setup

setup(ext_modules=[Extension("tpython._opencode", ["src/tpython/_opencode.c"], optional=True)])
