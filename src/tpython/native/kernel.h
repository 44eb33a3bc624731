/* The kernel's checks and protections (kernel.c). */
#ifndef TPYTHON_KERNEL_H
#define TPYTHON_KERNEL_H
#include <Python.h>

PyObject *tp_securebits(PyObject *module, PyObject *unused);
PyObject *tp_execve_check(PyObject *module, PyObject *args);
PyObject *tp_seccomp_filter(PyObject *module, PyObject *args);

#endif
