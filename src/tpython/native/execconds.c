/* `executable` conditions in C.
 *
 * The programs an event would run, as tpython.engine.facts.event_executables finds
 * them (where each event keeps them: tpython.engine.eventargs PROGRAM_ARGS,
 * SHELL_ARGS, PROGRAM_LIST_ARGS): each as named, as found on PATH the way exec*p
 * finds it (the PATH of the event's own environment, or ours), and its real path.
 * A glob with a slash matches the whole path, a bare one the last component. A
 * program C cannot know answers COND_UNKNOWN, which never opens a hole.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "execconds.h"
#include "pathfacts.h"
#include "pathobj.h"

static PlaceTable programs;      /* event -> (program, argument list, environment, working directory) */
static PlaceTable shells;        /* event -> (shell command) */
static PlaceTable program_lists; /* event -> (list of programs) */

int
execconds_configure(PyObject *facts)
{
    PyObject *p = PyDict_GetItemString(facts, "programs");
    PyObject *s = PyDict_GetItemString(facts, "shell");
    PyObject *l = PyDict_GetItemString(facts, "program_lists");
    if (p == NULL || s == NULL || l == NULL) {
        PyErr_SetString(PyExc_KeyError, "condition_facts need programs, shell, program_lists");
        return -1;
    }
    return places_build(p, &programs) < 0 || places_build(s, &shells) < 0 || places_build(l, &program_lists) < 0
               ? -1 : 0;
}

/* render.path_text: str, bytes-like (decoded as os.fsdecode does), an fd (what /proc says,
 * else "fd:N"), a pathlib path (pathobj.c); a new str, or NULL for anything else. */
static PyObject *
path_text(PyObject *v)
{
    if (v == NULL) {
        return NULL;
    }
    if (PyUnicode_Check(v)) {
        return PyUnicode_Substring(v, 0, PyUnicode_GET_LENGTH(v));
    }
    if (PyBytes_Check(v)) {
        return PyUnicode_DecodeFSDefaultAndSize(PyBytes_AS_STRING(v), PyBytes_GET_SIZE(v));
    }
    if (PyByteArray_Check(v)) {
        return PyUnicode_DecodeFSDefaultAndSize(PyByteArray_AS_STRING(v), PyByteArray_GET_SIZE(v));
    }
    if (PyLong_CheckExact(v)) {
        int overflow = 0;
        long fd = PyLong_AsLongAndOverflow(v, &overflow);
        if (overflow || (fd == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return NULL; /* (Python: "fd:N" for big numbers; never an executable a glob names) */
        }
        char *buf = malloc(PATH_MAX); /* not the stack: the program chooses its threads' stack sizes */
        ssize_t n = buf ? fd_path(fd, buf, PATH_MAX) : -1;
        PyObject *text = n >= 0 ? PyUnicode_DecodeFSDefaultAndSize(buf, n) : PyUnicode_FromFormat("fd:%ld", fd);
        free(buf);
        return text;
    }
    return pathobj_text(v);
}

/* An exact tuple or list as a new tuple, or NULL (an unknown program list). A subclass is
 * unknown: CPython reads the list that is executed through its __getitem__, which may
 * answer otherwise than the storage C reads here. */
static PyObject *
plain_seq(PyObject *v)
{
    if (v != NULL && PyTuple_CheckExact(v)) {
        return PyTuple_GetSlice(v, 0, PyTuple_GET_SIZE(v));
    }
    if (v != NULL && PyList_CheckExact(v)) {
        return PyList_AsTuple(v);
    }
    return NULL;
}

/* The PATH of ENV (a dict: "PATH", or b"PATH" over it), else ours; a new str, or NULL. */
static PyObject *
search_path(PyObject *env)
{
    PyObject *found = NULL;
    if (env != NULL && PyDict_Check(env)) {
        PyObject *as_text = NULL, *as_bytes = NULL, *key, *value;
        Py_ssize_t pos = 0;
        while (PyDict_Next(env, &pos, &key, &value)) {
            if (PyUnicode_Check(key) && PyUnicode_CompareWithASCIIString(key, "PATH") == 0) {
                as_text = value;
            }
            else if (PyBytes_Check(key) && PyBytes_GET_SIZE(key) == 4 && memcmp(PyBytes_AS_STRING(key), "PATH", 4) == 0) {
                as_bytes = value;
            }
        }
        if (as_text != NULL) {
            found = path_text(as_text);
        }
        if (as_bytes != NULL) {
            Py_XDECREF(found);
            found = path_text(as_bytes);
        }
        PyErr_Clear();
    }
    if (found == NULL) {
        const char *ours = getenv("PATH");
        found = PyUnicode_DecodeFSDefault(ours ? ours : "/bin:/usr/bin"); /* os.defpath */
    }
    return found;
}

/* TEXT (fs-encoded, NUL-terminated) from CWD (NULL: ours), made absolute and normalised
 * into OUT (PATH_MAX); 0, or -1 when that cannot be known. */
static int
absolute(const char *cwd, const char *text, char *out)
{
    size_t n = 0;
    if (text[0] != '/') {
        if (cwd != NULL && cwd[0] == '/') {
            n = strlen(cwd);
            if (n >= PATH_MAX) {
                return -1;
            }
            memcpy(out, cwd, n);
        }
        else {
            if (getcwd(out, PATH_MAX) == NULL) {
                return -1;
            }
            n = strlen(out);
            if (cwd != NULL) { /* a relative cwd: from ours */
                size_t c = strlen(cwd);
                if (n + 1 + c >= PATH_MAX) {
                    return -1;
                }
                out[n++] = '/';
                memcpy(out + n, cwd, c);
                n += c;
            }
        }
        if (n + 1 >= PATH_MAX) {
            return -1;
        }
        out[n++] = '/';
    }
    size_t t = strlen(text);
    if (n + t >= PATH_MAX) {
        return -1;
    }
    memcpy(out + n, text, t);
    n = normpath(out, n + t);
    if (n == 0) {
        return -1;
    }
    out[n] = '\0';
    return 0;
}

static int
append_fs(PyObject *list, const char *path)
{
    PyObject *s = PyUnicode_DecodeFSDefault(path);
    int rc = s != NULL ? PyList_Append(list, s) : -1;
    Py_XDECREF(s);
    return rc;
}

/* NAME, where exec*p finds it (facts._which), and its real path, appended to FOUND.
 * BUF: 4 * PATH_MAX bytes. -1: unknowable. */
static int
add_program(PyObject *found, PyObject *name, PyObject *env, const char *cwd, char *buf)
{
    if (PyList_Append(found, name) < 0) {
        return -1;
    }
    PyObject *encoded = PyUnicode_EncodeFSDefault(name);
    if (encoded == NULL) {
        return -1;
    }
    const char *text = PyBytes_AS_STRING(encoded);
    char *resolved = buf, *candidate = buf + PATH_MAX, *real = buf + 2 * PATH_MAX, *tmp = buf + 3 * PATH_MAX;
    int rc = 0, have = 0;
    if ((size_t)PyBytes_GET_SIZE(encoded) != strlen(text) || text[0] == '\0') {
        goto done; /* NUL: the call fails */
    }
    if (strchr(text, '/') != NULL) {
        have = absolute(cwd, text, resolved) == 0;
    }
    else {
        PyObject *path = search_path(env);
        PyObject *dirs = path ? PyUnicode_EncodeFSDefault(path) : NULL;
        Py_XDECREF(path);
        if (dirs == NULL) {
            rc = -1;
            goto done;
        }
        const char *d = PyBytes_AS_STRING(dirs);
        while (!have) {
            size_t dlen = strcspn(d, ":");
            const char *dir = dlen ? d : ".";
            size_t use = dlen ? dlen : 1;
            if (use + 2 + strlen(text) < PATH_MAX) {
                memcpy(candidate, dir, use);
                size_t n = use;
                if (candidate[n - 1] != '/') {
                    candidate[n++] = '/';
                }
                strcpy(candidate + n, text);
                const char *probe = candidate;
                if (cwd != NULL && candidate[0] != '/') {
                    size_t c = strlen(cwd), k = strlen(candidate);
                    if (c + 1 + k >= PATH_MAX) {
                        goto next;
                    }
                    memcpy(real, cwd, c); /* REAL: scratch until a program is found */
                    real[c] = '/';
                    memcpy(real + c + 1, candidate, k + 1);
                    probe = real;
                }
                struct stat st;
                if (stat(probe, &st) == 0 && S_ISREG(st.st_mode) && access(probe, X_OK) == 0) {
                    have = absolute(NULL, probe, resolved) == 0;
                }
            }
        next:
            if (d[dlen] == '\0') {
                break;
            }
            d += dlen + 1;
        }
        Py_DECREF(dirs);
    }
    if (have) {
        if (append_fs(found, resolved) < 0 || real_path(resolved, real, tmp) < 0) {
            rc = -1;
        }
        else if (strcmp(real, resolved) != 0 && append_fs(found, real) < 0) {
            rc = -1;
        }
    }
done:
    Py_DECREF(encoded);
    return rc;
}

/* The first word of a shell command (str.split()), or NULL. */
static PyObject *
first_word(PyObject *command)
{
    PyObject *words = command ? PyUnicode_Split(command, NULL, 1) : NULL;
    PyObject *word = words && PyList_GET_SIZE(words) > 0 ? PyList_GET_ITEM(words, 0) : NULL;
    Py_XINCREF(word);
    Py_XDECREF(words);
    PyErr_Clear();
    return word;
}

/* The names of the programs EVENT runs into NAMES, with its environment and working
 * directory; -1: unknowable. */
static int
program_names(const char *event, PyObject *args, PyObject *names, PyObject **env, PyObject **cwd)
{
    const int *pos;
    if ((pos = places_of(&programs, event)) != NULL) {
        PyObject *first = arg_at(args, pos[0]);
        PyObject *argv = plain_seq(arg_at(args, pos[1]));
        *env = arg_at(args, pos[2]);
        PyObject *given = arg_at(args, pos[3]);
        int rc = -1;
        if (given != NULL && given != Py_None) {
            Py_XDECREF(*cwd);
            if ((*cwd = path_text(given)) == NULL) {
                goto out; /* a directory only the program's own code could name */
            }
        }
        if ((first == NULL || first == Py_None) && pos[1] >= 0) {
            first = argv != NULL ? (PyTuple_GET_SIZE(argv) ? PyTuple_GET_ITEM(argv, 0) : argv)
                                 : arg_at(args, pos[1]);
        }
        PyObject *text = path_text(first);
        if (text == NULL || PyList_Append(names, text) < 0) {
            Py_XDECREF(text);
            goto out;
        }
        Py_DECREF(text);
        rc = 0;
        PyObject *dash_c = argv && PyTuple_GET_SIZE(argv) >= 3 ? path_text(PyTuple_GET_ITEM(argv, 1)) : NULL;
        if (dash_c != NULL && PyUnicode_CompareWithASCIIString(dash_c, "-c") == 0) {
            PyObject *command = path_text(PyTuple_GET_ITEM(argv, 2)); /* shell=True: its program too */
            PyObject *word = first_word(command);
            rc = word != NULL ? PyList_Append(names, word) : 0;
            Py_XDECREF(word);
            Py_XDECREF(command);
        }
        Py_XDECREF(dash_c);
    out:
        Py_XDECREF(argv);
        PyErr_Clear();
        return rc;
    }
    if ((pos = places_of(&shells, event)) != NULL) {
        PyObject *sh = PyUnicode_FromString("/bin/sh");
        PyObject *command = path_text(arg_at(args, pos[0]));
        PyObject *word = first_word(command);
        int rc = sh != NULL && PyList_Append(names, sh) == 0 && (word == NULL || PyList_Append(names, word) == 0)
                     ? 0 : -1;
        Py_XDECREF(sh);
        Py_XDECREF(command);
        Py_XDECREF(word);
        PyErr_Clear();
        return rc;
    }
    if ((pos = places_of(&program_lists, event)) != NULL) {
        PyObject *list = plain_seq(arg_at(args, pos[0]));
        int rc = list != NULL ? 0 : -1;
        for (Py_ssize_t i = 0; rc == 0 && i < PyTuple_GET_SIZE(list); i++) {
            PyObject *text = path_text(PyTuple_GET_ITEM(list, i));
            rc = text != NULL ? PyList_Append(names, text) : -1;
            Py_XDECREF(text);
        }
        Py_XDECREF(list);
        PyErr_Clear();
        return rc;
    }
    return 0;
}

/* F->exes, once: 1, or COND_UNKNOWN. */
int
exe_facts_from(EventFacts *f, const char *event, PyObject *args, PyObject *from)
{
    if (f->exe_state) {
        return f->exe_state;
    }
    f->exe_state = COND_UNKNOWN;
    PyObject *names = PyList_New(0), *env = NULL, *cwd = from != NULL ? path_text(from) : NULL, *cwd_bytes = NULL;
    PyErr_Clear();
    char *buf = malloc(4 * PATH_MAX); /* not the stack: the program chooses its threads' stack sizes */
    if (names == NULL || buf == NULL || program_names(event, args, names, &env, &cwd) < 0) {
        goto done;
    }
    if (cwd != NULL && ((cwd_bytes = PyUnicode_EncodeFSDefault(cwd)) == NULL
                        || strlen(PyBytes_AS_STRING(cwd_bytes)) != (size_t)PyBytes_GET_SIZE(cwd_bytes))) {
        goto done;
    }
    const char *where = cwd_bytes ? PyBytes_AS_STRING(cwd_bytes) : NULL;
    if ((f->exes = PyList_New(0)) == NULL) {
        goto done;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(names); i++) {
        if (add_program(f->exes, PyList_GET_ITEM(names, i), env, where, buf) < 0) {
            Py_CLEAR(f->exes);
            goto done;
        }
    }
    f->exe_state = 1;
done:
    PyErr_Clear();
    free(buf);
    Py_XDECREF(names);
    Py_XDECREF(cwd);
    Py_XDECREF(cwd_bytes);
    return f->exe_state;
}

int
exe_cond_build(PyObject *spec, ExeCond *c)
{
    PyObject *strict_all, *slashed, *bare;
    if (!PyArg_ParseTuple(spec, "sOO!O!", &(const char *){0}, &strict_all, &PyTuple_Type, &slashed, &PyTuple_Type,
                          &bare)) {
        return -1;
    }
    c->strict_all = PyObject_IsTrue(strict_all) == 1;
    return globs_build(slashed, &c->slashed) < 0 || globs_build(bare, &c->bare) < 0 ? -1 : 0;
}

/* One program's path against the globs: 1, 0, or -1 (out of memory). */
static int
exe_matches(const ExeCond *c, PyObject *path)
{
    int m = globs_any(&c->slashed, path);
    if (m != 0 || c->bare.n == 0) {
        return m;
    }
    Py_ssize_t len = PyUnicode_GET_LENGTH(path);
    Py_ssize_t slash = PyUnicode_FindChar(path, '/', 0, len, -1);
    PyObject *base = slash >= 0 ? PyUnicode_Substring(path, slash + 1, len) : (Py_INCREF(path), path);
    if (base == NULL) {
        PyErr_Clear();
        return -1;
    }
    m = globs_any(&c->bare, base);
    Py_DECREF(base);
    return m;
}

int
exe_cond_holds(const ExeCond *c, const char *event, PyObject *args, EventFacts *f)
{
    if (exe_facts_from(f, event, args, NULL) != 1) {
        return COND_UNKNOWN;
    }
    Py_ssize_t n = PyList_GET_SIZE(f->exes);
    if (n == 0) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) { /* any (widening a denial) or all (narrowing an allow) */
        int m = exe_matches(c, PyList_GET_ITEM(f->exes, i));
        if (m < 0) {
            return COND_UNKNOWN;
        }
        if (m != c->strict_all) {
            return m;
        }
    }
    return c->strict_all;
}
