/* Regular expressions for `arg` conditions, matched in C (regex.c).
 *
 * tpython.policy.argregex translates a Python regular expression to a POSIX
 * extended one when, and only when, the pattern keeps to a subset on which the
 * two agree for "does it match anywhere" (literals, `.`, classes of characters
 * and ASCII ranges, groups, alternation, the quantifiers, ^ and $); everything
 * else stays with Python's `re`. glibc's regcomp(3)/regexec(3) then do the
 * work, always under the C.UTF-8 locale (selected per call with uselocale(3),
 * so neither the program's setlocale nor its threads change how a rule reads):
 * `.` and a class take one code point, as in Python. A subject holding a line
 * break (where Python's `.` and `$` differ from POSIX's) or a lone surrogate
 * (no UTF-8 form) is left to Python; a rendered event never holds either.
 *
 * Hand-rolled glue only: the matching itself is the C library's.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <locale.h>
#include <regex.h>
#include <string.h>

#include "regex.h"

typedef struct {
    PyObject_HEAD
    regex_t compiled;
    int ready;
} RegexObject;

static locale_t utf8_locale;

static locale_t
utf8(void)
{
    if (utf8_locale == (locale_t)0) {
        utf8_locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    }
    return utf8_locale;
}

static int
regex_init(RegexObject *self, PyObject *args, PyObject *kwds)
{
    const char *pattern;
    Py_ssize_t len;
    static char *keywords[] = {"pattern", NULL};
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "s#:Regex", keywords, &pattern, &len)) {
        return -1;
    }
    if (self->ready) {
        PyErr_SetString(PyExc_TypeError, "a Regex is compiled once");
        return -1;
    }
    if ((Py_ssize_t)strlen(pattern) != len) {
        PyErr_SetString(PyExc_ValueError, "a NUL in a pattern");
        return -1;
    }
    locale_t loc = utf8();
    if (loc == (locale_t)0) {
        PyErr_SetString(PyExc_OSError, "the C.UTF-8 locale is not available");
        return -1;
    }
    locale_t previous = uselocale(loc);
    int rc = regcomp(&self->compiled, pattern, REG_EXTENDED | REG_NOSUB);
    uselocale(previous);
    if (rc != 0) {
        char message[256];
        regerror(rc, &self->compiled, message, sizeof(message));
        PyErr_Format(PyExc_ValueError, "regcomp: %s", message);
        return -1;
    }
    self->ready = 1;
    return 0;
}

static void
regex_dealloc(RegexObject *self)
{
    if (self->ready) {
        regfree(&self->compiled);
    }
    Py_TYPE(self)->tp_free((PyObject *)self);
}

int
regex_subject_ok(const char *text, size_t len)
{
    return memchr(text, '\n', len) == NULL && strlen(text) == len;
}

int
regex_search_utf8(PyObject *regex, const char *text)
{
    RegexObject *self = (RegexObject *)regex;
    locale_t previous = uselocale(utf8_locale);
    int rc = regexec(&self->compiled, text, 0, NULL, 0);
    uselocale(previous);
    return rc == 0 ? 1 : rc == REG_NOMATCH ? 0 : -1;
}

/* search(text) -> True/False, or None when the text is for Python's `re` (a line break, a lone surrogate). */
static PyObject *
regex_search(RegexObject *self, PyObject *text)
{
    if (!PyUnicode_Check(text)) {
        PyErr_SetString(PyExc_TypeError, "search() takes a str");
        return NULL;
    }
    if (!self->ready) {
        PyErr_SetString(PyExc_ValueError, "an uncompiled Regex");
        return NULL;
    }
    Py_ssize_t len;
    const char *utf = PyUnicode_AsUTF8AndSize(text, &len);
    if (utf == NULL) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    if (!regex_subject_ok(utf, (size_t)len)) {
        Py_RETURN_NONE;
    }
    int rc = regex_search_utf8((PyObject *)self, utf);
    if (rc < 0) {
        Py_RETURN_NONE; /* out of memory in regexec: Python's re decides */
    }
    return PyBool_FromLong(rc);
}

static PyMethodDef regex_methods[] = {
    {"search", (PyCFunction)regex_search, METH_O,
     "search(text) -> whether the pattern matches anywhere in TEXT; None: only Python's re can tell."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject RegexType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tpython._native.Regex",
    .tp_basicsize = sizeof(RegexObject),
    .tp_dealloc = (destructor)regex_dealloc,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "Regex(posix_pattern): a POSIX extended regular expression, compiled and matched under C.UTF-8.",
    .tp_methods = regex_methods,
    .tp_init = (initproc)regex_init,
    .tp_new = PyType_GenericNew,
};
