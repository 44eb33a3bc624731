/* The kernel's checks and protections (kernel.c). */
#ifndef TPYTHON_KERNEL_H
#define TPYTHON_KERNEL_H
#include <Python.h>
#include <errno.h>

PyObject *tp_securebits(PyObject *module, PyObject *unused);
PyObject *tp_execve_check(PyObject *module, PyObject *args);
PyObject *tp_execve_check_available(PyObject *module, PyObject *arg);
#define TP_SECBIT_EXEC_RESTRICT_FILE (1 << 8)
#define TP_SECBIT_EXEC_DENY_INTERACTIVE (1 << 10)

/* This process's securebits (0 when they cannot be read). */
int tp_securebits_now(void);
/* ERR (from tp_execve_check_errno) says the kernel has no AT_EXECVE_CHECK. */
static inline int
tp_execve_check_unsupported(int err)
{
    return err == EINVAL || err == ENOSYS;
}
/* The errno of execveat(FD, "", AT_EMPTY_PATH | AT_EXECVE_CHECK), or 0: it would execute. */
int tp_execve_check_errno(int fd, const char *name);
PyObject *tp_seccomp_filter(PyObject *module, PyObject *args);

#endif
