/* Globs for rule conditions (paths, module, caller, host and executable names), matched in C.
 *
 * Globs arrive as tokens made by tpython.policy.patterns.native_glob_tokens and are
 * matched by a small NFA over the text's code points (the policy loader matches the
 * same tokens as a regular expression): `?` and `*` stay within one component, `**`
 * crosses them, `**` followed by `/` is zero or more whole components, and a class is
 * a set of code point ranges. A name glob arrives as the path glob that means the same.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <limits.h>
#include <string.h>

#include "globs.h"

enum { S_CHAR, S_ANY, S_STAR, S_DSTAR, S_DSLASH, S_CLASS };

#define STACK_STATES 1024
#define STACK_WORDS ((STACK_STATES + 1 + 63) / 64)

typedef struct GlobState {
    int type;
    Py_UCS4 ch;            /* S_CHAR */
    int negated;           /* S_CLASS */
    Py_UCS4 *ranges;       /* S_CLASS: lo, hi pairs */
    Py_ssize_t n_ranges;
} State;

/* One token of tpython.policy.patterns.native_glob_tokens, appended as states. */
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
        for (Py_ssize_t i = 0; i < len; i++) {
            states[*n].type = S_CHAR;
            states[*n].ch = PyUnicode_READ_CHAR(lit, i);
            (*n)++;
        }
        return 0;
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

int
glob_build(PyObject *tokens, Glob *glob)
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
    if (needed >= INT_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "glob too long");
        return -1;
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
int
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
    uint64_t stack[4 * STACK_WORDS], *heap = NULL;
    int words = (g->n + 1 + 63) / 64;
    if (words > STACK_WORDS && (heap = malloc(4 * (size_t)words * sizeof(uint64_t))) == NULL) {
        return -1; /* out of memory (a glob of over 1024 states) */
    }
    uint64_t *cur = heap ? heap : stack, *inside = cur + words, *next = inside + words, *next_inside = next + words;
    int alive = 1;
    for (int w = 0; w < words; w++) {
        cur[w] = inside[w] = 0;
    }
    BIT_SET(cur, 0);
    closure(g, cur);
    for (Py_ssize_t k = 0; k < len; k++) {
        Py_UCS4 c = PyUnicode_READ(kind, data, k);
        alive = 0;
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
            break;
        }
    }
    int matched = alive && BIT_GET(cur, g->n);
    free(heap);
    return matched;
}

void
glob_free(Glob *g)
{
    for (int i = 0; g->states != NULL && i < g->n; i++) {
        if (g->states[i].type == S_CLASS) {
            PyMem_Free(g->states[i].ranges);
        }
    }
    free(g->states);
    g->states = NULL;
    g->n = 0;
}

int
globs_build(PyObject *tuple, GlobList *list)
{
    if (!PyTuple_Check(tuple)) {
        PyErr_SetString(PyExc_TypeError, "globs must be a tuple of token tuples");
        return -1;
    }
    list->n = PyTuple_GET_SIZE(tuple);
    list->globs = calloc((size_t)(list->n ? list->n : 1), sizeof(Glob));
    if (list->globs == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < list->n; i++) {
        if (glob_build(PyTuple_GET_ITEM(tuple, i), &list->globs[i]) < 0) {
            return -1;
        }
    }
    return 0;
}

int
globs_any(const GlobList *list, PyObject *str)
{
    int result = 0;
    for (Py_ssize_t i = 0; i < list->n; i++) {
        int m = glob_match(&list->globs[i], str);
        if (m == 1) {
            return 1;
        }
        if (m < 0) {
            result = -1;
        }
    }
    return result;
}

/* glob_match(tokens, text) -> True or False: the matcher alone, for the tests that
 * hold it to the policy loader's regexes. */
PyObject *
tp_glob_match(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *tokens, *text;
    if (!PyArg_ParseTuple(args, "O!U", &PyTuple_Type, &tokens, &text)) {
        return NULL;
    }
    Glob g = {0};
    PyObject *result = NULL;
    if (glob_build(tokens, &g) == 0) {
        int m = glob_match(&g, text);
        result = m < 0 ? PyErr_NoMemory() : PyBool_FromLong(m);
    }
    glob_free(&g);
    return result;
}
