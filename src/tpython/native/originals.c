/* C functions of CPython's wrapped in C: the original is a C pointer only (originals.h).
 *
 * A builtin function object calls through its PyMethodDef (m_ml->ml_meth, read at each
 * call). That def is the extension's static data, shared by every instance of the module:
 * the first import, a re-import from m_copy (single-phase init), another module object
 * from the same def (multi-phase init, `_imp.create_builtin`, `_imp.create_dynamic` of the
 * loaded file). Pointing ml_meth at a wrapper of the same calling convention (ml_flags
 * stay as they are: CPython picks the call path from them) reaches them all; the original
 * pointer stays in a C static, and no Python object refers to it.
 *
 * `_posixsubprocess.fork_exec` raises no audit event before CPython 3.14
 * (python/cpython#115322): its wrapper raises the one 3.14 raises,
 * (executable_list, args, env), then calls the original.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "originals.h"

/* Whether ADDRESS lies in a writable mapping (/proc/self/maps): 1, 0, or -1 unknown. */
static int
writable(uintptr_t address)
{
    FILE *maps = fopen("/proc/self/maps", "re");
    if (maps == NULL) {
        return -1;
    }
    char line[512];
    int found = -1;
    while (fgets(line, sizeof(line), maps) != NULL) {
        unsigned long start, end;
        char perms[5];
        if (sscanf(line, "%lx-%lx %4s", &start, &end, perms) == 3 && address >= start && address < end) {
            found = perms[1] == 'w';
            break;
        }
    }
    fclose(maps);
    return found;
}

int
tp_patch_pointer(void **field, void *value)
{
    uintptr_t address = (uintptr_t)field;
    if (writable(address) == 1) {
        __atomic_store_n(field, value, __ATOMIC_RELEASE);
        return 0;
    }
    /* in read-only memory (a const array, or RELRO): writable for the store, then back */
    long page_size = sysconf(_SC_PAGESIZE);
    uintptr_t page = address & ~((uintptr_t)page_size - 1);
    size_t length = (address + sizeof(void *) > page + (uintptr_t)page_size) ? 2 * (size_t)page_size
                                                                             : (size_t)page_size;
    if (mprotect((void *)page, length, PROT_READ | PROT_WRITE) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    __atomic_store_n(field, value, __ATOMIC_RELEASE);
    mprotect((void *)page, length, PROT_READ);
    return 0;
}

int
tp_patch_meth(PyMethodDef *def, PyCFunction wrapper)
{
    return tp_patch_pointer((void **)&def->ml_meth, (void *)wrapper);
}

PyMethodDef *
tp_builtin_def(PyObject *function, const char *name, int flags)
{
    if (!PyCFunction_Check(function)) {
        PyErr_Format(PyExc_TypeError, "%s: not a builtin function", name);
        return NULL;
    }
    PyMethodDef *def = ((PyCFunctionObject *)function)->m_ml;
    if (def == NULL || def->ml_name == NULL || strcmp(def->ml_name, name) != 0
        || (def->ml_flags & ~METH_COEXIST) != flags) {
        PyErr_Format(PyExc_TypeError, "%s: not the expected builtin (flags %d)", name,
                     def != NULL ? def->ml_flags : -1);
        return NULL;
    }
    return def;
}

/* -- _posixsubprocess.fork_exec --------------------------------------------------- */

static PyCFunction fork_exec_original; /* never exposed: only the wrappers call it */

/* A plain text: an exact str or bytes as itself; a subclass as an exact copy; a path
 * object through its __fspath__ (run here, before the decision), then the same. NULL
 * with the error (what the original would refuse, it refuses). */
static PyObject *
plain_text(PyObject *item)
{
    if (PyUnicode_CheckExact(item) || PyBytes_CheckExact(item)) {
        Py_INCREF(item);
        return item;
    }
    PyObject *path = PyOS_FSPath(item);
    if (path == NULL) {
        return NULL;
    }
    PyObject *plain = PyUnicode_Check(path) ? PyUnicode_FromObject(path)
                      : PyBytes_FromStringAndSize(PyBytes_AS_STRING(path), PyBytes_GET_SIZE(path));
    Py_DECREF(path);
    return plain;
}

/* A sequence of paths or texts as a new list of plain texts (plain_text), read once. */
static PyObject *
as_plain_list(PyObject *seq)
{
    PyObject *fast = PySequence_Fast(seq, "tpython: fork_exec: a sequence is needed");
    if (fast == NULL) {
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    PyObject *out = PyList_New(n);
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        PyObject *item = plain_text(PySequence_Fast_GET_ITEM(fast, i));
        if (item == NULL) {
            Py_CLEAR(out);
            break;
        }
        PyList_SET_ITEM(out, i, item);
    }
    Py_DECREF(fast);
    return out;
}

/* The arguments fork_exec reads paths and texts from (args 0, cwd 4, env 5: the same
 * positions from 3.9 to 3.13), made plain texts BEFORE the audit event: what the
 * program's code does while converting (a path object's __fspath__ may chdir or change a
 * list) happens before the decision, and the original receives exactly the bytes that
 * were decided on (exact str and bytes, which the original reads without running any
 * code), so no code of the program runs between the decision and the exec.
 * The executable list must already be bytes (the original's own rule). Returns a new
 * array in CONVERTED (its objects owned) or -1. */
static int
convert_fork_exec(PyObject *const *args, Py_ssize_t nargs, PyObject **converted)
{
    for (Py_ssize_t i = 0; i < nargs; i++) {
        converted[i] = args[i];
        Py_INCREF(args[i]);
    }
    static const int SEQUENCES[] = {0, 5};
    for (int k = 0; k < 2; k++) {
        int i = SEQUENCES[k];
        if (i < nargs && args[i] != Py_None) {
            PyObject *list = as_plain_list(args[i]);
            if (list == NULL) {
                return -1;
            }
            Py_SETREF(converted[i], list);
        }
    }
    if (nargs > 4 && args[4] != Py_None) {
        PyObject *cwd = NULL;
        if (!PyUnicode_FSConverter(args[4], &cwd)) { /* bytes: how the program is shown joined to it */
            return -1;
        }
        Py_SETREF(converted[4], cwd);
    }
    return 0;
}

/* The audit event of CPython 3.14: (executable_list, args, env). A relative program with a
 * cwd given is shown joined to that cwd: where exec finds it in the child. */
static int
audit_fork_exec(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 2) {
        return 0; /* the original says what is missing */
    }
    PyObject *programs = args[1];
    PyObject *joined = NULL;
    if (nargs > 4 && PyBytes_Check(args[4]) && (PyList_Check(programs) || PyTuple_Check(programs))) {
        PyObject *fast = PySequence_Fast(programs, "");
        Py_ssize_t n = fast != NULL ? PySequence_Fast_GET_SIZE(fast) : 0;
        joined = fast != NULL ? PyList_New(n) : NULL;
        for (Py_ssize_t i = 0; joined != NULL && i < n; i++) {
            PyObject *program = PySequence_Fast_GET_ITEM(fast, i);
            PyObject *item = PyBytes_Check(program) && PyBytes_AS_STRING(program)[0] != '/'
                             ? PyBytes_FromFormat("%s/%s", PyBytes_AS_STRING(args[4]), PyBytes_AS_STRING(program))
                             : (Py_INCREF(program), program);
            if (item == NULL) {
                Py_CLEAR(joined);
                break;
            }
            PyList_SET_ITEM(joined, i, item);
        }
        Py_XDECREF(fast);
        if (joined == NULL) {
            return -1;
        }
    }
    int rc = PySys_Audit("_posixsubprocess.fork_exec", "OOO", joined != NULL ? joined : programs, args[0],
                         nargs > 5 ? args[5] : Py_None);
    Py_XDECREF(joined);
    return rc;
}

static PyObject *
call_converted(PyObject *self, PyObject *const *args, Py_ssize_t nargs, int fastcall)
{
    PyObject *small[32], **converted = nargs <= 32 ? small : PyMem_Malloc((size_t)nargs * sizeof(PyObject *));
    if (converted == NULL) {
        return PyErr_NoMemory();
    }
    PyObject *result = NULL;
    if (convert_fork_exec(args, nargs, converted) == 0 && audit_fork_exec(converted, nargs) == 0) {
        if (fastcall) {
            result = ((_PyCFunctionFast)(void (*)(void))fork_exec_original)(self, converted, nargs);
        }
        else {
            PyObject *tuple = PyTuple_New(nargs);
            for (Py_ssize_t i = 0; tuple != NULL && i < nargs; i++) {
                Py_INCREF(converted[i]);
                PyTuple_SET_ITEM(tuple, i, converted[i]);
            }
            result = tuple != NULL ? fork_exec_original(self, tuple) : NULL;
            Py_XDECREF(tuple);
        }
    }
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_XDECREF(converted[i]);
    }
    if (converted != small) {
        PyMem_Free(converted);
    }
    return result;
}

static PyObject *
fork_exec_varargs(PyObject *self, PyObject *args)
{
    if (!PyTuple_Check(args)) {
        return NULL;
    }
    return call_converted(self, &PyTuple_GET_ITEM(args, 0), PyTuple_GET_SIZE(args), 0);
}

static PyObject *
fork_exec_fastcall(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    return call_converted(self, args, nargs, 1);
}

PyObject *
tp_wrap_fork_exec(PyObject *module, PyObject *function)
{
    (void)module;
#if PY_VERSION_HEX >= 0x030E0000
    (void)function;
    (void)fork_exec_varargs;
    (void)fork_exec_fastcall;
    Py_RETURN_FALSE; /* CPython raises the event itself */
#else
#if PY_VERSION_HEX >= 0x030C0000
    const int flags = METH_FASTCALL;
    PyCFunction wrapper = (PyCFunction)(void (*)(void))fork_exec_fastcall;
    (void)fork_exec_varargs;
#else
    const int flags = METH_VARARGS;
    PyCFunction wrapper = fork_exec_varargs;
    (void)fork_exec_fastcall;
#endif
    PyMethodDef *def = tp_builtin_def(function, "fork_exec", flags);
    if (def == NULL) {
        return NULL;
    }
    if (def->ml_meth == wrapper) {
        Py_RETURN_TRUE; /* wrapped already (an earlier call in this process) */
    }
    fork_exec_original = def->ml_meth;
    if (tp_patch_meth(def, wrapper) < 0) {
        return NULL;
    }
    Py_RETURN_TRUE;
#endif
}
