/* The open_code hook, for tpython._native.
 *
 * PyFile_SetOpenCodeHook takes a C function; this module supplies one that checks
 * each file in C (codecheck.c, with the trust sources of trust.c), installed once,
 * before any of the target's code is read, together with the audit hook's guard
 * (guard.c) where `[integrity]` names a trust source or requires one. No Python
 * function runs while a file is checked. CPython allows one hook per process: once
 * tpython has set it, nobody else can (a second call fails with SystemError).
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
#include "guard.h"
#include "opencode.h"
#include "trust.h"

static int installed;
static PyInterpreterState *hook_interp; /* the interpreter whose exception classes and files it makes */
static int require_trust;               /* [integrity] require: no unchecked code anywhere */

/* A subinterpreter cannot be handed the main interpreter's files and exceptions (CPython's
 * open_code hook is runtime-wide). Under `require` its code is refused; otherwise it is read as
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
    /* Then the checks: plain system calls, which raise no audit events. The hook does not
     * stand aside meanwhile: what Python code runs (a finalizer the collector runs as
     * the bytes are copied) is decided as any code is. */
    return code_checks_open(path);
}

/* install_open_code(config, CodeRefused, CacheRefused): see module.c. */
PyObject *
tp_install_open_code(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *config, *code_refused, *cache_refused;
    if (!PyArg_ParseTuple(args, "O!OO:install_open_code", &PyDict_Type, &config, &code_refused, &cache_refused)) {
        return NULL;
    }
    if (installed || tp_is_sealed()) {
        PyErr_SetString(PyExc_RuntimeError, "tpython's open_code hook is already installed");
        return NULL;
    }
    if (code_checks_install(config, code_refused, cache_refused) < 0) {
        return NULL;
    }
    const TrustConfig *trust = trust_installed();
    if ((trust->manifest_path != NULL || trust->xattr || trust->require) && guard_install() < 0) {
        return NULL;
    }
    hook_interp = PyInterpreterState_Get();
    require_trust = trust->require;
    if (PyFile_SetOpenCodeHook(tpython_open_code, NULL) < 0) {
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
