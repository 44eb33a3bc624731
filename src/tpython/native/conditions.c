/* Rule conditions in C: `path` and `write`, for tpython._native.
 *
 * The same facts and the same matching as the Python engine
 * (tpython.engine.facts.event_paths / is_write, tpython.engine.rules,
 * tpython.policy.patterns), so a rule whose conditions are only these is
 * decided without calling into Python. Whatever C cannot work out exactly
 * the way Python would (an argument of another type, a path whose real path
 * realpath(3) cannot give, a changed root directory) answers COND_PYTHON and
 * the event goes to the slow path, which decides it in full.
 *
 * Globs arrive as tokens made by tpython.policy.patterns.glob_tokens and are
 * matched by a small NFA over the path's code points (the Python engine
 * matches the same tokens as a regular expression): `?` and `*` stay within
 * one component, `**` crosses them, `**` followed by `/` is zero or more whole
 * components, and a class is a set of code point ranges.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attrib.h"
#include "conditions.h"
#include "regex.h"

enum { S_CHAR, S_ANY, S_STAR, S_DSTAR, S_DSLASH, S_CLASS };

#define MAX_STATES 1024
#define WORDS ((MAX_STATES + 1 + 63) / 64)

typedef struct {
    int type;
    Py_UCS4 ch;            /* S_CHAR */
    int negated;           /* S_CLASS */
    Py_UCS4 *ranges;       /* S_CLASS: lo, hi pairs */
    Py_ssize_t n_ranges;
} State;

typedef struct {
    State *states;
    int n;
    int prefix;   /* leading S_CHAR states: the text's first characters, exactly */
    int suffix;   /* trailing S_CHAR states after those: its last characters */
    int min_len;  /* states that consume exactly one character */
} Glob;

typedef struct {
    Py_UCS4 *text;
    Py_ssize_t len;
} Text;

enum { C_WRITE, C_PATH, C_ARG, C_CALLER, C_PY }; /* C_PY: a condition only Python evaluates */

typedef struct {
    int kind;
    int want;          /* C_WRITE */
    int strict_all;    /* C_PATH: every candidate must match (an allow narrowing) */
    Glob *globs;
    Py_ssize_t n_globs;
    Text *roots;       /* C_PATH: directories a move event may contain */
    Py_ssize_t n_roots;
    char **new_links;  /* C_PATH: events that make a symbolic link: Python resolves its target */
    Py_ssize_t n_new_links;
    char **moved_links; /* C_PATH: events that may give a symbolic link a new name, */
    int *moved_sources; /* and the position of the name: Python's when it is a link */
    Py_ssize_t n_moved;
    PyObject **regexes; /* C_ARG: tpython._native.Regex objects, any may match */
    Py_ssize_t n_regexes;
} Cond;

struct CondSet {
    Cond *when;
    Py_ssize_t n_when;
    Cond *unless;
    Py_ssize_t n_unless;
};

static char **move_events;
static Py_ssize_t n_move;
static char **write_events;
static Py_ssize_t n_write;
static long long write_flags;
static dev_t root_dev;
static ino_t root_ino;
static int configured;

/* ---- configuration ------------------------------------------------------- */

static int
names(PyObject *tuple, char ***out, Py_ssize_t *n)
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

static int
named(char *const *list, Py_ssize_t n, const char *event)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        if (strcmp(list[i], event) == 0) {
            return 1;
        }
    }
    return 0;
}

int
conds_configure(PyObject *moves, PyObject *writes, long long flags)
{
    struct stat st;
    if (stat("/", &st) != 0) {
        PyErr_SetFromErrno(PyExc_OSError);
        return -1;
    }
    root_dev = st.st_dev; /* the root directory as it was at start (a chroot raises no event) */
    root_ino = st.st_ino;
    write_flags = flags;
    if (names(moves, &move_events, &n_move) < 0 || names(writes, &write_events, &n_write) < 0) {
        return -1;
    }
    configured = 1;
    return 0;
}

/* ---- globs --------------------------------------------------------------- */

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

/* One token of tpython.policy.patterns.glob_tokens, appended as states.
 * Returns 1 when C does not take this token (the rule stays with Python). */
static int
add_token(PyObject *token, State *states, int *n)
{
    if (!PyTuple_Check(token) || PyTuple_GET_SIZE(token) < 1 || !PyUnicode_Check(PyTuple_GET_ITEM(token, 0))) {
        PyErr_SetString(PyExc_TypeError, "a glob token is a tuple starting with its kind");
        return -1;
    }
    const char *kind = PyUnicode_AsUTF8(PyTuple_GET_ITEM(token, 0));
    if (kind == NULL) {
        return -1;
    }
    if (strcmp(kind, "lit") == 0 && PyTuple_GET_SIZE(token) == 2 && PyUnicode_Check(PyTuple_GET_ITEM(token, 1))) {
        PyObject *lit = PyTuple_GET_ITEM(token, 1);
        Py_ssize_t len = PyUnicode_GET_LENGTH(lit);
        if (*n + len > MAX_STATES) {
            return 1;
        }
        for (Py_ssize_t i = 0; i < len; i++) {
            states[*n].type = S_CHAR;
            states[*n].ch = PyUnicode_READ_CHAR(lit, i);
            (*n)++;
        }
        return 0;
    }
    if (*n + 1 > MAX_STATES) {
        return 1;
    }
    State *s = &states[*n];
    if (strcmp(kind, "any") == 0) {
        s->type = S_ANY;
    }
    else if (strcmp(kind, "star") == 0) {
        s->type = S_STAR;
    }
    else if (strcmp(kind, "dstar") == 0) {
        s->type = S_DSTAR;
    }
    else if (strcmp(kind, "dstar/") == 0) {
        s->type = S_DSLASH;
    }
    else if (strcmp(kind, "class") == 0 && PyTuple_GET_SIZE(token) == 3) {
        PyObject *ranges = PyTuple_GET_ITEM(token, 2);
        if (ranges == Py_None) {
            return 1; /* a class C does not take: the Python engine's regex decides */
        }
        if (!PyUnicode_Check(ranges) || PyUnicode_GET_LENGTH(ranges) % 2 != 0) {
            PyErr_SetString(PyExc_ValueError, "class ranges must be a str of lo, hi pairs");
            return -1;
        }
        s->type = S_CLASS;
        s->negated = PyObject_IsTrue(PyTuple_GET_ITEM(token, 1)) == 1;
        s->n_ranges = PyUnicode_GET_LENGTH(ranges) / 2;
        if ((s->ranges = PyUnicode_AsUCS4Copy(ranges)) == NULL) {
            return -1;
        }
    }
    else {
        PyErr_Format(PyExc_ValueError, "unknown glob token %s", kind);
        return -1;
    }
    (*n)++;
    return 0;
}

/* tokens -> Glob; 1: not for C */
static int
build_glob(PyObject *tokens, Glob *glob)
{
    if (!PyTuple_Check(tokens)) {
        PyErr_SetString(PyExc_TypeError, "a glob is a tuple of tokens");
        return -1;
    }
    Py_ssize_t needed = 0; /* one state per literal character, one per other token */
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tokens); i++) {
        PyObject *t = PyTuple_GET_ITEM(tokens, i);
        PyObject *lit = PyTuple_Check(t) && PyTuple_GET_SIZE(t) == 2 ? PyTuple_GET_ITEM(t, 1) : NULL;
        needed += lit != NULL && PyUnicode_Check(lit) ? PyUnicode_GET_LENGTH(lit) : 1;
    }
    if (needed > MAX_STATES) {
        glob->states = NULL;
        glob->n = 0;
        return 1;
    }
    glob->states = calloc((size_t)(needed ? needed : 1), sizeof(State));
    if (glob->states == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    glob->n = 0;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tokens); i++) {
        int rc = add_token(PyTuple_GET_ITEM(tokens, i), glob->states, &glob->n);
        if (rc != 0) {
            return rc;
        }
    }
    glob->prefix = glob->suffix = glob->min_len = 0;
    while (glob->prefix < glob->n && glob->states[glob->prefix].type == S_CHAR) {
        glob->prefix++;
    }
    while (glob->prefix + glob->suffix < glob->n && glob->states[glob->n - 1 - glob->suffix].type == S_CHAR) {
        glob->suffix++;
    }
    for (int i = 0; i < glob->n; i++) {
        int t = glob->states[i].type;
        glob->min_len += t == S_CHAR || t == S_ANY || t == S_CLASS;
    }
    return 0;
}

#define BIT_SET(set, i) ((set)[(i) >> 6] |= (uint64_t)1 << ((i) & 63))
#define BIT_GET(set, i) (((set)[(i) >> 6] >> ((i) & 63)) & 1)

static void
closure(const Glob *g, uint64_t *main_set)
{
    for (int i = 0; i < g->n; i++) { /* only forward epsilon moves: one ascending pass */
        int t = g->states[i].type;
        if (BIT_GET(main_set, i) && (t == S_STAR || t == S_DSTAR || t == S_DSLASH)) {
            BIT_SET(main_set, i + 1);
        }
    }
}

static int
in_class(const State *s, Py_UCS4 c)
{
    int hit = 0;
    for (Py_ssize_t r = 0; r < s->n_ranges && !hit; r++) {
        hit = s->ranges[2 * r] <= c && c <= s->ranges[2 * r + 1];
    }
    return hit != s->negated;
}

/* Whether the literal states FROM..FROM+N-1 of G spell STR's characters AT..AT+N-1. */
static int
literal_at(const Glob *g, int from, int n, int kind, const void *data, Py_ssize_t at)
{
    for (int i = 0; i < n; i++) {
        if (PyUnicode_READ(kind, data, at + i) != g->states[from + i].ch) {
            return 0;
        }
    }
    return 1;
}

/* Whether the whole of STR matches G (anchored at both ends).
 *
 * Most globs a path meets begin or end with literal characters ("/etc/shadow",
 * "**" "/" "*.pth"), and a path that does not have them there cannot match: only those
 * states can consume the first and the last characters. So those are compared first,
 * and the NFA runs only for the paths that pass. */
static int
glob_match(const Glob *g, PyObject *str)
{
    int kind = PyUnicode_KIND(str);
    const void *data = PyUnicode_DATA(str);
    Py_ssize_t len = PyUnicode_GET_LENGTH(str);
    if (len < g->min_len || !literal_at(g, 0, g->prefix, kind, data, 0)
        || !literal_at(g, g->n - g->suffix, g->suffix, kind, data, len - g->suffix)) {
        return 0;
    }
    if (g->prefix == g->n) {
        return len == g->n;
    }
    uint64_t cur[WORDS], inside[WORDS], next[WORDS], next_inside[WORDS];
    int words = (g->n + 1 + 63) / 64;
    for (int w = 0; w < words; w++) {
        cur[w] = inside[w] = 0;
    }
    BIT_SET(cur, 0);
    closure(g, cur);
    for (Py_ssize_t k = 0; k < len; k++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, k);
        int alive = 0;
        for (int w = 0; w < words; w++) {
            next[w] = next_inside[w] = 0;
        }
        for (int i = 0; i < g->n; i++) {
            const State *s = &g->states[i];
            if (BIT_GET(cur, i)) {
                switch (s->type) {
                case S_CHAR: if (c == s->ch) { BIT_SET(next, i + 1); } break;
                case S_ANY: if (c != '/') { BIT_SET(next, i + 1); } break;
                case S_CLASS: if (in_class(s, c)) { BIT_SET(next, i + 1); } break;
                case S_STAR: if (c != '/') { BIT_SET(next, i); } break;
                case S_DSTAR: BIT_SET(next, i); break;
                case S_DSLASH:
                    BIT_SET(next_inside, i);
                    if (c == '/') { BIT_SET(next, i + 1); }
                    break;
                }
            }
            if (s->type == S_DSLASH && BIT_GET(inside, i)) { /* within (?:.*\/)? */
                BIT_SET(next_inside, i);
                if (c == '/') { BIT_SET(next, i + 1); }
            }
        }
        closure(g, next);
        for (int w = 0; w < words; w++) {
            cur[w] = next[w];
            inside[w] = next_inside[w];
            alive |= (cur[w] | inside[w]) != 0;
        }
        if (!alive) {
            return 0;
        }
    }
    return (int)BIT_GET(cur, g->n);
}

/* ---- conditions ---------------------------------------------------------- */

/* Zeroed room for the items of the non-empty tuple ITEMS (their count in *N), or NULL
 * with TypeError(SHAPE) or MemoryError set. */
static void *
items_of(PyObject *items, const char *shape, Py_ssize_t *n, size_t size)
{
    if (!PyTuple_Check(items) || PyTuple_GET_SIZE(items) == 0) {
        PyErr_SetString(PyExc_TypeError, shape);
        return NULL;
    }
    *n = PyTuple_GET_SIZE(items);
    void *room = calloc((size_t)*n, size);
    if (room == NULL) {
        PyErr_NoMemory();
    }
    return room;
}

/* ((event, position of the name it moves), ...) -> C->moved_links, C->moved_sources */
static int
moved_links(PyObject *pairs, Cond *c)
{
    PyObject *events = PyTuple_New(PyTuple_GET_SIZE(pairs));
    if (events == NULL) {
        return -1;
    }
    c->moved_sources = calloc((size_t)(PyTuple_GET_SIZE(pairs) + 1), sizeof(int));
    int rc = c->moved_sources == NULL ? -1 : 0;
    for (Py_ssize_t i = 0; rc == 0 && i < PyTuple_GET_SIZE(pairs); i++) {
        PyObject *event;
        int pos;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(pairs, i), "Ui", &event, &pos)) {
            rc = -1;
            break;
        }
        Py_INCREF(event);
        PyTuple_SET_ITEM(events, i, event);
        c->moved_sources[i] = pos;
    }
    if (rc == 0) {
        rc = names(events, &c->moved_links, &c->n_moved);
    }
    else if (!PyErr_Occurred()) {
        PyErr_NoMemory();
    }
    Py_DECREF(events);
    return rc;
}

/* 0 built, 1 not for C, -1 error */
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
    if (strcmp(kind, "python") == 0) { /* ("python", key): C answers COND_PYTHON when it gets there */
        c->kind = C_PY;
        return 0;
    }
    if (strcmp(kind, "caller") == 0) { /* ("caller", (name glob tokens, ...)) */
        PyObject *globs = PyTuple_GET_ITEM(spec, 1);
        c->kind = C_CALLER;
        if ((c->globs = items_of(globs, "a caller condition is (\"caller\", (tokens, ...))", &c->n_globs,
                                 sizeof(Glob))) == NULL) {
            return -1;
        }
        for (Py_ssize_t g = 0; g < c->n_globs; g++) {
            int rc = build_glob(PyTuple_GET_ITEM(globs, g), &c->globs[g]);
            if (rc != 0) {
                return rc;
            }
        }
        return 0;
    }
    if (strcmp(kind, "arg") == 0) {
        PyObject *regexes = PyTuple_GET_ITEM(spec, 1);
        c->kind = C_ARG;
        if ((c->regexes = items_of(regexes, "an arg condition is (\"arg\", (Regex, ...))", &c->n_regexes,
                                   sizeof(PyObject *))) == NULL) {
            return -1;
        }
        for (Py_ssize_t i = 0; i < c->n_regexes; i++) {
            PyObject *rx = PyTuple_GET_ITEM(regexes, i);
            if (!PyObject_TypeCheck(rx, &RegexType)) {
                return 1; /* not a pattern C compiled: Python's re decides */
            }
            Py_INCREF(rx); /* held for the life of the process, as the rules are */
            c->regexes[i] = rx;
        }
        return 0;
    }
    PyObject *strict_all, *globs, *roots, *new_links, *moved;
    if (strcmp(kind, "path") != 0
        || !PyArg_ParseTuple(spec, "sOO!O!O!O!", &kind, &strict_all, &PyTuple_Type, &globs, &PyTuple_Type, &roots,
                             &PyTuple_Type, &new_links, &PyTuple_Type, &moved)) {
        if (!PyErr_Occurred()) {
            PyErr_Format(PyExc_ValueError, "unknown condition %s", kind);
        }
        return -1;
    }
    c->kind = C_PATH;
    c->strict_all = PyObject_IsTrue(strict_all) == 1;
    if (names(new_links, &c->new_links, &c->n_new_links) < 0 || moved_links(moved, c) < 0) {
        return -1;
    }
    c->n_globs = PyTuple_GET_SIZE(globs);
    c->n_roots = PyTuple_GET_SIZE(roots);
    c->globs = calloc((size_t)(c->n_globs ? c->n_globs : 1), sizeof(Glob));
    c->roots = calloc((size_t)(c->n_roots ? c->n_roots : 1), sizeof(Text));
    if (c->globs == NULL || c->roots == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < c->n_globs; i++) {
        int rc = build_glob(PyTuple_GET_ITEM(globs, i), &c->globs[i]);
        if (rc != 0) {
            return rc;
        }
    }
    for (Py_ssize_t i = 0; i < c->n_roots; i++) {
        if (text_of(PyTuple_GET_ITEM(roots, i), &c->roots[i]) < 0) {
            return -1;
        }
    }
    return 0;
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
        int rc = build_cond(PyTuple_GET_ITEM(list, i), &(*out)[i]);
        if (rc != 0) {
            return rc;
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
    int rc = build_list(when, &set->when, &set->n_when);
    if (rc == 0) {
        rc = build_list(unless, &set->unless, &set->n_unless);
    }
    /* On failure the partial set is left allocated: install_audit fails as a whole
     * (once per process), and nothing of it is ever used. */
    return rc == 0 ? set : NULL;
}

/* ---- facts: write -------------------------------------------------------- */

/* tpython.engine.facts.is_write */
static int
is_write(const char *event, PyObject *args)
{
    if (strcmp(event, "open") == 0) {
        Py_ssize_t n = PyTuple_GET_SIZE(args);
        PyObject *mode = n > 1 ? PyTuple_GET_ITEM(args, 1) : NULL;
        PyObject *flags = n > 2 ? PyTuple_GET_ITEM(args, 2) : NULL;
        if (flags != NULL && PyLong_CheckExact(flags)) {
            int overflow = 0;
            long long v = PyLong_AsLongLongAndOverflow(flags, &overflow);
            if (overflow || (v == -1 && PyErr_Occurred())) {
                PyErr_Clear();
                return COND_PYTHON;
            }
            if (v & write_flags) {
                return 1;
            }
        }
        if (mode == NULL || !PyUnicode_Check(mode)) {
            return 0;
        }
        int kind = PyUnicode_KIND(mode);
        const void *data = PyUnicode_DATA(mode);
        for (Py_ssize_t i = 0; i < PyUnicode_GET_LENGTH(mode); i++) {
            Py_UCS4 c = PyUnicode_READ(kind, data, i);
            if (c == 'w' || c == 'a' || c == 'x' || c == '+') {
                return 1;
            }
        }
        return 0;
    }
    return named(write_events, n_write, event);
}

/* ---- facts: paths -------------------------------------------------------- */

/* posixpath.normpath of an absolute path, in place (the result is never longer). */
static size_t
normpath(char *path, size_t len)
{
    size_t slashes = 1;
    if (len >= 2 && path[1] == '/' && (len < 3 || path[2] != '/')) {
        slashes = 2; /* POSIX keeps exactly two leading slashes */
    }
    size_t out = slashes, i = 0;
    size_t *starts = malloc((len / 2 + 2) * sizeof(size_t)); /* components are at least 2 apart */
    size_t depth = 0;
    if (starts == NULL) {
        return 0;
    }
    while (i < len) {
        while (i < len && path[i] == '/') {
            i++;
        }
        size_t begin = i;
        while (i < len && path[i] != '/') {
            i++;
        }
        size_t n = i - begin;
        if (n == 0 || (n == 1 && path[begin] == '.')) {
            continue;
        }
        if (n == 2 && path[begin] == '.' && path[begin + 1] == '.') {
            if (depth > 0) { /* `..` of the root is the root */
                out = starts[--depth];
            }
            continue;
        }
        size_t at = out;
        if (depth > 0) {
            path[out++] = '/';
        }
        starts[depth++] = at;
        memmove(path + out, path + begin, n);
        out += n;
    }
    free(starts);
    memset(path, '/', slashes);
    return out;
}

/* os.readlink("/proc/self/fd/FD") into BUF; -1 when it cannot be read. */
static ssize_t
fd_path(long fd, char *buf, size_t size)
{
    char name[64];
    snprintf(name, sizeof name, "/proc/self/fd/%ld", fd);
    ssize_t n = readlink(name, buf, size - 1);
    if (n >= 0) {
        buf[n] = '\0';
    }
    return n;
}

/* os.path.realpath(PATH) (strict=False), PATH absolute and as given (not normalised), when
 * C can give exactly what Python would. The whole path exists: realpath(3). Otherwise
 * Python's walk: each component resolved from where the ones before it lead (`..` the
 * parent of that), and one that is not there (or under something that is not a
 * directory) taken as a plain name, as is the rest under it, a later `..` dropping it
 * again; a symbolic link on the way that does not resolve in full is Python's question.
 * TMP: PATH_MAX bytes. */
static int
real_path(const char *path, char *out, char *tmp)
{
    if (realpath(path, out) != NULL) {
        return 0;
    }
    if (errno != ENOENT && errno != ENOTDIR) {
        return -1;
    }
    size_t len = 1, real_len = 1; /* OUT[:real_len] resolved and there; beyond it, plain names */
    out[0] = '/';
    out[1] = '\0';
    for (const char *p = path; *p != '\0';) {
        while (*p == '/') {
            p++;
        }
        const char *name = p;
        while (*p != '\0' && *p != '/') {
            p++;
        }
        size_t n = (size_t)(p - name);
        if (n == 0 || (n == 1 && name[0] == '.')) {
            continue;
        }
        if (n == 2 && name[0] == '.' && name[1] == '.') {
            while (len > 1 && out[len - 1] != '/') {
                len--;
            }
            if (len > 1) {
                len--; /* the slash, but never the root's */
            }
            out[len] = '\0';
            if (len < real_len) {
                real_len = len;
            }
            continue;
        }
        if (len + 1 + n >= PATH_MAX) {
            return -1;
        }
        size_t before = len;
        if (len > 1) {
            out[len++] = '/';
        }
        memcpy(out + len, name, n);
        len += n;
        out[len] = '\0';
        if (before > real_len) {
            continue; /* under a name that is not there: a plain name too */
        }
        struct stat st;
        if (lstat(out, &st) != 0) {
            if (errno != ENOENT && errno != ENOTDIR) {
                return -1;
            }
            continue; /* not there: from here on, plain names */
        }
        if (S_ISLNK(st.st_mode)) {
            if (realpath(out, tmp) == NULL) {
                return -1;
            }
            len = strlen(tmp);
            memcpy(out, tmp, len + 1);
        }
        real_len = len;
    }
    return 0;
}

static int
add_path(PathFacts *f, const char *path, size_t len)
{
    PyObject *s = PyUnicode_DecodeFSDefaultAndSize(path, (Py_ssize_t)len);
    if (s == NULL) {
        PyErr_Clear();
        return -1;
    }
    f->paths[f->n++] = s;
    return 0;
}

/* One path argument (and its dir_fd) -> its absolute and real paths, in BUF
 * (4 * PATH_MAX bytes: the joined path, it as given, the real one, an fd's path and then
 * room for real_path). */
static int
one_path(PathFacts *f, PyObject *value, PyObject *dir_fd, char *buf, int link_is_python)
{
    PyObject *encoded = NULL;
    char *fd_text = buf + 3 * PATH_MAX;
    const char *text;
    Py_ssize_t len;
    if (PyUnicode_Check(value)) {
        if ((encoded = PyUnicode_EncodeFSDefault(value)) == NULL) { /* os.fsencode */
            PyErr_Clear();
            return -1;
        }
        text = PyBytes_AS_STRING(encoded);
        len = PyBytes_GET_SIZE(encoded);
    }
    else if (PyBytes_Check(value)) {
        text = PyBytes_AS_STRING(value);
        len = PyBytes_GET_SIZE(value);
    }
    else if (PyByteArray_Check(value)) {
        text = PyByteArray_AS_STRING(value);
        len = PyByteArray_GET_SIZE(value);
    }
    else if (PyLong_CheckExact(value)) { /* an fd: what /proc says it is, else "fd:N" (as Python does) */
        long fd = PyLong_AsLong(value);
        if (fd == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return -1;
        }
        ssize_t n = fd_path(fd, fd_text, PATH_MAX);
        if (n < 0) {
            snprintf(fd_text, PATH_MAX, "fd:%ld", fd);
        }
        text = fd_text;
        len = (Py_ssize_t)strlen(fd_text);
    }
    else {
        return -1; /* a path object, or the program's own type */
    }
    int rc = -1;
    char *joined = buf, *walked = buf + PATH_MAX, *real = buf + 2 * PATH_MAX;
    size_t n = 0;
    if (len == 0 || (size_t)len != strlen(text) || len >= PATH_MAX) {
        goto done;
    }
    if (text[0] != '/') {
        ssize_t blen = -1;
        if (dir_fd != NULL && PyLong_CheckExact(dir_fd)) {
            long fd = PyLong_AsLong(dir_fd);
            if (fd == -1 && PyErr_Occurred()) {
                PyErr_Clear();
                goto done;
            }
            if (fd >= 0) {
                blen = fd_path(fd, joined, PATH_MAX);
            }
        }
        if (blen < 0) {
            if (getcwd(joined, PATH_MAX) == NULL) {
                goto done;
            }
            blen = (ssize_t)strlen(joined);
        }
        if (blen == 0 || joined[0] != '/') {
            goto done; /* "pipe:[...]" and the like: Python joins those differently */
        }
        n = (size_t)blen;
        if (joined[n - 1] != '/') {
            joined[n++] = '/';
        }
    }
    memcpy(joined + n, text, (size_t)len);
    n += (size_t)len;
    if (n >= PATH_MAX) {
        goto done;
    }
    joined[n] = '\0';
    /* realpath walks the path as given, as the kernel does: `..` after a symbolic link is
     * the parent of where the link leads, which the normalised path does not say */
    memcpy(walked, joined, n + 1);
    struct stat st;
    if (link_is_python && lstat(walked, &st) == 0 && S_ISLNK(st.st_mode)) {
        goto done; /* a symbolic link given a new name: its target is Python's to resolve */
    }
    n = normpath(joined, n);
    if (n == 0) {
        goto done;
    }
    joined[n] = '\0';
    if (real_path(walked, real, fd_text) < 0 || add_path(f, joined, n) < 0) {
        goto done;
    }
    size_t rlen = strlen(real);
    if ((rlen != n || memcmp(real, joined, n) != 0) && add_path(f, real, rlen) < 0) {
        goto done;
    }
    rc = 0;
done:
    Py_XDECREF(encoded);
    return rc;
}

/* tpython.engine.facts.event_paths, for events whose paths C knows the places of. */
static int
event_paths(PathFacts *f, PyObject *args, const Shape *shape, int link_source)
{
    if (f->state != 0) {
        return f->state;
    }
    f->state = COND_PYTHON;
    struct stat st;
    if (shape == NULL || stat("/", &st) != 0 || st.st_dev != root_dev || st.st_ino != root_ino) {
        return COND_PYTHON;
    }
    char *buf = malloc(4 * PATH_MAX); /* not the stack: the program chooses its threads' stack sizes */
    if (buf == NULL) {
        return COND_PYTHON;
    }
    Py_ssize_t nargs = PyTuple_GET_SIZE(args);
    for (int k = 0; k < SHAPE_MAX && shape->paths[k] >= 0; k++) {
        int pos = shape->paths[k], fd_pos = shape->dirfds[k];
        if (pos >= nargs || PyTuple_GET_ITEM(args, pos) == Py_None) {
            continue;
        }
        PyObject *dir_fd = fd_pos >= 0 && fd_pos < nargs ? PyTuple_GET_ITEM(args, fd_pos) : NULL;
        if (one_path(f, PyTuple_GET_ITEM(args, pos), dir_fd, buf, pos == link_source) < 0) {
            free(buf);
            return COND_PYTHON;
        }
    }
    free(buf);
    f->state = 1;
    return 1;
}

void
facts_clear(PathFacts *f)
{
    for (int i = 0; i < f->n; i++) {
        Py_CLEAR(f->paths[i]);
    }
    f->n = 0;
    f->state = 0;
    free(f->args_text);
    f->args_text = NULL;
    f->args_state = 0;
}

/* ---- facts: the arguments as text ---------------------------------------- */

/* The arguments as EventFacts.args_json has them (json.dumps of the rendering, non-ASCII
 * kept): 1 in F->args_text, or COND_PYTHON when only the Python renderer can render them,
 * or the text could not be what Python has (a lone surrogate) or what regexec reads. */
static int
event_args_text(PathFacts *f, PyObject *args, const Shape *shape)
{
    if (f->args_state != 0) {
        return f->args_state;
    }
    f->args_state = COND_PYTHON;
    Buf b;
    buf_init(&b);
    b.raw = 1;
    int rc = render_args(&b, args, shape);
    if (rc == RENDER_OK && !b.unencodable && buf_put(&b, "", 1) == 0 && regex_subject_ok(b.data, b.len - 1)
        && (f->args_text = malloc(b.len)) != NULL) {
        memcpy(f->args_text, b.data, b.len);
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
    for (Py_ssize_t g = 0; g < c->n_globs; g++) {
        if (glob_match(&c->globs[g], path)) {
            return 1;
        }
    }
    for (Py_ssize_t r = 0; containment && r < c->n_roots; r++) {
        if (contains_root(path, &c->roots[r])) {
            return 1;
        }
    }
    return 0;
}

/* A `caller` condition: whether the module whose code raised the event (the innermost
 * Python frame's __name__, as the slow path's sys._getframe(1).f_globals.get("__name__"))
 * matches one of C's globs. No frame, or a __name__ that is not an exact str: no
 * caller, no match. Globals of a dict subclass (exec's own mapping, whose get() may be
 * its own): the slow path's question. */
static int
caller_matches(const Cond *c)
{
    PyFrameObject *frame = PyEval_GetFrame(); /* borrowed */
    if (frame == NULL) {
        return 0;
    }
    PyObject *globals = attrib_frame_globals(frame);
    if (globals == NULL || !PyDict_CheckExact(globals)) {
        PyErr_Clear();
        Py_XDECREF(globals);
        return COND_PYTHON;
    }
    PyObject *name = PyDict_GetItemString(globals, "__name__"); /* borrowed */
    int found = 0;
    if (name != NULL && PyUnicode_CheckExact(name)) {
        for (Py_ssize_t g = 0; g < c->n_globs && !found; g++) {
            found = glob_match(&c->globs[g], name);
        }
    }
    Py_DECREF(globals);
    return found;
}

static int
cond_holds(const Cond *c, const char *event, PyObject *args, const Shape *shape, PathFacts *f)
{
    if (c->kind == C_PY) {
        return COND_PYTHON;
    }
    if (c->kind == C_CALLER) {
        return caller_matches(c);
    }
    if (c->kind == C_WRITE) {
        int w = is_write(event, args);
        return w < 0 ? w : w == c->want;
    }
    if (c->kind == C_ARG) {
        if (event_args_text(f, args, shape) != 1) {
            return COND_PYTHON;
        }
        for (Py_ssize_t i = 0; i < c->n_regexes; i++) {
            int m = regex_search_utf8(c->regexes[i], f->args_text);
            if (m != 0) {
                return m < 0 ? COND_PYTHON : 1;
            }
        }
        return 0;
    }
    if (named(c->new_links, c->n_new_links, event)) {
        return COND_PYTHON; /* a link's target from the link's directory: facts.event_paths */
    }
    int link_source = -1;
    for (Py_ssize_t i = 0; i < c->n_moved; i++) {
        if (strcmp(c->moved_links[i], event) == 0) {
            link_source = c->moved_sources[i];
        }
    }
    if (event_paths(f, args, shape, link_source) != 1) {
        return COND_PYTHON;
    }
    if (f->n == 0) {
        return 0;
    }
    int containment = !c->strict_all && named(move_events, n_move, event);
    for (int i = 0; i < f->n; i++) { /* any (widening a denial) or all (narrowing an allow) */
        int m = path_matches(c, f->paths[i], containment);
        if (m != c->strict_all) {
            return m;
        }
    }
    return c->strict_all;
}

int
conds_apply(const CondSet *set, const char *event, PyObject *args, const Shape *shape, PathFacts *f)
{
    for (Py_ssize_t i = 0; i < set->n_when; i++) {
        int r = cond_holds(&set->when[i], event, args, shape, f);
        if (r != 1) {
            return r;
        }
    }
    if (set->n_unless == 0) {
        return COND_APPLIES;
    }
    for (Py_ssize_t i = 0; i < set->n_unless; i++) {
        int r = cond_holds(&set->unless[i], event, args, shape, f);
        if (r != 1) {
            return r == 0 ? COND_APPLIES : r;
        }
    }
    return COND_NOT;
}

/* glob_match(tokens, text) -> True, False, or None when C does not take the glob:
 * the matcher alone, for the tests that hold it to the Python engine's regexes. */
PyObject *
tp_glob_match(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *tokens, *text;
    if (!PyArg_ParseTuple(args, "O!U", &PyTuple_Type, &tokens, &text)) {
        return NULL;
    }
    Glob g;
    int rc = build_glob(tokens, &g);
    PyObject *result = NULL;
    if (rc == 0) {
        result = PyBool_FromLong(glob_match(&g, text));
    }
    else if (rc == 1) {
        Py_INCREF(Py_None);
        result = Py_None;
    }
    for (int i = 0; i < g.n; i++) {
        if (g.states[i].type == S_CLASS) {
            PyMem_Free(g.states[i].ranges);
        }
    }
    free(g.states);
    return result;
}
