/* The checks on one file read as code, in C, where no trust source is configured.
 *
 * tpython.integrity.checks.check_file's steps 1-4, in its order and with its reasons:
 * a regular file (its real path the kernel's own name for it), not on a noexec
 * mount, not over the size limit, and not refused by the kernel's AT_EXECVE_CHECK
 * when SECBIT_EXEC_RESTRICT_FILE asks for that; then the bytes, read once, go to
 * the loader. Step 5 (a trust source vouching for the SHA-256 of the bytes) is
 * Python's: with a source or `require` configured, the Python checks run instead.
 *
 * Done here, every import costs a few system calls instead of a Python call of
 * about 8 µs, and `tpython run` does not load the Python checks at all. A refusal
 * is recorded and raised by the Python callable given at installation (the same
 * code that does it for the Python checks); the decision is C's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "codecheck.h"
#include "kernel.h"

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK) /* as checks._OPEN_FLAGS */
#define READ_CHUNK (1 << 16)

static long long max_size;
static int kernel_check;
static PyObject *code_file; /* tpython.integrity.hook.code_file(data, name): the file handed to the loader */
static PyObject *refuse;    /* refuse(real_path, reason): records the refusal and raises */

int
code_checks_configure(PyObject *config)
{
    PyObject *make_file, *refuse_callable;
    if (!PyArg_ParseTuple(config, "LpOO:checks", &max_size, &kernel_check, &make_file, &refuse_callable)) {
        return -1;
    }
    if (!PyCallable_Check(make_file) || !PyCallable_Check(refuse_callable)) {
        PyErr_SetString(PyExc_TypeError, "checks: (max_size, kernel_check, code_file, refuse) with callables");
        return -1;
    }
    Py_INCREF(make_file);
    Py_INCREF(refuse_callable);
    code_file = make_file;
    refuse = refuse_callable;
    return 0;
}

/* PATH opened, and its real path in REAL: the kernel's own name for the open file
 * (/proc/self/fd/N); where /proc cannot tell (not mounted, the file deleted), the
 * path realpath(3) gives, opened again (checks._open_real). -1 with errno set. */
static int
open_real(const char *path, char *real)
{
    int fd;
    Py_BEGIN_ALLOW_THREADS
    fd = open(path, OPEN_FLAGS);
    Py_END_ALLOW_THREADS
    if (fd < 0) {
        return -1;
    }
    char link[64];
    snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(link, real, PATH_MAX - 1);
    static const char deleted[] = " (deleted)";
    size_t tail = sizeof deleted - 1;
    if (n > 0 && n < PATH_MAX - 1 && real[0] == '/'
        && !((size_t)n >= tail && memcmp(real + n - tail, deleted, tail) == 0)) {
        real[n] = '\0';
        return fd;
    }
    close(fd);
    if (realpath(path, real) == NULL) {
        return -1;
    }
    Py_BEGIN_ALLOW_THREADS
    fd = open(real, OPEN_FLAGS);
    Py_END_ALLOW_THREADS
    return fd;
}

/* The whole file, in chunks as checks._read_all reads it; NULL with an OSError set. */
static PyObject *
read_all(int fd, long long size_hint)
{
    Py_ssize_t capacity = (Py_ssize_t)(size_hint > 0 ? size_hint : 0) + 1, length = 0;
    PyObject *data = PyBytes_FromStringAndSize(NULL, capacity);
    for (;;) {
        if (data == NULL) {
            return NULL;
        }
        if (length == capacity) {
            capacity += capacity > READ_CHUNK ? capacity : READ_CHUNK;
            if (_PyBytes_Resize(&data, capacity) < 0) {
                return NULL;
            }
        }
        ssize_t n;
        Py_BEGIN_ALLOW_THREADS
        n = read(fd, PyBytes_AS_STRING(data) + length, (size_t)(capacity - length));
        Py_END_ALLOW_THREADS
        if (n < 0 && errno == EINTR) {
            if (PyErr_CheckSignals() < 0) {
                Py_DECREF(data);
                return NULL;
            }
            continue;
        }
        if (n < 0) {
            Py_DECREF(data);
            return PyErr_SetFromErrno(PyExc_OSError);
        }
        if (n == 0) {
            break;
        }
        length += n;
    }
    if (_PyBytes_Resize(&data, length) < 0) {
        return NULL;
    }
    return data;
}

/* Hand the refusal to Python, which records it and raises; should it not raise, the
 * file is refused all the same. */
static PyObject *
refused(const char *real, const char *reason)
{
    PyObject *path = PyUnicode_DecodeFSDefault(real);
    PyObject *result = path == NULL ? NULL : PyObject_CallFunction(refuse, "Os", path, reason);
    if (result != NULL) {
        Py_DECREF(result);
        PyErr_Format(PyExc_ImportError, "tpython: refused to read %U as code: %s", path, reason);
    }
    Py_XDECREF(path);
    return NULL;
}

static int
kernel_refuses(int fd, const char *real, int *err)
{
    if (!kernel_check || (tp_securebits_now() & TP_SECBIT_EXEC_RESTRICT_FILE) == 0) {
        return 0;
    }
    *err = tp_execve_check_errno(fd, real);
    return *err != 0 && !tp_execve_check_unsupported(*err);
}

PyObject *
code_checks_open(PyObject *path)
{
    PyObject *encoded = PyUnicode_EncodeFSDefault(path);
    if (encoded == NULL) {
        return NULL;
    }
    char real[PATH_MAX];
    int fd = open_real(PyBytes_AS_STRING(encoded), real);
    if (fd < 0) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
        Py_DECREF(encoded);
        return NULL;
    }
    Py_DECREF(encoded);
    char reason[160];
    reason[0] = '\0';
    struct stat st;
    struct statvfs vfs;
    int err = 0;
    PyObject *data = NULL;
    if (fstat(fd, &st) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(reason, sizeof reason, "not a regular file");
    } else if (fstatvfs(fd, &vfs) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
    } else if (vfs.f_flag & ST_NOEXEC) {
        snprintf(reason, sizeof reason, "on a noexec mount");
    } else if ((long long)st.st_size > max_size) {
        snprintf(reason, sizeof reason, "too large (%lld bytes; the limit is %lld)", (long long)st.st_size, max_size);
    } else if (kernel_refuses(fd, real, &err)) {
        snprintf(reason, sizeof reason, "refused by the kernel (execveat AT_EXECVE_CHECK: %s)", strerror(err));
    } else {
        data = read_all(fd, (long long)st.st_size);
    }
    close(fd);
    if (reason[0] != '\0') {
        return refused(real, reason);
    }
    if (data == NULL) {
        return NULL;
    }
    if ((long long)PyBytes_GET_SIZE(data) > max_size) {
        Py_DECREF(data);
        snprintf(reason, sizeof reason, "too large (grew past the limit of %lld bytes while read)", max_size);
        return refused(real, reason);
    }
    PyObject *file = PyObject_CallFunctionObjArgs(code_file, data, path, NULL);
    Py_DECREF(data);
    return file;
}
