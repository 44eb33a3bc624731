/* Facts about the files an event names, for `path` and `write` conditions.
 *
 * The same facts as the Python engine (tpython.engine.facts.event_paths / is_write):
 * each path argument made absolute from its dir_fd or the working directory, and
 * its real path. Whatever C cannot work out exactly the way Python would (an
 * argument of another type, a path whose real path realpath(3) cannot give, a
 * changed root directory) answers COND_PYTHON.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "netconds.h"
#include "pathfacts.h"

static char **write_events;
static Py_ssize_t n_write;
static long long write_flags;
static dev_t root_dev;
static ino_t root_ino;

int
pathfacts_configure(PyObject *writes, long long flags)
{
    struct stat st;
    if (stat("/", &st) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    root_dev = st.st_dev; /* the root directory as it was at start (a chroot raises no event) */
    root_ino = st.st_ino;
    write_flags = flags;
    return cond_names(writes, &write_events, &n_write);
}

int
root_changed(void)
{
    struct stat st;
    return stat("/", &st) != 0 || st.st_dev != root_dev || st.st_ino != root_ino;
}

/* ---- facts: write -------------------------------------------------------- */

/* tpython.engine.facts.is_write */
int
is_write(const char *event, PyObject *args)
{
    if (strcmp(event, "open") == 0) {
        Py_ssize_t n = PyTuple_GET_SIZE(args);
        PyObject *mode = n > 1 ? PyTuple_GET_ITEM(args, 1) : NULL;
        PyObject *flags = n > 2 ? PyTuple_GET_ITEM(args, 2) : NULL;
        if (flags != NULL && PyLong_CheckExact(flags)) {
            int overflow = 0;
            long long v = PyLong_AsLongLongAndOverflow(flags, &overflow);
            if (overflow || (v == -1 && PyErr_Occurred())) {
                PyErr_Clear();
                return COND_PYTHON;
            }
            if (v & write_flags) {
                return 1;
            }
        }
        if (mode == NULL || !PyUnicode_Check(mode)) {
            return 0;
        }
        int kind = PyUnicode_KIND(mode);
        const void *data = PyUnicode_DATA(mode);
        for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(mode); i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c == 'w' || c == 'a' || c == 'x' || c == '+') {
                return 1;
            }
        }
        return 0;
    }
    return cond_named(write_events, n_write, event);
}

/* ---- facts: paths -------------------------------------------------------- */

/* posixpath.normpath of an absolute path, in place (the result is never longer). */
size_t
normpath(char *path, size_t len)
{
    size_t slashes = 1;
    if (len >= 2 && path[1] == '/' && (len < 3 || path[2] != '/')) {
        slashes = 2; /* POSIX keeps exactly two leading slashes */
    }
    size_t out = slashes, i = 0;
    size_t *starts = malloc((len / 2 + 2) * sizeof(size_t)); /* components are at least 2 apart */
    size_t depth = 0;
    if (starts == NULL) {
        return 0;
    }
    while (i < len) {
        while (i < len && path[i] == '/') {
            i++;
        }
        size_t begin = i;
        while (i < len && path[i] != '/') {
            i++;
        }
        size_t n = i - begin;
        if (n == 0 || (n == 1 && path[begin] == '.')) {
            continue;
        }
        if (n == 2 && path[begin] == '.' && path[begin + 1] == '.') {
            if (depth > 0) { /* `..` of the root is the root */
                out = starts[--depth];
            }
            continue;
        }
        size_t at = out;
        if (depth > 0) {
            path[out++] = '/';
        }
        starts[depth++] = at;
        memmove(path + out, path + begin, n);
        out += n;
    }
    free(starts);
    memset(path, '/', slashes);
    return out;
}

/* os.readlink("/proc/self/fd/FD") into BUF; -1 when it cannot be read. */
ssize_t
fd_path(long fd, char *buf, size_t size)
{
    char name[64];
    snprintf(name, sizeof name, "/proc/self/fd/%ld", fd);
    ssize_t n = readlink(name, buf, size - 1);
    if (n >= 0) {
        buf[n] = '\0';
    }
    return n;
}

/* os.path.realpath(PATH) (strict=False), PATH absolute and as given (not normalised), when
 * C can give exactly what Python would. The whole path exists: realpath(3). Otherwise
 * Python's walk: each component resolved from where the ones before it lead (`..` the
 * parent of that), and one that is not there (or under something that is not a
 * directory) taken as a plain name, as is the rest under it, a later `..` dropping it
 * again; a symbolic link on the way that does not resolve in full is Python's question.
 * TMP: PATH_MAX bytes. */
int
real_path(const char *path, char *out, char *tmp)
{
    if (realpath(path, out) != NULL) {
        return 0;
    }
    if (errno != ENOENT && errno != ENOTDIR) {
        return -1;
    }
    size_t len = 1, real_len = 1; /* OUT[:real_len] resolved and there; beyond it, plain names */
    out[0] = '/';
    out[1] = '\0';
    for (const char *p = path; *p != '\0';) {
        while (*p == '/') {
            p++;
        }
        const char *name = p;
        while (*p != '\0' && *p != '/') {
            p++;
        }
        size_t n = (size_t)(p - name);
        if (n == 0 || (n == 1 && name[0] == '.')) {
            continue;
        }
        if (n == 2 && name[0] == '.' && name[1] == '.') {
            while (len > 1 && out[len - 1] != '/') {
                len--;
            }
            if (len > 1) {
                len--; /* the slash, but never the root's */
            }
            out[len] = '\0';
            if (len < real_len) {
                real_len = len;
            }
            continue;
        }
        if (len + 1 + n >= PATH_MAX) {
            return -1;
        }
        size_t before = len;
        if (len > 1) {
            out[len++] = '/';
        }
        memcpy(out + len, name, n);
        len += n;
        out[len] = '\0';
        if (before > real_len) {
            continue; /* under a name that is not there: a plain name too */
        }
        struct stat st;
        if (lstat(out, &st) != 0) {
            if (errno != ENOENT && errno != ENOTDIR) {
                return -1;
            }
            continue; /* not there: from here on, plain names */
        }
        if (S_ISLNK(st.st_mode)) {
            if (realpath(out, tmp) == NULL) {
                return -1;
            }
            len = strlen(tmp);
            memcpy(out, tmp, len + 1);
        }
        real_len = len;
    }
    return 0;
}

static int
add_path(EventFacts *f, const char *path, size_t len)
{
    PyObject *s = PyUnicode_DecodeFSDefaultAndSize(path, (Py_ssize_t)len);
    if (s == NULL) {
        PyErr_Clear();
        return -1;
    }
    f->paths[f->n++] = s;
    return 0;
}

/* One path argument (and its dir_fd) -> its absolute and real paths, in BUF
 * (4 * PATH_MAX bytes: the joined path, it as given, the real one, an fd's path and then
 * room for real_path). */
static int
one_path(EventFacts *f, PyObject *value, PyObject *dir_fd, char *buf, int link_is_python)
{
    PyObject *encoded = NULL;
    char *fd_text = buf + 3 * PATH_MAX;
    const char *text;
    Py_ssize_t len;
    if (PyUnicode_Check(value)) {
        if ((encoded = PyUnicode_EncodeFSDefault(value)) == NULL) { /* os.fsencode */
            PyErr_Clear();
            return -1;
        }
        text = PyBytes_AS_STRING(encoded);
        len = PyBytes_GET_SIZE(encoded);
    }
    else if (PyBytes_Check(value)) {
        text = PyBytes_AS_STRING(value);
        len = PyBytes_GET_SIZE(value);
    }
    else if (PyByteArray_Check(value)) {
        text = PyByteArray_AS_STRING(value);
        len = PyByteArray_GET_SIZE(value);
    }
    else if (PyLong_CheckExact(value)) { /* an fd: what /proc says it is, else "fd:N" (as Python does) */
        long fd = PyLong_AsLong(value);
        if (fd == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return -1;
        }
        ssize_t n = fd_path(fd, fd_text, PATH_MAX);
        if (n < 0) {
            snprintf(fd_text, PATH_MAX, "fd:%ld", fd);
        }
        text = fd_text;
        len = (Py_ssize_t)strlen(fd_text);
    }
    else {
        return -1; /* a path object, or the program's own type */
    }
    int rc = -1;
    char *joined = buf, *walked = buf + PATH_MAX, *real = buf + 2 * PATH_MAX;
    size_t n = 0;
    if (len == 0 || (size_t)len != strlen(text) || len >= PATH_MAX) {
        goto done;
    }
    if (text[0] != '/') {
        ssize_t blen = -1;
        if (dir_fd != NULL && PyLong_CheckExact(dir_fd)) {
            long fd = PyLong_AsLong(dir_fd);
            if (fd == -1 && PyErr_Occurred()) {
                PyErr_Clear();
                goto done;
            }
            if (fd >= 0) {
                blen = fd_path(fd, joined, PATH_MAX);
            }
        }
        if (blen < 0) {
            if (getcwd(joined, PATH_MAX) == NULL) {
                goto done;
            }
            blen = (ssize_t)strlen(joined);
        }
        if (blen == 0 || joined[0] != '/') {
            goto done; /* "pipe:[...]" and the like: Python joins those differently */
        }
        n = (size_t)blen;
        if (joined[n - 1] != '/') {
            joined[n++] = '/';
        }
    }
    memcpy(joined + n, text, (size_t)len);
    n += (size_t)len;
    if (n >= PATH_MAX) {
        goto done;
    }
    joined[n] = '\0';
    /* realpath walks the path as given, as the kernel does: `..` after a symbolic link is
     * the parent of where the link leads, which the normalised path does not say */
    memcpy(walked, joined, n + 1);
    struct stat st;
    if (link_is_python && lstat(walked, &st) == 0 && S_ISLNK(st.st_mode)) {
        goto done; /* a symbolic link given a new name: its target is Python's to resolve */
    }
    n = normpath(joined, n);
    if (n == 0) {
        goto done;
    }
    joined[n] = '\0';
    if (real_path(walked, real, fd_text) < 0 || add_path(f, joined, n) < 0) {
        goto done;
    }
    size_t rlen = strlen(real);
    if ((rlen != n || memcmp(real, joined, n) != 0) && add_path(f, real, rlen) < 0) {
        goto done;
    }
    rc = 0;
done:
    Py_XDECREF(encoded);
    return rc;
}

/* tpython.engine.facts.event_paths: 1 with F's paths, COND_UNKNOWN (after a chroot: paths no
 * longer mean what they say) or COND_PYTHON. An event without a shape has no paths, but
 * for a socket's AF_UNIX address (eventargs.SOCKET_ADDRESS_ARGS). */
int
event_paths(EventFacts *f, const char *event, PyObject *args, const Shape *shape, int link_source)
{
    if (f->state != 0) {
        return f->state;
    }
    Shape unix_socket;
    if (shape == NULL) {
        int pos = net_unix_address(event, args);
        if (pos < 0) {
            f->state = 1; /* no path arguments */
            return 1;
        }
        memset(&unix_socket, -1, sizeof unix_socket);
        unix_socket.paths[0] = (signed char)pos;
        shape = &unix_socket;
    }
    if (root_changed()) {
        f->state = COND_UNKNOWN;
        return COND_UNKNOWN;
    }
    f->state = COND_PYTHON;
    char *buf = malloc(4 * PATH_MAX); /* not the stack: the program chooses its threads' stack sizes */
    if (buf == NULL) {
        return COND_PYTHON;
    }
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    for (int k = 0; k < SHAPE_MAX && shape->paths[k] >= 0; k++) {
        int pos = shape->paths[k], fd_pos = shape->dirfds[k];
        if (pos >= nargs || PyTuple_GET_ITEM(args, pos) == Py_None) {
            continue;
        }
        PyObject *dir_fd = fd_pos >= 0 && fd_pos < nargs ? PyTuple_GET_ITEM(args, fd_pos) : NULL;
        if (one_path(f, PyTuple_GET_ITEM(args, pos), dir_fd, buf, pos == link_source) < 0) {
            free(buf);
            return COND_PYTHON;
        }
    }
    free(buf);
    f->state = 1;
    return 1;
}

void
facts_clear(EventFacts *f)
{
    for (int i = 0; i < f->n; i++) {
        Py_CLEAR(f->paths[i]);
    }
    f->n = 0;
    f->state = 0;
    free(f->args_text);
    f->args_text = NULL;
    f->args_state = 0;
    Py_CLEAR(f->host);
    f->net_state = 0;
    Py_CLEAR(f->exes);
    f->exe_state = 0;
    Py_CLEAR(f->module);
    f->module_state = 0;
}
