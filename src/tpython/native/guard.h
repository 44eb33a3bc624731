/* The integrity guard in the audit hook (guard.c). */
#ifndef TPYTHON_GUARD_H
#define TPYTHON_GUARD_H
#include <Python.h>

/* Switch the guard on (once, at installation, with the checks installed). 0, or -1. */
int guard_install(void);
/* EVENT with ARGS, before the policy decides it: 0 to go on, -1 with the refusal raised.
 * Cheap for every other event. */
int tp_guard(const char *event, PyObject *args);

#endif
