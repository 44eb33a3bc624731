/* Event arguments as JSON in C (render.c: values; renderargs.c: an event's arguments by
 * its shape), as tpython.engine.render does it. */
#ifndef TPYTHON_RENDER_H
#define TPYTHON_RENDER_H
#include <Python.h>

#include "record.h"

#define RENDER_OK 0
#define RENDER_PYTHON 1  /* only the Python renderer can render this value */
#define RENDER_ERROR -1  /* out of memory */
#define SHAPE_MAX 4
#define MAX_STR 512  /* characters of a str rendered */
#define MAX_ITEMS 16 /* items of a container rendered */

/* Which arguments of an event are paths, lists of paths, or source text
 * (tpython.engine.eventargs PATH_ARGS / PATH_LIST_ARGS, render.SOURCE_ARGS); positions -1 terminated. */
typedef struct {
    signed char paths[SHAPE_MAX];      /* positions, -1 terminated */
    signed char dirfds[SHAPE_MAX];     /* each path's dir_fd position, or -1 */
    signed char path_lists[SHAPE_MAX];
    signed char sources[SHAPE_MAX];    /* source text: an excerpt and its SHA-256 (render.source) */
    signed char texts[SHAPE_MAX];      /* text handed over as bytes: decoded (eventargs.TEXT_ARGS) */
} Shape;

int render_value(Buf *b, PyObject *v, int depth);
/* The SHA-256 of DATA as 64 hex digits into B; T's name as render.py labels a value of
 * it (PREFIX before it), a new str or NULL. */
int render_digest(Buf *b, const void *data, size_t len);
PyObject *render_type_label(PyTypeObject *t, const char *prefix);
int render_path(Buf *b, PyObject *v);
int render_args(Buf *b, PyObject *args, const Shape *shape);
int render_args_bare(Buf *b, PyObject *args);
PyObject *tp_sha256_hex(PyObject *module, PyObject *arg);
PyObject *tp_socket_class(PyObject *module, PyObject *value);
PyObject *tp_render_args(PyObject *module, PyObject *args);

#endif
