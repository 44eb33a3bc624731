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

static PyMethodDef methods[] = {
    {"install", install, METH_NOARGS, "install(): add the no-op C audit hook."},
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
