/* tpython._native: the engine that decides every audit event, the open_code hook, and
 * the kernel's exec checks. Built by setup.py; required (tpython run refuses to start
 * without it, naming what is missing).
 *
 * Doing any of this from Python through ctypes would leave ctypes loaded in
 * the watched interpreter, where it would hand the program unaudited native
 * calls; a little C avoids that.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "conditions.h"
#include "globs.h"
#include "dispatch.h"
#include "guard.h"
#include "kernel.h"
#include "net.h"
#include "opencode.h"
#include "originals.h"
#include "pathobj.h"
#include "probes.h"
#include "record.h"
#include "argregex.h"
#include "repeats.h"
#include "render.h"
#include "signalguard.h"
#include "signals.h"
#include "spawn.h"
#include "violation.h"
#include "trust.h"

static PyMethodDef methods[] = {
    {"install_audit", tp_install_audit, METH_VARARGS,
     "install_audit(defaults, other_default, rules, options): freeze the policy and add "
     "the audit hook (once per process)."},
    {"counts", tp_counts, METH_NOARGS, "counts() -> {event: n} of the events counted in C."},
    {"denials", tp_denials, METH_NOARGS, "denials() -> [(event, rule, n)] of the events denied in C."},
    {"reset_counts", tp_reset_counts, METH_NOARGS, "reset_counts(): zero the counters (a forked child)."},
    {"entry", tp_entry, METH_O, "entry(event) -> (action, rule, can_block) as the frozen table resolves it."},
    {"decide", tp_decide, METH_VARARGS,
     "decide(event, args) -> (action, rule) as C decides it, recording nothing."},
    {"glob_match", tp_glob_match, METH_VARARGS,
     "glob_match(tokens, text) -> whether C's glob matcher matches TEXT."},
    {"set_busy", tp_set_busy, METH_O, "set_busy(flag) -> previous: mark this thread's work as tpython's."},
    {"stats", tp_stats, METH_NOARGS, "stats() -> the engine's state, for tpython.start and info."},
    {"chain_start", tp_chain_start, METH_VARARGS,
     "chain_start(run, pid, [(fd, name, path, rotate_bytes, keep)...], warn_fd): take over the JSONL files "
     "(rotated by size when rotate_bytes > 0) and start the chain."},
    {"chain_restart", tp_chain_restart, METH_VARARGS, "chain_restart(run, pid): a forked child's new run."},
    {"chain_record", tp_chain_record, METH_VARARGS,
     "chain_record(event, args_json, action, enforced, rule, module_json, package_json, extra, py_lost)"
     " -> (line, seq, hash): number, hash and write one record."},
    {"chain_state", tp_chain_state, METH_NOARGS, "chain_state() -> {run, seq, written, lost}."},
    {"repeats_flush", tp_repeats_flush, METH_NOARGS,
     "repeats_flush(): write the tpython.repeats summary of the repeats counted since the last one."},
    {"seal", tp_seal, METH_NOARGS,
     "seal(): from now on nothing in Python can mark work as tpython's own (before the program runs)."},
    {"spawn_configure", tp_spawn_configure, METH_VARARGS,
     "spawn_configure(policy_json, manifest_sha256, argv, loader_env): what worker launches use (once)."},
    {"spawn_worker", tp_spawn_worker, METH_VARARGS,
     "spawn_worker(program, args, passfds, parent_run) -> pid: a multiprocessing worker started through "
     "tpython's bootstrap with the frozen policy."},
    {"install_open_code", tp_install_open_code, METH_VARARGS,
     "install_open_code(config, CodeRefused, CacheRefused): C's checks as CPython's open_code hook "
     "and the audit hook's integrity guard (once per process; config: max_size, kernel_check, require, xattr, "
     "manifest: None or (path, {real path: sha256}))."},
    {"check_code", tp_check_code, METH_VARARGS,
     "check_code(path, config) -> (real_path, reason or None, data or None, sha256 or None, vouched_by or None)."},
    {"trust_sources", tp_trust_sources, METH_O, "trust_sources(config) -> the names of its trust sources."},
    {"compile_source", tp_compile_source, METH_VARARGS,
     "compile_source(source, filename) -> compile(source, filename, \"exec\", dont_inherit=True) for bytes "
     "without NUL, the same audit event, without creating the ast module's classes."},
    {"sha256_hex", tp_sha256_hex, METH_O, "sha256_hex(data) -> hashlib.sha256(data).hexdigest()"},
    {"render_args", tp_render_args, METH_O,
     "render_args(args) -> the JSON C writes for the tuple args, or None where it leaves them to Python."},
    {"socket_class", tp_socket_class, METH_O,
     "socket_class(value) -> the genuine _socket.socket VALUE's type derives from, or None."},
    {"pathlib_text", tp_pathlib_text, METH_O,
     "pathlib_text(value) -> os.fspath(value) read in C when VALUE is a pathlib path C can read, else None."},
    {"pathlib_configure", tp_pathlib_configure, METH_O,
     "pathlib_configure(stdlib_dirs) -> bool: the standard library's directories for pathlib_text (once)."},
    {"inet_aton", tp_inet_aton, METH_O, "inet_aton(text) -> 4 packed bytes, or None: the C library's inet_aton."},
    {"is_ipv6", tp_is_ipv6, METH_O, "is_ipv6(text) -> whether inet_pton(AF_INET6, text) takes it."},
    {"net_address", tp_net_address, METH_VARARGS,
     "net_address(where, port, stream) -> (family, sockaddr): a local socket's path (port < 0) or a host, resolved."},
    {"net_open", tp_net_open, METH_VARARGS,
     "net_open(family, sockaddr, stream, connect, timeout) -> (fd, ready): a sink's socket, without audit events."},
    {"net_connected", tp_net_connected, METH_VARARGS,
     "net_connected(fd, wait) -> whether the connection is established; OSError when it failed."},
    {"net_send", tp_net_send, METH_VARARGS, "net_send(fd, data, to, stream, wait): send DATA whole, or OSError."},
    {"net_peer_closed", tp_net_peer_closed, METH_O, "net_peer_closed(fd) -> whether the stream's peer closed it."},
    {"net_refusals", tp_net_refusals, METH_O,
     "net_refusals(fd) -> how many datagrams came back refused (ICMP errors), draining them."},
    {"net_send_memfd", tp_net_send_memfd, METH_VARARGS,
     "net_send_memfd(fd, data, to): DATA in a sealed memfd, its descriptor sent to TO."},
    {"sink_open", tp_sink_open, METH_VARARGS, "sink_open(path, flags, mode) -> fd: open(2), close-on-exec."},
    {"sink_rename", tp_sink_rename, METH_VARARGS, "sink_rename(source, target): rename(2)."},
    {"sink_lock", tp_sink_lock, METH_O, "sink_lock(fd): flock(fd, LOCK_EX)."},
    {"sink_truncate", tp_sink_truncate, METH_VARARGS, "sink_truncate(fd, length): ftruncate(2)."},
    {"securebits", tp_securebits, METH_NOARGS, "securebits() -> this process's securebits."},
    {"execve_check", tp_execve_check, METH_VARARGS,
     "execve_check(fd, name) -> 0 or the errno of execveat(fd, \"\", AT_EMPTY_PATH | AT_EXECVE_CHECK)."},
    {"execve_check_available", tp_execve_check_available, METH_O,
     "execve_check_available(path) -> whether this kernel understands AT_EXECVE_CHECK (asked of PATH)."},
    {"signal_front", tp_signal_front, METH_O,
     "signal_front(numbers): C in front of Python's handler for each signal (a blocked call is interrupted "
     "until the handler has run)."},
    {"signal_taken", tp_signal_taken, METH_NOARGS,
     "signal_taken(): the end of the run is in hand; a second signal ends the process at once."},
    {"signal_call", tp_signal_call, METH_VARARGS,
     "signal_call(handler, signum, frame) -> handler(signum, frame), run as the program's work (audited)."},
    {"signal_guard", tp_signal_guard, METH_VARARGS,
     "signal_guard(signal, getsignal, fatal, end_by, interrupt, relay, default_int_handler): wrap _signal.signal "
     "and getsignal in C and put tpython's stand-ins in place (once per process)."},
    {"signal_refront", tp_signal_refront, METH_NOARGS,
     "signal_refront(): C in front of each signal whose end is recorded (a forked child's own timer)."},
    {"signal_die", tp_signal_die, METH_O,
     "signal_die(number): the default action back for signal NUMBER, which is then raised."},
    {"wrap_fork_exec", tp_wrap_fork_exec, METH_O,
     "wrap_fork_exec(_posixsubprocess.fork_exec) -> whether it now raises its audit event from C."},
    {"seccomp_filter", tp_seccomp_filter, METH_VARARGS,
     "seccomp_filter(program) -> None, or (step, errno): set no_new_privs and load the BPF program."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "tpython._native",
    "tpython's engine: audit hook, open_code hook, exec checks.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__native(void)
{
    PyObject *m = PyModule_Create(&module_def);
    if (m != NULL && (PyModule_AddIntConstant(m, "PROBES", TPYTHON_PROBES) < 0
                      || PyModule_AddIntConstant(m, "SECBIT_EXEC_RESTRICT_FILE", TP_SECBIT_EXEC_RESTRICT_FILE) < 0
                      || PyModule_AddIntConstant(m, "SECBIT_EXEC_DENY_INTERACTIVE", TP_SECBIT_EXEC_DENY_INTERACTIVE) < 0 || PyType_Ready(&RegexType) < 0)) {
        Py_CLEAR(m);
    }
    if (m != NULL && tp_violation_ready() == 0) {
        Py_INCREF(&ViolationType);
        if (PyModule_AddObject(m, "PolicyViolation", (PyObject *)&ViolationType) < 0) {
            Py_DECREF(&ViolationType);
            Py_CLEAR(m);
        }
    }
    else {
        Py_CLEAR(m);
    }
    if (m != NULL) {
        Py_INCREF(&RegexType); /* PyModule_AddObjectRef is 3.10+ */
        if (PyModule_AddObject(m, "Regex", (PyObject *)&RegexType) < 0) {
            Py_DECREF(&RegexType);
            Py_CLEAR(m);
        }
    }
    return m;
}
