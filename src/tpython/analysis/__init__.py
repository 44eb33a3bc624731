"""Log analysis: `tpython report`, `tpython learn` and `tpython diff`, all streaming."""
