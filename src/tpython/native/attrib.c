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
#include "pathobj.h"

#define MAX_PREFIXES 16
#define MAX_PACKAGES 256

static char *stdlib_dirs[MAX_PREFIXES];
static size_t stdlib_lens[MAX_PREFIXES]; /* each prefix's length: every logged event compares them */
static int n_stdlib;
static char *site_dirs[MAX_PREFIXES];
static size_t site_lens[MAX_PREFIXES];
static int n_site;
static char *tpython_dir;
static size_t tpython_len;
static char *launcher_file; /* the outermost frame's file while tpython started (engine.attribution) */
static PyObject *package_lookup; /* callable(top) -> JSON text; main interpreter only */
static PyObject *name_key;       /* "__name__", interned once: main interpreter only */
#if PY_VERSION_HEX >= 0x030B0000
static Py_ssize_t line_memo_index = -1; /* the code objects' co_extra slot of frame_line's memo */
#endif
#if PY_VERSION_HEX >= 0x030C0000
#define request_code_extra PyUnstable_Eval_RequestCodeExtraIndex
#define code_get_extra PyUnstable_Code_GetExtra
#define code_set_extra PyUnstable_Code_SetExtra
#else
#define request_code_extra _PyEval_RequestCodeExtraIndex
#define code_get_extra _PyCode_GetExtra
#define code_set_extra _PyCode_SetExtra
#endif

typedef struct {
    char *top;
    char *json;
} Package;

static Package packages[MAX_PACKAGES];
static int n_packages;
static pthread_mutex_t packages_lock = PTHREAD_MUTEX_INITIALIZER;

static int
copy_prefixes(PyObject *list, char **out, size_t *lens, int *n)
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
        lens[i] = strlen(out[i]);
        *n = (int)i + 1;
    }
    return 0;
}

const char *
attrib_stdlib_dir(int i)
{
    return i >= 0 && i < n_stdlib ? stdlib_dirs[i] : NULL;
}

int
attrib_configure(PyObject *stdlib, PyObject *site, PyObject *tpython, PyObject *launcher, PyObject *lookup)
{
    if (copy_prefixes(stdlib, stdlib_dirs, stdlib_lens, &n_stdlib) < 0
        || copy_prefixes(site, site_dirs, site_lens, &n_site) < 0) {
        return -1;
    }
    pathobj_remember(); /* pathlib's files as they are at start */
    const char *text = PyUnicode_Check(tpython) ? PyUnicode_AsUTF8(tpython) : NULL;
    if (text == NULL || (tpython_dir = malloc(strlen(text) + 2)) == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "tpython's directory must be a str");
        }
        return -1;
    }
    strcpy(tpython_dir, text);
    strcat(tpython_dir, "/");
    tpython_len = strlen(tpython_dir);
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
    name_key = PyUnicode_InternFromString("__name__");
#if PY_VERSION_HEX >= 0x030B0000
    line_memo_index = request_code_extra(free);
#endif
    return name_key == NULL ? -1 : 0;
}

static int
starts_with_any(const char *s, char **prefixes, const size_t *lens, int n)
{
    for (int i = 0; i < n; i++) {
        if (strncmp(s, prefixes[i], lens[i]) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
skipped(const char *filename)
{
    if (strncmp(filename, "<frozen ", 8) == 0 || (tpython_dir && strncmp(filename, tpython_dir, tpython_len) == 0)) {
        return 1;
    }
    if (starts_with_any(filename, site_dirs, site_lens, n_site)) {
        return 0;
    }
    return starts_with_any(filename, stdlib_dirs, stdlib_lens, n_stdlib);
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
    if (!starts_with_any(filename, site_dirs, site_lens, n_site)) {
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

#if PY_VERSION_HEX >= 0x030B0000
/* The line of a frame's instruction, kept with the code object (its co_extra, freed with
 * it): a line is found by reading the code's line table from its start, for every event
 * attributed there. Main interpreter only (the index is the main interpreter's). */
#define LINE_MEMO 4
typedef struct {
    int lasti[LINE_MEMO];
    int line[LINE_MEMO];
    int next;
} LineMemo;

static int
frame_line(PyFrameObject *frame, PyCodeObject *code, int in_main)
{
    void *extra = NULL;
    if (!in_main || line_memo_index < 0 || code_get_extra((PyObject *)code, line_memo_index, &extra) < 0) {
        PyErr_Clear();
        return PyFrame_GetLineNumber(frame);
    }
    LineMemo *memo = extra;
    int lasti = PyFrame_GetLasti(frame);
    for (int i = 0; memo != NULL && i < LINE_MEMO; i++) {
        if (memo->lasti[i] == lasti) {
            return memo->line[i];
        }
    }
    int line = PyCode_Addr2Line(code, lasti);
    if (memo == NULL && (memo = calloc(1, sizeof(LineMemo))) != NULL) {
        memset(memo->lasti, -1, sizeof memo->lasti);
        if (code_set_extra((PyObject *)code, line_memo_index, memo) < 0) {
            PyErr_Clear();
            free(memo);
            memo = NULL;
        }
    }
    if (memo != NULL) {
        memo->lasti[memo->next] = lasti;
        memo->line[memo->next] = line;
        memo->next = (memo->next + 1) % LINE_MEMO;
    }
    return line;
}
#else
static int
frame_line(PyFrameObject *frame, PyCodeObject *code, int in_main)
{
    (void)code; (void)in_main;
    return PyFrame_GetLineNumber(frame);
}
#endif

int
attrib_find(AttribPlace *place, int in_main)
{
    place->code = NULL;
    place->line = 0;
    place->name = NULL;
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed */
    Py_XINCREF(frame);
    while (frame != NULL) {
        PyCodeObject *code = PyFrame_GetCode(frame);
        const char *filename = PyUnicode_Check(code->co_filename) ? PyUnicode_AsUTF8(code->co_filename) : NULL;
        if (filename == NULL) {
            PyErr_Clear();
        }
        /* The frame before is made into an object only when it is needed (3.11+ makes one). */
        if (filename != NULL && strcmp(filename, launcher_file) == 0) {
            PyFrameObject *back = PyFrame_GetBack(frame);
            Py_XDECREF(back);
            if (back == NULL) {
                Py_DECREF(code);
                break; /* the launcher's own frame: the tpython command, or the -c bootstrap line */
            }
        }
        if (filename != NULL && !skipped(filename)) {
            PyObject *globals = attrib_frame_globals(frame);
            if (globals != NULL && PyDict_Check(globals)) {
                PyObject *name = in_main && name_key != NULL ? PyDict_GetItemWithError(globals, name_key)
                                                             : PyDict_GetItemString(globals, "__name__");
                PyErr_Clear();
                if (name != NULL && PyUnicode_CheckExact(name)) {
                    Py_INCREF(name);
                    place->name = name;
                }
            }
            Py_XDECREF(globals);
            place->code = code; /* its reference goes to PLACE */
            /* The line, not the instruction: 3.11 specialises a call so that the same
             * call can leave the frame at either of two instructions. */
            place->line = frame_line(frame, code, in_main);
            Py_DECREF(frame);
            return 0;
        }
        PyFrameObject *back = PyFrame_GetBack(frame);
        Py_DECREF(code);
        Py_DECREF(frame);
        frame = back;
    }
    Py_XDECREF(frame);
    return 0;
}

int
attrib_render(const AttribPlace *place, Buf *module, Buf *package, int in_main)
{
    if (place->name == NULL) {
        return buf_puts(module, "null") < 0 || buf_puts(package, "null") < 0 ? -1 : 0;
    }
    if (buf_json_str(module, place->name, -1) < 0) {
        return -1;
    }
    const char *text = PyUnicode_AsUTF8(place->name);
    const char *filename = text != NULL ? PyUnicode_AsUTF8(place->code->co_filename) : NULL;
    if (filename == NULL) {
        PyErr_Clear();
        return buf_puts(package, "null") < 0 ? -1 : 0;
    }
    return buf_puts(package, package_json(text, filename, in_main)) < 0 ? -1 : 0;
}

void
attrib_clear(AttribPlace *place)
{
    Py_CLEAR(place->code);
    Py_CLEAR(place->name);
}
