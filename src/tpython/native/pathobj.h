/* The path of a pathlib object, read in C (pathobj.c). */
#ifndef TPYTHON_PATHOBJ_H
#define TPYTHON_PATHOBJ_H
#include <Python.h>

/* The text os.fspath(V) gives when V is of a class whose __fspath__ and __str__ are
 * pathlib's own code, read from V's slots (and stored in its `_str` slot, as pathlib's
 * __str__ does, when it was not set): a new str. NULL (no exception) for anything else,
 * or whatever C cannot read exactly: an unknown path. */
PyObject *pathobj_text(PyObject *v);
/* Note, at start, the standard library's pathlib files (stat only): C later reads them
 * only if they are unchanged. */
void pathobj_remember(void);
/* pathlib_text(value) -> str or None: pathobj_text for Python (the Python renderer). */
PyObject *tp_pathlib_text(PyObject *module, PyObject *value);
/* pathlib_configure(stdlib_dirs) -> bool: where the standard library is (once). */
PyObject *tp_pathlib_configure(PyObject *module, PyObject *dirs);

#endif
