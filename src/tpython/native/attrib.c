/* Which module is responsible for an event, in C, as tpython.engine.attribution does it:
 * the innermost frame whose file is outside the standard library and tpython
 * (site-packages counts as outside). Its distribution ({"name", "version"}) is
 * looked up once per top-level name by a Python callable, in the main
 * interpreter only, and kept here.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#if PY_VERSION_HEX < 0x030B0000
#include <frameobject.h>
#endif
#include <pthread.h>
#include <string.h>

#include "attrib.h"

#define MAX_PREFIXES 16
#define MAX_PACKAGES 256

static char *stdlib_dirs[MAX_PREFIXES];
static int n_stdlib;
static char *site_dirs[MAX_PREFIXES];
static int n_site;
static char *tpython_dir;
static char *launcher_file; /* the outermost frame's file while tpython started (engine.attribution) */
static PyObject *package_lookup; /* callable(top) -> JSON text; main interpreter only */

typedef struct {
    char *top;
    char *json;
} Package;

static Package packages[MAX_PACKAGES];
static int n_packages;
static pthread_mutex_t packages_lock = PTHREAD_MUTEX_INITIALIZER;

static int
copy_prefixes(PyObject *list, char **out, int *n)
{
    if (!PyList_Check(list) || PyList_GET_SIZE(list) > MAX_PREFIXES) {
        PyErr_SetString(PyExc_ValueError, "prefixes must be a short list of directories");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        const char *text = PyUnicode_Check(PyList_GET_ITEM(list, i)) ? PyUnicode_AsUTF8(PyList_GET_ITEM(list, i)) : NULL;
        if (text == NULL || (out[i] = malloc(strlen(text) + 2)) == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "a prefix must be a str");
            }
            return -1;
        }
        strcpy(out[i], text);
        strcat(out[i], "/");
        *n = (int)i + 1;
    }
    return 0;
}

int
attrib_configure(PyObject *stdlib, PyObject *site, PyObject *tpython, PyObject *launcher, PyObject *lookup)
{
    if (copy_prefixes(stdlib, stdlib_dirs, &n_stdlib) < 0 || copy_prefixes(site, site_dirs, &n_site) < 0) {
        return -1;
    }
    const char *text = PyUnicode_Check(tpython) ? PyUnicode_AsUTF8(tpython) : NULL;
    if (text == NULL || (tpython_dir = malloc(strlen(text) + 2)) == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "tpython's directory must be a str");
        }
        return -1;
    }
    strcpy(tpython_dir, text);
    strcat(tpython_dir, "/");
    const char *launcher_text = PyUnicode_Check(launcher) ? PyUnicode_AsUTF8(launcher) : NULL;
    if (launcher_text == NULL || (launcher_file = strdup(launcher_text)) == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "the launcher's file must be a str");
        }
        return -1;
    }
    if (!PyCallable_Check(lookup)) {
        PyErr_SetString(PyExc_TypeError, "the package lookup must be callable");
        return -1;
    }
    Py_INCREF(lookup);
    package_lookup = lookup;
    return 0;
}

static int
starts_with_any(const char *s, char **prefixes, int n)
{
    for (int i = 0; i < n; i++) {
        if (strncmp(s, prefixes[i], strlen(prefixes[i])) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
skipped(const char *filename)
{
    if (strncmp(filename, "<frozen ", 8) == 0 || (tpython_dir && strncmp(filename, tpython_dir, strlen(tpython_dir)) == 0)) {
        return 1;
    }
    if (starts_with_any(filename, site_dirs, n_site)) {
        return 0;
    }
    return starts_with_any(filename, stdlib_dirs, n_stdlib);
}

PyObject *
attrib_frame_globals(PyFrameObject *frame)
{
#if PY_VERSION_HEX >= 0x030B0000
    return PyFrame_GetGlobals(frame);
#else
    Py_XINCREF(frame->f_globals);
    return frame->f_globals;
#endif
}

static const char *
package_json(const char *module, const char *filename, int in_main)
{
    if (!starts_with_any(filename, site_dirs, n_site)) {
        return "null";
    }
    char top[256];
    size_t len = strcspn(module, ".");
    if (len == 0 || len >= sizeof(top)) {
        return "null";
    }
    memcpy(top, module, len);
    top[len] = '\0';
    if (strcmp(top, "__main__") == 0) {
        return "null";
    }
    const char *found = NULL;
    pthread_mutex_lock(&packages_lock);
    for (int i = 0; i < n_packages && found == NULL; i++) {
        if (strcmp(packages[i].top, top) == 0) {
            found = packages[i].json;
        }
    }
    pthread_mutex_unlock(&packages_lock);
    if (found != NULL || !in_main || package_lookup == NULL) {
        return found ? found : "null";
    }
    PyObject *result = PyObject_CallFunction(package_lookup, "s", top);
    const char *text = result && PyUnicode_Check(result) ? PyUnicode_AsUTF8(result) : NULL;
    char *json = text ? strdup(text) : NULL;
    char *key = strdup(top);
    PyErr_Clear();
    Py_XDECREF(result);
    if (json == NULL || key == NULL) {
        free(json);
        free(key);
        return "null";
    }
    pthread_mutex_lock(&packages_lock);
    if (n_packages < MAX_PACKAGES) {
        packages[n_packages++] = (Package){key, json};
        found = json;
    }
    pthread_mutex_unlock(&packages_lock);
    if (found == NULL) {
        free(key);
        free(json);
        return "null";
    }
    return found;
}

int
attrib_current(Buf *module, Buf *package, int in_main)
{
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed */
    Py_XINCREF(frame);
    int rc = 0, found = 0;
    while (frame != NULL && !found) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        PyFrameObject *back = PyFrame_GetBack(frame);
        const char *filename = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
        if (filename == NULL) {
            PyErr_Clear();
        }
        if (filename != NULL && back == NULL && strcmp(filename, launcher_file) == 0) {
            Py_DECREF(code);
            break; /* the launcher's own frame: the tpython command, or the -c bootstrap line */
        }
        if (filename != NULL && !skipped(filename)) {
            found = 1;
            PyObject *globals = attrib_frame_globals(frame);
            PyObject *name = globals && PyDict_Check(globals) ? PyDict_GetItemString(globals, "__name__") : NULL;
            if (name != NULL && PyUnicode_CheckExact(name)) {
                const char *text = PyUnicode_AsUTF8(name);
                rc = buf_json_str(module, name, -1);
                if (rc == 0 && text != NULL) {
                    rc = buf_puts(package, package_json(text, filename, in_main));
                }
                else {
                    PyErr_Clear();
                    rc = rc < 0 ? rc : buf_puts(package, "null");
                }
            }
            else {
                rc = buf_puts(module, "null") < 0 || buf_puts(package, "null") < 0 ? -1 : 0;
            }
            Py_XDECREF(globals);
        }
        Py_DECREF(code);
        Py_DECREF(frame);
        frame = back;
    }
    Py_XDECREF(frame);
    if (!found) {
        rc = buf_puts(module, "null") < 0 || buf_puts(package, "null") < 0 ? -1 : 0;
    }
    return rc;
}
