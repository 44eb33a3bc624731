/* The floor for any audit hook: a C hook (PySys_AddAuditHook) that does nothing.
 *
 * CPython builds each event's argument tuple once any hook is installed, so this
 * is the least an audit hook can cost. overhead.py builds it with gcc for the
 * interpreter it measures and runs the plain workloads with it installed.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

static int
noop_hook(const char *event, PyObject *args, void *user_data)
{
    (void)event; (void)args; (void)user_data;
    return 0;
}

static PyObject *
install(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    if (PySys_AddAuditHook(noop_hook, NULL) < 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* run_file(path): run PATH in __main__ as `python PATH` does (PyRun_SimpleFileExFlags, as
 * CPython's own main runs a script). compile() would be a poorer stand-in: the first
 * compile() in a process creates every class of the `ast` module (about 2 ms), which
 * `python PATH` never does. A SystemExit ends the process there, as in python. */
static PyObject *
run_file(PyObject *module, PyObject *path)
{
    (void)module;
    PyObject *encoded = NULL;
    if (!PyUnicode_FSConverter(path, &encoded)) {
        return NULL;
    }
    FILE *fp = fopen(PyBytes_AS_STRING(encoded), "rb");
    if (fp == NULL) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
        Py_DECREF(encoded);
        return NULL;
    }
    PyCompilerFlags flags;
    flags.cf_flags = 0;
    flags.cf_feature_version = PY_MINOR_VERSION;
    int rc = PyRun_SimpleFileExFlags(fp, PyBytes_AS_STRING(encoded), 1, &flags);
    Py_DECREF(encoded);
    return PyLong_FromLong(rc);
}

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS, "install(): add the no-op C audit hook."},
    {"run_file", run_file, METH_O, "run_file(path) -> 0, or -1 after printing the exception: run PATH as python does."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "_noophook", "A no-op C audit hook: the floor.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC
PyInit__noophook(void)
{
    return PyModule_Create(&module_def);
}
