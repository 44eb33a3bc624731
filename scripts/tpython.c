/* The `tpython` command as a native program: the interpreter embedded and started as
 * `python -I -S` starts it, running scripts/tpython (compiled into this program at
 * build time: TPYTHON_SCRIPT in the header setup.py generates).
 *
 * Why: the script's shell line execs the interpreter, and that second execve cost
 * 0.7-1.3 ms of every `tpython run` on the machines measured (README, Performance).
 * Here the interpreter starts in this process. setup.py builds this program where
 * the interpreter is a shared-library build (Py_ENABLE_SHARED) and installs it in
 * place of the script; elsewhere the script is installed, and behaves the same.
 *
 * What `-I -S` sets is set before anything is decoded: the first PyConfig_SetBytes*
 * call pre-initialises Python from this configuration, and with use_environment off
 * no PYTHON* variable (PYTHONMALLOC, PYTHONUTF8, PYTHONDEVMODE, ...) is read.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tpython_script.h" /* TPYTHON_SCRIPT, TPYTHON_BUILD_EXECUTABLE */

#define STR_(x) #x
#define STR(x) STR_(x)

static int
fail(const char *message, const char *detail)
{
    fprintf(stderr, "tpython: %s%s\n", message, detail);
    return 127;
}

/* Why PATH, which exists, cannot be run by this user: the first directory on the way to
 * it (symbolic links followed) that this user may not enter, written to BLOCKED; or ""
 * when none is (the file itself is not executable for this user). */
static void
blocked_directory(const char *path, char *blocked, size_t size)
{
    char current[PATH_MAX];
    blocked[0] = '\0';
    if (snprintf(current, sizeof(current), "%s", path) >= (int)sizeof(current)) {
        return;
    }
    for (int links = 0; links < 40; links++) {
        for (char *slash = strchr(current + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
            *slash = '\0';
            int denied = access(current, X_OK) != 0 && errno == EACCES;
            if (denied) {
                snprintf(blocked, size, "%s", current);
            }
            *slash = '/';
            if (denied) {
                return;
            }
        }
        char target[PATH_MAX];
        ssize_t n = readlink(current, target, sizeof(target) - 1);
        if (n <= 0) {
            return; /* not a link: the file itself */
        }
        target[n] = '\0';
        char next[PATH_MAX];
        char *slash = strrchr(current, '/');
        int m = target[0] == '/' || slash == NULL
                ? snprintf(next, sizeof(next), "%s", target)
                : snprintf(next, sizeof(next), "%.*s/%s", (int)(slash - current), current, target);
        if (m <= 0 || (size_t)m >= sizeof(next)) {
            return;
        }
        memcpy(current, next, (size_t)m + 1);
    }
}

/* The interpreter this program stands for: the one beside it (a virtual environment's
 * bin/, as the script's shell line looks), of the version it was built for first,
 * else the one it was built with. Its path makes sys.executable, and from it Python
 * finds its prefix (and a virtual environment's pyvenv.cfg). On failure, UNUSABLE is
 * the first candidate that exists but could not be used ("" when none exists), and
 * *ERR why. */
static int
find_interpreter(const char *dir, char *out, size_t size, char *unusable, size_t unusable_size, int *err)
{
    static const char *names[] = {"python" STR(PY_MAJOR_VERSION) "." STR(PY_MINOR_VERSION), "python3", "python"};
    unusable[0] = '\0';
    for (size_t i = 0; i <= sizeof(names) / sizeof(names[0]); i++) {
        int n = i < sizeof(names) / sizeof(names[0]) ? snprintf(out, size, "%s/%s", dir, names[i])
                                                     : snprintf(out, size, "%s", TPYTHON_BUILD_EXECUTABLE);
        if (n <= 0 || (size_t)n >= size) {
            continue;
        }
        if (access(out, X_OK) == 0) {
            return 0;
        }
        if (errno != ENOENT && errno != ENOTDIR && unusable[0] == '\0') {
            *err = errno;
            snprintf(unusable, unusable_size, "%s", out);
        }
    }
    return -1;
}

/* One line saying why UNUSABLE (an interpreter that exists) cannot be run: for
 * "permission denied", the directory this user may not enter, or that the file is not
 * executable for this user. Exit status 126, as a shell's for a command it cannot run. */
static int
fail_unusable(const char *unusable, int err)
{
    char shown[2 * PATH_MAX + 8];
    char resolved[PATH_MAX];
    ssize_t n = readlink(unusable, resolved, sizeof(resolved) - 1);
    if (n > 0) {
        resolved[n] = '\0';
        snprintf(shown, sizeof(shown), "%s -> %s", unusable, resolved);
    }
    else {
        snprintf(shown, sizeof(shown), "%s", unusable);
    }
    if (err != EACCES) {
        fprintf(stderr, "tpython: cannot run the interpreter %s: %s\n", shown, strerror(err));
        return 126;
    }
    char blocked[PATH_MAX];
    blocked_directory(unusable, blocked, sizeof(blocked));
    if (blocked[0]) {
        fprintf(stderr, "tpython: cannot run the interpreter %s: permission denied: this user (uid %u) may not "
                        "enter the directory %s; run tpython as a user who may, or install it with an "
                        "interpreter this user can reach\n", shown, (unsigned)getuid(), blocked);
    }
    else {
        fprintf(stderr, "tpython: cannot run the interpreter %s: permission denied: the file is not executable "
                        "for this user (uid %u)\n", shown, (unsigned)getuid());
    }
    return 126;
}

static int
check(PyStatus status, PyConfig *config)
{
    if (!PyStatus_Exception(status)) {
        return 0;
    }
    PyConfig_Clear(config);
    if (PyStatus_IsExit(status)) {
        exit(status.exitcode);
    }
    Py_ExitStatusException(status); /* prints the error, exits 1 */
    return -1;
}

int
main(int argc, char **argv)
{
    /* This program's own path (symbolic links resolved): sys.argv[0], from which the
     * script finds its installation, as it does from its own path. */
    static char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
    if (n <= 0 || (size_t)n >= sizeof(self) - 1) {
        return fail("cannot find this program's path in /proc/self/exe", "");
    }
    self[n] = '\0';
    char dir[PATH_MAX];
    memcpy(dir, self, (size_t)n + 1);
    char *slash = strrchr(dir, '/');
    if (slash == NULL) {
        return fail("not an absolute path: ", self);
    }
    *slash = '\0';
    char interpreter[PATH_MAX];
    char unusable[PATH_MAX];
    int err = 0;
    if (find_interpreter(dir, interpreter, sizeof(interpreter), unusable, sizeof(unusable), &err) < 0) {
        if (unusable[0]) {
            return fail_unusable(unusable, err);
        }
        return fail("no python3 beside this program, nor the one it was built with: ", TPYTHON_BUILD_EXECUTABLE);
    }
    char **args = malloc(sizeof(char *) * ((size_t)argc + 1));
    if (args == NULL) {
        return fail("out of memory", "");
    }
    args[0] = self;
    for (int i = 1; i < argc; i++) {
        args[i] = argv[i];
    }
    args[argc] = NULL;

    PyConfig config;
    PyConfig_InitPythonConfig(&config); /* as `python` (signal handlers, C stdio), then -I -S */
    config.isolated = 1;
    config.use_environment = 0;
    config.user_site_directory = 0;
#if PY_VERSION_HEX >= 0x030B0000
    config.safe_path = 1;
#endif
    config.site_import = 0;
    config.parse_argv = 0; /* sys.argv is exactly ARGS */
    if (check(PyConfig_SetBytesString(&config, &config.program_name, interpreter), &config) < 0
        || check(PyConfig_SetBytesString(&config, &config.executable, interpreter), &config) < 0
        || check(PyConfig_SetBytesArgv(&config, argc, args), &config) < 0
        || check(Py_InitializeFromConfig(&config), &config) < 0) {
        return 1;
    }
    PyConfig_Clear(&config);
    free(args);
    /* The script runs in __main__ as `python -c` runs its command, without what Py_RunMain
     * adds to -c (3.13 imports linecache to show the command's lines in tracebacks: a
     * module the program would inherit, loaded before the hooks) and without a
     * sys.path[0] (as -I). It ends in sys.exit, which finalises and exits; an exception
     * that escapes it is printed, as python prints it. */
    PyCompilerFlags flags = {PyCF_IGNORE_COOKIE, PY_MINOR_VERSION};
    int status = PyRun_SimpleStringFlags(TPYTHON_SCRIPT, &flags) == 0 ? 0 : 1;
    if (Py_FinalizeEx() < 0) {
        status = 120;
    }
    return status;
}
