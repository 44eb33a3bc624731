/* tpython.errors.PolicyViolation: the exception a denial raises into the program.
 *
 * A static type (tp_base PermissionError): its attributes cannot be set or deleted, and
 * C raises this type itself, so neither a subclass nor a replacement of the name in
 * tpython.errors changes what the program gets. Each instance keeps event, rule,
 * policy, path and reason in its own __dict__ (as the Python class did); str() is
 * "tpython: " + reason, with reason
 *   "<event>[ of '<path>'] denied by rule '<id>'|the category default of policy '<name>'[: <detail>]".
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "violation.h"

PyDoc_STRVAR(violation_doc,
             "PolicyViolation(event, rule, policy, detail='', path=None)\n--\n\n"
             "Raised into the program when the policy denies an audit event.\n\n"
             "The message names the event, the path it was about (when it has one), the\n"
             "rule and the policy; ``reason`` is the message without the ``tpython:`` prefix.");

PyTypeObject ViolationType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tpython.errors.PolicyViolation",
    .tp_basicsize = sizeof(PyOSErrorObject),
};

/* A new instance of TYPE, its attributes set and its message made. */
static PyObject *
make(PyTypeObject *type, PyObject *event, PyObject *rule, PyObject *policy, PyObject *detail, PyObject *path)
{
    PyObject *what = (rule != Py_None && PyObject_IsTrue(rule) == 1) ? PyUnicode_FromFormat("rule %R", rule)
                                                                      : PyUnicode_FromString("the category default");
    PyObject *subject = what == NULL ? NULL
                        : path != Py_None ? PyUnicode_FromFormat("%S of %R", event, path)
                                          : (Py_INCREF(event), event);
    PyObject *reason = subject == NULL ? NULL
                                       : PyUnicode_FromFormat("%U denied by %U of policy %R", subject, what, policy);
    Py_XDECREF(what);
    Py_XDECREF(subject);
    if (reason != NULL && detail != NULL && PyObject_IsTrue(detail) == 1) {
        PyObject *full = PyUnicode_FromFormat("%U: %S", reason, detail);
        Py_SETREF(reason, full);
    }
    PyObject *text = reason == NULL ? NULL : PyUnicode_FromFormat("tpython: %U", reason);
    PyObject *args = text == NULL ? NULL : PyTuple_Pack(1, text);
    Py_XDECREF(text);
    /* OSError's own __new__ with (message,): args and str() as for PermissionError(message) */
    PyObject *self = args == NULL ? NULL : ((PyTypeObject *)PyExc_OSError)->tp_new(type, args, NULL);
    Py_XDECREF(args);
    if (self != NULL && (PyObject_SetAttrString(self, "event", event) < 0
                         || PyObject_SetAttrString(self, "rule", rule) < 0
                         || PyObject_SetAttrString(self, "policy", policy) < 0
                         || PyObject_SetAttrString(self, "path", path) < 0
                         || PyObject_SetAttrString(self, "reason", reason) < 0)) {
        Py_CLEAR(self);
    }
    Py_XDECREF(reason);
    return self;
}

static PyObject *
violation_new(PyTypeObject *type, PyObject *args, PyObject *kwargs)
{
    static char *keywords[] = {"event", "rule", "policy", "detail", "path", NULL};
    PyObject *event, *rule, *policy, *detail = NULL, *path = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "UOU|UO:PolicyViolation", keywords, &event, &rule, &policy,
                                     &detail, &path)) {
        return NULL;
    }
    if (rule != Py_None && !PyUnicode_Check(rule)) {
        PyErr_SetString(PyExc_TypeError, "PolicyViolation: rule must be a str or None");
        return NULL;
    }
    return make(type, event, rule, policy, detail, path);
}

int
tp_violation_ready(void)
{
    ViolationType.tp_base = (PyTypeObject *)PyExc_PermissionError;
    ViolationType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE;
    ViolationType.tp_doc = violation_doc;
    ViolationType.tp_new = violation_new;
    return PyType_Ready(&ViolationType);
}

/* The first of SHAPE's path arguments the program gave as text (bytes decoded, as
 * os.fsdecode does), or None: a new reference. */
static PyObject *
first_path(PyObject *args, const Shape *shape)
{
    if (shape != NULL && PyTuple_Check(args)) {
        for (int i = 0; i < SHAPE_MAX && shape->paths[i] >= 0; i++) {
            if (shape->paths[i] >= PyTuple_GET_SIZE(args)) {
                continue;
            }
            PyObject *value = PyTuple_GET_ITEM(args, shape->paths[i]);
            if (PyBytes_CheckExact(value)) {
                return PyUnicode_DecodeUTF8(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value), "surrogateescape");
            }
            if (PyUnicode_CheckExact(value)) {
                Py_INCREF(value);
                return value;
            }
        }
    }
    Py_RETURN_NONE;
}

int
tp_raise_violation(const char *event, const char *rule, const char *policy, const char *message, PyObject *args,
                   const Shape *shape)
{
    PyObject *event_obj = PyUnicode_FromString(event);
    PyObject *rule_obj = rule != NULL ? PyUnicode_FromString(rule) : (Py_INCREF(Py_None), Py_None);
    PyObject *policy_obj = PyUnicode_FromString(policy);
    PyObject *detail = PyUnicode_FromString(message != NULL ? message : "");
    PyObject *path = first_path(args, shape);
    PyObject *exc = NULL;
    if (event_obj && rule_obj && policy_obj && detail && path) {
        exc = make(&ViolationType, event_obj, rule_obj, policy_obj, detail, path);
    }
    Py_XDECREF(event_obj);
    Py_XDECREF(rule_obj);
    Py_XDECREF(policy_obj);
    Py_XDECREF(detail);
    Py_XDECREF(path);
    if (exc == NULL) { /* out of memory, or an undecodable name: still denied */
        PyErr_Clear();
        PyErr_Format(PyExc_PermissionError, "tpython: %s denied by rule %s of policy %s", event,
                     rule ? rule : "default", policy);
        return -1;
    }
    PyErr_SetObject((PyObject *)&ViolationType, exc);
    Py_DECREF(exc);
    return -1;
}
