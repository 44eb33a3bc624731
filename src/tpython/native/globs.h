/* Globs matched in C (globs.c): the tokens of tpython.policy.patterns.native_glob_tokens. */
#ifndef TPYTHON_GLOBS_H
#define TPYTHON_GLOBS_H
#include <Python.h>

typedef struct GlobState GlobState;

typedef struct {
    GlobState *states;
    int n;
    int prefix;   /* leading literal states: the text's first characters, exactly */
    int suffix;   /* trailing literal states after those: its last characters */
    int min_len;  /* states that consume exactly one character */
} Glob;

typedef struct {
    Glob *globs;
    Py_ssize_t n;
} GlobList;

/* A tuple of tokens -> G. 0, or -1 with an exception. */
int glob_build(PyObject *tokens, Glob *g);
/* Whether the whole of the str matches: 1, 0, or -1 out of memory. */
int glob_match(const Glob *g, PyObject *str);
void glob_free(Glob *g);
/* A tuple of token tuples -> LIST. 0, or -1 with an exception. */
int globs_build(PyObject *tuple, GlobList *list);
/* Whether any glob of LIST matches the str: 1, 0, or -1 out of memory (and none matched). */
int globs_any(const GlobList *list, PyObject *str);

PyObject *tp_glob_match(PyObject *module, PyObject *args);

#endif
