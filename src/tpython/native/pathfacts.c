/* Facts about the files an event names, for `path` and `write` conditions.
 *
 * The same facts the log analysis reads from logged values (tpython.engine.facts.event_paths / is_write):
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
#include "pathobj.h"

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
            if (overflow) { /* flags & WRITE_FLAGS of a big int: its low bits, as int's own & reads them */
                PyObject *mask = PyLong_FromLongLong(write_flags);
                PyObject *both = mask ? PyNumber_And(flags, mask) : NULL;
                v = both ? PyLong_AsLongLong(both) : -1;
                Py_XDECREF(mask);
                Py_XDECREF(both);
            }
            if (v == -1 && PyErr_Occurred()) {
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

/* render.path_text of VALUE, fs-encoded: 1 with *TEXT and *LEN (*KEEP: a reference to
 * release), or COND_UNKNOWN (no text: the program's own type, a huge int, a pathlib path
 * C cannot read: pathobj.c). FD_TEXT: PATH_MAX bytes for an fd's path. */
static int
path_bytes(PyObject *value, char *fd_text, const char **text, Py_ssize_t *len, PyObject **keep)
{
    *keep = NULL;
    if (PyUnicode_Check(value)) {
        *keep = PyUnicode_EncodeFSDefault(value); /* os.fsencode */
    }
    else if (PyBytes_Check(value)) {
        *text = PyBytes_AS_STRING(value);
        *len = PyBytes_GET_SIZE(value);
        return 1;
    }
    else if (PyByteArray_Check(value)) {
        *text = PyByteArray_AS_STRING(value);
        *len = PyByteArray_GET_SIZE(value);
        return 1;
    }
    else if (Py_IS_TYPE(value, &PyMemoryView_Type)) {
        *keep = PyBytes_FromObject(value); /* released: no text */
    }
    else if (PyLong_CheckExact(value)) { /* an fd: what /proc says it is, else "fd:N" (as Python does) */
        int overflow = 0;
        long fd = PyLong_AsLongAndOverflow(value, &overflow);
        if (overflow) { /* "fd:N", up to render.MAX_INT_BITS */
            PyObject *bits = PyNumber_ToBase(value, 2);
            PyObject *digits = bits && PyUnicode_GET_LENGTH(bits) <= 1024 + 3 ? PyNumber_ToBase(value, 10) : NULL;
            PyObject *named = digits ? PyUnicode_FromFormat("fd:%U", digits) : NULL;
            Py_XDECREF(bits);
            Py_XDECREF(digits);
            *keep = named ? PyUnicode_EncodeFSDefault(named) : NULL;
            Py_XDECREF(named);
        }
        else {
            if (fd_path(fd, fd_text, PATH_MAX) < 0) {
                snprintf(fd_text, PATH_MAX, "fd:%ld", fd);
            }
            *text = fd_text;
            *len = (Py_ssize_t)strlen(fd_text);
            return 1;
        }
    }
    else {
        PyObject *path = pathobj_text(value); /* a pathlib path: its text, as os.fspath gives it */
        if (path == NULL) {
            return COND_UNKNOWN;
        }
        *keep = PyUnicode_EncodeFSDefault(path);
        Py_DECREF(path);
    }
    if (*keep == NULL) {
        PyErr_Clear();
        return COND_UNKNOWN;
    }
    *text = PyBytes_AS_STRING(*keep);
    *len = PyBytes_GET_SIZE(*keep);
    return 1;
}

/* facts._cwd: the working directory, or where it was once removed, into BUF; -1: unknown. */
static int
cwd_of(char *buf)
{
    if (getcwd(buf, PATH_MAX) != NULL) {
        return 0;
    }
    ssize_t n = readlink("/proc/self/cwd", buf, PATH_MAX - 1);
    if (n <= 0) {
        return -1;
    }
    buf[n] = '\0';
    size_t deleted = strlen(" (deleted)");
    if ((size_t)n > deleted && strcmp(buf + n - deleted, " (deleted)") == 0) {
        buf[n - deleted] = '\0';
    }
    return buf[0] == '/' ? 0 : -1;
}

/* facts._add_candidates: ABSOLUTE (normalised), then the real path of WALKED when it differs.
 * REAL, TMP: PATH_MAX bytes each. */
static int
add_candidates(EventFacts *f, const char *absolute, size_t n, const char *walked, size_t wlen, char *real, char *tmp)
{
    if (f->n >= FACT_PATHS || add_path(f, absolute, n) < 0) {
        return COND_PYTHON;
    }
    if (memchr(walked, '\0', wlen) != NULL) {
        return 1; /* names no file (the call fails) */
    }
    if (real_path(walked, real, tmp) < 0) {
        return COND_PYTHON;
    }
    size_t rlen = strlen(real);
    if ((rlen != n || memcmp(real, absolute, n) != 0) && (f->n >= FACT_PATHS || add_path(f, real, rlen) < 0)) {
        return COND_PYTHON;
    }
    return 1;
}

/* One path argument (and its dir_fd) -> its absolute and real paths; the path as given,
 * made absolute, in JOINED (PATH_MAX). BUF: 3 * PATH_MAX bytes of room. 1, or COND_*. */
static int
one_path(EventFacts *f, PyObject *value, PyObject *dir_fd, char *joined, size_t *joined_len, char *buf)
{
    PyObject *keep;
    const char *text;
    Py_ssize_t len;
    char *absolute = buf, *real = buf + PATH_MAX, *tmp = buf + 2 * PATH_MAX;
    int rc = path_bytes(value, tmp, &text, &len, &keep);
    if (rc != 1) {
        return rc;
    }
    rc = COND_PYTHON;
    size_t n = 0;
    if (len > 0 && text[0] == '\0') { /* an abstract unix socket: as it is */
        rc = f->n < FACT_PATHS && add_path(f, text, (size_t)len) == 0 ? 2 : COND_PYTHON;
        goto done;
    }
    if (len >= PATH_MAX) {
        goto done;
    }
    if (len == 0 || text[0] != '/') {
        ssize_t blen = -1;
        if (dir_fd != NULL && PyLong_CheckExact(dir_fd)) {
            int overflow = 0;
            long fd = PyLong_AsLongAndOverflow(dir_fd, &overflow);
            if (!overflow && fd >= 0 && fd < (1L << 31)) {
                blen = fd_path(fd, joined, PATH_MAX);
            }
        }
        if (blen < 0) {
            if (cwd_of(joined) < 0) {
                rc = COND_UNKNOWN;
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
    if (n + (size_t)len >= PATH_MAX) {
        goto done;
    }
    memcpy(joined + n, text, (size_t)len);
    n += (size_t)len;
    joined[n] = '\0';
    *joined_len = n;
    /* realpath walks the path as given, as the kernel does: `..` after a symbolic link is
     * the parent of where the link leads, which the normalised path does not say */
    memcpy(absolute, joined, n + 1);
    size_t an = normpath(absolute, n);
    if (an == 0) {
        goto done;
    }
    rc = add_candidates(f, absolute, an, joined, n, real, tmp);
done:
    Py_XDECREF(keep);
    return rc;
}

/* facts._add_link_target: where a symbolic link at LINK (absolute, as given) whose text
 * is TARGET points: a relative target from the link's directory. BUF: 4 * PATH_MAX. */
static int
add_link_target(EventFacts *f, const char *target, size_t tlen, const char *link, size_t llen, char *buf)
{
    char *lexical = buf, *walked = buf + PATH_MAX, *real = buf + 2 * PATH_MAX, *tmp = buf + 3 * PATH_MAX;
    if (tlen >= PATH_MAX || llen >= PATH_MAX) {
        return COND_PYTHON;
    }
    if (tlen > 0 && target[0] == '/') {
        memcpy(lexical, target, tlen);
        size_t n = normpath(lexical, tlen);
        return n == 0 ? COND_PYTHON : add_candidates(f, lexical, n, target, tlen, real, tmp);
    }
    /* dirname(normpath(link)) joined with the target; and dirname(link) joined with it */
    const char *dirs[2] = {lexical, walked};
    memcpy(lexical, link, llen);
    size_t lens[2] = {normpath(lexical, llen), llen};
    memcpy(walked, link, llen);
    for (int k = 0; k < 2; k++) {
        char *d = (char *)dirs[k];
        size_t n = lens[k];
        while (n > 0 && d[n - 1] != '/') {
            n--; /* the last component */
        }
        size_t keep = n;
        while (keep > 0 && d[keep - 1] == '/') {
            keep--;
        }
        n = keep > 0 ? keep : n; /* trailing slashes go, unless it is all slashes */
        if (n + 1 + tlen >= PATH_MAX) {
            return COND_PYTHON;
        }
        if (n > 0 && d[n - 1] != '/') {
            d[n++] = '/';
        }
        memcpy(d + n, target, tlen);
        lens[k] = n + tlen;
        d[lens[k]] = '\0';
    }
    size_t n = normpath(lexical, lens[0]);
    return n == 0 ? COND_PYTHON : add_candidates(f, lexical, n, walked, lens[1], real, tmp);
}

/* facts._add_links: the targets of the symbolic links EVENT makes or renames. */
static int
add_links(EventFacts *f, PyObject *args, const int *new_link, const int *moved, char **joined, size_t *lens,
          const Shape *shape, char *buf)
{
    int at[2] = {-1, -1}; /* the shape slots of the link's name and of the moved name */
    for (int k = 0; k < SHAPE_MAX && shape->paths[k] >= 0; k++) {
        for (int w = 0; w < 2; w++) {
            const int *which = w == 0 ? new_link : moved;
            if (which != NULL && shape->paths[k] == which[1] && joined[k] != NULL) {
                at[w] = k;
            }
        }
    }
    if (new_link != NULL) {
        PyObject *value = arg_at(args, new_link[0]), *keep = NULL;
        const char *text;
        Py_ssize_t len;
        if (value != NULL && value != Py_None) {
            char *copy = NULL;
            int rc = path_bytes(value, buf, &text, &len, &keep);
            if (rc == 1 && at[0] < 0) {
                rc = COND_UNKNOWN; /* the new link's place is unknown */
            }
            else if (rc == 1 && (copy = malloc((size_t)len + 1)) == NULL) {
                rc = COND_PYTHON;
            }
            else if (rc == 1) { /* out of BUF, which add_link_target works in */
                memcpy(copy, text, (size_t)len);
                rc = add_link_target(f, copy, (size_t)len, joined[at[0]], lens[at[0]], buf);
            }
            free(copy);
            Py_XDECREF(keep);
            if (rc != 1) {
                return rc;
            }
        }
    }
    if (moved != NULL && at[1] >= 0) {
        int source = -1;
        for (int k = 0; k < SHAPE_MAX && shape->paths[k] >= 0; k++) {
            source = shape->paths[k] == moved[0] && joined[k] != NULL ? k : source;
        }
        if (source >= 0 && memchr(joined[source], '\0', lens[source]) == NULL) {
            char *target = buf + 3 * PATH_MAX;
            ssize_t n = readlink(joined[source], target, PATH_MAX - 1); /* a link moves (or links) as itself */
            if (n >= 0) {
                char *t = malloc((size_t)n + 1);
                if (t == NULL) {
                    return COND_PYTHON;
                }
                memcpy(t, target, (size_t)n);
                int rc = add_link_target(f, t, (size_t)n, joined[at[1]], lens[at[1]], buf);
                free(t);
                return rc;
            }
        }
    }
    return 1;
}

/* tpython.engine.facts.event_paths: 1 with F's paths, COND_UNKNOWN (a path that cannot be
 * known; any after a chroot) or COND_PYTHON. An event without a shape has no paths, but
 * for a socket's AF_UNIX address (eventargs.SOCKET_ADDRESS_ARGS). NEW_LINK: (position of
 * a new link's target text, of the link) when EVENT makes one; MOVED: (position of a
 * name, of its new name) when EVENT may give a symbolic link a new name. */
int
event_paths(EventFacts *f, const char *event, PyObject *args, const Shape *shape, const int *new_link,
            const int *moved)
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
    char *buf = malloc((4 + SHAPE_MAX) * PATH_MAX); /* not the stack: the program chooses its threads' stack sizes */
    if (buf == NULL) {
        f->state = COND_PYTHON;
        return COND_PYTHON;
    }
    char *joined[SHAPE_MAX] = {NULL};
    size_t lens[SHAPE_MAX] = {0};
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    int rc = 1;
    for (int k = 0; rc == 1 && k < SHAPE_MAX && shape->paths[k] >= 0; k++) {
        int pos = shape->paths[k], fd_pos = shape->dirfds[k];
        if (pos >= nargs || PyTuple_GET_ITEM(args, pos) == Py_None) {
            continue;
        }
        if (new_link != NULL && pos == new_link[0]) {
            continue; /* the target text: from the link's directory (add_links) */
        }
        PyObject *dir_fd = fd_pos >= 0 && fd_pos < nargs ? PyTuple_GET_ITEM(args, fd_pos) : NULL;
        rc = one_path(f, PyTuple_GET_ITEM(args, pos), dir_fd, buf + (4 + k) * PATH_MAX, &lens[k], buf);
        if (rc == 1) {
            joined[k] = buf + (4 + k) * PATH_MAX;
        }
        else if (rc == 2) {
            rc = 1; /* an abstract socket name: no place of its own */
        }
    }
    if (rc == 1 && (new_link != NULL || moved != NULL)) {
        rc = add_links(f, args, new_link, moved, joined, lens, shape, buf);
    }
    free(buf);
    f->state = rc;
    return rc;
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
