/* The module responsible for an event, and its distribution, in C (attrib.c). */
#ifndef TPYTHON_ATTRIB_H
#define TPYTHON_ATTRIB_H
#include <Python.h>

#include "record.h"

int attrib_configure(PyObject *stdlib, PyObject *site, PyObject *tpython_dir, PyObject *launcher_file,
                     PyObject *package_lookup);
/* The I-th standard library directory (with a trailing slash), or NULL past the last. */
const char *attrib_stdlib_dir(int i);
/* The responsible frame: the innermost outside the standard library and tpython. */
typedef struct {
    PyCodeObject *code; /* its code (a reference), or NULL: there is none */
    int line;           /* its line */
    PyObject *name;     /* its module's __name__ (a reference) when that is a str, or NULL */
} AttribPlace;

/* Find the responsible frame (PLACE is then released with attrib_clear). Returns 0. */
int attrib_find(AttribPlace *place, int in_main);
/* Append the JSON of PLACE's module (or null) to MODULE and of its distribution (or
 * null) to PACKAGE. Returns 0, or -1 when out of memory. */
int attrib_render(const AttribPlace *place, Buf *module, Buf *package, int in_main);
void attrib_clear(AttribPlace *place);
/* FRAME's globals (a new reference), on every supported CPython. */
PyObject *attrib_frame_globals(PyFrameObject *frame);

#endif
