/* The second line behind the open_code hook, in the audit hook, in C.
 *
 * Code can reach the interpreter without io.open_code: extension modules are loaded
 * with dlopen, and a program can replace io.open_code or install its own finders and
 * loaders. Whatever the route, the code still passes an audit event, and the audit
 * hook (hook.c) hands these events here before the policy decides them:
 *
 * * `import` of an extension-module file: the file is checked (and its SHA-256 vouched
 *   for) before dlopen runs;
 * and under `require = true`:
 * * `compile` of source given a real file as its name, and `marshal.loads` of data
 *   holding a code object: the SHA-256 must be one the open_code hook vouched for in
 *   this run (for .pyc files, also the body after the 16-byte header), or the file
 *   named must pass the checks with exactly these bytes;
 * * `ctypes.dlopen`: the library file (found as the dynamic linker would, through
 *   LD_LIBRARY_PATH and the usual directories, for a bare name) must pass the checks;
 *   one tpython cannot find is refused.
 *
 * Compiling an AST, and code objects built in memory, carry no bytes to check; they
 * are logged as dynamic code. No Python function runs here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <frameobject.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dispatch.h"
#include "guard.h"
#include "trust.h"

#define ELLIPSIS "\xe2\x80\xa6"
#define CODE_TYPE 'c' /* marshal's TYPE_CODE; the high bit is FLAG_REF */

static int active;
static PyObject *frozen_codes;   /* the frozen importer's code objects (a tuple) */
static PyObject *frames_removed; /* importlib._bootstrap._call_with_frames_removed's code */

static const char *const LIBRARY_DIRS[] = {
    "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu",
    "/lib64", "/usr/lib64", "/lib", "/usr/lib", "/usr/local/lib", NULL};

/* The code objects of FrozenImporter's methods, captured at start: a frame running
 * exactly these is the import system unmarshalling a module frozen into the
 * interpreter binary (3.12+ raises marshal.loads for it). Identity, not names: a
 * program cannot make its own code object be one of these. */
static int
capture_frozen_codes(void)
{
    PyObject *bootstrap = PyImport_ImportModule("_frozen_importlib");
    PyObject *importer = bootstrap ? PyObject_GetAttrString(bootstrap, "FrozenImporter") : NULL;
    PyObject *members = importer ? PyObject_GetAttrString(importer, "__dict__") : NULL;
    PyObject *values = members ? PyMapping_Values(members) : NULL;
    PyObject *codes = values ? PyList_New(0) : NULL;
    PyObject *removed = bootstrap ? PyObject_GetAttrString(bootstrap, "_call_with_frames_removed") : NULL;
    int rc = codes != NULL && removed != NULL ? 0 : -1;
    for (Py_ssize_t i = 0; rc == 0 && i < PyList_GET_SIZE(values); i++) {
        PyObject *value = PyList_GET_ITEM(values, i);
        PyObject *func = PyObject_HasAttrString(value, "__func__") ? PyObject_GetAttrString(value, "__func__") : NULL;
        PyObject *target = func ? func : value;
        PyObject *code = PyObject_HasAttrString(target, "__code__") ? PyObject_GetAttrString(target, "__code__") : NULL;
        if (code != NULL && PyList_Append(codes, code) < 0) {
            rc = -1;
        }
        Py_XDECREF(code);
        Py_XDECREF(func);
    }
    if (rc == 0) {
        frames_removed = PyObject_GetAttrString(removed, "__code__");
        frozen_codes = PyList_AsTuple(codes);
        rc = frames_removed && frozen_codes ? 0 : -1;
    }
    Py_XDECREF(bootstrap);
    Py_XDECREF(importer);
    Py_XDECREF(members);
    Py_XDECREF(values);
    Py_XDECREF(codes);
    Py_XDECREF(removed);
    return rc;
}

int
guard_install(void)
{
    if (active || trust_installed() == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "the guard is installed once, after the checks");
        return -1;
    }
    if (capture_frozen_codes() < 0) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_RuntimeError, "tpython: the import system's parts cannot be found");
        }
        return -1;
    }
    active = 1;
    return 0;
}

/* ---- the checks ---------------------------------------------------------- */

static int
refuse(PyObject *path, PyObject *reason, const char *event)
{
    PyObject *name = PyUnicode_FromString(event);
    if (name != NULL) {
        integrity_refuse(path, reason, "event", name, NULL, NULL);
    }
    Py_XDECREF(name);
    return -1;
}

static int
refuse_text(const char *path, const char *reason, const char *event)
{
    PyObject *p = PyUnicode_DecodeFSDefault(path), *r = PyUnicode_FromString(reason);
    if (p != NULL && r != NULL) {
        refuse(p, r, event);
    }
    Py_XDECREF(p);
    Py_XDECREF(r);
    return -1;
}

/* PATH checked: 0 when it passes, -1 refused or failed. Where it cannot be read,
 * CANNOT_READ says whether that is a refusal ("cannot be read: ...") or the error. */
static int
check_path(PyObject *path, const char *event, int cannot_read)
{
    Verdict v;
    if (check_file(trust_installed(), path, &v) < 0) {
        if (!cannot_read || !PyErr_ExceptionMatches(PyExc_OSError)) {
            return -1;
        }
        PyObject *type, *exc, *tb;
        PyErr_Fetch(&type, &exc, &tb);
        PyErr_NormalizeException(&type, &exc, &tb);
        PyObject *why = exc ? PyObject_GetAttrString(exc, "strerror") : NULL;
        PyObject *reason = why ? PyUnicode_FromFormat("cannot be read: %S", why) : NULL;
        Py_XDECREF(type);
        Py_XDECREF(exc);
        Py_XDECREF(tb);
        Py_XDECREF(why);
        if (reason != NULL) {
            refuse(path, reason, event);
        }
        Py_XDECREF(reason);
        return -1;
    }
    int rc = 0;
    if (v.reason != NULL) {
        PyObject *real = PyUnicode_DecodeFSDefault(v.real);
        if (real != NULL) {
            refuse(real, v.reason, event);
        }
        Py_XDECREF(real);
        rc = -1;
    }
    verdict_clear(&v);
    return rc;
}

static int
is_regular_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

/* Where the dynamic linker would find NAME: LD_LIBRARY_PATH, then the usual directories. */
static int
search_library(const char *name, char *out, size_t size)
{
    const char *env = getenv("LD_LIBRARY_PATH");
    for (const char *p = env ? env : ""; *p;) {
        size_t len = strcspn(p, ":");
        int n = snprintf(out, size, "%.*s/%s", (int)len, p, name);
        if (len > 0 && n > 0 && (size_t)n < size && is_regular_file(out)) {
            return 1;
        }
        p += len + (p[len] == ':');
    }
    for (int i = 0; LIBRARY_DIRS[i]; i++) {
        int n = snprintf(out, size, "%s/%s", LIBRARY_DIRS[i], name);
        if (n > 0 && (size_t)n < size && is_regular_file(out)) {
            return 1;
        }
    }
    return 0;
}

/* A library ctypes is about to dlopen: the file the dynamic linker would load must pass. */
static int
library(PyObject *name)
{
    const char *event = "ctypes.dlopen";
    if (name == Py_None) {
        return 0; /* dlopen(NULL): the program itself, already running */
    }
    PyObject *encoded = NULL;
    if (PyUnicode_Check(name)) {
        encoded = PyUnicode_EncodeFSDefault(name);
    }
    else if (PyBytes_Check(name)) {
        Py_INCREF(name);
        encoded = name;
    }
    else {
        return refuse_text("<library>", "a library named by an object tpython cannot read", event);
    }
    if (encoded == NULL) {
        return -1;
    }
    const char *text = PyBytes_AS_STRING(encoded);
    char found[PATH_MAX];
    int rc;
    if (strchr(text, '/') == NULL && !search_library(text, found, sizeof found)) {
        rc = refuse_text(text, "a library the dynamic linker would search for, and tpython cannot find to check",
                         event);
    }
    else {
        PyObject *path = PyUnicode_DecodeFSDefault(strchr(text, '/') ? text : found);
        rc = path == NULL ? -1 : check_path(path, event, 1);
        Py_XDECREF(path);
    }
    Py_DECREF(encoded);
    return rc;
}

/* DATA must hash to something vouched for in this run, or PATH (when not NULL) must pass
 * the checks with exactly these bytes. */
static int
known(const void *data, size_t len, PyObject *path, const char *what, const char *event)
{
    char hex[65];
    trust_sha256(data, len, hex);
    if (trusted_has(hex)) {
        return 0;
    }
    if (path != NULL) {
        Verdict v;
        if (check_file(trust_installed(), path, &v) < 0) {
            PyErr_Clear();
        }
        else {
            int same = v.reason == NULL && v.hex[0] && memcmp(v.hex, hex, 64) == 0;
            verdict_clear(&v);
            if (same) {
                return trusted_add(hex);
            }
        }
    }
    PyObject *reason = PyUnicode_FromFormat("%s that no trust source vouches for (sha256 %.12s%s)", what, hex,
                                            ELLIPSIS);
    PyObject *shown = path != NULL ? (Py_INCREF(path), path) : PyUnicode_FromString("<marshal data>");
    if (reason != NULL && shown != NULL) {
        refuse(shown, reason, event);
    }
    Py_XDECREF(reason);
    Py_XDECREF(shown);
    return -1;
}

/* compile(SOURCE, FILENAME): checked when FILENAME names a regular file. */
static int
compiled(PyObject *source, PyObject *filename)
{
    if (!PyUnicode_CheckExact(filename)) {
        return 0;
    }
    PyObject *encoded = PyUnicode_EncodeFSDefault(filename);
    if (encoded == NULL) {
        PyErr_Clear();
        return 0;
    }
    int real_file = strlen(PyBytes_AS_STRING(encoded)) == (size_t)PyBytes_GET_SIZE(encoded)
                    && is_regular_file(PyBytes_AS_STRING(encoded));
    Py_DECREF(encoded);
    if (!real_file) {
        return 0;
    }
    const char *what = "source compiled under this file name";
    if (PyUnicode_Check(source)) {
        PyObject *utf8 = PyUnicode_AsUTF8String(source);
        int rc = utf8 == NULL ? -1
            : known(PyBytes_AS_STRING(utf8), (size_t)PyBytes_GET_SIZE(utf8), filename, what, "compile");
        Py_XDECREF(utf8);
        return rc;
    }
    if (!PyObject_CheckBuffer(source)) {
        return 0; /* an AST: no bytes to check */
    }
    Py_buffer view;
    if (PyObject_GetBuffer(source, &view, PyBUF_SIMPLE) < 0) {
        return -1;
    }
    int rc = known(view.buf, (size_t)view.len, filename, what, "compile");
    PyBuffer_Release(&view);
    return rc;
}

static int
frozen_import(PyFrameObject *frame)
{
    if (frame == NULL || frozen_codes == NULL) {
        return 0;
    }
    Py_INCREF(frame);
    PyObject *code = (PyObject *)PyFrame_GetCode(frame);
    if (code == frames_removed) {
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(frame);
        Py_DECREF(code);
        if (back == NULL) {
            return 0;
        }
        frame = back;
        code = (PyObject *)PyFrame_GetCode(frame);
    }
    int found = 0;
    for (Py_ssize_t i = 0; !found && i < PyTuple_GET_SIZE(frozen_codes); i++) {
        found = PyTuple_GET_ITEM(frozen_codes, i) == code;
    }
    Py_DECREF(code);
    Py_DECREF(frame);
    return found;
}

static int
guard(const char *event, PyObject *args, PyFrameObject *frame)
{
    Py_ssize_t n = PyTuple_Check(args) ? PyTuple_GET_SIZE(args) : 0;
    if (strcmp(event, "import") == 0) {
        /* Only an extension module's load names a file (_imp.create_dynamic: its spec's
         * origin, whatever it ends with): that file is checked before dlopen. A name that
         * is not text (an object with __fspath__) could name another file at the load:
         * refused. */
        PyObject *filename = n > 1 ? PyTuple_GET_ITEM(args, 1) : Py_None;
        if (filename == Py_None) {
            return 0;
        }
        if (!PyUnicode_Check(filename)) {
            PyErr_SetString(PyExc_ImportError, "tpython: refused to load an extension module named by a "
                                               "value that is not text");
            return -1;
        }
        PyObject *text = PyUnicode_FromObject(filename); /* a str subclass: its text, no methods */
        int rc = text != NULL ? check_path(text, event, 0) : -1;
        Py_XDECREF(text);
        return rc;
    }
    if (!trust_installed()->require) {
        return 0;
    }
    if (strcmp(event, "ctypes.dlopen") == 0) {
        return library(n > 0 ? PyTuple_GET_ITEM(args, 0) : Py_None);
    }
    if (strcmp(event, "compile") == 0) {
        return n > 1 ? compiled(PyTuple_GET_ITEM(args, 0), PyTuple_GET_ITEM(args, 1)) : 0;
    }
    if (strcmp(event, "marshal.loads") == 0) {
        PyObject *data = n > 0 ? PyTuple_GET_ITEM(args, 0) : NULL;
        if (data == NULL || !PyBytes_Check(data) || PyBytes_GET_SIZE(data) == 0
            || (PyBytes_AS_STRING(data)[0] & 0x7F) != CODE_TYPE || frozen_import(frame)) {
            return 0;
        }
        return known(PyBytes_AS_STRING(data), (size_t)PyBytes_GET_SIZE(data), NULL, "unmarshalled code", event);
    }
    if (strcmp(event, "marshal.load") == 0) { /* from a file: its bytes are not in the event */
        return refuse_text("<marshal.load>", "data unmarshalled from a file cannot be checked (require = true)",
                           event);
    }
    return 0;
}

int
tp_guard(const char *event, PyObject *args)
{
    if (!active) {
        return 0;
    }
    switch (event[0]) { /* one comparison for most events */
    case 'i': case 'c': case 'm':
        break;
    default:
        return 0;
    }
    if (strcmp(event, "import") != 0 && strcmp(event, "compile") != 0 && strcmp(event, "marshal.loads") != 0
        && strcmp(event, "marshal.load") != 0 && strcmp(event, "ctypes.dlopen") != 0) {
        return 0;
    }
    /* Plain system calls (no audit events); the hook never stands aside meanwhile: a
     * finalizer the collector runs here is decided as any code is. */
    return guard(event, args, PyEval_GetFrame());
}
