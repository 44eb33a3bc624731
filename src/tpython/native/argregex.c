/* Regular expressions for `arg` conditions: PCRE2, JIT-compiled where the platform has it.
 *
 * A rule's `arg` patterns are PCRE2's syntax (docs/policy.md), compiled in UTF mode
 * with Unicode properties for \d, \w, \b and the POSIX classes (as Python's `re`
 * reads str patterns), once, when the policy is loaded; a pattern PCRE2 refuses is a
 * policy error with PCRE2's own message. The subject is the event's arguments as
 * JSON (native/render.c), which never holds a raw line break.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include "argregex.h"

typedef struct {
    PyObject_HEAD
    pcre2_code *code;
} RegexObject;

static void
regex_dealloc(RegexObject *self)
{
    if (self->code != NULL) {
        pcre2_code_free(self->code);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int
regex_init(RegexObject *self, PyObject *args, PyObject *kwds)
{
    PyObject *pattern;
    if (!PyArg_ParseTuple(args, "U", &pattern)) {
        return -1;
    }
    Py_ssize_t len;
    const char *text = PyUnicode_AsUTF8AndSize(pattern, &len);
    if (text == NULL) {
        PyErr_Clear();
        PyErr_Format(PyExc_ValueError, "bad regex %R: not valid Unicode text", pattern);
        return -1;
    }
    int error;
    PCRE2_SIZE offset;
    pcre2_code *code = pcre2_compile((PCRE2_SPTR)text, (PCRE2_SIZE)len, PCRE2_UTF | PCRE2_UCP, &error, &offset, NULL);
    if (code == NULL) {
        PCRE2_UCHAR message[256];
        pcre2_get_error_message(error, message, sizeof message);
        PyErr_Format(PyExc_ValueError, "bad regex %R: %s at offset %zu", pattern, (const char *)message,
                     (size_t)offset);
        return -1;
    }
    (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE); /* without JIT, the interpreter matches */
    if (self->code != NULL) {
        pcre2_code_free(self->code);
    }
    self->code = code;
    return 0;
}

int
arg_regex_search(PyObject *regex, const char *text, size_t len)
{
    const pcre2_code *code = ((RegexObject *)regex)->code;
    pcre2_match_data *data = code ? pcre2_match_data_create(1, NULL) : NULL;
    if (data == NULL) {
        return -1;
    }
    int rc = pcre2_match(code, (PCRE2_SPTR)text, (PCRE2_SIZE)len, 0, PCRE2_NO_UTF_CHECK, data, NULL);
    pcre2_match_data_free(data);
    return rc >= 0 ? 1 : rc == PCRE2_ERROR_NOMATCH ? 0 : -1;
}

PyObject *
arg_regex_new(PyObject *pattern)
{
    return PyObject_CallFunctionObjArgs((PyObject *)&RegexType, pattern, NULL);
}

/* search(text) -> True/False, or None when PCRE2 gave up (a limit). */
static PyObject *
regex_search(RegexObject *self, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "search() takes a str");
        return NULL;
    }
    Py_ssize_t len;
    const char *utf8 = PyUnicode_AsUTF8AndSize(text, &len);
    if (utf8 == NULL) {
        return NULL; /* a lone surrogate */
    }
    int m = arg_regex_search((PyObject *)self, utf8, (size_t)len);
    if (m < 0) {
        Py_RETURN_NONE;
    }
    return PyBool_FromLong(m);
}

static PyMethodDef regex_methods[] = {
    {"search", (PyCFunction)regex_search, METH_O,
     "search(text) -> whether the pattern matches anywhere in TEXT (None: PCRE2 gave up)."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject RegexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tpython._native.Regex",
    .tp_basicsize = sizeof(RegexObject),
    .tp_dealloc = (destructor)regex_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Regex(pattern): a PCRE2 regular expression (UTF, Unicode properties), JIT-compiled where possible.",
    .tp_methods = regex_methods,
    .tp_init = (initproc)regex_init,
    .tp_new = PyType_GenericNew,
};
