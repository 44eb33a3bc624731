/* An event's arguments as JSON, in C, as tpython.engine.render does it: each value as
 * render.c renders it, except where the event's shape says an argument is a path (a
 * descriptor as the file it names, bytes decoded as os.fsdecode does), a list of
 * paths, source text (an excerpt, its length and SHA-256) or text given as bytes.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "render.h"

/* File-system bytes as the JSON string os.fsdecode() gives, bounded. */
static int
put_fs_text(Buf *b, const char *data, Py_ssize_t len)
{
    PyObject *text = PyUnicode_DecodeFSDefaultAndSize(data, len);
    if (text == NULL) {
        PyErr_Clear();
        return RENDER_PYTHON;
    }
    int rc = buf_json_str(b, text, MAX_STR) < 0 ? RENDER_ERROR : RENDER_OK;
    Py_DECREF(text);
    return rc;
}

/* Text that may come as bytes (render.text_of): a str as itself, bytes decoded as
 * os.fsdecode does; anything else as render_value renders it. */
static int
render_text(Buf *b, PyObject *v)
{
    if (PyUnicode_Check(v)) {
        return buf_json_str(b, v, MAX_STR) < 0 ? RENDER_ERROR : RENDER_OK;
    }
    if (PyBytes_Check(v) || PyByteArray_Check(v)) {
        const char *data = PyBytes_Check(v) ? PyBytes_AS_STRING(v) : PyByteArray_AS_STRING(v);
        Py_ssize_t len = PyBytes_Check(v) ? PyBytes_GET_SIZE(v) : PyByteArray_GET_SIZE(v);
        return put_fs_text(b, data, len);
    }
    if (PyMemoryView_Check(v)) { /* its bytes, as render.plain_bytes reads them */
        PyObject *data = PyBytes_FromObject(v);
        if (data != NULL) {
            int rc = render_text(b, data);
            Py_DECREF(data);
            return rc;
        }
        PyErr_Clear(); /* released: named by its type */
    }
    return render_value(b, v, 0);
}

int
render_path(Buf *b, PyObject *v)
{
    if (v == Py_None) {
        return buf_puts(b, "null") < 0 ? RENDER_ERROR : RENDER_OK;
    }
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long fd = PyLong_AsLongAndOverflow(v, &overflow);
        if (overflow || (fd == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return render_value(b, v, 0); /* no descriptor: the number */
        }
        char link[64], target[4096];
        snprintf(link, sizeof(link), "/proc/self/fd/%ld", fd);
        ssize_t n = readlink(link, target, sizeof(target));
        if (n < 0 || n == (ssize_t)sizeof(target)) {
            n = snprintf(target, sizeof(target), "fd:%ld", fd);
        }
        return put_fs_text(b, target, n);
    }
    if (PyLong_Check(v)) {
        return render_value(b, v, 0); /* an int subclass is no descriptor: its value */
    }
    return render_text(b, v);
}

static int
has_position(const signed char *positions, Py_ssize_t i)
{
    for (int k = 0; k < SHAPE_MAX && positions[k] >= 0; k++) {
        if (positions[k] == i) {
            return 1;
        }
    }
    return 0;
}

/* Source text as render.source gives it: {"excerpt", "length", "sha256"} of a str (its
 * UTF-8, lone surrogates passed) or of bytes (the excerpt decoded with replacement);
 * a code object, or anything else, as render_value renders it. */
#define EXCERPT 200

static int
render_source(Buf *b, PyObject *v)
{
    PyObject *excerpt = NULL, *encoded = NULL;
    const char *data = NULL;
    Py_ssize_t len = 0, length = 0;
    if (PyUnicode_Check(v)) {
        length = PyUnicode_GET_LENGTH(v);
        excerpt = PyUnicode_Substring(v, 0, length < EXCERPT ? length : EXCERPT);
        encoded = PyUnicode_AsEncodedString(v, "utf-8", "surrogatepass");
        if (encoded != NULL) {
            data = PyBytes_AS_STRING(encoded);
            len = PyBytes_GET_SIZE(encoded);
        }
    }
    else if (PyBytes_Check(v) || PyByteArray_Check(v)) {
        data = PyBytes_Check(v) ? PyBytes_AS_STRING(v) : PyByteArray_AS_STRING(v);
        len = length = PyBytes_Check(v) ? PyBytes_GET_SIZE(v) : PyByteArray_GET_SIZE(v);
        excerpt = PyUnicode_DecodeUTF8(data, len < EXCERPT ? len : EXCERPT, "replace");
    }
    else if (PyMemoryView_Check(v)) { /* its bytes, as render.plain_bytes reads them */
        PyObject *bytes = PyBytes_FromObject(v);
        if (bytes == NULL) {
            PyErr_Clear();
            return buf_puts(b, "\"<memoryview>\"") < 0 ? RENDER_ERROR : RENDER_OK;
        }
        int rc = render_source(b, bytes);
        Py_DECREF(bytes);
        return rc;
    }
    else {
        return render_value(b, v, 0); /* a code object, anything else */
    }
    int rc = RENDER_ERROR;
    if (excerpt != NULL && data != NULL) {
        rc = (buf_puts(b, "{\"excerpt\":") < 0 || buf_json_str(b, excerpt, -1) < 0 || buf_puts(b, ",\"length\":") < 0
              || buf_u64(b, (uint64_t)length) < 0 || buf_puts(b, ",\"sha256\":\"") < 0
              || render_digest(b, data, (size_t)len) < 0 || buf_puts(b, "\"}") < 0) ? RENDER_ERROR : RENDER_OK;
    }
    if (rc == RENDER_ERROR) {
        PyErr_Clear();
    }
    Py_XDECREF(excerpt);
    Py_XDECREF(encoded);
    return rc;
}

int
render_args(Buf *b, PyObject *args, const Shape *shape)
{
    if (!PyTuple_Check(args)) {
        return RENDER_PYTHON;
    }
    if (buf_puts(b, "[") < 0) {
        return RENDER_ERROR;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(args); i++) {
        PyObject *a = PyTuple_GET_ITEM(args, i);
        int rc;
        if (i && buf_puts(b, ",") < 0) {
            return RENDER_ERROR;
        }
        size_t mark = b->len;
        if (shape && has_position(shape->sources, i)) {
            rc = render_source(b, a);
        }
        else if (shape && has_position(shape->paths, i)) {
            rc = render_path(b, a);
        }
        else if (shape && has_position(shape->texts, i)) {
            rc = render_text(b, a);
        }
        else if (shape && has_position(shape->path_lists, i) && (PyList_Check(a) || PyTuple_Check(a))) {
            Py_ssize_t n = PySequence_Fast_GET_SIZE(a);
            rc = buf_puts(b, "[") < 0 ? RENDER_ERROR : RENDER_OK;
            for (Py_ssize_t k = 0; rc == RENDER_OK && k < n && k < MAX_ITEMS; k++) {
                rc = (k && buf_puts(b, ",") < 0) ? RENDER_ERROR : render_path(b, PySequence_Fast_GET_ITEM(a, k));
            }
            if (rc == RENDER_OK && buf_puts(b, "]") < 0) {
                rc = RENDER_ERROR;
            }
        }
        else {
            rc = render_value(b, a, 0);
        }
        if (rc == RENDER_PYTHON) { /* what C does not look into (a pathlib path): its type */
            b->len = mark;
            PyObject *label = render_type_label(Py_TYPE(a), "");
            PyErr_Clear();
            rc = (label != NULL ? buf_json_str(b, label, -1) : buf_puts(b, "\"<object>\"")) < 0 ? RENDER_ERROR
                                                                                                : RENDER_OK;
            Py_XDECREF(label);
        }
        if (rc != RENDER_OK) {
            return rc;
        }
    }
    return buf_puts(b, "]") < 0 ? RENDER_ERROR : RENDER_OK;
}

/* render_args(args) -> the JSON text C writes for the tuple ARGS (as an event's
 * arguments without paths, source or text among them), or None where C leaves them
 * to the Python renderer: what tests compare against tpython.engine.render. */
PyObject *
tp_render_args(PyObject *module, PyObject *args)
{
    (void)module;
    if (!PyTuple_Check(args)) {
        PyErr_SetString(PyExc_TypeError, "render_args() takes a tuple");
        return NULL;
    }
    Buf b;
    buf_init(&b);
    int rc = render_args(&b, args, NULL);
    PyObject *out = NULL;
    if (rc == RENDER_OK) {
        out = PyUnicode_DecodeASCII(b.data, (Py_ssize_t)b.len, "strict");
    }
    else if (rc == RENDER_PYTHON) {
        Py_INCREF(Py_None);
        out = Py_None;
    }
    else {
        PyErr_NoMemory();
    }
    buf_free(&b);
    return out;
}

/* Where Python cannot run: every argument rendered as above, or named by its C type. */
int
render_args_bare(Buf *b, PyObject *args)
{
    if (buf_puts(b, "[") < 0) {
        return RENDER_ERROR;
    }
    Py_ssize_t n = PyTuple_Check(args) ? PyTuple_GET_SIZE(args) : 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (i && buf_puts(b, ",") < 0) {
            return RENDER_ERROR;
        }
        size_t start = b->len;
        int rc = render_value(b, PyTuple_GET_ITEM(args, i), 0);
        if (rc == RENDER_ERROR) {
            return rc;
        }
        if (rc == RENDER_PYTHON) {
            b->len = start;
            char name[256];
            snprintf(name, sizeof(name), "<%s>", Py_TYPE(PyTuple_GET_ITEM(args, i))->tp_name);
            if (buf_json_cstr(b, name) < 0) {
                return RENDER_ERROR;
            }
        }
    }
    return buf_puts(b, "]") < 0 ? RENDER_ERROR : RENDER_OK;
}
