/* tpython.errors.PolicyViolation, a static type raised from C (violation.c). */
#ifndef TPYTHON_VIOLATION_H
#define TPYTHON_VIOLATION_H
#include <Python.h>

#include "render.h"

extern PyTypeObject ViolationType;

/* Make the type ready (its base is PermissionError). 0, or -1 with an error. */
int tp_violation_ready(void);
/* Raise PolicyViolation for a denied EVENT (RULE NULL: the category default), naming the first
 * of SHAPE's path arguments in ARGS the program gave as text. Always returns -1. */
int tp_raise_violation(const char *event, const char *rule, const char *policy, const char *message, PyObject *args,
                       const Shape *shape);

#endif
