/* The words of an `ask` question: what the event would connect to, run or touch.
 *
 * "Attempt to connect 93.184.216.34:80", "Attempt to run /usr/bin/git: git push
 * (subprocess.Popen)", "Attempt to run tool, not found (subprocess.Popen)", "Attempt to
 * os.mkdir /home/u/made", else the event and its rendered arguments. The arguments are
 * rendered by render.c as records have them, and read back into plain values (str,
 * int, float, list, dict, True, False, None) whose str() and repr() are CPython's own:
 * no code of the program's runs. Characters a terminal would act on are shown escaped
 * (ask_shown), as Python's ascii() writes them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "ask.h"
#include "execconds.h"
#include "netconds.h"
#include "pathfacts.h"

#define TEXT_MAX 200 /* characters of a command line or of arguments in a question */

/* ---- rendered arguments read back (render.c writes well-formed ASCII JSON) ---- */

static PyObject *json_value(const char **p, const char *end, int depth);

static void
skip_space(const char **p, const char *end)
{
    while (*p < end && (**p == ' ' || **p == '\n' || **p == '\t' || **p == '\r')) {
        (*p)++;
    }
}

static int
hex4(const char *s, const char *end, Py_UCS4 *out)
{
    if (end - s < 4) {
        return -1;
    }
    Py_UCS4 v = 0;
    for (int i = 0; i < 4; i++) {
        int c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) {
            return -1;
        }
        v = v * 16 + (Py_UCS4)d;
    }
    *out = v;
    return 0;
}

/* A JSON string at *P (after its opening quote), as json.loads reads it (surrogate pairs joined). */
static PyObject *
json_string(const char **p, const char *end)
{
    Py_UCS4 *text = PyMem_Malloc(((size_t)(end - *p) + 1) * sizeof(Py_UCS4));
    Py_ssize_t n = 0;
    const char *s = *p;
    if (text == NULL) {
        return PyErr_NoMemory();
    }
    while (s < end && *s != '"') {
        Py_UCS4 c = (unsigned char)*s++;
        if (c == '\\' && s < end) {
            char e = *s++;
            c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : (Py_UCS4)e;
            if (e == 'u') {
                Py_UCS4 low;
                if (hex4(s, end, &c) < 0) {
                    break;
                }
                s += 4;
                if (c >= 0xD800 && c < 0xDC00 && end - s >= 6 && s[0] == '\\' && s[1] == 'u'
                    && hex4(s + 2, end, &low) == 0 && low >= 0xDC00 && low < 0xE000) {
                    c = 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00);
                    s += 6;
                }
            }
        }
        text[n++] = c;
    }
    PyObject *out = NULL;
    if (s < end && *s == '"') {
        *p = s + 1;
        out = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, text, n);
    }
    else {
        PyErr_SetString(PyExc_ValueError, "bad rendering");
    }
    PyMem_Free(text);
    return out;
}

static PyObject *
json_number(const char **p, const char *end)
{
    const char *s = *p;
    int is_float = 0;
    while (s < end && strchr("+-0123456789.eE", *s) != NULL) {
        is_float |= *s == '.' || *s == 'e' || *s == 'E';
        s++;
    }
    char *copy = PyMem_Malloc((size_t)(s - *p) + 1);
    if (copy == NULL) {
        return PyErr_NoMemory();
    }
    memcpy(copy, *p, (size_t)(s - *p));
    copy[s - *p] = '\0';
    *p = s;
    PyObject *out = NULL;
    if (is_float) {
        double d = PyOS_string_to_double(copy, NULL, NULL);
        out = d == -1.0 && PyErr_Occurred() ? NULL : PyFloat_FromDouble(d);
    }
    else {
        out = PyLong_FromString(copy, NULL, 10);
    }
    PyMem_Free(copy);
    return out;
}

/* A list or dict at *P (after its opening bracket). */
static PyObject *
json_container(const char **p, const char *end, int is_dict, int depth)
{
    PyObject *out = is_dict ? PyDict_New() : PyList_New(0);
    char close = is_dict ? '}' : ']';
    skip_space(p, end);
    if (out != NULL && *p < end && **p == close) {
        (*p)++;
        return out;
    }
    while (out != NULL) {
        PyObject *key = NULL, *value = NULL;
        int rc = -1;
        skip_space(p, end);
        if (is_dict) {
            key = *p < end && **p == '"' ? ((*p)++, json_string(p, end)) : NULL;
            skip_space(p, end);
            if (key == NULL || *p >= end || *(*p)++ != ':') {
                goto fail;
            }
        }
        if ((value = json_value(p, end, depth + 1)) != NULL) {
            rc = is_dict ? PyDict_SetItem(out, key, value) : PyList_Append(out, value);
        }
    fail:
        Py_XDECREF(key);
        Py_XDECREF(value);
        skip_space(p, end);
        if (rc < 0 || *p >= end || (**p != ',' && **p != close)) {
            Py_CLEAR(out);
            break;
        }
        if (*(*p)++ == close) {
            break;
        }
    }
    if (out == NULL && !PyErr_Occurred()) {
        PyErr_SetString(PyExc_ValueError, "bad rendering");
    }
    return out;
}

static PyObject *
json_value(const char **p, const char *end, int depth)
{
    skip_space(p, end);
    if (*p >= end || depth > 64) {
        PyErr_SetString(PyExc_ValueError, "bad rendering");
        return NULL;
    }
    static const struct { const char *word; PyObject *value; } words[] = {
        {"true", Py_True}, {"false", Py_False}, {"null", Py_None}};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i].word);
        if ((size_t)(end - *p) >= n && memcmp(*p, words[i].word, n) == 0) {
            *p += n;
            Py_INCREF(words[i].value);
            return words[i].value;
        }
    }
    char c = *(*p)++;
    if (c == '"') {
        return json_string(p, end);
    }
    if (c == '[' || c == '{') {
        return json_container(p, end, c == '{', depth);
    }
    (*p)--;
    return json_number(p, end);
}

/* facts.rendered: the arguments as records render them, as plain values (a new list;
 * an empty one when they cannot be rendered: the question is still asked). */
static PyObject *
rendered_args(PyObject *args, const Shape *shape)
{
    Buf b;
    buf_init(&b);
    int rc = render_args(&b, args, shape);
    if (rc == RENDER_PYTHON) { /* what only Python's renderer names: by its C type */
        b.len = 0;
        rc = render_args_bare(&b, args);
    }
    const char *p = b.data;
    PyObject *out = rc == RENDER_OK ? json_value(&p, b.data + b.len, 0) : NULL;
    buf_free(&b);
    if (out == NULL || !PyList_Check(out)) {
        PyErr_Clear();
        Py_XDECREF(out);
        out = PyList_New(0);
    }
    return out;
}

/* ---- the sentence ------------------------------------------------------------ */

/* TEXT cut to TEXT_MAX characters, the last one "…" when cut (a new str). */
static PyObject *
cut(PyObject *text, int ellipsis)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    if (n <= TEXT_MAX) {
        Py_INCREF(text);
        return text;
    }
    PyObject *head = PyUnicode_Substring(text, 0, ellipsis ? TEXT_MAX - 1 : TEXT_MAX);
    PyObject *dots = ellipsis ? PyUnicode_FromString("\xe2\x80\xa6") : PyUnicode_FromString("");
    PyObject *out = head != NULL && dots != NULL ? PyUnicode_Concat(head, dots) : NULL;
    Py_XDECREF(head);
    Py_XDECREF(dots);
    return out;
}

/* A launch's argument list (os.system: its command) as one line: text as it is, other
 * values, empty text and text with a space as their repr(). */
static PyObject *
command_line(const char *event, PyObject *rendered)
{
    Py_ssize_t position = strcmp(event, "os.system") == 0 ? 0 : strcmp(event, "os.spawn") == 0 ? 2 : 1;
    PyObject *value = position < PyList_GET_SIZE(rendered) ? PyList_GET_ITEM(rendered, position) : NULL;
    PyObject *text = NULL;
    if (value != NULL && PyList_Check(value)) {
        PyObject *words = PyList_New(PyList_GET_SIZE(value)), *space = PyUnicode_FromString(" ");
        for (Py_ssize_t i = 0; words != NULL && space != NULL && i < PyList_GET_SIZE(value); i++) {
            PyObject *a = PyList_GET_ITEM(value, i);
            int plain = PyUnicode_Check(a) && PyUnicode_GET_LENGTH(a) > 0 && PyUnicode_FindChar(a, ' ', 0,
                                                                                      PyUnicode_GET_LENGTH(a), 1) < 0;
            PyObject *word = plain ? (Py_INCREF(a), a) : PyObject_Repr(a);
            if (word == NULL) {
                Py_CLEAR(words);
                break;
            }
            PyList_SET_ITEM(words, i, word);
        }
        text = words != NULL && space != NULL ? PyUnicode_Join(space, words) : NULL;
        Py_XDECREF(words);
        Py_XDECREF(space);
    }
    else if (value != NULL && PyUnicode_Check(value)) {
        text = (Py_INCREF(value), value);
    }
    else {
        text = PyUnicode_FromString("");
    }
    PyObject *out = text != NULL ? cut(text, 1) : NULL;
    Py_XDECREF(text);
    return out;
}

static PyObject *
describe_run(const char *event, PyObject *rendered, EventFacts *f, PyObject *program)
{
    PyObject *line = command_line(event, rendered);
    if (line == NULL) {
        return NULL;
    }
    PyObject *out = NULL;
    if (program == NULL) {
        PyObject *name = NULL;
        if (PyUnicode_GET_LENGTH(line) > 0) {
            Py_ssize_t space = PyUnicode_FindChar(line, ' ', 0, PyUnicode_GET_LENGTH(line), 1);
            name = PyUnicode_Substring(line, 0, space < 0 ? PyUnicode_GET_LENGTH(line) : space);
        }
        else {
            name = (Py_INCREF(PyList_GET_ITEM(f->exes, 0)), PyList_GET_ITEM(f->exes, 0));
        }
        out = name != NULL ? PyUnicode_FromFormat("Attempt to run %U, not found (%s)", name, event) : NULL;
        Py_XDECREF(name);
    }
    else if (PyUnicode_GET_LENGTH(line) > 0) {
        out = PyUnicode_FromFormat("Attempt to run %U: %U (%s)", program, line, event);
    }
    else {
        out = PyUnicode_FromFormat("Attempt to run %U (%s)", program, event);
    }
    Py_DECREF(line);
    return out;
}

PyObject *
ask_describe(const char *event, PyObject *args, const Shape *shape, EventFacts *f, PyObject *program,
             const int *new_link)
{
    net_facts(f, event, args);
    if (strncmp(event, "socket.", 7) == 0 && f->host != NULL) {
        return f->port != PORT_NONE ? PyUnicode_FromFormat("Attempt to %s %U:%lld", event + 7, f->host, f->port)
                                    : PyUnicode_FromFormat("Attempt to %s %U", event + 7, f->host);
    }
    PyObject *rendered = rendered_args(args, shape), *out = NULL;
    if (rendered == NULL) {
        return NULL;
    }
    if (f->exe_state == 1 && PyList_GET_SIZE(f->exes) > 0) {
        out = describe_run(event, rendered, f, program);
    }
    else if (event_paths(f, event, args, shape, new_link, NULL) == 1 && f->n > 0) {
        out = PyUnicode_FromFormat("Attempt to %s %U", event, f->paths[0]);
    }
    else {
        PyObject *parts = PyList_New(PyList_GET_SIZE(rendered)), *sep = PyUnicode_FromString(", "), *text = NULL;
        for (Py_ssize_t i = 0; parts != NULL && i < PyList_GET_SIZE(rendered); i++) {
            PyObject *s = PyObject_Str(PyList_GET_ITEM(rendered, i));
            if (s == NULL) {
                Py_CLEAR(parts);
                break;
            }
            PyList_SET_ITEM(parts, i, s);
        }
        PyObject *joined = parts != NULL && sep != NULL ? PyUnicode_Join(sep, parts) : NULL;
        text = joined != NULL ? cut(joined, 0) : NULL;
        out = text != NULL ? PyUnicode_FromFormat("Attempt to %s %U", event, text) : NULL;
        Py_XDECREF(parts);
        Py_XDECREF(sep);
        Py_XDECREF(joined);
        Py_XDECREF(text);
    }
    PyErr_Clear(); /* the facts' own failures: a plainer sentence */
    Py_DECREF(rendered);
    return out;
}

PyObject *
ask_shown(PyObject *text)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(text);
    Py_UCS4 *out = PyMem_Malloc(((size_t)n * 10 + 1) * sizeof(Py_UCS4));
    if (out == NULL) {
        return PyErr_NoMemory();
    }
    Py_ssize_t k = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        Py_UCS4 c = PyUnicode_READ_CHAR(text, i);
        if (Py_UNICODE_ISPRINTABLE(c)) {
            out[k++] = c;
            continue;
        }
        char esc[16];
        if (c == '\t' || c == '\n' || c == '\r') {
            snprintf(esc, sizeof esc, "\\%c", c == '\t' ? 't' : c == '\n' ? 'n' : 'r');
        }
        else {
            snprintf(esc, sizeof esc, c < 0x100 ? "\\x%02x" : c < 0x10000 ? "\\u%04x" : "\\U%08x", (unsigned)c);
        }
        for (char *e = esc; *e; e++) {
            out[k++] = (unsigned char)*e;
        }
    }
    PyObject *shown = PyUnicode_FromKindAndData(PyUnicode_4BYTE_KIND, out, k);
    PyMem_Free(out);
    return shown;
}
