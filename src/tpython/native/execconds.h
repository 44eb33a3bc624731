/* `executable` conditions in C (execconds.c). */
#ifndef TPYTHON_EXECCONDS_H
#define TPYTHON_EXECCONDS_H
#include <Python.h>

#include "conditions.h"
#include "globs.h"

typedef struct {
    int strict_all;
    GlobList slashed;  /* globs with a slash: the whole path */
    GlobList bare;     /* globs without: the program's file name */
} ExeCond;

/* FACTS: condition_facts of c_options (eventargs' programs, shell, program_lists). */
int execconds_configure(PyObject *facts);
/* ("executable", strict_all, (slashed glob tokens, ...), (bare glob tokens, ...)) */
int exe_cond_build(PyObject *spec, ExeCond *c);
/* F->exes (facts.event_executables), once: 1, or COND_UNKNOWN. FROM: where a relative
 * name is found from when the event names no directory (a path, or NULL: ours). */
int exe_facts_from(EventFacts *f, const char *event, PyObject *args, PyObject *from);
/* 1, 0 or COND_UNKNOWN */
int exe_cond_holds(const ExeCond *c, const char *event, PyObject *args, EventFacts *f);

#endif
