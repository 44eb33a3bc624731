/* The checks on one file read as code, in C (codecheck.c). */
#ifndef TPYTHON_CODECHECK_H
#define TPYTHON_CODECHECK_H
#include <Python.h>

/* CONFIG: (max_size, kernel_check, code_file, refuse). 0, or -1 with an exception. */
int code_checks_configure(PyObject *config);
/* PATH (a str) checked and read: code_file(data, PATH), or NULL with the exception
 * refuse() raised (or an OSError: a file that cannot be opened or read). */
PyObject *code_checks_open(PyObject *path);

#endif
