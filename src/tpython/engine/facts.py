"""What a rule condition can ask about one event: paths, write, host, port, executable.

Each fact is extracted from the event's arguments per event kind, without
running the program's code (see :mod:`tpython.engine.plain`). Unknown
facts are ``None``; conditions then decide conservatively.
"""
from __future__ import annotations

import os

from tpython._native import inet_aton, is_ipv6
from tpython.engine.eventargs import (
    HOST_PORT_ARGS,
    MOVED_LINKS,
    NEW_LINKS,
    PATH_ARGS,
    PROGRAM_ARGS,
    PROGRAM_LIST_ARGS,
    SHELL_ARGS,
    SOCKET_ADDRESS_ARGS,
    URL_ARGS,
    WRITE_EVENTS,
)
from tpython.engine.plain import exact_str, isa, path_text, plain_bytes, plain_seq

TYPE_CHECKING = False
if TYPE_CHECKING:
    import ipaddress
    from typing import Any, Optional


from tpython.engine.eventargs import WRITE_FLAGS  # noqa: E402

_SOCKET_ADDRESS = SOCKET_ADDRESS_ARGS
_HOST_PORT = HOST_PORT_ARGS
_URL_ARG = URL_ARGS


# urllib.parse.urlsplit, taken from the module the moment it is first imported (see
# trust_urllib_parse), before the program can reach it: tpython itself does not import it.
_URLSPLIT: list[Any] = []


def trust_urllib_parse(module: Any) -> None:
    """Take urlsplit from a freshly imported urllib.parse (tpython's import patch)."""
    split = module.__dict__.get("urlsplit")
    if callable(split) and not _URLSPLIT:
        _URLSPLIT.append(split)


def _cwd() -> Optional[str]:
    """The working directory; once it has been removed, where it was (the kernel still
    resolves ".." from it); None when neither can be known."""
    try:
        return os.getcwd()
    except OSError:
        pass
    try:
        link = os.readlink("/proc/self/cwd")
    except OSError:
        return None
    if link.endswith(" (deleted)"):
        link = link[:-len(" (deleted)")]
    return link if link.startswith("/") else None


def _joined(text: str, dir_fd: object) -> Optional[str]:
    """TEXT made absolute from its dir_fd or the working directory, not normalised: the
    kernel walks `..` from where a symbolic link before it leads, and so does realpath."""
    if not os.path.isabs(text):
        base = None
        if type(dir_fd) is int and 0 <= dir_fd < 1 << 31:
            try:
                base = os.readlink(f"/proc/self/fd/{dir_fd}")
            except OSError:
                base = None
        if base is None:
            base = _cwd()
            if base is None:
                return None
        text = os.path.join(base, text)
    return text


def _abspath(text: str, dir_fd: object) -> Optional[str]:
    joined = _joined(text, dir_fd)
    return None if joined is None else os.path.normpath(joined)


def _add_candidates(found: list[str], absolute: str, walked: str) -> None:
    """ABSOLUTE (a normalised path), then the real path of WALKED (the same place as the
    kernel finds it) when that differs."""
    found.append(absolute)
    if "\0" in walked:  # names no file (the call fails); realpath would raise
        return
    real = os.path.realpath(walked)
    if real != absolute:
        found.append(real)


def _add_link_target(found: list[str], target: str, link: str) -> None:
    """Where a symbolic link at LINK (absolute, as given) whose text is TARGET points: a
    relative target from the link's directory, not from the working directory."""
    if os.path.isabs(target):
        _add_candidates(found, os.path.normpath(target), target)
        return
    lexical = os.path.join(os.path.dirname(os.path.normpath(link)), target)
    _add_candidates(found, os.path.normpath(lexical), os.path.join(os.path.dirname(link), target))


def _add_links(found: list[str], event: str, args: tuple[Any, ...], joined: dict[int, str]) -> bool:
    """The targets of the symbolic links EVENT makes or renames (eventargs.NEW_LINKS,
    MOVED_LINKS), given the absolute paths of its path arguments by position. False when
    a new link's place is unknown."""
    if event in NEW_LINKS:
        target_pos, link_pos = NEW_LINKS[event]
        target = path_text(args[target_pos]) if target_pos < len(args) and args[target_pos] is not None else None
        if target is not None:
            if link_pos not in joined:
                return False
            _add_link_target(found, target, joined[link_pos])
    if event in MOVED_LINKS:
        source_pos, link_pos = MOVED_LINKS[event]
        if source_pos in joined and link_pos in joined and "\0" not in joined[source_pos]:
            try:
                target = os.readlink(joined[source_pos])  # a symbolic link moves (or links) as itself
            except OSError:
                return True
            _add_link_target(found, target, joined[link_pos])
    return True


_ROOT = os.stat("/")
_ROOT_ID = (_ROOT.st_dev, _ROOT.st_ino)  # the root directory as it was at start


def _root_changed() -> bool:
    """True after a chroot (which raises no audit event): paths no longer mean what they say."""
    try:
        st = os.stat("/")
    except OSError:
        return True
    return (st.st_dev, st.st_ino) != _ROOT_ID


def event_paths(event: str, args: tuple[Any, ...]) -> Optional[list[str]]:
    """Candidate paths: each path argument made absolute, and its symlinks resolved.

    None when the event has a path argument whose value cannot be known
    (an object of the program's own type, or any path after a chroot).
    """
    spec = PATH_ARGS.get(event)
    if spec is None:
        if event in _SOCKET_ADDRESS and len(args) > _SOCKET_ADDRESS[event]:
            addr = args[_SOCKET_ADDRESS[event]]
            if isa(addr, (str, bytes)):  # AF_UNIX
                spec, args = ((0, None),), (addr,)
        if spec is None:
            return []
    if _root_changed():
        return None
    found: list[str] = []
    joined: dict[int, str] = {}
    link_target = NEW_LINKS[event][0] if event in NEW_LINKS else None
    for pos, fd_pos in spec:
        if pos >= len(args) or args[pos] is None:
            continue
        text = path_text(args[pos])
        if text is None:
            return None
        if pos == link_target:  # resolved from the link's directory (_add_links)
            continue
        if text.startswith("\0"):  # abstract unix socket
            found.append(text)
            continue
        dir_fd = args[fd_pos] if fd_pos is not None and fd_pos < len(args) else None
        where = _joined(text, dir_fd)
        if where is None:
            return None
        joined[pos] = where
        _add_candidates(found, os.path.normpath(where), where)
    if not _add_links(found, event, args, joined):
        return None
    return found


def is_write(event: str, args: tuple[Any, ...]) -> bool:
    """True when the event writes, appends, creates or truncates."""
    if event == "open":
        mode = args[1] if len(args) > 1 else None
        flags = args[2] if len(args) > 2 else 0
        if type(flags) is int and flags & WRITE_FLAGS:
            return True
        text = exact_str(mode)
        return text is not None and any(c in text for c in "wax+")
    return event in WRITE_EVENTS


def _host_text(value: object) -> Optional[str]:
    data = plain_bytes(value)
    if data is not None:  # the resolver gets these bytes as they are
        value = data.decode("ascii", "replace")
    text = exact_str(value)
    return None if text is None else text.strip().rstrip(".").lower()


def event_host_port(event: str, args: tuple[Any, ...]) -> tuple[Optional[str], Optional[int]]:
    """The remote host (name or address text) and port an event names, if any."""
    host: object = None
    port: object = None
    if event in _SOCKET_ADDRESS:
        pos = _SOCKET_ADDRESS[event]
        addr = args[pos] if pos < len(args) else None
        seq = plain_seq(addr) if isa(addr, tuple) else None
        if seq is not None and len(seq) >= 2:
            host, port = seq[0], seq[1]
        elif seq is not None and len(seq) == 1:
            host = seq[0]
    elif event in _HOST_PORT:
        hpos, ppos = _HOST_PORT[event]
        host = args[hpos] if hpos < len(args) else None
        port = args[ppos] if ppos is not None and ppos < len(args) else None
    elif event in _URL_ARG:
        url = exact_str(args[_URL_ARG[event]]) if args else None
        if url and _URLSPLIT:  # (without urllib.parse no urllib event was raised by urllib)
            try:
                parts = _URLSPLIT[0](url)
                host, port = parts.hostname, parts.port
            except ValueError:
                host = None
    host_text = _host_text(host) if host is not None else None
    port_num: Optional[int] = None
    port_text = exact_str(port)
    if type(port) is int:
        port_num = port
    elif port_text is not None and port_text.isascii() and port_text.isdigit():  # a service name otherwise
        try:
            port_num = int(port_text)
        except ValueError:  # more digits than int() reads
            port_num = None
    return host_text, port_num


_LEGACY_IPV4_CHARS = frozenset("0123456789abcdefABCDEFx.")


def _ipv4_packed(text: str) -> Optional[bytes]:
    """TEXT as the C library reads an IPv4 address, legacy forms included (127.1, 0x7f.1)."""
    if not text or not set(text) <= _LEGACY_IPV4_CHARS or not any(c.isdigit() for c in text):
        return None
    return inet_aton(text)


def is_address(host: str) -> bool:
    """Whether HOST is an IP address (nothing to resolve); as :func:`parse_address`
    decides, without the `ipaddress` module (for the socket guards, which run in
    every program that opens a socket)."""
    text = host.split("%", 1)[0].strip("[]")
    return is_ipv6(text) or _ipv4_packed(text) is not None


def parse_address(host: str) -> Optional[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """HOST as an IP address, accepting the legacy IPv4 forms the C library accepts (127.1, 0x7f.1).
    Only `host` conditions call it; the rules import `ipaddress` when they compile one."""
    import ipaddress

    text = host.split("%", 1)[0].strip("[]")
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        packed = _ipv4_packed(text)
        if packed is None:
            return None
        addr = ipaddress.IPv4Address(packed)
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    return addr


def _which(name: str, env: object, cwd: Optional[str] = None) -> Optional[str]:
    """Resolve NAME the way exec*p would, with the PATH of ENV (or ours), from the
    directory CWD when the launch gives one (a relative name or PATH entry is found
    from there, where the new program starts), else from ours."""
    if "/" in name:
        return _abspath(_from(cwd, name), None)
    path_value = None
    if isa(env, dict):  # read with dict's own methods and keys as plain text: no code of the program runs
        as_text = as_bytes = None
        for key, value in list(dict.items(env)):
            if exact_str(key) == "PATH":
                as_text = (value,)
            elif plain_bytes(key) == b"PATH":
                as_bytes = (value,)
        for found in (as_text, as_bytes):  # b"PATH" over "PATH", as before
            if found is not None:
                path_value = path_text(found[0])
    if path_value is None:
        path_value = os.environ.get("PATH", os.defpath)
    for directory in path_value.split(os.pathsep):
        candidate = _from(cwd, os.path.join(directory or ".", name))
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return _abspath(candidate, None)
    return None


def _from(cwd: Optional[str], path: str) -> str:
    """PATH as seen from the directory CWD (None: ours)."""
    return path if cwd is None or os.path.isabs(path) else os.path.join(cwd, path)


def _first_word(command: str) -> Optional[str]:
    words = command.strip().split()
    return words[0] if words else None


def event_executables(event: str, args: tuple[Any, ...], cwd: Optional[str] = None) -> Optional[list[str]]:
    """Programs an event would run: as named, as resolved on PATH, and with symlinks resolved;
    relative names are found from CWD (subprocess.Popen: its own cwd argument), else from ours.

    None when the program cannot be known from the arguments.
    """
    names: list[str] = []
    env: object = None

    def arg(pos: Optional[int]) -> Any:
        return args[pos] if pos is not None and pos < len(args) else None

    if event in PROGRAM_ARGS:  # eventargs.PROGRAM_ARGS: program, argument list, environment, cwd
        exe_pos, argv_pos, env_pos, cwd_pos = PROGRAM_ARGS[event]
        exe, argv, env, given = arg(exe_pos), arg(argv_pos), arg(env_pos), arg(cwd_pos)
        if given is not None:
            cwd = path_text(given)
            if cwd is None:  # a directory only the program's own code could name: nothing is known
                return None
        seq = plain_seq(argv)
        if seq is not None:
            argv = seq
        first = exe if exe is not None or argv_pos is None else (argv[0] if isa(argv, tuple) and argv else argv)
        text = path_text(first)
        if text is None:
            return None
        names.append(text)
        if isa(argv, tuple) and len(argv) >= 3 and path_text(argv[1]) == "-c":
            shell_cmd = path_text(argv[2])  # shell=True: the command's own program too
            word = _first_word(shell_cmd) if shell_cmd else None
            if word:
                names.append(word)
    elif event in SHELL_ARGS:
        names.append("/bin/sh")
        command = path_text(arg(SHELL_ARGS[event]))
        word = _first_word(command) if command else None
        if word:
            names.append(word)
    elif event in PROGRAM_LIST_ARGS:
        exes = plain_seq(arg(PROGRAM_LIST_ARGS[event]))
        if exes is None:
            return None
        for exe in exes:
            text = path_text(exe)
            if text is None:
                return None
            names.append(text)
    else:
        return []
    found: list[str] = []
    for name in names:
        found.append(name)
        resolved = _which(name, env, cwd)
        if resolved:
            found.append(resolved)
            real = os.path.realpath(resolved) if "\0" not in resolved else resolved  # NUL: the call fails
            if real != resolved:
                found.append(real)
    return found
