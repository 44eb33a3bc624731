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

/* The audit event of CPython 3.14: (executable_list, args, env); env is the 6th argument. */
static int
audit_fork_exec(PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 2) {
        return 0; /* the original says what is missing */
    }
    return PySys_Audit("_posixsubprocess.fork_exec", "OOO", args[1], args[0], nargs > 5 ? args[5] : Py_None);
}

static PyObject *
fork_exec_varargs(PyObject *self, PyObject *args)
{
    if (!PyTuple_Check(args)
        || audit_fork_exec(&PyTuple_GET_ITEM(args, 0), PyTuple_GET_SIZE(args)) < 0) {
        return NULL;
    }
    return fork_exec_original(self, args);
}

static PyObject *
fork_exec_fastcall(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (audit_fork_exec(args, nargs) < 0) {
        return NULL;
    }
    return ((_PyCFunctionFast)(void (*)(void))fork_exec_original)(self, args, nargs);
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
