/* The open_code hook and the kernel's exec checks (opencode.c). */
#ifndef TPYTHON_OPENCODE_H
#define TPYTHON_OPENCODE_H
#include <Python.h>

PyObject *tp_install_open_code(PyObject *module, PyObject *args);
PyObject *tp_securebits(PyObject *module, PyObject *unused);
PyObject *tp_execve_check(PyObject *module, PyObject *args);

#endif
