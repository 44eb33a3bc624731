/* Event arguments as JSON, in C, exactly as tpython.engine.render does it.
 *
 * Only exact built-in containers and scalars are looked into, through their C
 * storage, so no code of the program runs (no __repr__, __len__, __getitem__,
 * __fspath__). A pathlib path is shown as its text, read from its slots (pathobj.c), or
 * named by its type. Anything else C cannot look into without running code is named by
 * its type. An event's arguments (paths, sources, text) are put together in renderargs.c.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <nettle/sha2.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pathobj.h"
#include "render.h"

#define MAX_DEPTH 4

static const char HEX[] = "0123456789abcdef";

/* The SHA-256 of DATA as 64 hex digits in HEX_OUT; -1 on failure. */
static int
sha256_hex(const void *data, size_t len, char hex_out[64])
{
    unsigned char digest[SHA256_DIGEST_SIZE];
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, (const uint8_t *)data);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
        hex_out[2 * i] = HEX[digest[i] >> 4];
        hex_out[2 * i + 1] = HEX[digest[i] & 0xF];
    }
    return 0;
}

int
render_digest(Buf *b, const void *data, size_t len)
{
    char hex[64];
    return sha256_hex(data, len, hex) < 0 ? RENDER_ERROR : buf_put(b, hex, 64);
}

/* sha256_hex(data) -> str: hashlib.sha256(data).hexdigest(), without importing
 * hashlib (whose import loads OpenSSL: milliseconds of every start-up). */
PyObject *
tp_sha256_hex(PyObject *module, PyObject *arg)
{
    (void)module;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) {
        return NULL;
    }
    char hex[64];
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = sha256_hex(view.buf, (size_t)view.len, hex);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (rc < 0) {
        PyErr_SetString(PyExc_RuntimeError, "SHA-256 failed");
        return NULL;
    }
    return PyUnicode_FromStringAndSize(hex, 64);
}

static int
put_bytes_summary(Buf *b, const char *data, Py_ssize_t len)
{
    if (buf_puts(b, "{\"bytes\":") < 0 || buf_u64(b, (uint64_t)len) < 0 || buf_puts(b, ",\"sha256\":\"") < 0
        || render_digest(b, data, (size_t)len) < 0 || buf_puts(b, "\"}") < 0) {
        return RENDER_ERROR;
    }
    return RENDER_OK;
}

static int
put_more_items(Buf *b, Py_ssize_t more)
{
    char tail[48];
    int n = snprintf(tail, sizeof(tail), ",\"%s[+%zd items]\"", buf_ellipsis(b), more);
    return buf_put(b, tail, (size_t)n) < 0 ? RENDER_ERROR : RENDER_OK;
}

static int
put_long(Buf *b, PyObject *v)
{
    int overflow = 0;
    long long n = PyLong_AsLongLongAndOverflow(v, &overflow);
    if (overflow) { /* render._int: the value up to 1024 bits, else its size */
        PyObject *binary = PyNumber_ToBase(v, 2); /* "0b..." or "-0b..." of the value, not of methods */
        if (binary == NULL) {
            PyErr_Clear();
            return RENDER_PYTHON;
        }
        Py_ssize_t bits = PyUnicode_GET_LENGTH(binary) - (overflow < 0 ? 3 : 2);
        Py_DECREF(binary);
        PyObject *text = bits <= 1024 ? PyNumber_ToBase(v, 10) : NULL;
        int rc;
        if (text != NULL) {
            rc = buf_puts(b, PyUnicode_AsUTF8(text)) < 0 ? RENDER_ERROR : RENDER_OK;
            Py_DECREF(text);
        }
        else {
            PyErr_Clear();
            char tail[64];
            int n = snprintf(tail, sizeof tail, "\"<%sint of %zd bits>\"", overflow < 0 ? "negative " : "", bits);
            rc = bits <= 1024 ? RENDER_PYTHON : buf_put(b, tail, (size_t)n) < 0 ? RENDER_ERROR : RENDER_OK;
        }
        return rc;
    }
    if (n == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return RENDER_PYTHON;
    }
    if (n < 0 && buf_puts(b, "-") < 0) {
        return RENDER_ERROR;
    }
    uint64_t magnitude = n < 0 ? (uint64_t)0 - (uint64_t)n : (uint64_t)n; /* LLONG_MIN too */
    return buf_u64(b, magnitude) < 0 ? RENDER_ERROR : RENDER_OK;
}

static int
put_float(Buf *b, double x)
{
    if (!Py_IS_FINITE(x)) {
        return buf_puts(b, Py_IS_NAN(x) ? "\"nan\"" : (x > 0 ? "\"inf\"" : "\"-inf\"")) < 0 ? RENDER_ERROR
                                                                                          : RENDER_OK;
    }
    char *text = PyOS_double_to_string(x, 'r', 0, Py_DTSF_ADD_DOT_0, NULL);
    if (text == NULL) {
        PyErr_Clear();
        return RENDER_ERROR;
    }
    int rc = buf_puts(b, text) < 0 ? RENDER_ERROR : RENDER_OK;
    PyMem_Free(text);
    return rc;
}

static int
put_code(Buf *b, PyObject *code)
{
    /* The fields themselves (the caller checked PyCode_Check, an exact type check): no
     * attribute lookups, about 0.3 us of each `exec` record. A file name or name that is
     * not an exact str (code.replace() allows subclasses) is Python's to render. */
    PyCodeObject *co = (PyCodeObject *)code;
    PyObject *file = co->co_filename;
#if PY_VERSION_HEX >= 0x030B0000
    PyObject *name = co->co_qualname;
#else
    PyObject *name = co->co_name;
#endif
    if (file == NULL || name == NULL || !PyUnicode_Check(file) || !PyUnicode_Check(name)) {
        return buf_puts(b, "\"<code>\"") < 0 ? RENDER_ERROR : RENDER_OK;
    }
    char line[24];
    snprintf(line, sizeof line, "%d", co->co_firstlineno);
    return (buf_puts(b, "{\"code\":{\"file\":") < 0 || buf_json_str(b, file, -1) < 0
            || buf_puts(b, ",\"name\":") < 0 || buf_json_str(b, name, -1) < 0 || buf_puts(b, ",\"line\":") < 0
            || buf_puts(b, line) < 0 || buf_puts(b, "}}") < 0) ? RENDER_ERROR : RENDER_OK;
}

static int
put_sequence(Buf *b, PyObject *v, int depth)
{
    int is_tuple = PyTuple_Check(v);
    Py_ssize_t n = is_tuple ? PyTuple_GET_SIZE(v) : PyList_GET_SIZE(v);
    if (buf_puts(b, "[") < 0) {
        return RENDER_ERROR;
    }
    Py_ssize_t shown = n < MAX_ITEMS ? n : MAX_ITEMS;
    for (Py_ssize_t i = 0; i < shown; i++) {
        /* A list can change under us only through code we do not run; re-check the size. */
        Py_ssize_t size = is_tuple ? PyTuple_GET_SIZE(v) : PyList_GET_SIZE(v);
        if (i >= size) {
            return RENDER_PYTHON;
        }
        PyObject *item = is_tuple ? PyTuple_GET_ITEM(v, i) : PyList_GET_ITEM(v, i);
        Py_INCREF(item);
        int rc = (i ? buf_puts(b, ",") : 0) < 0 ? RENDER_ERROR : render_value(b, item, depth + 1);
        Py_DECREF(item);
        if (rc != RENDER_OK) {
            return rc;
        }
    }
    if (n > MAX_ITEMS && put_more_items(b, n - MAX_ITEMS) != RENDER_OK) {
        return RENDER_ERROR;
    }
    return buf_puts(b, "]") < 0 ? RENDER_ERROR : RENDER_OK;
}


static int
put_dict(Buf *b, PyObject *v, int depth)
{
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    if (buf_puts(b, "{") < 0) {
        return RENDER_ERROR;
    }
    while (PyDict_Next(v, &pos, &key, &value)) {
        if (i >= MAX_ITEMS) {
            char tail[64];
            int n = snprintf(tail, sizeof(tail), ",\"%s\":\"+%zd items\"", buf_ellipsis(b),
                             PyDict_GET_SIZE(v) - MAX_ITEMS);
            if (buf_put(b, tail, (size_t)n) < 0) {
                return RENDER_ERROR;
            }
            break;
        }
        Py_INCREF(key);
        Py_INCREF(value);
        PyObject *label = PyUnicode_Check(key) ? NULL : render_type_label(Py_TYPE(key), ""); /* "<int>" */
        PyErr_Clear();
        int rc = ((i ? buf_puts(b, ",") : 0) < 0
                  || (label != NULL ? buf_json_str(b, label, -1) : PyUnicode_Check(key) ? buf_json_str(b, key, MAX_STR)
                                                                                        : buf_puts(b, "\"<object>\""))
                         < 0
                  || buf_puts(b, ":") < 0)
                 ? RENDER_ERROR : render_value(b, value, depth + 1);
        Py_XDECREF(label);
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc != RENDER_OK) {
            return rc;
        }
        i++;
    }
    return buf_puts(b, "}") < 0 ? RENDER_ERROR : RENDER_OK;
}

/* ---- values render.py names rather than looks into ------------------------ */

/* type.__module__ and type.__qualname__ as CPython computes them (type_module,
 * type_qualname), as new references; NULL (no exception) when either is not an
 * exact str, which only the Python renderer can show as it does. */
static PyObject *
type_module(PyTypeObject *t)
{
    if (t->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        PyObject *dict = t->tp_dict;
        PyObject *m = dict ? PyDict_GetItemString(dict, "__module__") : NULL; /* borrowed */
        if (m == NULL || !PyUnicode_Check(m)) {
            return NULL; /* none (mypyc's classes, type() where __name__ is not defined) */
        }
        return PyUnicode_FromObject(m); /* a plain copy of a str subclass */
    }
    const char *dot = strrchr(t->tp_name, '.');
    PyObject *m = dot ? PyUnicode_FromStringAndSize(t->tp_name, dot - t->tp_name) : PyUnicode_FromString("builtins");
    if (m == NULL) {
        PyErr_Clear();
    }
    return m;
}

static PyObject *
type_qualname(PyTypeObject *t)
{
    if (t->tp_flags & Py_TPFLAGS_HEAPTYPE) {
        PyObject *q = ((PyHeapTypeObject *)t)->ht_qualname;
        return q != NULL && PyUnicode_Check(q) && PyUnicode_GET_LENGTH(q) > 0 ? PyUnicode_FromObject(q)
                                                                             : PyUnicode_FromString("?");
    }
    const char *dot = strrchr(t->tp_name, '.');
    PyObject *q = PyUnicode_FromString(dot ? dot + 1 : t->tp_name);
    if (q == NULL) {
        PyErr_Clear();
    }
    return q;
}

/* A str attribute as render._qual reads it: its text, or "?" for a non-str or "". */
static PyObject *
text_or_question(PyObject *v)
{
    if (v != NULL && PyUnicode_Check(v) && PyUnicode_GET_LENGTH(v) > 0) {
        return PyUnicode_FromObject(v); /* a plain copy of a str subclass, as str.__str__ gives */
    }
    return PyUnicode_FromString("?");
}

/* socket_class(value) -> the genuine _socket.socket that VALUE's type derives from, or
 * None. Along tp_base, the types whose memory layout VALUE has: a class the program
 * writes cannot derive from one it only names after _socket.socket. The genuine one is
 * a static type (before 3.12) or a heap type made by a module whose definition is
 * _socket's; a Python class has no such module. Its member descriptors (family, type)
 * then read VALUE as a socket, as render.py does without importing _socket. */
PyObject *
tp_socket_class(PyObject *module, PyObject *value)
{
    (void)module;
    for (PyTypeObject *t = Py_TYPE(value); t != NULL; t = t->tp_base) {
        if (strcmp(t->tp_name, "_socket.socket") != 0) {
            continue;
        }
        if (!(t->tp_flags & Py_TPFLAGS_HEAPTYPE)) {
            Py_INCREF(t);
            return (PyObject *)t;
        }
        PyObject *owner = PyType_GetModule(t);
        if (owner == NULL) {
            PyErr_Clear(); /* a heap type without a module: the program's */
            continue;
        }
        PyModuleDef *def = PyModule_GetDef(owner);
        if (def != NULL && def->m_name != NULL && strcmp(def->m_name, "_socket") == 0) {
            Py_INCREF(t);
            return (PyObject *)t;
        }
        PyErr_Clear();
    }
    Py_RETURN_NONE;
}

/* "<module.QualName>" of T, "<QualName>" for builtins and for a class with no module
 * (render.type_name; PREFIX "class ": render.class_name, where builtins are named too). */
PyObject *
render_type_label(PyTypeObject *t, const char *prefix)
{
    PyObject *module = type_module(t), *qual = type_qualname(t), *label = NULL;
    PyErr_Clear();
    if (qual != NULL) {
        if (module == NULL || (prefix[0] == '\0' && PyUnicode_CompareWithASCIIString(module, "builtins") == 0)) {
            label = PyUnicode_FromFormat("<%s%U>", prefix, qual);
        }
        else {
            label = PyUnicode_FromFormat("<%s%U.%U>", prefix, module, qual);
        }
    }
    Py_XDECREF(module);
    Py_XDECREF(qual);
    return label;
}

/* Names of the families and types render.py spells out; others by number. */
static const struct {
    int number;
    const char *name;
} FAMILIES[] = {{0, "AF_UNSPEC"}, {1, "AF_UNIX"}, {2, "AF_INET"}, {10, "AF_INET6"}, {16, "AF_NETLINK"},
                {17, "AF_PACKET"}, {40, "AF_VSOCK"}},
  SOCK_TYPES[] = {{1, "SOCK_STREAM"}, {2, "SOCK_DGRAM"}, {3, "SOCK_RAW"}, {5, "SOCK_SEQPACKET"}};

/* One of a genuine socket's int members (family, type), read through the member
 * descriptor of its genuine class (whose attributes the program cannot replace). */
static long
socket_member(PyObject *sock_class, PyObject *v, const char *name)
{
    PyObject *descr = PyObject_GetAttrString(sock_class, name);
    descrgetfunc get = descr != NULL ? Py_TYPE(descr)->tp_descr_get : NULL;
    PyObject *value = get != NULL ? get(descr, v, sock_class) : NULL;
    long n = value != NULL && PyLong_CheckExact(value) ? PyLong_AsLong(value) : -1;
    Py_XDECREF(value);
    Py_XDECREF(descr);
    PyErr_Clear();
    return n;
}

/* {"socket": {"family", "type"}} of a value whose class derives from the genuine
 * _socket.socket (render._render); RENDER_PYTHON when it does not. */
static int
put_socket(Buf *b, PyObject *v)
{
    PyObject *sock_class = tp_socket_class(NULL, v);
    if (sock_class == NULL) {
        PyErr_Clear();
        return RENDER_PYTHON;
    }
    if (sock_class == Py_None) {
        Py_DECREF(sock_class);
        return RENDER_PYTHON;
    }
    long family = socket_member(sock_class, v, "family"), type = socket_member(sock_class, v, "type");
    Py_DECREF(sock_class);
    char family_text[24], type_text[24];
    const char *family_name = NULL, *type_name = NULL;
    for (size_t i = 0; i < sizeof FAMILIES / sizeof FAMILIES[0]; i++) {
        family_name = FAMILIES[i].number == family ? FAMILIES[i].name : family_name;
    }
    for (size_t i = 0; i < sizeof SOCK_TYPES / sizeof SOCK_TYPES[0]; i++) {
        type_name = SOCK_TYPES[i].number == (type & 0xF) ? SOCK_TYPES[i].name : type_name;
    }
    snprintf(family_text, sizeof family_text, "%ld", family);
    snprintf(type_text, sizeof type_text, "%ld", type);
    return (buf_puts(b, "{\"socket\":{\"family\":") < 0 || buf_json_cstr(b, family_name ? family_name : family_text) < 0
            || buf_puts(b, ",\"type\":") < 0 || buf_json_cstr(b, type_name ? type_name : type_text) < 0
            || buf_puts(b, "}}") < 0) ? RENDER_ERROR : RENDER_OK;
}

/* A memoryview's bytes as {"bytes", "sha256"} (render.plain_bytes: tobytes()); one
 * released, or whose bytes cannot be had, is named by its type. */
static int
put_memoryview(Buf *b, PyObject *v)
{
    Py_buffer view;
    if (PyObject_GetBuffer(v, &view, PyBUF_FULL_RO) < 0) {
        PyErr_Clear();
        return buf_puts(b, "\"<memoryview>\"") < 0 ? RENDER_ERROR : RENDER_OK;
    }
    char *data = PyMem_Malloc(view.len > 0 ? (size_t)view.len : 1);
    int rc = RENDER_ERROR;
    if (data != NULL && PyBuffer_ToContiguous(data, &view, view.len, 'C') == 0) {
        rc = put_bytes_summary(b, data, view.len);
    }
    PyErr_Clear();
    PyMem_Free(data);
    PyBuffer_Release(&view);
    return rc;
}

/* Functions, modules, classes and any other object, named as render.render names
 * them (after the containers and scalars above); RENDER_PYTHON for what it treats
 * apart or what C cannot name exactly as it does. */
static int
render_named(Buf *b, PyObject *v, int depth)
{
    PyTypeObject *t = Py_TYPE(v);
    PyObject *label = NULL;
    if (depth >= MAX_DEPTH) {
        label = render_type_label(t, "");
    }
    else if ((label = pathobj_text(v)) != NULL) { /* a pathlib path: its text */
        int rc = buf_json_str(b, label, MAX_STR) < 0 ? RENDER_ERROR : RENDER_OK;
        Py_DECREF(label);
        return rc;
    }
    else if (PyFunction_Check(v) && t == &PyFunction_Type) {
        PyObject *module = text_or_question(((PyFunctionObject *)v)->func_module);
        PyObject *qual = text_or_question(((PyFunctionObject *)v)->func_qualname);
        if (module != NULL && qual != NULL) {
            label = PyUnicode_FromFormat("<function %U.%U>", module, qual);
        }
        Py_XDECREF(module);
        Py_XDECREF(qual);
    }
    else if (PyModule_CheckExact(v)) {
        PyObject *name = PyDict_GetItemString(PyModule_GetDict(v), "__name__"); /* borrowed */
        PyObject *text = name != NULL && PyUnicode_Check(name) ? PyUnicode_FromObject(name) : NULL;
        label = text != NULL ? PyUnicode_FromFormat("<module %U>", text) : PyUnicode_FromString("<module None>");
        Py_XDECREF(text);
    }
    else if (PyType_Check(v)) {
        label = render_type_label((PyTypeObject *)v, "class ");
    }
    else {
        label = render_type_label(t, "");
    }
    if (label == NULL) { /* render.unrenderable */
        PyErr_Clear();
        return buf_puts(b, "\"<object>\"") < 0 ? RENDER_ERROR : RENDER_OK;
    }
    int rc = buf_json_str(b, label, -1) < 0 ? RENDER_ERROR : RENDER_OK;
    Py_DECREF(label);
    return rc;
}

int
render_value(Buf *b, PyObject *v, int depth)
{
    if (v == Py_None) {
        return buf_puts(b, "null") < 0 ? RENDER_ERROR : RENDER_OK;
    }
    if (v == Py_True || v == Py_False) {
        return buf_puts(b, v == Py_True ? "true" : "false") < 0 ? RENDER_ERROR : RENDER_OK;
    }
    if (PyLong_Check(v) && !PyBool_Check(v)) {
        return put_long(b, v); /* int and its subclasses: the value, never their methods */
    }
    if (PyFloat_CheckExact(v)) {
        return put_float(b, PyFloat_AS_DOUBLE(v));
    }
    if (PyUnicode_Check(v)) {
        return buf_json_str(b, v, MAX_STR) < 0 ? RENDER_ERROR : RENDER_OK;
    }
    if (PyBytes_Check(v)) {
        return put_bytes_summary(b, PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
    }
    if (PyByteArray_Check(v)) {
        return put_bytes_summary(b, PyByteArray_AS_STRING(v), PyByteArray_GET_SIZE(v));
    }
    if (PyCode_Check(v)) {
        return put_code(b, v);
    }
    if (PyMemoryView_Check(v)) {
        return put_memoryview(b, v);
    }
    int rc = put_socket(b, v);
    if (rc != RENDER_PYTHON) {
        return rc;
    }
    if ((PyTuple_Check(v) || PyList_Check(v) || PyDict_Check(v)) && depth < MAX_DEPTH) {
        /* subclasses too, read through the base type's storage: none of their methods run */
        return PyDict_Check(v) ? put_dict(b, v, depth) : put_sequence(b, v, depth);
    }
    return render_named(b, v, depth);
}
