/* POSIX regular expressions under C.UTF-8, for `arg` conditions (regex.c). */
#ifndef TPYTHON_REGEX_H
#define TPYTHON_REGEX_H
#include <Python.h>

extern PyTypeObject RegexType;

/* Whether TEXT (LEN bytes of UTF-8) is one regexec reads as Python's re reads it:
 * no line break (Python's `.` and `$` differ there), no NUL inside. */
int regex_subject_ok(const char *text, size_t len);

/* 1 match, 0 none, -1 the C library failed; TEXT passed regex_subject_ok. */
int regex_search_utf8(PyObject *regex, const char *text);

#endif
