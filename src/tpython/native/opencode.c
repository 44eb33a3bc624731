/* The open_code hook, for tpython._native.
 *
 * PyFile_SetOpenCodeHook takes a C function; this module supplies one that
 * calls the callable tpython gives it (the Python checks, where a trust source
 * is configured) or checks the file itself (codecheck.c), installed once,
 * before any of the target's code is read. CPython allows one hook per process: once tpython has set it,
 * nobody else can (a second call fails with SystemError).
 *
 * Doing this from Python through ctypes.pythonapi would leave ctypes loaded
 * in the watched interpreter, where it would hand the program unaudited
 * native calls; a few lines of C avoid that.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fcntl.h>
#include <string.h>

#include "codecheck.h"
#include "dispatch.h"
#include "opencode.h"

static PyObject *hook_callable = NULL; /* the Python checks, or NULL: C's (codecheck.c) */
static int installed;
static PyInterpreterState *hook_interp; /* the interpreter the callable belongs to */
static int require_trust;               /* [integrity] require: no unchecked code anywhere */

/* A subinterpreter cannot run the main interpreter's Python checks (CPython's open_code
 * hook is runtime-wide). Under `require` its code is refused; otherwise it is read as
 * CPython reads code with no hook set, after the same `open` event. */
static PyObject *
open_in_subinterpreter(PyObject *path)
{
    if (require_trust) {
        PyErr_Format(PyExc_ImportError, "tpython: refused to read %R as code: in a subinterpreter, where "
                                        "tpython's integrity checks cannot run", path);
        return NULL;
    }
    if (PySys_Audit("open", "Osi", path, "r", O_RDONLY | O_CLOEXEC) < 0) {
        return NULL;
    }
    PyObject *io = PyImport_ImportModule("_io");
    if (io == NULL) {
        return NULL;
    }
    PyObject *file = PyObject_CallMethod(io, "open", "Os", path, "rb");
    Py_DECREF(io);
    return file;
}

static PyObject *
tpython_open_code(PyObject *path, void *user_data)
{
    (void)user_data;
    if (PyInterpreterState_Get() != hook_interp) {
        return open_in_subinterpreter(path);
    }
    /* The event CPython raises when no hook is set (io.open(path, "rb")): reading code
     * stays visible and the policy decides it as the program's. */
    if (PySys_Audit("open", "Osi", path, "r", O_RDONLY | O_CLOEXEC) < 0) {
        return NULL;
    }
    /* Then the checks: tpython's own work, which the audit hook must not take as the
     * program's (this is one of the C paths that may mark a thread busy). */
    int previous = tp_busy_enter();
    PyObject *file = hook_callable != NULL ? PyObject_CallFunctionObjArgs(hook_callable, path, NULL)
                                           : code_checks_open(path);
    tp_busy_leave(previous);
    return file;
}

PyObject *
tp_install_open_code(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *callable, *checks = Py_None;
    int require = 0;
    if (!PyArg_ParseTuple(args, "O|pO:install_open_code", &callable, &require, &checks)) {
        return NULL;
    }
    if (installed) {
        PyErr_SetString(PyExc_RuntimeError, "tpython's open_code hook is already installed");
        return NULL;
    }
    if (callable == Py_None) { /* C checks the files: no trust source, nothing required */
        if (checks == Py_None || require) {
            PyErr_SetString(PyExc_TypeError, "install_open_code(None) needs the checks, and nothing required");
            return NULL;
        }
        if (code_checks_configure(checks) < 0) {
            return NULL;
        }
    } else if (!PyCallable_Check(callable)) {
        PyErr_SetString(PyExc_TypeError, "install() needs a callable");
        return NULL;
    } else {
        Py_INCREF(callable);
        hook_callable = callable;
    }
    hook_interp = PyInterpreterState_Get();
    require_trust = require;
    if (PyFile_SetOpenCodeHook(tpython_open_code, NULL) < 0) {
        Py_CLEAR(hook_callable);
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "PyFile_SetOpenCodeHook refused");
        }
        return NULL;
    }
    installed = 1;
    Py_RETURN_NONE;
}

/* compile_source(source, filename) -> code: what compile(SOURCE, FILENAME, "exec",
 * dont_inherit=True) gives for SOURCE bytes without a NUL (the caller checks), through
 * the same Py_CompileStringObject, which raises the `compile` audit event itself (so the
 * event is compile()'s too). compile() first
 * asks whether its argument is an AST object, and the first such question in a process
 * creates every class of the `ast` module: about 2 ms that `python SCRIPT` never spends
 * (it compiles its script in C), and that tpython would add to every run. */
PyObject *
tp_compile_source(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *source, *filename;
    if (!PyArg_ParseTuple(args, "O!U", &PyBytes_Type, &source, &filename)) {
        return NULL;
    }
    const char *text = PyBytes_AS_STRING(source);
    if (strlen(text) != (size_t)PyBytes_GET_SIZE(source)) {
        PyErr_SetString(PyExc_ValueError, "compile_source: the source holds a NUL byte (compile() reports those)");
        return NULL;
    }
    PyCompilerFlags flags;
    flags.cf_flags = PyCF_SOURCE_IS_UTF8; /* as compile() sets it, nothing inherited */
    flags.cf_feature_version = PY_MINOR_VERSION;
    return Py_CompileStringObject(text, filename, Py_file_input, &flags, -1);
}
