"""Turning one run's concrete names into what stays the same from run to run.

Temporary names (``tmpk2j3x_9a``, ``pytest-7``, hash-named cache files),
process ids (``/proc/4242``, ``app.4242.lock``), file descriptors
(``/proc/self/fd/7``), pipes and sockets opened by descriptor (``pipe:[1747542]``,
as ``/proc/self/fd`` names them) and ephemeral ports change every run; a
learned policy must allow them all and a diff must not report them as new.
:meth:`Places.normal` is the one normalisation both `tpython diff` and
`tpython learn` use: it gives a path glob (policy syntax) that matches the
path as any run would name it.
"""
from __future__ import annotations

import os
import re
import tempfile
from typing import Optional, Union

_RANDOM = re.compile(r"(?=[^/]*\d)(?=[^/]*[A-Za-z])[A-Za-z0-9_\-]{6,}|[0-9a-fA-F]{12,}")
# A file with no path, opened by descriptor: pipe:[1747542], socket:[1747543], anon_inode:[eventfd].
_FD_OBJECT = re.compile(r"([a-z_]+):\[[^/]*\]")
# tempfile's names: a prefix ("tmp" unless given), 8 of [a-z0-9_], a suffix ("" unless given).
_TEMPFILE = re.compile(r"tmp[a-z0-9_]{8}((?:\.[A-Za-z0-9]+)*)")
_TEMPFILE_IN_TMP = re.compile(r"(?:tmp|.*[^a-z0-9])?[a-z0-9_]{8}((?:\.[A-Za-z0-9]+)*)")
_NUMBER = re.compile(r"(?<![A-Za-z0-9])\d{3,}(?![A-Za-z0-9])")  # a pid or counter inside a name
_GLOB_SPECIAL = re.compile(r"([*?\[{])")
_DELETED = " (deleted)"  # how /proc/self/fd names a file removed while open


def glob_literal(text: str) -> str:
    """TEXT as a path glob that matches exactly itself."""
    return _GLOB_SPECIAL.sub(r"[\1]", text)


def ephemeral_ports() -> tuple[int, int]:
    """The kernel's range for ports it picks itself (net.ipv4.ip_local_port_range)."""
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range", encoding="ascii") as f:
            low, high = (int(x) for x in f.read().split())
        return low, high
    except (OSError, ValueError):
        return 32768, 60999


EPHEMERAL = ephemeral_ports()


def port_text(port: Optional[int]) -> str:
    """A port as a stable name: ephemeral ones as their range."""
    if port is None:
        return "any"
    return str(port_entry(port))


def port_entry(port: int) -> Union[int, str]:
    """A port as a policy `port` entry: itself, or the ephemeral range it is in."""
    low, high = EPHEMERAL
    return f"{low}-{high}" if low <= port <= high else port


def component(name: str, in_tmp: bool = False) -> str:
    """One path component as a glob matching it in every run: ``*`` when it looks made
    up for this run (a number; a name of tempfile's making, ``tmpab_cdefg``, or, in the
    temp directory IN_TMP, ``job-abcdefgh``; six or more letters and digits mixed,
    ``pytest-7``), keeping a file extension (``a1b2c3d4.json`` -> ``*.json``); a pipe or
    socket opened by descriptor as its kind (``pipe:[1747542]`` -> ``pipe:*``); a number
    of three or more digits inside a name as ``*`` (``app.4242.lock`` -> ``app.*.lock``);
    anything else as itself (glob characters escaped)."""
    if name.isdigit():
        return "*"
    fd_object = _FD_OBJECT.fullmatch(name)
    if fd_object:
        return fd_object.group(1) + ":*"
    temp = (_TEMPFILE_IN_TMP if in_tmp else _TEMPFILE).fullmatch(name)
    if temp:
        return "*" + glob_literal(temp.group(1))
    stem, dot, ext = name.rpartition(".")
    if dot and stem and ext.isalpha() and _RANDOM.fullmatch(stem):
        return "*." + glob_literal(ext)
    if _RANDOM.fullmatch(name):
        return "*"
    return "*".join(glob_literal(part) for part in _NUMBER.split(name))


class Places:
    """The well-known directories a path is written relative to: the run's working
    directory, the temp directory and the home directory, as policy placeholders."""

    def __init__(self, cwd: str, home: Optional[str] = None, tmp: Optional[str] = None) -> None:
        self.cwd = cwd.rstrip("/") or "/"
        self.home = (home or os.path.expanduser("~")).rstrip("/")
        self.tmp = (tmp or tempfile.gettempdir()).rstrip("/")
        self._normal: dict[str, str] = {}  # paths repeat (imports, data files): normal() is cached

    def split(self, path: str) -> tuple[str, list[str]]:
        """PATH as (placeholder, components below it), relative to the deepest of the
        three that holds it; the placeholder is ``""`` for the root."""
        best, base_len = "", 0
        for name, base in (("{tmp}", self.tmp), ("{cwd}", self.cwd), ("~", self.home)):
            if base != "/" and (path == base or path.startswith(base + "/")) and len(base) > base_len:
                best, base_len = name, len(base)
        return best, [p for p in path[base_len:].split("/") if p]

    def in_tmp(self, path: str) -> bool:
        """True when PATH is in the temp directory."""
        return path.startswith(self.tmp + "/")

    def in_work_area(self, path: str) -> bool:
        """True when PATH is in the working or the temp directory."""
        return any(path == base or path.startswith(base + "/") for base in (self.tmp, self.cwd) if base != "/")

    def normal(self, path: str) -> str:
        """PATH as a glob (policy syntax) matching it as every run names it: relative to
        the run's working, temp or home directory, run-specific names as ``*`` (see
        :func:`component`). `diff` compares runs by it; `learn` writes it into rules."""
        found = self._normal.get(path)
        if found is None:
            deleted = path.endswith(_DELETED)
            base, parts = self.split(path[: -len(_DELETED)] if deleted else path)
            in_tmp = base == "{tmp}"
            found = "/".join([base] + [component(p, in_tmp) for p in parts])
            if deleted:
                found += glob_literal(_DELETED)
            if len(self._normal) >= 100_000:
                self._normal.clear()
            self._normal[path] = found
        return found

    def directory_glob(self, path: str, depth: int = 2) -> str:
        """The directory a written PATH stands for, as a policy glob: anything in the
        temp directory is ``{tmp}/**``; elsewhere the first DEPTH directories below the
        working, home or root directory (stopping at the first run-specific one)."""
        if self.in_tmp(path):
            return "{tmp}/**"
        base, parts = self.split(path)
        if not parts:  # the directory itself (O_TMPFILE opens the temp directory for writing)
            return base or "/"
        dirs = parts[:-1]
        kept: list[str] = []
        for part in dirs[:depth if base else depth + 1]:
            literal = glob_literal(part)
            if component(part) != literal:
                break
            kept.append(literal)
        if not kept and base == "{cwd}" and not dirs:
            return "{cwd}/" + component(parts[0])
        if not kept and not base:  # never all of /: that file, or that made-up directory
            return "/" + component(parts[0]) + ("/**" if dirs else "")
        return "/".join([base] + kept) + "/**"
