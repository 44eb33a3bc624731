"""Turning one run's concrete names into what stays the same from run to run.

Temporary names (``tmpk2j3x_9a``, ``pytest-7``, hash-named cache files),
process ids under ``/proc`` and ephemeral ports change every run; a
learned policy must allow them all and a diff must not report them as new.
"""
from __future__ import annotations

import os
import re
import tempfile
from typing import Optional, Union

_RANDOM = re.compile(r"(?=[^/]*\d)(?=[^/]*[A-Za-z])[A-Za-z0-9_\-]{6,}|[0-9a-fA-F]{12,}")


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


def component(name: str) -> str:
    """One path component, ``*`` when it looks made up for this run: a number, or a
    name of six or more letters and digits mixed (``tmpk2j3x_9a``, ``pytest-7``),
    keeping a file extension (``a1b2c3d4.json`` -> ``*.json``)."""
    if name.isdigit():
        return "*"
    stem, dot, ext = name.rpartition(".")
    if dot and stem and ext.isalpha() and _RANDOM.fullmatch(stem):
        return "*." + ext
    return "*" if _RANDOM.fullmatch(name) else name


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
        """PATH with run-specific components replaced, for comparing runs."""
        found = self._normal.get(path)
        if found is None:
            base, parts = self.split(path)
            found = "/".join([base] + [component(p) for p in parts])
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
            if component(part) != part:
                break
            kept.append(part)
        if not kept and base == "{cwd}" and len(parts) == 1:
            return "{cwd}/" + component(parts[0])
        return "/".join([base] + kept) + "/**"
