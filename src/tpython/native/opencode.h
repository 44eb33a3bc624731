/* The open_code hook (opencode.c). */
#ifndef TPYTHON_OPENCODE_H
#define TPYTHON_OPENCODE_H
#include <Python.h>

PyObject *tp_install_open_code(PyObject *module, PyObject *args);
PyObject *tp_compile_source(PyObject *module, PyObject *args);

#endif
