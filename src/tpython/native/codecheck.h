/* The checks on one file read as code, in C (codecheck.c). */
#ifndef TPYTHON_CODECHECK_H
#define TPYTHON_CODECHECK_H
#include <Python.h>

/* The configuration (trust.c's trust_parse), the exception classes to raise and, where
 * C keeps no record chain, record(args_json). Once; 0, or -1 with an exception. */
int code_checks_install(PyObject *config, PyObject *code_refused, PyObject *cache_refused);
/* PATH (a str) checked and read: an in-memory file of the checked bytes named PATH, or
 * NULL with the refusal raised (or an OSError: a file that cannot be opened or read). */
PyObject *code_checks_open(PyObject *path);

#endif
