/* The path of a pathlib object, read in C.
 *
 * CPython converts a path object with os.fspath(): type(p).__fspath__(p), which in
 * pathlib is `return str(self)`, and __str__ is `return self._str` (computing and
 * storing `_str` from the path's parts when it is unset). A value is read here only
 * when its class resolves __fspath__ and __str__ (along the type's MRO, never the
 * instance) to functions whose code is the code the standard library's pathlib file
 * compiles to (C reads and compiles that file itself, once, the first time a value
 * that may be a path is met), `str` in that function's globals is the built-in str,
 * and `_str` resolves to a member descriptor. The text is then `_str` as the slot
 * holds it; when unset, C computes it from the parts exactly as that version's
 * pathlib does and stores it in `_str`, so that the os.fspath() CPython makes after
 * the hook returns gives the text C decided on. Anything else is unknown (NULL): a
 * class not pathlib's, a Windows path, parts of unexpected types, a subinterpreter.
 * No code of the program runs: slots are read through the member descriptors' offsets.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <marshal.h>
#include <stdint.h>
#include <structmember.h>
#include <sys/stat.h>
#include <unistd.h>

#include "attrib.h"
#include "dispatch.h"
#include "pathobj.h"

#define VERIFIED 16

static int ref_state;                 /* 0: not yet read, 1: ready, -1: unavailable */
static PyObject *ref_fspath, *ref_str; /* PurePath.__fspath__ and __str__ as the file compiles */
static PyObject *verified[VERIFIED];   /* code objects found equal to one of them (references) */
static int n_verified;
static PyObject *s_fspath, *s_dunder_str, *s_str, *s_windows;
static char *own_dirs[8]; /* the standard library's directories (pathlib_configure) */
static int n_own_dirs;
#if PY_VERSION_HEX >= 0x030C0000
static PyObject *s_raw_paths;
#else
static PyObject *s_drv, *s_root, *s_parts;
#endif

static int
names_ready(void)
{
    if (s_fspath != NULL) {
        return 0;
    }
    s_fspath = PyUnicode_InternFromString("__fspath__");
    s_dunder_str = PyUnicode_InternFromString("__str__");
    s_str = PyUnicode_InternFromString("_str");
    s_windows = PyUnicode_InternFromString("PureWindowsPath");
#if PY_VERSION_HEX >= 0x030C0000
    s_raw_paths = PyUnicode_InternFromString("_raw_paths");
    return s_raw_paths != NULL && s_windows != NULL ? 0 : -1;
#else
    s_drv = PyUnicode_InternFromString("_drv");
    s_root = PyUnicode_InternFromString("_root");
    s_parts = PyUnicode_InternFromString("_parts");
    return s_parts != NULL && s_windows != NULL ? 0 : -1;
#endif
}

/* ---- the reference: the standard library's file, compiled by C ---------- */

static int
code_named(PyObject *code, const char *name)
{
    PyObject *n = PyCode_Check(code) ? ((PyCodeObject *)code)->co_name : NULL;
    return n != NULL && PyUnicode_CheckExact(n) && PyUnicode_CompareWithASCIIString(n, name) == 0;
}

/* The code object named NAME among CODE's constants (borrowed), or NULL. */
static PyObject *
const_code(PyObject *code, const char *name)
{
    PyObject *consts = ((PyCodeObject *)code)->co_consts;
    for (Py_ssize_t i = 0; consts != NULL && i < PyTuple_GET_SIZE(consts); i++) {
        if (code_named(PyTuple_GET_ITEM(consts, i), name)) {
            return PyTuple_GET_ITEM(consts, i);
        }
    }
    return NULL;
}

/* The I-th standard library directory, with a trailing slash: attrib's (the native
 * engine's), else those pathlib_configure gave; NULL past the last. */
static const char *
stdlib_dir(int i)
{
    if (attrib_stdlib_dir(0) != NULL) {
        return attrib_stdlib_dir(i);
    }
    return i >= 0 && i < n_own_dirs ? own_dirs[i] : NULL;
}

/* Where PurePath may be: pathlib/_local.py (3.13), pathlib/__init__.py, pathlib.py (3.9-3.12),
 * each with its cached bytecode; as they were at start (pathobj_remember): a file changed
 * since (its inode, size, mtime or ctime) is not read, and no path is then known. */
static const char *const SUBDIRS[] = {"pathlib/", "pathlib/", ""};
static const char *const STEMS[] = {"_local", "__init__", "pathlib"};
#define N_CANDIDATES (8 * 3)

typedef struct {
    char source[4096], cache[4096];
    struct stat source_st, cache_st;
    int has_cache;
} Candidate;

static Candidate *candidates;
static int n_candidates;

static int
same_stat(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size
           && a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec
           && a->st_ctim.tv_sec == b->st_ctim.tv_sec && a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

void
pathobj_remember(void)
{
    if (candidates != NULL || (candidates = calloc(N_CANDIDATES, sizeof(Candidate))) == NULL) {
        return;
    }
    const char *dir;
    for (int d = 0; (dir = stdlib_dir(d)) != NULL && n_candidates < N_CANDIDATES; d++) {
        for (int k = 0; k < 3 && n_candidates < N_CANDIDATES; k++) {
            Candidate *c = &candidates[n_candidates];
            int n = snprintf(c->source, sizeof c->source, "%s%s%s.py", dir, SUBDIRS[k], STEMS[k]);
            int m = snprintf(c->cache, sizeof c->cache, "%s%s__pycache__/%s.cpython-%d%d.pyc", dir,
                             SUBDIRS[k], STEMS[k], PY_MAJOR_VERSION, PY_MINOR_VERSION);
            if (n < (int)sizeof c->source && m < (int)sizeof c->cache && stat(c->source, &c->source_st) == 0) {
                c->has_cache = stat(c->cache, &c->cache_st) == 0;
                n_candidates++;
            }
        }
    }
}

/* FILE's bytes when it is still as it was at start (WAS), NUL-terminated; free() them. */
static char *
read_unchanged(const char *file, const struct stat *was, size_t *len)
{
    int fd = open(file, O_RDONLY | O_CLOEXEC);
    struct stat st;
    char *data = NULL;
    if (fd >= 0 && fstat(fd, &st) == 0 && same_stat(&st, was) && (data = malloc((size_t)st.st_size + 1)) != NULL) {
        size_t got = 0;
        ssize_t n = 1;
        while (got < (size_t)st.st_size && (n = read(fd, data + got, (size_t)st.st_size - got)) > 0) {
            got += (size_t)n;
        }
        if (got != (size_t)st.st_size) {
            free(data);
            data = NULL;
        }
        else {
            data[got] = '\0';
            *len = got;
        }
    }
    if (fd >= 0) {
        close(fd);
    }
    return data;
}

static uint32_t
le32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* C's CANDIDATE module code: its cached bytecode when the import system would take it (this
 * magic number, stamped with the source's mtime and size, no -O), else the source compiled
 * as the import system compiles it. A new reference, or NULL. */
static PyObject *
module_code(const Candidate *c)
{
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    int optimize = Py_OptimizeFlag;
#pragma GCC diagnostic pop
    size_t len = 0;
    char *data = c->has_cache && optimize == 0 ? read_unchanged(c->cache, &c->cache_st, &len) : NULL;
    const unsigned char *h = (const unsigned char *)data;
    if (data != NULL && len > 16 && (long)le32(h) == PyImport_GetMagicNumber() && le32(h + 4) == 0
        && le32(h + 8) == (uint32_t)c->source_st.st_mtime && le32(h + 12) == (uint32_t)c->source_st.st_size) {
        PyObject *code = PyMarshal_ReadObjectFromString(data + 16, (Py_ssize_t)(len - 16));
        free(data);
        if (code != NULL && PyCode_Check(code)) {
            return code;
        }
        Py_XDECREF(code);
        PyErr_Clear();
    }
    else {
        free(data);
    }
    data = read_unchanged(c->source, &c->source_st, &len);
    if (data == NULL || memchr(data, '\0', len) != NULL) {
        free(data);
        return NULL;
    }
    PyObject *name = PyUnicode_DecodeFSDefault(c->source);
    PyCompilerFlags flags;
    flags.cf_flags = 0; /* as the import system compiles it (dont_inherit) */
    flags.cf_feature_version = PY_MINOR_VERSION;
    PyObject *code = name ? Py_CompileStringObject(data, name, Py_file_input, &flags, -1) : NULL;
    free(data);
    Py_XDECREF(name);
    return code;
}

/* PurePath's __fspath__ and __str__ in the first candidate that defines them: 1, or -1. */
static int
load_reference(void)
{
    if (ref_state != 0) {
        return ref_state;
    }
    if (candidates == NULL || names_ready() < 0) {
        PyErr_Clear();
        return 0; /* not configured yet: later */
    }
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    int previous = tp_busy_enter(); /* tpython's own compile: not the program's event */
#if PY_VERSION_HEX >= 0x030A0000
    int collecting = PyGC_Disable(); /* no finalizer of the program runs while tpython is busy */
#endif
    ref_state = -1;
    for (int k = 0; ref_state < 0 && k < n_candidates; k++) {
        PyObject *module = module_code(&candidates[k]);
        PyObject *cls = module ? const_code(module, "PurePath") : NULL;
        PyObject *fspath = cls ? const_code(cls, "__fspath__") : NULL, *str = cls ? const_code(cls, "__str__") : NULL;
        if (fspath != NULL && str != NULL) {
            Py_INCREF(fspath);
            Py_INCREF(str);
            ref_fspath = fspath;
            ref_str = str;
            ref_state = 1;
        }
        Py_XDECREF(module);
        PyErr_Clear();
    }
#if PY_VERSION_HEX >= 0x030A0000
    if (collecting) {
        PyGC_Enable();
    }
#endif
    tp_busy_leave(previous);
    PyErr_Restore(type, value, tb);
    return ref_state;
}

/* ---- whether a class is pathlib's ----------------------------------------- */

/* Equal constants of the kinds a compiler makes (exact types only: no __eq__ of the program). */
static int
plain_equal(PyObject *a, PyObject *b)
{
    if (a == b) {
        return 1;
    }
    if (Py_TYPE(a) != Py_TYPE(b)) {
        return 0;
    }
    if (PyUnicode_CheckExact(a)) {
        return PyUnicode_Compare(a, b) == 0;
    }
    if (PyBytes_CheckExact(a)) {
        return PyBytes_GET_SIZE(a) == PyBytes_GET_SIZE(b)
               && memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b), (size_t)PyBytes_GET_SIZE(a)) == 0;
    }
    if (PyLong_CheckExact(a) || PyFloat_CheckExact(a)) {
        int rc = PyObject_RichCompareBool(a, b, Py_EQ);
        PyErr_Clear();
        return rc == 1;
    }
    if (PyTuple_CheckExact(a)) {
        if (PyTuple_GET_SIZE(a) != PyTuple_GET_SIZE(b)) {
            return 0;
        }
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(a); i++) {
            if (!plain_equal(PyTuple_GET_ITEM(a, i), PyTuple_GET_ITEM(b, i))) {
                return 0;
            }
        }
        return 1;
    }
    return 0;
}

/* Whether CODE does what REF does: the same instructions, constants, names and shape. */
static int
same_code(PyObject *code, PyObject *ref)
{
    static const char *const FIELDS[] = {
        "co_argcount", "co_posonlyargcount", "co_kwonlyargcount", "co_nlocals", "co_flags", "co_stacksize",
        "co_code", "co_consts", "co_names", "co_varnames", "co_freevars", "co_cellvars",
#if PY_VERSION_HEX >= 0x030B0000
        "co_exceptiontable",
#endif
        NULL};
    for (int i = 0; i < n_verified; i++) {
        if (verified[i] == code) {
            return 1;
        }
    }
    if (!PyCode_Check(code)) {
        return 0;
    }
    int same = 1;
    for (int k = 0; same && FIELDS[k] != NULL; k++) { /* a code object's own C getters */
        PyObject *a = PyObject_GetAttrString(code, FIELDS[k]), *b = PyObject_GetAttrString(ref, FIELDS[k]);
        same = a != NULL && b != NULL && plain_equal(a, b);
        Py_XDECREF(a);
        Py_XDECREF(b);
    }
    PyErr_Clear();
    if (same && n_verified < VERIFIED) {
        Py_INCREF(code);
        verified[n_verified++] = code;
    }
    return same;
}

/* Whether every key of DICT is an exact str (a lookup then runs no __eq__ of the program). */
static int
plain_keys(PyObject *dict)
{
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    if (dict == NULL || !PyDict_CheckExact(dict)) {
        return 0;
    }
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key)) {
            return 0;
        }
    }
    return 1;
}

/* Whether `str` in FUNC's code is the built-in str (its globals, then its builtins). */
static int
str_is_builtin(PyObject *func)
{
    PyObject *globals = PyFunction_GET_GLOBALS(func);
    if (!plain_keys(globals) || PyDict_GetItemString(globals, "str") != NULL) {
        return 0;
    }
#if PY_VERSION_HEX >= 0x030A0000
    PyObject *builtins = ((PyFunctionObject *)func)->func_builtins;
#else
    PyObject *builtins = PyDict_GetItemString(globals, "__builtins__");
    builtins = builtins != NULL && PyModule_CheckExact(builtins) ? PyModule_GetDict(builtins) : builtins;
#endif
    return plain_keys(builtins) && PyDict_GetItemString(builtins, "str") == (PyObject *)&PyUnicode_Type;
}

/* The slot NAME of V when NAME resolves, along V's type, to a writable object member
 * descriptor of a class V is an instance of; else NULL. */
static PyObject **
slot_of(PyObject *v, PyObject *name)
{
    PyObject *d = _PyType_Lookup(Py_TYPE(v), name);
    if (d == NULL || !Py_IS_TYPE(d, &PyMemberDescr_Type)) {
        return NULL;
    }
    PyMemberDef *m = ((PyMemberDescrObject *)d)->d_member;
    if (m->type != T_OBJECT_EX || (m->flags & READONLY) || m->offset < (Py_ssize_t)sizeof(PyObject)
        || !PyType_IsSubtype(Py_TYPE(v), PyDescr_TYPE(d))) {
        return NULL;
    }
    return (PyObject **)((char *)v + m->offset);
}

/* Whether os.fspath(V) is V's `_str` (the class's __fspath__ and __str__ are pathlib's)
 * and V is not a Windows path: the `_str` slot, or NULL. */
static PyObject **
genuine_str_slot(PyObject *v)
{
    PyTypeObject *t = Py_TYPE(v);
    if (!(t->tp_flags & Py_TPFLAGS_HEAPTYPE) || t->tp_getattro != PyObject_GenericGetAttr) {
        return NULL; /* a __getattribute__ or __getattr__ of the program would answer `self._str` */
    }
    PyObject *fspath = _PyType_Lookup(t, s_fspath);
    if (fspath == NULL || !Py_IS_TYPE(fspath, &PyFunction_Type) || !code_named(PyFunction_GET_CODE(fspath), "__fspath__")
        || load_reference() != 1 || !same_code(PyFunction_GET_CODE(fspath), ref_fspath)
        || PyFunction_GET_CLOSURE(fspath) != NULL || !str_is_builtin(fspath)) {
        return NULL;
    }
    PyObject *str = _PyType_Lookup(t, s_dunder_str);
    if (str == NULL || !Py_IS_TYPE(str, &PyFunction_Type) || !same_code(PyFunction_GET_CODE(str), ref_str)
        || PyFunction_GET_CLOSURE(str) != NULL) {
        return NULL;
    }
    /* pathlib's PureWindowsPath, from the globals just checked (plain keys) */
    PyObject *windows = PyDict_GetItem(PyFunction_GET_GLOBALS(fspath), s_windows);
    if (windows == NULL || !PyType_Check(windows) || PyType_IsSubtype(t, (PyTypeObject *)windows)) {
        return NULL;
    }
    return slot_of(v, s_str);
}

/* ---- the text, as that version's pathlib computes str(path) --------------- */

/* Whether LIST is an exact list of str. */
static int
str_list(PyObject *list)
{
    if (list == NULL || !PyList_CheckExact(list)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        if (!PyUnicode_Check(PyList_GET_ITEM(list, i))) {
            return 0;
        }
    }
    return 1;
}

#if PY_VERSION_HEX >= 0x030C0000
/* posixpath.join(*paths), then _parse_path (posixpath.splitroot; '' and '.' dropped),
 * then _format_parsed_parts(...) or '.'. */
static PyObject *
computed_text(PyObject *v)
{
    PyObject **raw = slot_of(v, s_raw_paths);
    PyObject *list = raw ? *raw : NULL;
    if (!str_list(list)) {
        return NULL;
    }
    Py_INCREF(list); /* the program's list, kept while C reads it */
    PyObject *sep = PyUnicode_FromString("/");
    PyObject *path = sep ? PyUnicode_FromString("") : NULL;
    for (Py_ssize_t i = 0; path != NULL && i < PyList_GET_SIZE(list); i++) {
        PyObject *b = PyList_GET_ITEM(list, i), *next;
        Py_ssize_t plen = PyUnicode_GET_LENGTH(path);
        if (PyUnicode_GET_LENGTH(b) > 0 && PyUnicode_READ_CHAR(b, 0) == '/') {
            next = PyUnicode_Substring(b, 0, PyUnicode_GET_LENGTH(b));
        }
        else if (plen == 0 || PyUnicode_READ_CHAR(path, plen - 1) == '/') {
            next = PyUnicode_Concat(path, b);
        }
        else {
            PyObject *slash = PyUnicode_Concat(path, sep);
            next = slash ? PyUnicode_Concat(slash, b) : NULL;
            Py_XDECREF(slash);
        }
        Py_DECREF(path);
        path = next;
    }
    Py_DECREF(list);
    if (path == NULL) {
        Py_XDECREF(sep);
        return NULL;
    }
    Py_ssize_t n = PyUnicode_GET_LENGTH(path), skip = 0;
    const char *root = "";
    if (n > 0 && PyUnicode_READ_CHAR(path, 0) == '/') {
        int two = n > 1 && PyUnicode_READ_CHAR(path, 1) == '/' && !(n > 2 && PyUnicode_READ_CHAR(path, 2) == '/');
        root = two ? "//" : "/";
        skip = two ? 2 : 1;
    }
    PyObject *rel = PyUnicode_Substring(path, skip, n);
    Py_DECREF(path);
    PyObject *pieces = rel && sep ? PyUnicode_Split(rel, sep, -1) : NULL;
    PyObject *tail = pieces ? PyList_New(0) : NULL;
    for (Py_ssize_t i = 0; tail != NULL && i < PyList_GET_SIZE(pieces); i++) {
        PyObject *x = PyList_GET_ITEM(pieces, i);
        if (PyUnicode_GET_LENGTH(x) > 0 && PyUnicode_CompareWithASCIIString(x, ".") != 0 && PyList_Append(tail, x) < 0) {
            Py_CLEAR(tail);
        }
    }
    PyObject *joined = tail ? PyUnicode_Join(sep, tail) : NULL;
    PyObject *anchor = joined ? PyUnicode_FromString(root) : NULL;
    PyObject *text = anchor ? PyUnicode_Concat(anchor, joined) : NULL;
    Py_XDECREF(rel);
    Py_XDECREF(sep);
    Py_XDECREF(pieces);
    Py_XDECREF(tail);
    Py_XDECREF(joined);
    Py_XDECREF(anchor);
    return text;
}
#else
static PyObject *
join_with(const char *sep, PyObject *list)
{
    PyObject *s = PyUnicode_FromString(sep);
    PyObject *joined = s ? PyUnicode_Join(s, list) : NULL;
    Py_XDECREF(s);
    return joined;
}

/* _format_parsed_parts(_drv, _root, _parts) or '.': drv + root + '/'.join(parts[1:])
 * when anchored, else '/'.join(parts). */
static PyObject *
computed_text(PyObject *v)
{
    PyObject **drv = slot_of(v, s_drv), **root = slot_of(v, s_root), **parts = slot_of(v, s_parts);
    if (drv == NULL || root == NULL || parts == NULL || *drv == NULL || *root == NULL || !PyUnicode_Check(*drv)
        || !PyUnicode_Check(*root) || !str_list(*parts)) {
        return NULL;
    }
    PyObject *d = *drv, *r = *root, *list = *parts;
    Py_INCREF(d);
    Py_INCREF(r);
    Py_INCREF(list);
    int anchored = PyUnicode_GET_LENGTH(d) > 0 || PyUnicode_GET_LENGTH(r) > 0;
    PyObject *rest = PyList_GetSlice(list, anchored ? 1 : 0, PyList_GET_SIZE(list));
    PyObject *joined = rest ? join_with("/", rest) : NULL;
    PyObject *anchor = joined ? PyUnicode_Concat(d, r) : NULL;
    PyObject *text = anchor ? (anchored ? PyUnicode_Concat(anchor, joined) : PyUnicode_FromObject(joined)) : NULL;
    Py_DECREF(d);
    Py_DECREF(r);
    Py_DECREF(list);
    Py_XDECREF(rest);
    Py_XDECREF(joined);
    Py_XDECREF(anchor);
    return text;
}
#endif

PyObject *
pathobj_text(PyObject *v)
{
    if (PyInterpreterState_Get() != PyInterpreterState_Main() || names_ready() < 0) {
        PyErr_Clear();
        return NULL; /* the reference and names are the main interpreter's objects */
    }
    PyObject **slot = genuine_str_slot(v);
    if (slot == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (*slot != NULL) {
        return PyUnicode_Check(*slot) ? PyUnicode_FromObject(*slot) : NULL; /* (a plain copy of a subclass) */
    }
    PyObject *text = computed_text(v);
    if (text != NULL && PyUnicode_GET_LENGTH(text) == 0) {
        Py_DECREF(text);
        text = PyUnicode_FromString(".");
    }
    if (text == NULL) {
        PyErr_Clear();
        return NULL;
    }
    if (*slot == NULL) { /* as pathlib's __str__ stores it: what os.fspath() then returns */
        Py_INCREF(text);
        *slot = text;
    }
    return text;
}

/* pathlib_configure(stdlib_dirs) -> bool: the directories (without a trailing slash) where
 * the engine finds the standard library; set once, before the program runs, and
 * never after the engine is sealed or has its own (False: refused). */
PyObject *
tp_pathlib_configure(PyObject *module, PyObject *dirs)
{
    (void)module;
    if (!PyList_Check(dirs)) {
        PyErr_SetString(PyExc_TypeError, "pathlib_configure() takes a list of directories");
        return NULL;
    }
    if (n_own_dirs > 0 || candidates != NULL || tp_is_sealed() || attrib_stdlib_dir(0) != NULL) {
        Py_RETURN_FALSE;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(dirs) && n_own_dirs < (int)(sizeof own_dirs / sizeof *own_dirs); i++) {
        PyObject *d = PyList_GET_ITEM(dirs, i);
        const char *text = PyUnicode_Check(d) ? PyUnicode_AsUTF8(d) : NULL;
        char *copy = text ? malloc(strlen(text) + 2) : NULL;
        if (copy == NULL) {
            PyErr_Clear();
            continue;
        }
        sprintf(copy, "%s/", text);
        own_dirs[n_own_dirs++] = copy;
    }
    pathobj_remember();
    Py_RETURN_TRUE;
}

PyObject *
tp_pathlib_text(PyObject *module, PyObject *value)
{
    (void)module;
    PyObject *text = pathobj_text(value);
    if (text == NULL) {
        Py_RETURN_NONE;
    }
    return text;
}
