/* The `ask` action in C: one question on the terminal tpython started on (ask.c), in
 * words (askwords.c). No Python code is consulted: the program cannot answer for itself. */
#ifndef TPYTHON_ASK_H
#define TPYTHON_ASK_H
#include <Python.h>

#include "conditions.h"
#include "render.h"

/* At install, before the program runs: the terminal identity tpython started on, what
 * the question needs of condition_facts (new_links), and the fork handler. 0, or -1. */
int ask_configure(PyObject *condition_facts);

/* Decide an `ask` of EVENT by RULE ("" or NULL: none), asking at the terminal (the GIL
 * released while the answer is awaited). *ANSWER is the record's answer ("yes", "no",
 * "no-terminal", "other-terminal"). 1: allowed, 0: refused, -1: refused with the
 * exception a signal handler of the program's raised while the question waited. */
int ask_decide(const char *event, PyObject *args, const Shape *shape, const char *rule, const char **answer);

/* Why an ask refused, for the PolicyViolation's message. */
const char *ask_refusal(const char *answer);

/* askwords.c: a sentence for the event (what would connect, run or be touched), PROGRAM
 * being the program a launch would really run (NULL: none is); a new str, or NULL. */
PyObject *ask_describe(const char *event, PyObject *args, const Shape *shape, EventFacts *facts, PyObject *program,
                       const int *new_link);
/* TEXT with every character a terminal would act on written as an escape; a new str. */
PyObject *ask_shown(PyObject *text);

#endif
