/* Rule conditions evaluated in C (conditions.c): `path`, `write` and `arg`, as
 * tpython.engine.rules / facts / policy.patterns / policy.argregex evaluate them. */
#ifndef TPYTHON_CONDITIONS_H
#define TPYTHON_CONDITIONS_H
#include <Python.h>

#include "render.h"

#define COND_APPLIES 1
#define COND_NOT 0
#define COND_PYTHON -1 /* only the Python engine can tell (no exception set) */

typedef struct CondSet CondSet;

/* The paths of one event, worked out once for all of its rules. */
typedef struct {
    int state;                       /* 0: not yet, 1: known, COND_PYTHON: unknowable here */
    int n;
    PyObject *paths[2 * SHAPE_MAX];  /* str, in the current interpreter */
    int args_state;                  /* 0: not yet, 1: ARGS_TEXT holds them, COND_PYTHON: only Python can */
    char *args_text;                 /* the arguments as EventFacts.args_json, UTF-8, NUL-terminated */
} PathFacts;

/* What the conditions need besides the rules; once, before any rule is built. */
int conds_configure(PyObject *move_events, PyObject *write_events, long long write_flags);

/* A rule's conditions, or NULL with no exception when C cannot evaluate them
 * (SPEC is None, or a glob C does not support). NULL with an exception: bad input. */
CondSet *conds_build(PyObject *spec);

/* Whether the rule applies to this event: COND_APPLIES, COND_NOT or COND_PYTHON. */
int conds_apply(const CondSet *set, const char *event, PyObject *args, const Shape *shape, PathFacts *facts);

void facts_clear(PathFacts *facts);

PyObject *tp_glob_match(PyObject *module, PyObject *args);

#endif
