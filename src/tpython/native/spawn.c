/* multiprocessing workers, started by C through tpython's bootstrap.
 *
 * multiprocessing's spawn and forkserver start methods run `python -c "from
 * multiprocessing... "`. tpython starts those interpreters itself, as the
 * hardened bootstrap with the policy it runs under. Doing that from Python
 * would need a way to mark the spawn as tpython's own work (or strict would
 * deny it), and any such way is one the program could use too. Here the launch
 * spec is built from what was frozen before the program ran (the policy, the
 * manifest digest, the interpreter's argv, the loader variables tpython started
 * with); the program chooses only the multiprocessing program text and its
 * arguments, and that child runs under the same policy.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <limits.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dispatch.h"
#include "record.h"
#include "spawn.h"

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

extern char **environ;

static char *policy_json;       /* JSON text of the JSON text of the policy */
static char *manifest_json;     /* "null" or a JSON string */
static char **base_argv;        /* the hardened interpreter: executable -I -S -c BOOTSTRAP */
static char **loader_env;       /* NAME=VALUE of the loader variables at start */
static const char *const LOADER_PREFIXES[] = {"LD_", "GCONV_PATH", "GLIBC_TUNABLES", "MALLOC_", "OPENSSL_CONF",
                                              "OPENSSL_ENGINES", "TPYTHON_LAUNCH", NULL};
static const char *const PROGRAM_PREFIXES[] = {"from multiprocessing.", "import multiprocessing", NULL};

static char *
json_of(PyObject *text)
{
    Buf b;
    buf_init(&b);
    if (buf_json_str(&b, text, -1) < 0 || buf_put(&b, "", 1) < 0) {
        buf_free(&b);
        return NULL;
    }
    char *out = strdup(b.data);
    buf_free(&b);
    return out;
}

static char **
string_array(PyObject *list)
{
    Py_ssize_t n = PyList_GET_SIZE(list);
    char **out = calloc((size_t)n + 1, sizeof(char *));
    for (Py_ssize_t i = 0; out != NULL && i < n; i++) {
        const char *s = PyUnicode_Check(PyList_GET_ITEM(list, i)) ? PyUnicode_AsUTF8(PyList_GET_ITEM(list, i)) : NULL;
        if (s == NULL || (out[i] = strdup(s)) == NULL) {
            return NULL;
        }
    }
    return out;
}

/* spawn_configure(policy_json, manifest_sha256 or None, argv, ["NAME=VALUE", ...]): once, before sealing. */
PyObject *
tp_spawn_configure(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *policy, *manifest, *argv, *env;
    if (!PyArg_ParseTuple(args, "UOO!O!:spawn_configure", &policy, &manifest, &PyList_Type, &argv, &PyList_Type,
                          &env)) {
        return NULL;
    }
    if (base_argv != NULL || tp_is_sealed()) {
        PyErr_SetString(PyExc_RuntimeError, "tpython: worker launches are already configured");
        return NULL;
    }
    if (manifest != Py_None && !PyUnicode_Check(manifest)) {
        PyErr_SetString(PyExc_TypeError, "manifest_sha256 must be a str or None");
        return NULL;
    }
    policy_json = json_of(policy);
    manifest_json = manifest == Py_None ? strdup("null") : json_of(manifest);
    loader_env = string_array(env);
    base_argv = string_array(argv);
    if (policy_json == NULL || manifest_json == NULL || loader_env == NULL || base_argv == NULL) {
        if (!PyErr_Occurred()) {
            PyErr_NoMemory();
        }
        base_argv = NULL;
        return NULL;
    }
    Py_RETURN_NONE;
}

static int
is_loader_variable(const char *entry)
{
    for (int i = 0; LOADER_PREFIXES[i]; i++) {
        if (strncmp(entry, LOADER_PREFIXES[i], strlen(LOADER_PREFIXES[i])) == 0) {
            return 1;
        }
    }
    return 0;
}

/* spawn_worker(program, args, passfds, parent_run) -> pid. The worker's tpython.start names
 * this run as its parent: the run C records now, whatever PARENT_RUN says (the program can
 * call this too; it cannot make a worker name another parent). */
PyObject *
tp_spawn_worker(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *program, *argv_tail, *passfds, *parent_run;
    if (!PyArg_ParseTuple(args, "UO!O!U:spawn_worker", &program, &PyList_Type, &argv_tail, &PyTuple_Type, &passfds,
                          &parent_run)) {
        return NULL;
    }
    if (base_argv == NULL) {
        PyErr_SetString(PyExc_RuntimeError, "tpython: worker launches are not configured");
        return NULL;
    }
    const char *text = PyUnicode_AsUTF8(program);
    int known = 0;
    for (int i = 0; text && PROGRAM_PREFIXES[i]; i++) {
        known |= strncmp(text, PROGRAM_PREFIXES[i], strlen(PROGRAM_PREFIXES[i])) == 0;
    }
    if (!known) {
        PyErr_SetString(PyExc_PermissionError, "tpython: only multiprocessing's own programs start this way");
        return NULL;
    }
    /* The launch spec, as tpython.launcher.spec.LaunchSpec.to_env() writes it. */
    Buf spec;
    buf_init(&spec);
    int ok = buf_puts(&spec, "TPYTHON_LAUNCH={\"policy_json\":") == 0 && buf_puts(&spec, policy_json) == 0
             && buf_puts(&spec, ",\"target\":{\"kind\":\"command\",\"value\":") == 0
             && buf_json_str(&spec, program, -1) == 0 && buf_puts(&spec, ",\"args\":[") == 0;
    for (Py_ssize_t i = 0; ok && i < PyList_GET_SIZE(argv_tail); i++) {
        PyObject *arg = PyList_GET_ITEM(argv_tail, i);
        ok = PyUnicode_Check(arg) && (i == 0 || buf_puts(&spec, ",") == 0) && buf_json_str(&spec, arg, -1) == 0;
    }
    (void)parent_run;
    ok = ok && buf_puts(&spec, "]},\"quiet\":true,\"parent_run\":") == 0 && buf_json_cstr(&spec, chain_run_id()) == 0
         && buf_puts(&spec, ",\"internal\":\"multiprocessing\",\"manifest_sha256\":") == 0
         && buf_puts(&spec, manifest_json) == 0 && buf_put(&spec, "}", 2) == 0;
    /* The environment: the current one, with the loader variables tpython started with. */
    size_t n_env = 0, n_loader = 0;
    while (environ[n_env]) {
        n_env++;
    }
    while (loader_env[n_loader]) {
        n_loader++;
    }
    char **envp = calloc(n_env + n_loader + 2, sizeof(char *));
    Py_ssize_t n_fds = PyTuple_GET_SIZE(passfds);
    int *fds = calloc((size_t)n_fds + 1, sizeof(int));
    if (!ok || envp == NULL || fds == NULL) {
        buf_free(&spec);
        free(envp);
        free(fds);
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "tpython: bad worker arguments");
        }
        return NULL;
    }
    size_t k = 0;
    for (size_t i = 0; i < n_env; i++) {
        if (!is_loader_variable(environ[i])) {
            envp[k++] = environ[i];
        }
    }
    for (size_t i = 0; i < n_loader; i++) {
        envp[k++] = loader_env[i];
    }
    envp[k++] = spec.data;
    envp[k] = NULL;
    for (Py_ssize_t i = 0; i < n_fds && !PyErr_Occurred(); i++) {
        long fd = PyLong_AsLong(PyTuple_GET_ITEM(passfds, i));
        if (!PyErr_Occurred() && (fd < 0 || fd > INT_MAX)) {
            PyErr_SetString(PyExc_ValueError, "tpython: a descriptor to pass is out of range");
        }
        fds[i] = (int)fd;
    }
    if (PyErr_Occurred()) {
        buf_free(&spec);
        free(envp);
        free(fds);
        return NULL;
    }
    pid_t pid = fork();
    if (pid == 0) { /* the child: async-signal-safe calls only, then exec */
        if (syscall(SYS_close_range, 3U, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
            for (int fd = 3; fd < 65536; fd++) {
                fcntl(fd, F_SETFD, FD_CLOEXEC);
            }
        }
        for (Py_ssize_t i = 0; i < n_fds; i++) {
            fcntl(fds[i], F_SETFD, 0);
        }
        execve(base_argv[0], base_argv, envp);
        _exit(tp_status_not_found);
    }
    int err = errno;
    buf_free(&spec);
    free(envp);
    free(fds);
    if (pid < 0) {
        errno = err;
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    return PyLong_FromLong((long)pid);
}
