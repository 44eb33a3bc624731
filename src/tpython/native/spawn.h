/* multiprocessing workers started by C through tpython's bootstrap (spawn.c). */
#ifndef TPYTHON_SPAWN_H
#define TPYTHON_SPAWN_H
#include <Python.h>

PyObject *tp_spawn_configure(PyObject *module, PyObject *args);
PyObject *tp_spawn_worker(PyObject *module, PyObject *args);

#endif
