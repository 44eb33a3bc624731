/* Rule conditions in C, for tpython._native: every condition a policy can write.
 *
 * tpython.engine.rules.native_conditions compiles each rule's `when` and `unless`
 * once, at start, into tables; this file builds them and evaluates a rule's
 * conditions for one event: every `when` must hold, and the rule does not apply
 * when every `unless` holds. The facts each kind asks about live in their own
 * files: pathfacts.c (paths, write), netconds.c (host, port), execconds.c
 * (executable), attrib.c (the responsible module), render.c (the arguments as
 * text, for `arg`, matched by argregex.c); globs.c matches the globs.
 *
 * A fact that cannot be known (COND_UNKNOWN) never opens a hole: a condition that
 * widens a denial then holds, one that narrows an exemption does not (the rule's
 * strict_all, as tpython.engine.rules._any_or_all decides).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "argregex.h"
#include "attrib.h"
#include "conditions.h"
#include "execconds.h"
#include "globs.h"
#include "netconds.h"
#include "pathfacts.h"

enum { C_WRITE, C_PATH, C_ARG, C_CALLER, C_MODULE, C_HOST, C_PORT, C_EXE };

typedef struct {
    Py_UCS4 *text;
    Py_ssize_t len;
} Text;

typedef struct {
    int kind;
    int want;           /* C_WRITE */
    int strict_all;     /* every candidate must match (narrowing an exemption); an unknown fact fails */
    GlobList globs;     /* C_PATH, C_CALLER, C_MODULE */
    Text *roots;        /* C_PATH: directories a move event may contain */
    Py_ssize_t n_roots;
    PlaceTable new_links; /* C_PATH: events that make a symbolic link: (its target text, the link) */
    PlaceTable moved;   /* C_PATH: events that may give a symbolic link a new name: (the name, the new name) */
    PyObject **regexes; /* C_ARG: tpython._native.Regex objects, any may match */
    Py_ssize_t n_regexes;
    HostCond host;
    PortCond port;
    ExeCond exe;
} Cond;

struct CondSet {
    Cond *when;
    Py_ssize_t n_when;
    Cond *unless;
    Py_ssize_t n_unless;
};

static char **move_events;
static Py_ssize_t n_move;
static int configured;

/* ---- shared helpers ------------------------------------------------------- */

int
cond_names(PyObject *tuple, char ***out, Py_ssize_t *n)
{
    if (!PyTuple_Check(tuple)) {
        PyErr_SetString(PyExc_TypeError, "event names must be a tuple");
        return -1;
    }
    *n = PyTuple_GET_SIZE(tuple);
    *out = calloc((size_t)(*n ? *n : 1), sizeof(char *));
    if (*out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        const char *s = PyUnicode_Check(PyTuple_GET_ITEM(tuple, i)) ? PyUnicode_AsUTF8(PyTuple_GET_ITEM(tuple, i))
                                                                     : NULL;
        if (s == NULL || ((*out)[i] = strdup(s)) == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_TypeError, "event names must be str");
            }
            return -1;
        }
    }
    return 0;
}

int
cond_named(char *const *list, Py_ssize_t n, const char *event)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (strcmp(list[i], event) == 0) {
            return 1;
        }
    }
    return 0;
}

int
places_build(PyObject *tuple, PlaceTable *table)
{
    if (!PyTuple_Check(tuple)) {
        PyErr_SetString(PyExc_TypeError, "a table of argument places must be a tuple");
        return -1;
    }
    table->n = PyTuple_GET_SIZE(tuple);
    table->items = calloc((size_t)(table->n ? table->n : 1), sizeof(EventPlaces));
    if (table->items == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < table->n; i++) {
        PyObject *row = PyTuple_GET_ITEM(tuple, i);
        Py_ssize_t size = PyTuple_Check(row) ? PyTuple_GET_SIZE(row) : 0;
        const char *event = size >= 1 && PyUnicode_Check(PyTuple_GET_ITEM(row, 0))
                                ? PyUnicode_AsUTF8(PyTuple_GET_ITEM(row, 0)) : NULL;
        if (event == NULL || size > 5 || (table->items[i].event = strdup(event)) == NULL) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "an argument place is (event, position or None, ...)");
            }
            return -1;
        }
        for (int k = 0; k < 4; k++) {
            PyObject *p = k + 1 < size ? PyTuple_GET_ITEM(row, k + 1) : Py_None;
            long v = p == Py_None ? -1 : PyLong_AsLong(p);
            if (v < -1 || v > 100 || (v == -1 && PyErr_Occurred())) {
                if (!PyErr_Occurred()) {
                    PyErr_SetString(PyExc_ValueError, "bad argument position");
                }
                return -1;
            }
            table->items[i].pos[k] = (int)v;
        }
    }
    return 0;
}

const int *
places_of(const PlaceTable *table, const char *event)
{
    for (Py_ssize_t i = 0; i < table->n; i++) {
        if (strcmp(table->items[i].event, event) == 0) {
            return table->items[i].pos;
        }
    }
    return NULL;
}

PyObject *
arg_at(PyObject *args, int pos)
{
    return pos >= 0 && pos < PyTuple_GET_SIZE(args) ? PyTuple_GET_ITEM(args, pos) : NULL;
}

/* ---- configuration and building --------------------------------------------- */

int
conds_configure(PyObject *options)
{
    PyObject *moves = PyDict_GetItemString(options, "move_events");
    PyObject *writes = PyDict_GetItemString(options, "write_events");
    PyObject *flags = PyDict_GetItemString(options, "write_flags");
    PyObject *facts = PyDict_GetItemString(options, "condition_facts");
    if (!moves || !writes || !flags || !facts || !PyDict_Check(facts)) {
        PyErr_SetString(PyExc_KeyError, "options need move_events, write_events, write_flags, condition_facts");
        return -1;
    }
    long long write_flags = PyLong_AsLongLong(flags);
    if ((write_flags == -1 && PyErr_Occurred()) || pathfacts_configure(writes, write_flags) < 0
        || cond_names(moves, &move_events, &n_move) < 0 || netconds_configure(facts) < 0
        || execconds_configure(facts) < 0) {
        return -1;
    }
    configured = 1;
    return 0;
}

static int
text_of(PyObject *str, Text *out)
{
    if (!PyUnicode_Check(str)) {
        PyErr_SetString(PyExc_TypeError, "expected str");
        return -1;
    }
    out->len = PyUnicode_GET_LENGTH(str);
    out->text = PyUnicode_AsUCS4Copy(str);
    return out->text == NULL ? -1 : 0;
}

/* ("arg", strict_all, (pattern, ...)): each compiled by PCRE2 */
static int
build_arg(PyObject *spec, Cond *c)
{
    PyObject *strict_all, *patterns;
    if (!PyArg_ParseTuple(spec, "sOO!", &(const char *){0}, &strict_all, &PyTuple_Type, &patterns)) {
        return -1;
    }
    c->strict_all = PyObject_IsTrue(strict_all) == 1;
    c->n_regexes = PyTuple_GET_SIZE(patterns);
    c->regexes = calloc((size_t)(c->n_regexes ? c->n_regexes : 1), sizeof(PyObject *));
    if (c->regexes == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < c->n_regexes; i++) {
        if ((c->regexes[i] = arg_regex_new(PyTuple_GET_ITEM(patterns, i))) == NULL) { /* held for the process */
            return -1;
        }
    }
    return 0;
}

/* ("path", strict_all, (glob tokens, ...), move roots, NEW_LINK_EVENTS, MOVED_LINK_NAMES) */
static int
build_path(PyObject *spec, Cond *c)
{
    PyObject *strict_all, *globs, *roots, *new_links, *moved;
    if (!PyArg_ParseTuple(spec, "sOO!O!O!O!", &(const char *){0}, &strict_all, &PyTuple_Type, &globs, &PyTuple_Type,
                          &roots, &PyTuple_Type, &new_links, &PyTuple_Type, &moved)) {
        return -1;
    }
    c->strict_all = PyObject_IsTrue(strict_all) == 1;
    if (places_build(new_links, &c->new_links) < 0 || places_build(moved, &c->moved) < 0
        || globs_build(globs, &c->globs) < 0) {
        return -1;
    }
    c->n_roots = PyTuple_GET_SIZE(roots);
    c->roots = calloc((size_t)(c->n_roots ? c->n_roots : 1), sizeof(Text));
    if (c->roots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < c->n_roots; i++) {
        if (text_of(PyTuple_GET_ITEM(roots, i), &c->roots[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

static int
build_cond(PyObject *spec, Cond *c)
{
    const char *kind;
    if (!PyTuple_Check(spec) || PyTuple_GET_SIZE(spec) < 2 || !PyUnicode_Check(PyTuple_GET_ITEM(spec, 0))
        || (kind = PyUnicode_AsUTF8(PyTuple_GET_ITEM(spec, 0))) == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_TypeError, "a condition is (kind, ...)");
        }
        return -1;
    }
    if (strcmp(kind, "write") == 0) {
        c->kind = C_WRITE;
        c->want = PyObject_IsTrue(PyTuple_GET_ITEM(spec, 1)) == 1;
        return 0;
    }
    if (strcmp(kind, "caller") == 0 || strcmp(kind, "module") == 0) { /* (kind, (name glob tokens, ...)) */
        c->kind = kind[0] == 'c' ? C_CALLER : C_MODULE;
        return globs_build(PyTuple_GET_ITEM(spec, 1), &c->globs);
    }
    if (strcmp(kind, "arg") == 0) {
        c->kind = C_ARG;
        return build_arg(spec, c);
    }
    if (strcmp(kind, "host") == 0) {
        c->kind = C_HOST;
        int rc = host_cond_build(spec, &c->host);
        c->strict_all = c->host.strict_all;
        return rc;
    }
    if (strcmp(kind, "port") == 0) {
        c->kind = C_PORT;
        int rc = port_cond_build(spec, &c->port);
        c->strict_all = c->port.strict_all;
        return rc;
    }
    if (strcmp(kind, "executable") == 0) {
        c->kind = C_EXE;
        int rc = exe_cond_build(spec, &c->exe);
        c->strict_all = c->exe.strict_all;
        return rc;
    }
    if (strcmp(kind, "path") == 0) {
        c->kind = C_PATH;
        return build_path(spec, c);
    }
    PyErr_Format(PyExc_ValueError, "unknown condition %s", kind);
    return -1;
}

static int
build_list(PyObject *list, Cond **out, Py_ssize_t *n)
{
    if (!PyTuple_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "conditions must be a tuple");
        return -1;
    }
    *n = PyTuple_GET_SIZE(list);
    *out = calloc((size_t)(*n ? *n : 1), sizeof(Cond));
    if (*out == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < *n; i++) {
        if (build_cond(PyTuple_GET_ITEM(list, i), &(*out)[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

CondSet *
conds_build(PyObject *spec)
{
    if (spec == Py_None) {
        return NULL;
    }
    PyObject *when, *unless;
    if (!configured) {
        PyErr_SetString(PyExc_RuntimeError, "conditions built before conds_configure");
        return NULL;
    }
    if (!PyArg_ParseTuple(spec, "OO", &when, &unless)) {
        return NULL;
    }
    CondSet *set = calloc(1, sizeof(CondSet));
    if (set == NULL) {
        PyErr_NoMemory();
        return NULL;
    }
    /* On failure the partial set is left allocated: install_audit fails as a whole
     * (once per process), and nothing of it is ever used. */
    if (build_list(when, &set->when, &set->n_when) < 0 || build_list(unless, &set->unless, &set->n_unless) < 0) {
        return NULL;
    }
    return set;
}

/* ---- evaluation ------------------------------------------------------------- */

/* The arguments as EventFacts.args_json has them (json.dumps of the rendering, non-ASCII
 * kept): 1 in F->args_text, or COND_UNKNOWN when C cannot render them as Python does
 * (a value only the Python renderer describes, a lone surrogate). */
static int
event_args_text(EventFacts *f, PyObject *args, const Shape *shape)
{
    if (f->args_state != 0) {
        return f->args_state;
    }
    f->args_state = COND_UNKNOWN;
    Buf b;
    buf_init(&b);
    b.raw = 1;
    int rc = render_args(&b, args, shape);
    if (rc == RENDER_OK && !b.unencodable && (f->args_text = malloc(b.len + 1)) != NULL) {
        memcpy(f->args_text, b.data, b.len);
        f->args_text[b.len] = '\0';
        f->args_len = b.len;
        f->args_state = 1;
    }
    PyErr_Clear();
    buf_free(&b);
    return f->args_state;
}

/* `path.rstrip("/") + "/"` is a prefix of ROOT, or ROOT is PATH: moving PATH moves ROOT. */
static int
contains_root(PyObject *path, const Text *root)
{
    int kind = PyUnicode_KIND(path);
    const void *data = PyUnicode_DATA(path);
    Py_ssize_t len = PyUnicode_GET_LENGTH(path);
    if (len == root->len) {
        Py_ssize_t i = 0;
        while (i < len && PyUnicode_READ(kind, data, i) == root->text[i]) {
            i++;
        }
        if (i == len) {
            return 1;
        }
    }
    Py_ssize_t stripped = len;
    while (stripped > 0 && PyUnicode_READ(kind, data, stripped - 1) == '/') {
        stripped--;
    }
    if (root->len < stripped + 1) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < stripped; i++) {
        if (PyUnicode_READ(kind, data, i) != root->text[i]) {
            return 0;
        }
    }
    return root->text[stripped] == '/';
}

static int
path_matches(const Cond *c, PyObject *path, int containment)
{
    int m = globs_any(&c->globs, path);
    for (Py_ssize_t r = 0; m == 0 && containment && r < c->n_roots; r++) {
        m = contains_root(path, &c->roots[r]);
    }
    return m;
}

/* A `caller` condition: whether the module whose code raised the event (the innermost
 * Python frame's __name__) matches one of the globs. No frame, or a __name__ that is not
 * a str: no caller, no match. Globals of a dict subclass are read as the dict they are. */
static int
caller_matches(const Cond *c)
{
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed */
    if (frame == NULL) {
        return 0;
    }
    PyObject *globals = attrib_frame_globals(frame);
    if (globals == NULL || !PyDict_Check(globals)) {
        PyErr_Clear();
        Py_XDECREF(globals);
        return 0;
    }
    PyObject *name = PyDict_GetItemString(globals, "__name__"); /* borrowed; the dict's own storage */
    int found = name != NULL && PyUnicode_Check(name) ? globs_any(&c->globs, name) : 0;
    Py_DECREF(globals);
    return found < 0 ? COND_UNKNOWN : found;
}

/* A `module` condition: the responsible module (SPEC 4, native/attrib.c, as records name
 * it) matches one of the globs; no module, no match. */
static int
module_matches(const Cond *c, EventFacts *f)
{
    if (!f->module_state) {
        AttribPlace place = {0};
        attrib_find(&place, 0);
        if (place.name != NULL) {
            f->module = PyUnicode_Substring(place.name, 0, PyUnicode_GET_LENGTH(place.name));
            PyErr_Clear();
        }
        attrib_clear(&place);
        f->module_state = 1;
    }
    if (f->module == NULL) {
        return 0;
    }
    int m = globs_any(&c->globs, f->module);
    return m < 0 ? COND_UNKNOWN : m;
}

static int
path_holds(const Cond *c, const char *event, PyObject *args, const Shape *shape, EventFacts *f)
{
    int r = event_paths(f, event, args, shape, places_of(&c->new_links, event), places_of(&c->moved, event));
    if (r != 1) {
        return r;
    }
    if (f->n == 0) {
        return 0;
    }
    int containment = !c->strict_all && cond_named(move_events, n_move, event);
    for (int i = 0; i < f->n; i++) { /* any (widening a denial) or all (narrowing an allow) */
        int m = path_matches(c, f->paths[i], containment);
        if (m < 0) {
            return COND_UNKNOWN;
        }
        if (m != c->strict_all) {
            return m;
        }
    }
    return c->strict_all;
}

/* 1, 0, COND_UNKNOWN or COND_PYTHON */
static int
cond_holds(const Cond *c, const char *event, PyObject *args, const Shape *shape, EventFacts *f)
{
    switch (c->kind) {
    case C_WRITE: {
        int w = is_write(event, args);
        return w < 0 ? w : w == c->want;
    }
    case C_CALLER:
        return caller_matches(c);
    case C_MODULE:
        return module_matches(c, f);
    case C_HOST:
        return host_cond_holds(&c->host, event, args, f);
    case C_PORT:
        return port_cond_holds(&c->port, event, args, f);
    case C_EXE:
        return exe_cond_holds(&c->exe, event, args, f);
    case C_ARG:
        if (event_args_text(f, args, shape) != 1) {
            return COND_UNKNOWN;
        }
        for (Py_ssize_t i = 0; i < c->n_regexes; i++) {
            int m = arg_regex_search(c->regexes[i], f->args_text, f->args_len);
            if (m != 0) {
                return m < 0 ? COND_UNKNOWN : 1;
            }
        }
        return 0;
    default:
        return path_holds(c, event, args, shape, f);
    }
}

/* One condition, an unknown fact (COND_PYTHON too: nothing else can tell) decided so as
 * never to open a hole. */
static int
holds(const Cond *c, const char *event, PyObject *args, const Shape *shape, EventFacts *f)
{
    int r = cond_holds(c, event, args, shape, f);
    return r == COND_UNKNOWN || r == COND_PYTHON ? !c->strict_all : r;
}

int
conds_apply(const CondSet *set, const char *event, PyObject *args, const Shape *shape, EventFacts *f)
{
    for (Py_ssize_t i = 0; i < set->n_when; i++) {
        int r = holds(&set->when[i], event, args, shape, f);
        if (r != 1) {
            return r;
        }
    }
    if (set->n_unless == 0) {
        return COND_APPLIES;
    }
    for (Py_ssize_t i = 0; i < set->n_unless; i++) {
        int r = holds(&set->unless[i], event, args, shape, f);
        if (r != 1) {
            return r == 0 ? COND_APPLIES : r;
        }
    }
    return COND_NOT;
}
