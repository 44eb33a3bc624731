/* POSIX regular expressions under C.UTF-8, for `arg` conditions (regex.c). */
#ifndef TPYTHON_REGEX_H
#define TPYTHON_REGEX_H
#include <Python.h>

extern PyTypeObject RegexType;

/* 1 match, 0 none, -1 the C library failed; TEXT is UTF-8 without line breaks. */
int regex_search_utf8(PyObject *regex, const char *text);

#endif
