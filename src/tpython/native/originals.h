/* CPython's C functions wrapped in C, the originals kept as C pointers only (originals.c). */
#ifndef TPYTHON_ORIGINALS_H
#define TPYTHON_ORIGINALS_H
#include <Python.h>

/* Store VALUE at FIELD, static data of an extension's (perhaps in read-only memory). 0, or -1
 * with an error. */
int tp_patch_pointer(void **field, void *value);
/* Point DEF's ml_meth at WRAPPER (the def may be in read-only memory). 0, or -1 with an error. */
int tp_patch_meth(PyMethodDef *def, PyCFunction wrapper);
/* FUNCTION's PyMethodDef when it is the builtin NAME with calling convention FLAGS, else NULL
 * with an error. */
PyMethodDef *tp_builtin_def(PyObject *function, const char *name, int flags);
/* wrap_fork_exec(function) -> whether `_posixsubprocess.fork_exec` now raises its audit event
 * from C (False on 3.14+, where CPython raises it). */
PyObject *tp_wrap_fork_exec(PyObject *module, PyObject *function);

#endif
