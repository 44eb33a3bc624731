"""CPython's audit events: argument names, category and the version that added them.

Source: the CPython documentation's audit events table (library/audit_events)
and the CPython sources for 3.8-3.14. The table was read as built for 3.9, 3.11,
3.13 and 3.14 (both its generated part and its hand-written list of internal
events); argument names are those of the newest table that lists the event.
Events CPython raises without documenting them were found by scanning the 3.9
and 3.13 sources (``PySys_Audit``/``sys.audit`` calls) and the 3.14 standard
library and binaries; they are marked "undocumented" in a comment. Test-only
events (``_testembed.*``, ``test_event``) are left out.

``since`` is the first CPython minor version raising the event. Events the
3.8 branch gained in its bug-fix releases (3.8.1: winreg, extra ctypes events,
sys.excepthook/unraisablehook; 3.8.2: fcntl, msvcrt, os, pty, resource, shutil,
signal, syslog; later the gc events) count as "3.8", and the marshal events,
added in a 3.9 bug-fix release, count as "3.9". The versions were checked
against the strings in CPython 3.8.18, 3.9.18, 3.10.13, 3.11.7, 3.12.1, 3.13.0
and 3.14.10 builds and, for the gc and marshal events, by running them;
Windows-only events could not be checked that way and rest on the table and
the changelogs.

Windows-only events: everything under ``_winapi.``, ``winreg.`` and ``msvcrt.``,
plus the few others marked in a comment.
"""
from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import NamedTuple
else:
    from tpython.lean_typing import NamedTuple


class EventInfo(NamedTuple):
    """What tpython knows about one audit event."""

    args: tuple[str, ...]   # argument names, in order, as documented
    category: str           # one of CATEGORIES
    since: str              # first CPython version raising it, e.g. "3.8"


CATEGORIES: dict[str, str] = {
    "process": "creating, replacing or signalling processes",
    "network": "sockets, name resolution and network protocol clients",
    "file": "opening, listing, copying, changing or removing files and directories",
    "code": "compiling, executing or unmarshalling Python code",
    "import": "importing modules",
    "native": "native code and raw memory: ctypes, shared libraries, DLL search paths",
    "pickle": "unpickling, which can resolve and call arbitrary globals",
    "interpreter": "hooks, tracing, introspection and control of the running interpreter",
    "frequent": "high-frequency, low-risk events to count rather than log",
    "system": "the environment and host: env vars, input, limits, signals, syslog, registry",
    "other": "events that fit no other category",
}

EVENTS: dict[str, EventInfo] = {
    # Process: running programs, forking, and signalling or ending other processes.
    # internal (POSIX): the fork+exec behind subprocess.
    "_posixsubprocess.fork_exec": EventInfo(("exec_list", "args", "env"), "process", "3.14"),
    "_winapi.CreateProcess": EventInfo(
        ("application_name", "command_line", "current_directory"),
        "process",
        "3.8",
    ),
    "_winapi.OpenProcess": EventInfo(("process_id", "desired_access"), "process", "3.8"),
    "_winapi.TerminateProcess": EventInfo(("handle", "exit_code"), "process", "3.8"),
    "os.exec": EventInfo(("path", "args", "env"), "process", "3.8"),
    "os.fork": EventInfo((), "process", "3.8"),
    "os.forkpty": EventInfo((), "process", "3.8"),
    "os.kill": EventInfo(("pid", "sig"), "process", "3.8"),
    "os.killpg": EventInfo(("pgid", "sig"), "process", "3.8"),
    "os.posix_spawn": EventInfo(("path", "argv", "env"), "process", "3.8"),
    "os.spawn": EventInfo(("mode", "path", "args", "env"), "process", "3.8"),
    # Windows.
    "os.startfile": EventInfo(("path", "operation"), "process", "3.8"),
    # Windows.
    "os.startfile/2": EventInfo(
        ("path", "operation", "arguments", "cwd", "show_cmd"),
        "process",
        "3.10",
    ),
    "os.system": EventInfo(("command",), "process", "3.8"),
    "pty.spawn": EventInfo(("argv",), "process", "3.8"),
    "subprocess.Popen": EventInfo(("executable", "args", "cwd", "env"), "process", "3.8"),

    # Network: sockets, name lookups and the stdlib protocol clients.
    "ftplib.connect": EventInfo(("self", "host", "port"), "network", "3.8"),
    "ftplib.sendcmd": EventInfo(("self", "cmd"), "network", "3.8"),
    "http.client.connect": EventInfo(("self", "host", "port"), "network", "3.10"),
    "http.client.send": EventInfo(("self", "data"), "network", "3.10"),
    "imaplib.open": EventInfo(("self", "host", "port"), "network", "3.8"),
    "imaplib.send": EventInfo(("self", "data"), "network", "3.8"),
    # module removed in 3.13.
    "nntplib.connect": EventInfo(("self", "host", "port"), "network", "3.8"),
    # module removed in 3.13.
    "nntplib.putline": EventInfo(("self", "line"), "network", "3.8"),
    "poplib.connect": EventInfo(("self", "host", "port"), "network", "3.8"),
    "poplib.putline": EventInfo(("self", "line"), "network", "3.8"),
    "smtplib.connect": EventInfo(("self", "host", "port"), "network", "3.8"),
    "smtplib.send": EventInfo(("self", "data"), "network", "3.8"),
    "socket.__new__": EventInfo(("self", "family", "type", "protocol"), "network", "3.8"),
    "socket.bind": EventInfo(("self", "address"), "network", "3.8"),
    "socket.connect": EventInfo(("self", "address"), "network", "3.8"),
    "socket.getaddrinfo": EventInfo(
        ("host", "port", "family", "type", "protocol"),
        "network",
        "3.8",
    ),
    "socket.gethostbyaddr": EventInfo(("ip_address",), "network", "3.8"),
    "socket.gethostbyname": EventInfo(("hostname",), "network", "3.8"),
    "socket.gethostname": EventInfo((), "network", "3.8"),
    "socket.getnameinfo": EventInfo(("sockaddr",), "network", "3.8"),
    "socket.getservbyname": EventInfo(("servicename", "protocolname"), "network", "3.8"),
    "socket.getservbyport": EventInfo(("port", "protocolname"), "network", "3.8"),
    "socket.sendmsg": EventInfo(("self", "address"), "network", "3.8"),
    "socket.sendto": EventInfo(("self", "address"), "network", "3.8"),
    "socket.sethostname": EventInfo(("name",), "network", "3.8"),
    # module removed in 3.13.
    "telnetlib.Telnet.open": EventInfo(("self", "host", "port"), "network", "3.8"),
    # module removed in 3.13.
    "telnetlib.Telnet.write": EventInfo(("self", "buffer"), "network", "3.8"),
    "urllib.Request": EventInfo(("fullurl", "data", "headers", "method"), "network", "3.8"),
    "webbrowser.open": EventInfo(("url",), "network", "3.8"),

    # File: opening, listing, changing and removing files and directories.
    # undocumented; used by shutil.copy2 on Windows (since: 3.12 or 3.13).
    "_winapi.CopyFile2": EventInfo(
        ("existing_file_name", "new_file_name", "flags"),
        "file",
        "3.13",
    ),
    "_winapi.CreateFile": EventInfo(
        (
            "file_name",
            "desired_access",
            "share_mode",
            "creation_disposition",
            "flags_and_attributes",
        ),
        "file",
        "3.8",
    ),
    "_winapi.CreateJunction": EventInfo(("src_path", "dst_path"), "file", "3.8"),
    "_winapi.CreateNamedPipe": EventInfo(("name", "open_mode", "pipe_mode"), "file", "3.8"),
    "_winapi.CreatePipe": EventInfo((), "file", "3.8"),
    "fcntl.fcntl": EventInfo(("fd", "cmd", "arg"), "file", "3.8"),
    "fcntl.flock": EventInfo(("fd", "operation"), "file", "3.8"),
    "fcntl.ioctl": EventInfo(("fd", "request", "arg"), "file", "3.8"),
    "fcntl.lockf": EventInfo(("fd", "cmd", "len", "start", "whence"), "file", "3.8"),
    "glob.glob": EventInfo(("pathname", "recursive"), "file", "3.8"),
    "glob.glob/2": EventInfo(("pathname", "recursive", "root_dir", "dir_fd"), "file", "3.10"),
    "mmap.__new__": EventInfo(("fileno", "length", "access", "offset"), "file", "3.8"),
    "open": EventInfo(("path", "mode", "flags"), "file", "3.8"),
    "os.chdir": EventInfo(("path",), "file", "3.8"),
    "os.chflags": EventInfo(("path", "flags"), "file", "3.8"),
    "os.chmod": EventInfo(("path", "mode", "dir_fd"), "file", "3.8"),
    "os.chown": EventInfo(("path", "uid", "gid", "dir_fd"), "file", "3.8"),
    "os.fwalk": EventInfo(
        ("top", "topdown", "onerror", "follow_symlinks", "dir_fd"),
        "file",
        "3.9",
    ),
    "os.getxattr": EventInfo(("path", "attribute"), "file", "3.8"),
    "os.link": EventInfo(("src", "dst", "src_dir_fd", "dst_dir_fd"), "file", "3.8"),
    "os.listdir": EventInfo(("path",), "file", "3.8"),
    # Windows: enumerates the host's drives.
    "os.listdrives": EventInfo((), "file", "3.12"),
    # Windows.
    "os.listmounts": EventInfo(("volume",), "file", "3.12"),
    # Windows.
    "os.listvolumes": EventInfo((), "file", "3.12"),
    "os.listxattr": EventInfo(("path",), "file", "3.8"),
    "os.lockf": EventInfo(("fd", "cmd", "len"), "file", "3.8"),
    "os.mkdir": EventInfo(("path", "mode", "dir_fd"), "file", "3.8"),
    "os.remove": EventInfo(("path", "dir_fd"), "file", "3.8"),
    "os.removexattr": EventInfo(("path", "attribute"), "file", "3.8"),
    "os.rename": EventInfo(("src", "dst", "src_dir_fd", "dst_dir_fd"), "file", "3.8"),
    "os.rmdir": EventInfo(("path", "dir_fd"), "file", "3.8"),
    "os.scandir": EventInfo(("path",), "file", "3.8"),
    "os.setxattr": EventInfo(("path", "attribute", "value", "flags"), "file", "3.8"),
    "os.symlink": EventInfo(("src", "dst", "dir_fd"), "file", "3.8"),
    "os.truncate": EventInfo(("fd", "length"), "file", "3.8"),
    "os.utime": EventInfo(("path", "times", "ns", "dir_fd"), "file", "3.8"),
    "os.walk": EventInfo(("top", "topdown", "onerror", "followlinks"), "file", "3.9"),
    "pathlib.Path.glob": EventInfo(("self", "pattern"), "file", "3.9"),
    "pathlib.Path.rglob": EventInfo(("self", "pattern"), "file", "3.9"),
    # undocumented.
    "pathlib.Path.walk": EventInfo(("self", "on_error", "follow_symlinks"), "file", "3.12"),
    "shutil.chown": EventInfo(("path", "user", "group"), "file", "3.8"),
    "shutil.copyfile": EventInfo(("src", "dst"), "file", "3.8"),
    "shutil.copymode": EventInfo(("src", "dst"), "file", "3.8"),
    "shutil.copystat": EventInfo(("src", "dst"), "file", "3.8"),
    "shutil.copytree": EventInfo(("src", "dst"), "file", "3.8"),
    "shutil.make_archive": EventInfo(
        ("base_name", "format", "root_dir", "base_dir"),
        "file",
        "3.8",
    ),
    "shutil.move": EventInfo(("src", "dst"), "file", "3.8"),
    "shutil.rmtree": EventInfo(("path", "dir_fd"), "file", "3.8"),
    "shutil.unpack_archive": EventInfo(("filename", "extract_dir", "format"), "file", "3.8"),
    "sqlite3.connect": EventInfo(("database",), "file", "3.8"),
    "sqlite3.connect/handle": EventInfo(("connection_handle",), "file", "3.10"),
    "tempfile.mkdtemp": EventInfo(("fullpath",), "file", "3.8"),
    "tempfile.mkstemp": EventInfo(("fullpath",), "file", "3.8"),

    # Code: compiling, executing and (un)marshalling Python code.
    "code.__new__": EventInfo(
        (
            "code",
            "filename",
            "name",
            "argcount",
            "posonlyargcount",
            "kwonlyargcount",
            "nlocals",
            "stacksize",
            "flags",
        ),
        "code",
        "3.8",
    ),
    "compile": EventInfo(("source", "filename"), "code", "3.8"),
    "cpython.run_command": EventInfo(("command",), "code", "3.8"),
    "cpython.run_file": EventInfo(("filename",), "code", "3.8"),
    "cpython.run_interactivehook": EventInfo(("hook",), "code", "3.8"),
    "cpython.run_module": EventInfo(("module-name",), "code", "3.8"),
    "cpython.run_startup": EventInfo(("filename",), "code", "3.8"),
    "cpython.run_stdin": EventInfo((), "code", "3.8"),
    # exec() and eval() of a code object.
    "exec": EventInfo(("code_object",), "code", "3.8"),
    "function.__new__": EventInfo(("code",), "code", "3.8"),
    # added in a 3.9 bug-fix release (documented from 3.10 on).
    "marshal.dumps": EventInfo(("value", "version"), "code", "3.9"),
    # added in a 3.9 bug-fix release (documented from 3.10 on).
    "marshal.load": EventInfo((), "code", "3.9"),
    # added in a 3.9 bug-fix release; raised for every .pyc the import system reads.
    "marshal.loads": EventInfo(("bytes",), "code", "3.9"),

    # Import: the import system.
    # raised for every import that reaches the import system.
    "import": EventInfo(
        ("module", "filename", "sys.path", "sys.meta_path", "sys.path_hooks"),
        "import",
        "3.8",
    ),

    # Native: ctypes, shared libraries and raw memory.
    "ctypes.PyObj_FromPtr": EventInfo(("obj",), "native", "3.8"),
    "ctypes.addressof": EventInfo(("obj",), "native", "3.8"),
    "ctypes.call_function": EventInfo(("func_pointer", "arguments"), "native", "3.8"),
    "ctypes.cdata": EventInfo(("address",), "native", "3.8"),
    "ctypes.cdata/buffer": EventInfo(("pointer", "size", "offset"), "native", "3.8"),
    "ctypes.create_string_buffer": EventInfo(("init", "size"), "native", "3.8"),
    "ctypes.create_unicode_buffer": EventInfo(("init", "size"), "native", "3.8"),
    "ctypes.dlopen": EventInfo(("name",), "native", "3.8"),
    "ctypes.dlsym": EventInfo(("library", "name"), "native", "3.8"),
    "ctypes.dlsym/handle": EventInfo(("handle", "name"), "native", "3.8"),
    "ctypes.get_errno": EventInfo((), "native", "3.8"),
    "ctypes.get_last_error": EventInfo((), "native", "3.8"),
    "ctypes.memoryview_at": EventInfo(("address", "size", "readonly"), "native", "3.14"),
    # Windows; the name raised in 3.8-3.9 and documented to 3.11; later ctypes.set_exception.
    "ctypes.seh_exception": EventInfo(("code",), "native", "3.8"),
    "ctypes.set_errno": EventInfo(("errno",), "native", "3.8"),
    # Windows; the newer name of ctypes.seh_exception (since: unsure, 3.10-3.12).
    "ctypes.set_exception": EventInfo(("code",), "native", "3.12"),
    "ctypes.set_last_error": EventInfo(("error",), "native", "3.8"),
    "ctypes.string_at": EventInfo(("ptr", "size"), "native", "3.8"),
    "ctypes.wstring_at": EventInfo(("ptr", "size"), "native", "3.8"),
    # Windows.
    "os.add_dll_directory": EventInfo(("path",), "native", "3.8"),
    # loading an SQLite extension loads a shared library.
    "sqlite3.enable_load_extension": EventInfo(("connection", "enabled"), "native", "3.10"),
    # loads a shared library.
    "sqlite3.load_extension": EventInfo(("connection", "path"), "native", "3.10"),

    # Pickle: unpickling that resolves globals.
    "pickle.find_class": EventInfo(("module", "name"), "pickle", "3.8"),

    # Interpreter: hooks, tracing, introspection of the running interpreter,
    # subinterpreters, threads and remote debugging.
    # undocumented; what threading.Thread.start uses since 3.13.
    "_thread.start_joinable_thread": EventInfo(
        ("function", "daemon", "handle"),
        "interpreter",
        "3.13",
    ),
    # starting a thread runs code, but in this process.
    "_thread.start_new_thread": EventInfo(("function", "args", "kwargs"), "interpreter", "3.12"),
    # hands control to sys.breakpointhook (a debugger).
    "builtins.breakpoint": EventInfo(("breakpointhook",), "interpreter", "3.8"),
    "cpython.PyConfig_Set": EventInfo(("name", "value"), "interpreter", "3.14"),
    "cpython.PyInterpreterState_Clear": EventInfo((), "interpreter", "3.8"),
    "cpython.PyInterpreterState_New": EventInfo((), "interpreter", "3.8"),
    "cpython._PySys_ClearAuditHooks": EventInfo((), "interpreter", "3.8"),
    "cpython.remote_debugger_script": EventInfo(("script_path",), "interpreter", "3.14"),
    # added in a 3.8 bug-fix release (documented from 3.10 on).
    "gc.get_objects": EventInfo(("generation",), "interpreter", "3.8"),
    # added in a 3.8 bug-fix release (documented from 3.10 on).
    "gc.get_referents": EventInfo(("objs",), "interpreter", "3.8"),
    # added in a 3.8 bug-fix release (documented from 3.10 on).
    "gc.get_referrers": EventInfo(("objs",), "interpreter", "3.8"),
    "object.__delattr__": EventInfo(("obj", "name"), "interpreter", "3.8"),
    "object.__setattr__": EventInfo(("obj", "name", "value"), "interpreter", "3.8"),
    # a debugger is being created.
    "pdb.Pdb": EventInfo((), "interpreter", "3.8"),
    # io.open_code hook being replaced.
    "setopencodehook": EventInfo((), "interpreter", "3.8"),
    "sys._current_exceptions": EventInfo((), "interpreter", "3.10"),
    "sys._current_frames": EventInfo((), "interpreter", "3.8"),
    "sys.addaudithook": EventInfo((), "interpreter", "3.8"),
    "sys.excepthook": EventInfo(("hook", "type", "value", "traceback"), "interpreter", "3.8"),
    "sys.monitoring.register_callback": EventInfo(("func",), "interpreter", "3.12"),
    "sys.remote_exec": EventInfo(("pid", "script_path"), "interpreter", "3.14"),
    # undocumented spelling: the name CPython really raises.
    "sys.set_asyncgen_hook_finalizer": EventInfo((), "interpreter", "3.8"),
    # undocumented spelling: the name CPython really raises.
    "sys.set_asyncgen_hook_firstiter": EventInfo((), "interpreter", "3.8"),
    # the table's spelling; CPython raises ..._hook_finalizer.
    "sys.set_asyncgen_hooks_finalizer": EventInfo((), "interpreter", "3.8"),
    # the table's spelling; CPython raises ..._hook_firstiter.
    "sys.set_asyncgen_hooks_firstiter": EventInfo((), "interpreter", "3.8"),
    "sys.setprofile": EventInfo((), "interpreter", "3.8"),
    "sys.settrace": EventInfo((), "interpreter", "3.8"),
    "sys.unraisablehook": EventInfo(("hook", "unraisable"), "interpreter", "3.8"),

    # Frequent: fired many times per second by ordinary code, with no security
    # meaning on their own; a monitor should count these, not log each one.
    # every array.array() construction.
    "array.__new__": EventInfo(("typecode", "initializer"), "frequent", "3.8"),
    # id(): copy.deepcopy, reprlib and many libraries call it in loops.
    "builtins.id": EventInfo(("id",), "frequent", "3.8"),
    # restricted attributes (frame.f_code, tb_frame, gi_frame, ...): traceback, logging.
    "object.__getattr__": EventInfo(("obj", "name"), "frequent", "3.8"),
    # logging, warnings, inspect and typing call it constantly.
    "sys._getframe": EventInfo(("frame",), "frequent", "3.8"),
    # enum, typing and namedtuple call it on every class built.
    "sys._getframemodulename": EventInfo(("depth",), "frequent", "3.12"),
    # every time.sleep(), polling loops included.
    "time.sleep": EventInfo(("seconds",), "frequent", "3.13"),

    # System: environment variables, console input, resource limits, signals,
    # syslog, the Windows registry and other host state.
    # undocumented; named kernel objects are a host-wide IPC channel.
    "_winapi.CreateEventW": EventInfo(("manual_reset", "initial_state", "name"), "system", "3.13"),
    # undocumented.
    "_winapi.CreateMutexW": EventInfo(("initial_owner", "name"), "system", "3.13"),
    # undocumented.
    "_winapi.OpenEventW": EventInfo(("desired_access", "name"), "system", "3.13"),
    # undocumented.
    "_winapi.OpenMutexW": EventInfo(("desired_access", "name"), "system", "3.13"),
    "builtins.input": EventInfo(("prompt",), "system", "3.8"),
    "builtins.input/result": EventInfo(("result",), "system", "3.8"),
    "msvcrt.get_osfhandle": EventInfo(("fd",), "system", "3.8"),
    "msvcrt.locking": EventInfo(("fd", "mode", "nbytes"), "system", "3.8"),
    "msvcrt.open_osfhandle": EventInfo(("handle", "flags"), "system", "3.8"),
    "os.putenv": EventInfo(("key", "value"), "system", "3.8"),
    "os.unsetenv": EventInfo(("key",), "system", "3.8"),
    "resource.prlimit": EventInfo(("pid", "resource", "limits"), "system", "3.8"),
    "resource.setrlimit": EventInfo(("resource", "limits"), "system", "3.8"),
    "signal.pthread_kill": EventInfo(("thread_id", "signalnum"), "system", "3.8"),
    "syslog.closelog": EventInfo((), "system", "3.8"),
    "syslog.openlog": EventInfo(("ident", "logoption", "facility"), "system", "3.8"),
    "syslog.setlogmask": EventInfo(("maskpri",), "system", "3.8"),
    "syslog.syslog": EventInfo(("priority", "message"), "system", "3.8"),
    "winreg.ConnectRegistry": EventInfo(("computer_name", "key"), "system", "3.8"),
    "winreg.CreateKey": EventInfo(("key", "sub_key", "access"), "system", "3.8"),
    "winreg.DeleteKey": EventInfo(("key", "sub_key", "access"), "system", "3.8"),
    "winreg.DeleteValue": EventInfo(("key", "value"), "system", "3.8"),
    "winreg.DisableReflectionKey": EventInfo(("key",), "system", "3.8"),
    "winreg.EnableReflectionKey": EventInfo(("key",), "system", "3.8"),
    "winreg.EnumKey": EventInfo(("key", "index"), "system", "3.8"),
    "winreg.EnumValue": EventInfo(("key", "index"), "system", "3.8"),
    "winreg.ExpandEnvironmentStrings": EventInfo(("str",), "system", "3.8"),
    "winreg.LoadKey": EventInfo(("key", "sub_key", "file_name"), "system", "3.8"),
    "winreg.OpenKey": EventInfo(("key", "sub_key", "access"), "system", "3.8"),
    "winreg.OpenKey/result": EventInfo(("key",), "system", "3.8"),
    "winreg.PyHKEY.Detach": EventInfo(("key",), "system", "3.8"),
    "winreg.QueryInfoKey": EventInfo(("key",), "system", "3.8"),
    "winreg.QueryReflectionKey": EventInfo(("key",), "system", "3.8"),
    "winreg.QueryValue": EventInfo(("key", "sub_key", "value_name"), "system", "3.8"),
    "winreg.SaveKey": EventInfo(("key", "file_name"), "system", "3.8"),
    "winreg.SetValue": EventInfo(("key", "sub_key", "type", "value"), "system", "3.8"),

    # Other: whatever fits nowhere above.
    # installs pip from the bundled wheels.
    "ensurepip.bootstrap": EventInfo(("root",), "other", "3.8"),
}


def category_of(event: str) -> str:
    """The category of EVENT; unknown events are `other`."""
    info = EVENTS.get(event)
    return info.category if info is not None else "other"
