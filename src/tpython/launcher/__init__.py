"""The launcher: `tpython run` starts the target in a hardened interpreter."""
