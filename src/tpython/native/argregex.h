/* `arg` conditions' regular expressions: PCRE2 (argregex.c). */
#ifndef TPYTHON_ARGREGEX_H
#define TPYTHON_ARGREGEX_H
#include <Python.h>

extern PyTypeObject RegexType;

/* A compiled pattern (a Regex object), or NULL with ValueError("bad regex ...: PCRE2's message"). */
PyObject *arg_regex_new(PyObject *pattern);
/* Whether REGEX finds a match in TEXT (LEN bytes of valid UTF-8): 1, 0, or -1 when PCRE2
 * gave up (a match or depth limit). */
int arg_regex_search(PyObject *regex, const char *text, size_t len);

#endif
