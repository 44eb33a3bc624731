/* Building the frozen policy from Python (tpython.engine.native compiles it once):
 * catalog defaults, rules and their conditions, where events keep their paths, and
 * what recording needs; then the audit hook is added (hook.c). No Python object is
 * consulted afterwards. Also: stats(), and entry() and decide() for tests and tools.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "ask.h"
#include "attrib.h"
#include "dispatch.h"
#include "events.h"
#include "literals.h"
#include "repeats.h"

const char *const ACTION_NAMES[N_ACTIONS] = {"allow", "count", "log", "ask", "deny", "kill", "log-in-c",
                                             "deny-in-c", "conditions-in-c", "kill-in-c", "ask-in-c"};

int installed;
Known *known;
Py_ssize_t n_known;
int other_default;
Rule *rules;
Py_ssize_t n_rules;
EventShape *shapes;
Py_ssize_t n_shapes;
int enforce;
int fail_closed;
char *policy_name;
int tp_status_killed = 255;    /* tpython.exit_status.KILLED, given at install */
int tp_status_not_found = 127; /* tpython.exit_status.NOT_FOUND, given at install */
PyInterpreterState *main_interp;
PyObject *std_streams[2];

static int
action_code(const char *name)
{
    for (int i = 0; i < N_ACTIONS; i++) {
        if (strcmp(name, ACTION_NAMES[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static char *
copy_str(PyObject *obj, const char *what)
{
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str", what);
        return NULL;
    }
    const char *s = PyUnicode_AsUTF8(obj);
    if (s == NULL) {
        return NULL;
    }
    char *copy = strdup(s);
    if (copy == NULL) {
        PyErr_NoMemory();
    }
    return copy;
}

static int
parse_action(PyObject *obj, int *out)
{
    char *name = copy_str(obj, "action");
    if (name == NULL) {
        return -1;
    }
    *out = action_code(name);
    free(name);
    if (*out < 0 || *out > A_KILL) {
        PyErr_SetString(PyExc_ValueError, "unknown action");
        return -1;
    }
    return 0;
}

static int
build_known(PyObject *catalog)
{
    if (!PyDict_Check(catalog)) {
        PyErr_SetString(PyExc_TypeError, "defaults must be a dict of event -> action");
        return -1;
    }
    n_known = PyDict_Size(catalog);
    known = calloc((size_t)(n_known ? n_known : 1), sizeof(Known));
    if (known == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    while (PyDict_Next(catalog, &pos, &key, &value)) {
        if ((known[i].name = copy_str(key, "event")) == NULL || parse_action(value, &known[i].action) < 0) {
            return -1;
        }
        i++;
    }
    qsort(known, (size_t)n_known, sizeof(Known), known_cmp);
    return 0;
}

static int
build_rules(PyObject *list)
{
    if (!PyList_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "rules must be a list");
        return -1;
    }
    n_rules = PyList_GET_SIZE(list);
    rules = calloc((size_t)(n_rules ? n_rules : 1), sizeof(Rule));
    if (rules == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n_rules; i++) {
        PyObject *globs, *action, *id, *message, *conds;
        int conditional;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(list, i), "O!OpOOO", &PyTuple_Type, &globs, &action,
                              &conditional, &id, &message, &conds)) {
            return -1;
        }
        Rule *r = &rules[i];
        r->conditional = conditional;
        r->conds = conds_build(conds);
        if (r->conds == NULL && (PyErr_Occurred() || conditional)) {
            if (!PyErr_Occurred()) { /* C evaluates every condition: a rule with some has a table */
                PyErr_SetString(PyExc_ValueError, "a conditional rule without its conditions");
            }
            return -1;
        }
        if (parse_action(action, &r->action) < 0 || (r->id = copy_str(id, "rule id")) == NULL
            || (r->message = copy_str(message, "rule message")) == NULL) {
            return -1;
        }
        r->n_globs = PyTuple_GET_SIZE(globs);
        r->globs = calloc((size_t)(r->n_globs ? r->n_globs : 1), sizeof(char *));
        if (r->globs == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t g = 0; g < r->n_globs; g++) {
            if ((r->globs[g] = copy_str(PyTuple_GET_ITEM(globs, g), "event glob")) == NULL) {
                return -1;
            }
        }
    }
    return 0;
}

static int
positions(PyObject *tuple, signed char *out)
{
    memset(out, -1, SHAPE_MAX);
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) >= SHAPE_MAX) {
        PyErr_SetString(PyExc_ValueError, "argument positions must be a short tuple");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tuple); i++) {
        long v = PyLong_AsLong(PyTuple_GET_ITEM(tuple, i));
        if (v < 0 || v > 100) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "bad argument position");
            }
            return -1;
        }
        out[i] = (signed char)v;
    }
    return 0;
}

/* The dir_fd position of each path argument; None: it has none. */
static int
dirfd_positions(PyObject *tuple, signed char *out)
{
    memset(out, -1, SHAPE_MAX);
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) >= SHAPE_MAX) {
        PyErr_SetString(PyExc_ValueError, "dir_fd positions must be a short tuple");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tuple); i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (item == Py_None) {
            continue;
        }
        long v = PyLong_AsLong(item);
        if (v < 0 || v > 100) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "bad dir_fd position");
            }
            return -1;
        }
        out[i] = (signed char)v;
    }
    return 0;
}

static int
build_shapes(PyObject *dict)
{
    if (!PyDict_Check(dict)) {
        PyErr_SetString(PyExc_TypeError, "shapes must be a dict");
        return -1;
    }
    n_shapes = PyDict_Size(dict);
    shapes = calloc((size_t)(n_shapes ? n_shapes : 1), sizeof(EventShape));
    if (shapes == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value, *paths, *lists, *sources, *dirfds, *texts;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if ((shapes[i].name = copy_str(key, "event")) == NULL
            || !PyArg_ParseTuple(value, "OOOOO", &paths, &lists, &sources, &dirfds, &texts)
            || positions(paths, shapes[i].shape.paths) < 0 || positions(lists, shapes[i].shape.path_lists) < 0
            || positions(sources, shapes[i].shape.sources) < 0 || positions(texts, shapes[i].shape.texts) < 0
            || dirfd_positions(dirfds, shapes[i].shape.dirfds) < 0) {
            return -1;
        }
        i++;
    }
    qsort(shapes, (size_t)n_shapes, sizeof(EventShape), shape_cmp);
    return 0;
}

static int
build_options(PyObject *options)
{
    if (!PyDict_Check(options)) {
        PyErr_SetString(PyExc_TypeError, "options must be a dict");
        return -1;
    }
    PyObject *shapes_obj = PyDict_GetItemString(options, "shapes");
    PyObject *stdlib = PyDict_GetItemString(options, "stdlib");
    PyObject *site = PyDict_GetItemString(options, "site");
    PyObject *tpython_dir = PyDict_GetItemString(options, "tpython");
    PyObject *lookup = PyDict_GetItemString(options, "package_lookup");
    PyObject *launcher_file = PyDict_GetItemString(options, "launcher_file");
    PyObject *enforce_obj = PyDict_GetItemString(options, "enforce");
    PyObject *policy_obj = PyDict_GetItemString(options, "policy");
    PyObject *fail_closed_obj = PyDict_GetItemString(options, "fail_closed");
    PyObject *statuses = PyDict_GetItemString(options, "statuses");
    if (!shapes_obj || !stdlib || !site || !tpython_dir || !lookup || !launcher_file || !enforce_obj
        || !policy_obj || !fail_closed_obj || !statuses) {
        PyErr_SetString(PyExc_KeyError, "options need shapes, stdlib, site, tpython, package_lookup, "
                                        "launcher_file, enforce, policy, fail_closed, statuses");
        return -1;
    }
    if (!PyArg_ParseTuple(statuses, "ii:statuses", &tp_status_killed, &tp_status_not_found)) {
        return -1;
    }
    if (conds_configure(options) < 0 /* move_events, write_events, write_flags, condition_facts */
        || ask_configure(PyDict_GetItemString(options, "condition_facts")) < 0) {
        return -1;
    }
    if ((policy_name = copy_str(policy_obj, "policy name")) == NULL) {
        return -1;
    }
    enforce = PyObject_IsTrue(enforce_obj) == 1;
    fail_closed = PyObject_IsTrue(fail_closed_obj) == 1;
    const char *names[2] = {"__stdout__", "__stderr__"};
    for (int i = 0; i < 2; i++) {
        std_streams[i] = PySys_GetObject(names[i]); /* borrowed */
        Py_XINCREF(std_streams[i]);
    }
    if (build_shapes(shapes_obj) < 0 || attrib_configure(stdlib, site, tpython_dir, launcher_file, lookup) < 0) {
        return -1;
    }
    return 0;
}

PyObject *
tp_install_audit(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *catalog, *other, *rule_list, *options;
    if (!PyArg_ParseTuple(args, "O!OO!O!:install_audit", &PyDict_Type, &catalog, &other, &PyList_Type, &rule_list,
                          &PyDict_Type, &options)) {
        return NULL;
    }
    if (installed) {
        PyErr_SetString(PyExc_RuntimeError, "tpython's audit hook is already installed");
        return NULL;
    }
    if (parse_action(other, &other_default) < 0 || build_known(catalog) < 0 || build_options(options) < 0
        || build_rules(rule_list) < 0) {
        return NULL; /* the half-built tables are never used: installed stays 0 */
    }
    main_interp = PyInterpreterState_Get();
    (void)literals_init(); /* when it fails, every name is looked up by its text */
    if (hook_add() < 0) {
        return NULL;
    }
    installed = 1;
    Py_RETURN_NONE;
}

PyObject *
tp_entry(PyObject *module, PyObject *name)
{
    (void)module;
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "entry() needs an event name");
        return NULL;
    }
    const char *event = PyUnicode_AsUTF8(name);
    if (event == NULL) {
        return NULL;
    }
    Entry e;
    memset(&e, 0, sizeof e);
    resolve(event, &e);
    free_steps(&e);
    return Py_BuildValue("(ssO)", ACTION_NAMES[e.action], e.rule, e.can_block ? Py_True : Py_False);
}

/* decide(event, args) -> (action, rule or None) as C decides it, without recording anything. */
PyObject *
tp_decide(PyObject *module, PyObject *args)
{
    (void)module;
    const char *event;
    PyObject *event_args;
    if (!PyArg_ParseTuple(args, "sO!", &event, &PyTuple_Type, &event_args)) {
        return NULL;
    }
    if (!installed) {
        PyErr_SetString(PyExc_RuntimeError, "tpython's audit hook is not installed");
        return NULL;
    }
    Entry scratch;
    memset(&scratch, 0, sizeof scratch);
    Entry *e = entry_by_name(event);
    if (e == NULL) { /* the table is full: resolved for this call */
        resolve(event, &scratch);
        e = &scratch;
    }
    int action = e->action;
    const char *rule = e->rule, *message;
    uint64_t *counter;
    if (action == A_COND) {
        action = decide_cond(event, event_args, e, &rule, &message, &counter);
    }
    free_steps(&scratch);
    static const char *const public_names[N_ACTIONS] = {"allow", "count", "log", "ask", "deny", "kill",
                                                        "log", "deny", "conditions", "kill", "ask"};
    return Py_BuildValue("(sz)", public_names[action], rule[0] ? rule : NULL);
}

PyObject *
tp_stats(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    return Py_BuildValue("{s:O,s:I,s:I,s:K,s:K,s:K,s:I,s:K,s:O,s:O,s:K}", "installed", installed ? Py_True : Py_False,
                         "events", events_used(), "capacity", (unsigned)TABLE_LIMIT,
                         "unrecorded", (unsigned long long)__atomic_load_n(&unrecorded, __ATOMIC_RELAXED),
                         "logged_in_c", (unsigned long long)__atomic_load_n(&logged_in_c, __ATOMIC_RELAXED),
                         "repeated", (unsigned long long)repeats_total(), "repeats_tracked", repeats_tracked(),
                         "after_exit", (unsigned long long)__atomic_load_n(&after_exit, __ATOMIC_RELAXED),
                         "log_in_c", Py_True, /* every record is C's */
                         "probes", TPYTHON_PROBES ? Py_True : Py_False,
                         "asks_allowed", (unsigned long long)__atomic_load_n(&asks_allowed, __ATOMIC_RELAXED));
}
