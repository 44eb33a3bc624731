/* The checks on one file read as code, in C: the open_code hook's, the guard's
 * (guard.c) and `tpython trust check`'s, with every rule here once.
 *
 * In SPEC 3.1's order, on bytes read once: a regular file (its real path the kernel's
 * own name for it), not on a noexec mount, not over the size limit, not refused by the
 * kernel's AT_EXECVE_CHECK when SECBIT_EXEC_RESTRICT_FILE asks for that; then, where a
 * trust source is configured, the SHA-256 of the bytes read, which a source must vouch
 * for when trust is required (trust.c). The bytes that were checked are the bytes the
 * loader gets: an in-memory file of the _io.BytesIO type captured at installation.
 *
 * A refusal is recorded (tpython.integrity, into the record chain of record.c) and
 * raised with the exception classes captured at installation, built by the C
 * constructors of their bases: no Python function of tpython runs while a file is
 * checked, so replacing one (through sys.modules or a class) changes nothing here.
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
#include "record.h"
#include "trust.h"

#define OPEN_FLAGS (O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)
#define READ_CHUNK (1 << 16)

/* Captured at installation, in the main interpreter, and never replaced. */
static int installed;
static TrustConfig config;
static PyObject *bytes_io;       /* _io.BytesIO */
static PyObject *code_refused;   /* tpython.integrity.hook.CodeRefused (an ImportError) */
static PyObject *cache_refused;  /* tpython.integrity.hook.CacheRefused (a PermissionError) */
static PyInterpreterState *main_interp;

const TrustConfig *
trust_installed(void)
{
    return installed ? &config : NULL;
}

int
code_checks_install(PyObject *trust, PyObject *code_cls, PyObject *cache_cls)
{
    if (installed) {
        PyErr_SetString(PyExc_RuntimeError, "tpython's integrity checks are already installed");
        return -1;
    }
    if (!PyType_Check(code_cls) || !PyType_IsSubtype((PyTypeObject *)code_cls, (PyTypeObject *)PyExc_ImportError)
        || !PyType_Check(cache_cls)
        || !PyType_IsSubtype((PyTypeObject *)cache_cls, (PyTypeObject *)PyExc_PermissionError)
        ) {
        PyErr_SetString(PyExc_TypeError, "install_open_code(config, CodeRefused, CacheRefused)");
        return -1;
    }
    PyObject *io = PyImport_ImportModule("_io");
    PyObject *type = io == NULL ? NULL : PyObject_GetAttrString(io, "BytesIO");
    Py_XDECREF(io);
    if (type == NULL || trust_parse(trust, &config) < 0) {
        Py_XDECREF(type);
        return -1;
    }
    bytes_io = type;
    Py_INCREF(code_cls);
    code_refused = code_cls;
    Py_INCREF(cache_cls);
    cache_refused = cache_cls;
    main_interp = PyInterpreterState_Get();
    installed = 1;
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

static int
kernel_refuses(const TrustConfig *cfg, int fd, const char *real, int *err)
{
    if (!cfg->kernel_check || (tp_securebits_now() & TP_SECBIT_EXEC_RESTRICT_FILE) == 0) {
        return 0;
    }
    *err = tp_execve_check_errno(fd, real);
    return *err != 0 && !tp_execve_check_unsupported(*err);
}

int
check_file(const TrustConfig *cfg, PyObject *path, Verdict *v)
{
    memset(v, 0, sizeof *v);
    PyObject *encoded = PyUnicode_EncodeFSDefault(path);
    if (encoded == NULL) {
        return -1;
    }
    int fd = open_real(PyBytes_AS_STRING(encoded), v->real);
    int saved = errno;
    Py_DECREF(encoded);
    if (fd < 0) {
        errno = saved;
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
        return -1;
    }
    char reason[160];
    reason[0] = '\0';
    struct stat st;
    struct statvfs vfs;
    int err = 0, rc = 0;
    if (fstat(fd, &st) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
    } else if (!S_ISREG(st.st_mode)) {
        snprintf(reason, sizeof reason, "not a regular file");
    } else if (fstatvfs(fd, &vfs) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
    } else if (vfs.f_flag & ST_NOEXEC) {
        snprintf(reason, sizeof reason, "on a noexec mount");
    } else if ((long long)st.st_size > cfg->max_size) {
        snprintf(reason, sizeof reason, "too large (%lld bytes; the limit is %lld)", (long long)st.st_size,
                 cfg->max_size);
    } else if (kernel_refuses(cfg, fd, v->real, &err)) {
        snprintf(reason, sizeof reason, "refused by the kernel (execveat AT_EXECVE_CHECK: %s)", strerror(err));
    } else if ((v->data = read_all(fd, (long long)st.st_size)) != NULL) {
        if ((long long)PyBytes_GET_SIZE(v->data) > cfg->max_size) {
            snprintf(reason, sizeof reason, "too large (grew past the limit of %lld bytes while read)", cfg->max_size);
        } else {
            if (cfg->manifest_path != NULL || cfg->xattr) {
                trust_sha256(PyBytes_AS_STRING(v->data), (size_t)PyBytes_GET_SIZE(v->data), v->hex);
            }
            rc = trust_vouch(cfg, fd, v); /* a refusal here keeps the digest for the record */
        }
    }
    close(fd);
    if (reason[0] != '\0') {
        v->reason = PyUnicode_FromString(reason);
        rc = v->reason == NULL ? -1 : 0;
    } else if (v->data == NULL || PyErr_Occurred()) {
        rc = -1;
    }
    if (rc < 0) {
        verdict_clear(v);
    }
    return rc;
}

/* ---- refusals ------------------------------------------------------------- */

/* The source file of a `__pycache__` file (importlib's source_from_cache), when it is
 * a regular file: OUT receives its path. */
static int
source_of_cache(const char *path, char *out, size_t size)
{
    size_t n = strlen(path);
    const char *slash = strrchr(path, '/');
    if (slash == NULL || n < 4 || strcmp(path + n - 4, ".pyc") != 0) {
        return 0;
    }
    const char *name = slash + 1;
    size_t head = (size_t)(slash - path);
    static const char pycache[] = "/__pycache__";
    size_t plen = sizeof pycache - 1;
    if (head < plen || memcmp(path + head - plen, pycache, plen) != 0) {
        return 0;
    }
    int dots = 0;
    for (const char *p = name; *p; p++) {
        dots += *p == '.';
    }
    if (dots == 3) { /* NAME.TAG.opt-N.pyc */
        const char *opt = strchr(strchr(name, '.') + 1, '.') + 1;
        const char *end = strchr(opt, '.');
        if (strncmp(opt, "opt-", 4) != 0 || end == opt + 4) {
            return 0;
        }
        for (const char *p = opt + 4; p < end; p++) {
            if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))) {
                return 0;
            }
        }
    }
    else if (dots != 2) {
        return 0;
    }
    int len = snprintf(out, size, "%.*s/%.*s.py", (int)(head - plen), path, (int)(strchr(name, '.') - name), name);
    struct stat st;
    return len > 0 && (size_t)len < size && stat(out, &st) == 0 && S_ISREG(st.st_mode);
}

static int
json_member(Buf *b, const char *key, PyObject *value)
{
    return buf_puts(b, ",\"") < 0 || buf_puts(b, key) < 0 || buf_puts(b, "\":") < 0
           || (value == NULL ? buf_puts(b, "null") : buf_json_str(b, value, -1)) < 0 ? -1 : 0;
}

/* The tpython.integrity record, from C: into the chain (and its Python sinks, from the
 * main interpreter). Before the chain starts there is nothing to record into: refused
 * all the same. */
static void
record_refusal(const Buf *args, int in_main)
{
    if (!chain_is_ready()) {
        return;
    }
    int feed = in_main && chain_has_listener();
    char py_lost[1024] = "";
    if (feed) {
        chain_py_lost(py_lost, sizeof py_lost);
    }
    Buf line;
    buf_init(&line);
    int delivered;
    long long seq = chain_record(&line, "tpython.integrity", args->data, args->len, "deny", 1, "integrity", "null",
                                 "null", "", py_lost, &delivered);
    if (seq >= 0 && feed) {
        chain_feed_python(line.data, line.len);
        PyErr_Clear();
    }
    buf_free(&line);
}

/* An instance of CLS built by BASE's C constructor (no __init__ or __new__ of CLS runs),
 * raised. A class no longer derived from BASE is not used: BASE is. */
static void
raise_new(PyObject *cls, PyObject *base, PyObject *message, PyObject *kwargs)
{
    if (cls == NULL || !PyType_Check(cls) || !PyType_IsSubtype((PyTypeObject *)cls, (PyTypeObject *)base)) {
        cls = base;
    }
    PyTypeObject *b = (PyTypeObject *)base;
    PyObject *args = PyTuple_Pack(1, message);
    PyObject *exc = args == NULL ? NULL : b->tp_new((PyTypeObject *)cls, args, NULL);
    if (exc != NULL && b->tp_init(exc, args, kwargs) < 0) {
        Py_CLEAR(exc);
    }
    Py_XDECREF(args);
    if (exc != NULL) {
        PyErr_SetObject((PyObject *)Py_TYPE(exc), exc);
        Py_DECREF(exc);
    }
}

PyObject *
integrity_refuse(PyObject *path, PyObject *reason, const char *key, PyObject *value, PyObject *fallback,
                 PyObject *cache_message)
{
    int in_main = PyInterpreterState_Get() == main_interp;
    Buf args;
    buf_init(&args);
    if (buf_puts(&args, "{\"path\":") == 0 && buf_json_str(&args, path, -1) == 0
        && json_member(&args, "reason", reason) == 0 && json_member(&args, key, value) == 0
        && (fallback == NULL || json_member(&args, "fallback", fallback) == 0) && buf_puts(&args, "}") == 0) {
        record_refusal(&args, in_main);
    }
    buf_free(&args);
    PyErr_Clear(); /* a record that could not be made: the file is refused all the same */
    if (cache_message != NULL) {
        raise_new(in_main ? cache_refused : NULL, PyExc_PermissionError, cache_message, NULL);
        return NULL;
    }
    PyObject *message = PyUnicode_FromFormat("tpython: refused to read %U as code: %U", path, reason);
    PyObject *kwargs = message == NULL ? NULL : Py_BuildValue("{s:O}", "path", path);
    if (kwargs != NULL) {
        raise_new(in_main ? code_refused : NULL, PyExc_ImportError, message, kwargs);
    }
    Py_XDECREF(message);
    Py_XDECREF(kwargs);
    if (PyErr_Occurred()) {
        PyObject *type, *exc, *tb;
        PyErr_Fetch(&type, &exc, &tb);
        PyErr_NormalizeException(&type, &exc, &tb);
        if (exc != NULL && PyErr_GivenExceptionMatches(exc, PyExc_ImportError)) {
            PyObject *name = PyUnicode_FromString("reason");
            if (name == NULL || PyObject_GenericSetAttr(exc, name, reason) < 0) {
                PyErr_Clear();
            }
            Py_XDECREF(name);
        }
        PyErr_Restore(type, exc, tb);
    }
    return NULL;
}

/* A refusal by the open_code hook: a cached .pyc whose source is there, and a .pth file,
 * are refused as CacheRefused (the import system reads the source; site skips the file). */
static PyObject *
refuse_open(Verdict *v)
{
    PyObject *path = PyUnicode_DecodeFSDefault(v->real);
    PyObject *digest = v->hex[0] ? PyUnicode_FromString(v->hex) : NULL;
    if (path == NULL || (v->hex[0] && digest == NULL)) {
        Py_XDECREF(path);
        return NULL;
    }
    char source[PATH_MAX];
    size_t n = strlen(v->real);
    PyObject *fallback = NULL, *message = NULL;
    if (source_of_cache(v->real, source, sizeof source)) {
        fallback = PyUnicode_DecodeFSDefault(source);
        message = fallback == NULL ? NULL : PyUnicode_FromFormat("tpython: refused cached byte-code %U: %U; using %U",
                                                                 path, v->reason, fallback);
    }
    else if (n >= 4 && strcmp(v->real + n - 4, ".pth") == 0) {
        fallback = PyUnicode_FromString("skipped");
        message = PyUnicode_FromFormat("tpython: refused path configuration file %U: %U", path, v->reason);
    }
    if (fallback == NULL || message != NULL) {
        PyErr_Clear();
        integrity_refuse(path, v->reason, "sha256", digest, fallback, message);
    }
    Py_XDECREF(fallback);
    Py_XDECREF(message);
    Py_XDECREF(digest);
    Py_DECREF(path);
    return NULL;
}

/* Accepted under `require`: the bytes are vouched for in this run (for a .pyc also its
 * body after the 16-byte header, as importlib unmarshals it), for the guard. */
static int
remember(const Verdict *v)
{
    size_t n = strlen(v->real);
    Py_ssize_t size = PyBytes_GET_SIZE(v->data);
    if (trusted_add(v->hex) < 0) {
        return -1;
    }
    if (n >= 4 && strcmp(v->real + n - 4, ".pyc") == 0 && size > 16) {
        char body[65];
        trust_sha256(PyBytes_AS_STRING(v->data) + 16, (size_t)(size - 16), body);
        return trusted_add(body);
    }
    return 0;
}

PyObject *
code_checks_open(PyObject *path)
{
    Verdict v;
    if (check_file(&config, path, &v) < 0) {
        return NULL;
    }
    if (v.reason != NULL) {
        refuse_open(&v);
        verdict_clear(&v);
        return NULL;
    }
    PyObject *file = NULL;
    if ((!config.require || remember(&v) == 0) && (file = PyObject_CallOneArg(bytes_io, v.data)) != NULL
        && PyObject_SetAttrString(file, "name", path) < 0) {
        Py_CLEAR(file);
    }
    verdict_clear(&v);
    return file;
}
