"""Where each audit event keeps its paths, and which events write.

Data only, shared by rendering (paths shown as text) and by the facts
that rule conditions test.
"""
from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Optional


# event -> positions of path arguments, and for each the position of its dir_fd.
PATH_ARGS: dict[str, tuple[tuple[int, Optional[int]], ...]] = {
    "open": ((0, None),),
    "os.rename": ((0, 2), (1, 3)),
    "os.link": ((0, 2), (1, 3)),
    "os.symlink": ((0, None), (1, 2)),
    "os.remove": ((0, 1),),
    "os.rmdir": ((0, 1),),
    "os.mkdir": ((0, 2),),
    "os.truncate": ((0, None),),
    "os.chmod": ((0, 2),),
    "os.chown": ((0, 3),),
    "os.utime": ((0, 3),),
    "os.chdir": ((0, None),),
    "os.listdir": ((0, None),),
    "os.scandir": ((0, None),),
    "os.setxattr": ((0, None),),
    "os.removexattr": ((0, None),),
    "os.getxattr": ((0, None),),
    "os.listxattr": ((0, None),),
    "os.chflags": ((0, None),),
    "os.lchflags": ((0, None),),
    "os.mkfifo": ((0, 2),),
    "os.mknod": ((0, 3),),
    "shutil.copyfile": ((0, None), (1, None)),
    "shutil.copymode": ((0, None), (1, None)),
    "shutil.copystat": ((0, None), (1, None)),
    "shutil.copytree": ((0, None), (1, None)),
    "shutil.move": ((0, None), (1, None)),
    "shutil.rmtree": ((0, None),),
    "shutil.chown": ((0, None),),
    "shutil.make_archive": ((0, None),),
    "shutil.unpack_archive": ((0, None), (1, None)),
    "glob.glob": ((0, None),),
    "glob.glob/2": ((0, None),),
    "ctypes.dlopen": ((0, None),),
    "sqlite3.connect": ((0, None),),
    "os.startfile": ((0, None),),
    "os.exec": ((0, None),),
    "os.posix_spawn": ((0, None),),
    "tempfile.mkstemp": ((0, None),),
    "tempfile.mkdtemp": ((0, None),),
}

# Symbolic links an event makes or gives a new name. The kernel resolves a relative link
# target from the directory the link is in, not from the working directory, so these
# paths are resolved from there (tpython.engine.facts.event_paths).
# event -> (position of the link's target text, position of the new link): os.symlink.
NEW_LINKS: dict[str, tuple[int, int]] = {"os.symlink": (0, 1)}
# event -> (position of an existing name, position of its new name): when the existing
# name is itself a symbolic link, the new name is one too, its target resolved from the
# new name's directory (os.rename and os.replace; os.link, which on Linux links the
# symbolic link itself). shutil's moves and copies raise these events for each link.
MOVED_LINKS: dict[str, tuple[int, int]] = {"os.rename": (0, 1), "os.link": (0, 1)}

# Events that change the file system whatever their arguments say.
WRITE_EVENTS = frozenset({
    "os.rename", "os.link", "os.symlink", "os.remove", "os.rmdir", "os.mkdir", "os.truncate",
    "os.chmod", "os.chown", "os.utime", "os.setxattr", "os.removexattr", "os.chflags",
    "os.lchflags", "os.mkfifo", "os.mknod", "shutil.copyfile", "shutil.copymode",
    "shutil.copystat", "shutil.copytree", "shutil.move", "shutil.rmtree", "shutil.chown",
    "shutil.make_archive", "shutil.unpack_archive", "tempfile.mkstemp", "tempfile.mkdtemp",
})

# Arguments that are text the program handed over as bytes: shown decoded, as paths are
# (os.system's command is an fsencoded bytes object; a digest of it would hide what ran).
TEXT_ARGS: dict[str, tuple[int, ...]] = {"os.system": (0,)}

# Arguments that are lists of paths (the program list of fork_exec).
PATH_LIST_ARGS: dict[str, tuple[int, ...]] = {"_posixsubprocess.fork_exec": (0,)}

# Where events keep the remote host and port (`host` and `port` conditions):
# event -> position of a socket address (a (host, port, ...) tuple, or an AF_UNIX path).
SOCKET_ADDRESS_ARGS: dict[str, int] = {"socket.connect": 1, "socket.bind": 1, "socket.sendto": 1,
                                       "socket.sendmsg": 1, "socket.getnameinfo": 0}
# event -> (position of the host, position of the port or None).
HOST_PORT_ARGS: dict[str, tuple[int, Optional[int]]] = {
    "socket.getaddrinfo": (0, 1), "socket.gethostbyname": (0, None), "socket.gethostbyaddr": (0, None),
    "http.client.connect": (1, 2), "ftplib.connect": (1, 2), "smtplib.connect": (1, 2), "poplib.connect": (1, 2),
    "imaplib.open": (1, 2), "nntplib.connect": (1, 2), "telnetlib.Telnet.open": (1, 2)}
# event -> position of a URL (its host and port as urllib.parse.urlsplit reads them).
URL_ARGS: dict[str, int] = {"urllib.Request": 0, "webbrowser.open": 0}

# Where events keep the programs they run (`executable` conditions):
# event -> (position of the program, of its argument list (whose first item names the
# program when that is None, and whose ("sh", "-c", command) names the command's
# program too), of its environment (its PATH), of its working directory); None: none.
PROGRAM_ARGS: dict[str, tuple[int, Optional[int], Optional[int], Optional[int]]] = {
    "subprocess.Popen": (0, 1, 3, 2), "os.exec": (0, None, 2, None), "os.posix_spawn": (0, None, 2, None),
    "os.spawn": (1, None, 3, None)}
# event -> position of a shell command: /bin/sh runs it, and the program its first word names.
SHELL_ARGS: dict[str, int] = {"os.system": 0}
# event -> position of a list of programs, tried in turn.
PROGRAM_LIST_ARGS: dict[str, int] = {"_posixsubprocess.fork_exec": 0}


def condition_facts() -> dict[str, tuple[tuple[object, ...], ...]]:
    """The tables above as tpython._native reads them: (event, position or None, ...) rows."""
    def rows(table: Mapping[str, object]) -> tuple[tuple[object, ...], ...]:
        return tuple((event, *(where if isinstance(where, tuple) else (where,))) for event, where in table.items())

    return {"socket_address": rows(SOCKET_ADDRESS_ARGS), "host_port": rows(HOST_PORT_ARGS), "url": rows(URL_ARGS),
            "programs": rows(PROGRAM_ARGS), "shell": rows(SHELL_ARGS), "program_lists": rows(PROGRAM_LIST_ARGS),
            "new_links": rows(NEW_LINKS)}

# Events whose arguments at these positions are source text (an excerpt and its digest).
SOURCE_ARGS: dict[str, tuple[int, ...]] = {"compile": (0,), "cpython.run_command": (0,), "exec": (0,)}

# The open flags that make an `open` a write.
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
