/* The kernel's own checks and protections, for tpython._native: securebits,
 * execveat(AT_EXECVE_CHECK), and loading the seccomp filter that refuses
 * xattr writes. Through ctypes these would leave ctypes loaded in the watched
 * interpreter; a few lines of C avoid that.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dispatch.h"
#include "kernel.h"

#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif
#ifndef AT_EXECVE_CHECK
#define AT_EXECVE_CHECK 0x10000
#endif
#ifndef PR_GET_SECUREBITS
#define PR_GET_SECUREBITS 27
#endif

#ifndef PR_SET_NO_NEW_PRIVS
#define PR_SET_NO_NEW_PRIVS 38
#endif
#ifndef PR_SET_SECCOMP
#define PR_SET_SECCOMP 22
#endif
#ifndef SECCOMP_MODE_FILTER
#define SECCOMP_MODE_FILTER 2
#endif

int
tp_securebits_now(void)
{
    int bits = prctl(PR_GET_SECUREBITS, 0, 0, 0, 0);
    return bits < 0 ? 0 : bits;
}

PyObject *
tp_securebits(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    return PyLong_FromLong(tp_securebits_now());
}

int
tp_execve_check_errno(int fd, const char *name)
{
#ifdef SYS_execveat
    char *argv[] = {(char *)name, NULL};
    char *envp[] = {NULL};
    long rc;
    Py_BEGIN_ALLOW_THREADS
    rc = syscall(SYS_execveat, fd, "", argv, envp, AT_EMPTY_PATH | AT_EXECVE_CHECK);
    Py_END_ALLOW_THREADS
    return rc == 0 ? 0 : errno;
#else
    (void)fd; (void)name;
    return ENOSYS;
#endif
}

/* execve_check(fd, name) -> 0 when the kernel would execute the file, else the errno
 * (EINVAL/ENOSYS: the kernel has no AT_EXECVE_CHECK). Nothing is executed. */
PyObject *
tp_execve_check(PyObject *module, PyObject *args)
{
    (void)module;
    int fd;
    const char *name;
    if (!PyArg_ParseTuple(args, "iy", &fd, &name)) {
        return NULL;
    }
    return PyLong_FromLong(tp_execve_check_errno(fd, name));
}

/* execve_check_available(path) -> whether this kernel understands AT_EXECVE_CHECK,
 * asked of the file PATH: any answer but EINVAL or ENOSYS (kernel.execve_check_available). */
PyObject *
tp_execve_check_available(PyObject *module, PyObject *arg)
{
    (void)module;
    PyObject *encoded;
    if (!PyUnicode_FSConverter(arg, &encoded)) {
        return NULL;
    }
    int fd = open(PyBytes_AS_STRING(encoded), O_RDONLY | O_CLOEXEC);
    int err = fd < 0 ? ENOSYS : tp_execve_check_errno(fd, PyBytes_AS_STRING(encoded));
    if (fd >= 0) {
        close(fd);
    }
    Py_DECREF(encoded);
    return PyBool_FromLong(!tp_execve_check_unsupported(err));
}

/* seccomp_filter(program) -> None, or (step, errno) for the step that failed:
 * set no_new_privs, then load PROGRAM (struct sock_filter[], built by
 * tpython.integrity.seccomp) for this thread, which is the only one. */
PyObject *
tp_seccomp_filter(PyObject *module, PyObject *args)
{
    (void)module;
    Py_buffer program;
    if (tp_refuse_sealed("seccomp_filter") < 0 || !PyArg_ParseTuple(args, "y*", &program)) {
        return NULL;
    }
    PyObject *result = NULL;
    if (program.len == 0 || program.len % sizeof(struct sock_filter) != 0
        || program.len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
        PyErr_SetString(PyExc_ValueError, "seccomp_filter: not a BPF program");
        goto done;
    }
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
        result = Py_BuildValue("(si)", "PR_SET_NO_NEW_PRIVS", errno);
        goto done;
    }
    struct sock_fprog prog = {
        .len = (unsigned short)(program.len / sizeof(struct sock_filter)),
        .filter = (struct sock_filter *)program.buf,
    };
    if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) != 0) {
        result = Py_BuildValue("(si)", "PR_SET_SECCOMP", errno);
        goto done;
    }
    Py_INCREF(Py_None);
    result = Py_None;
done:
    PyBuffer_Release(&program);
    return result;
}
