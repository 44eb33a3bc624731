/* The module responsible for an event, and its distribution, in C (attrib.c). */
#ifndef TPYTHON_ATTRIB_H
#define TPYTHON_ATTRIB_H
#include <Python.h>

#include "record.h"

int attrib_configure(PyObject *stdlib, PyObject *site, PyObject *tpython_dir, PyObject *launcher_file,
                     PyObject *package_lookup);
/* Append the JSON of the responsible module (or null) to MODULE and of its
 * distribution (or null) to PACKAGE. Returns 0, or -1 when out of memory. */
int attrib_current(Buf *module, Buf *package, int in_main);
/* FRAME's globals (a new reference), on every supported CPython. */
PyObject *attrib_frame_globals(PyFrameObject *frame);

#endif
