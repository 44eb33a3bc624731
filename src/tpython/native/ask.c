/* The `ask` action: one question on the controlling terminal; only a typed yes allows.
 *
 * "Attempt to connect 93.184.216.34:80 (tpython rule egress). Continue [y/N] ": the
 * event is allowed when the line typed is `y` or `yes` (any case); an empty line,
 * anything else, end of file before a line, a line over MAX_LINE bytes or an error on
 * the terminal is a no ("no"). With no controlling terminal there is no question
 * ("no-terminal"); so too when tpython started without one, and when the controlling
 * terminal or the session is no longer the one tpython started on ("other-terminal"):
 * a program that made a terminal of its own its controlling one must not answer there.
 * What was typed before the question is discarded, and the question is shown with
 * control characters escaped, so the program can neither answer nor redraw it.
 *
 * Everything is C's: the terminal is opened by a plain system call (no audit event),
 * no Python code of tpython's is called (a program that replaces tpython's modules
 * answers nothing), and the hook keeps watching while the question waits: the GIL is
 * released, other threads run and their events are decided as ever, and a signal
 * handler of the program's that runs meanwhile is the program's code too (a question
 * it raises in this thread is a no). One question at a time.
 *
 * One question per launch: `subprocess` starts a program in two events
 * (`subprocess.Popen`, then `_posixsubprocess.fork_exec` or `os.posix_spawn` with the
 * same argument list); a yes to the first answers the second, in the same thread, when
 * it would run that same program with a list of the same contents, in the same
 * process (a fork in between drops it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "ask.h"
#include "execconds.h"

#define MAX_LINE 1024 /* a longer answer is no answer */
#define MAX_APPROVED 64
#define SIGNALS_EVERY_MS 100 /* while the answer waits, the program's signal handlers run at least this often */
static const char LAUNCH[] = "subprocess.Popen"; /* the first event of a launch; the second carries its yes */

typedef struct {
    long sid;
    long tty;
} Terminal;

typedef struct {
    unsigned long thread;
    PyObject *argv;    /* a tuple: the list's contents when the yes was given */
    PyObject *cwd;     /* the launch's cwd argument, or NULL */
    PyObject *program; /* the program that would run (str), or NULL */
} Approval;

static Terminal started_on; /* taken at install, before the program runs */
static int has_terminal;
static pthread_mutex_t question_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int asking; /* this thread waits for an answer */
static Approval approved[MAX_APPROVED];
static int n_approved;
static PlaceTable new_links; /* eventargs.NEW_LINKS: which argument of a new link is its target */

/* (session id, tty_nr) from /proc/self/stat; 0 without a controlling terminal. */
static int
terminal_now(Terminal *t)
{
    char buf[1024];
    int fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0) {
        return 0;
    }
    buf[n] = '\0';
    char *end = strrchr(buf, ')');
    long fields[5];
    if (end == NULL || sscanf(end + 1, " %*c %ld %ld %ld %ld", &fields[0], &fields[1], &fields[2], &fields[3]) != 4) {
        return 0; /* after state: ppid, pgrp, session, tty_nr */
    }
    t->sid = (long)getsid(0);
    t->tty = fields[3];
    return t->tty != 0 && t->sid >= 0;
}

static int
same_terminal(void)
{
    Terminal now;
    return terminal_now(&now) && now.sid == started_on.sid && now.tty == started_on.tty;
}

/* In a forked child: no yes of the parent's carries over (their references are left:
 * the objects are the parent's too), and a question another thread was asking holds
 * no lock here. */
static void
after_fork_in_child(void)
{
    n_approved = 0;
    pthread_mutex_init(&question_lock, NULL);
}

int
ask_configure(PyObject *condition_facts)
{
    static int once;
    PyObject *links = condition_facts != NULL ? PyDict_GetItemString(condition_facts, "new_links") : NULL;
    if (links == NULL) {
        PyErr_SetString(PyExc_KeyError, "condition_facts need new_links");
        return -1;
    }
    if (places_build(links, &new_links) < 0) {
        return -1;
    }
    has_terminal = terminal_now(&started_on);
    if (!once && pthread_atfork(NULL, NULL, after_fork_in_child) != 0) {
        PyErr_SetString(PyExc_OSError, "tpython: cannot register the fork handler of ask");
        return -1;
    }
    once = 1;
    return 0;
}

const char *
ask_refusal(const char *answer)
{
    if (strcmp(answer, "no-terminal") == 0) {
        return "no terminal to ask on";
    }
    if (strcmp(answer, "other-terminal") == 0) {
        return "the terminal is not the one tpython started on";
    }
    return "not confirmed at the terminal";
}

/* ---- the exchange on the terminal (the GIL released; *SAVE its thread state) ---- */

static int
write_all(int fd, const char *data, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, data, n);
        if (w < 0 && errno == EINTR) {
            continue;
        }
        if (w <= 0) {
            return -1;
        }
        data += w;
        n -= (size_t)w;
    }
    return 0;
}

/* Discard typed-ahead input, show PROMPT, read one line in line mode with echo (the
 * terminal's settings restored after). 1: LINE holds it (*LEN bytes); 0: none (end of
 * file before the line ended, too long, an error); -1: a signal handler raised. */
static int
exchange(int fd, const char *prompt, size_t prompt_len, char *line, size_t *len, PyThreadState **save)
{
    struct termios saved, wanted;
    int restore = tcgetattr(fd, &saved) == 0 && tcflush(fd, TCIFLUSH) == 0;
    if (restore) {
        wanted = saved;
        wanted.c_iflag |= ICRNL;
        wanted.c_lflag |= ICANON | ECHO;
        if ((wanted.c_iflag != saved.c_iflag || wanted.c_lflag != saved.c_lflag)
            && tcsetattr(fd, TCSANOW, &wanted) != 0) {
            restore = 0;
        }
    }
    int rc = write_all(fd, prompt, prompt_len) == 0 ? 1 : 0;
    *len = 0;
    while (rc == 1 && (*len == 0 || (line[*len - 1] != '\n' && line[*len - 1] != '\r'))) {
        PyEval_RestoreThread(*save); /* the program's signal handlers run, as around os.read */
        int handled = PyErr_CheckSignals();
        *save = PyEval_SaveThread();
        if (handled < 0) {
            rc = -1;
            break;
        }
        struct pollfd ready = {fd, POLLIN, 0};
        int n_ready = poll(&ready, 1, SIGNALS_EVERY_MS); /* a signal that came just before the wait: soon */
        if (n_ready == 0 || (n_ready < 0 && errno == EINTR)) {
            continue;
        }
        ssize_t n = n_ready < 0 ? -1 : read(fd, line + *len, 256);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n == 0) { /* end of file: the line the question is on ends here */
            (void)write_all(fd, "\n", 1);
        }
        if (n <= 0) {
            rc = 0;
            break;
        }
        *len += (size_t)n;
        if (*len > MAX_LINE) {
            rc = 0;
        }
    }
    if (rc == 1) { /* a signal that came with the answer: its handler runs while the question waits too */
        PyEval_RestoreThread(*save);
        rc = PyErr_CheckSignals() < 0 ? -1 : 1;
        *save = PyEval_SaveThread();
    }
    if (restore) {
        (void)tcsetattr(fd, TCSANOW, &saved);
    }
    return rc;
}

static int
is_yes(const char *line, size_t len)
{
    static const char space[] = " \t\n\r\v\f";
    while (len > 0 && memchr(space, line[0], sizeof space - 1) != NULL) {
        line++, len--;
    }
    while (len > 0 && memchr(space, line[len - 1], sizeof space - 1) != NULL) {
        len--;
    }
    return (len == 1 && (line[0] | 0x20) == 'y')
           || (len == 3 && (line[0] | 0x20) == 'y' && (line[1] | 0x20) == 'e' && (line[2] | 0x20) == 's');
}

/* Ask QUESTION (UTF-8, already shown escaped) on /dev/tty: 1 yes, 0 no, -1 a signal
 * handler raised; *ANSWER as recorded. */
static int
ask_terminal(const char *prompt, size_t prompt_len, const char **answer)
{
    if (asking) { /* a signal handler of the program's, run while this thread waits for an answer */
        *answer = "no"; /* (no question inside a question) */
        return 0;
    }
    if (!has_terminal) {
        *answer = "no-terminal";
        return 0;
    }
    char *line = malloc(MAX_LINE + 256 + 1); /* not the stack: the program chooses its threads' stack sizes */
    if (line == NULL) {
        *answer = "no";
        return 0;
    }
    size_t len = 0;
    int rc = 0;
    PyThreadState *save = PyEval_SaveThread();
    pthread_mutex_lock(&question_lock);
    if (!same_terminal()) {
        *answer = "other-terminal";
    }
    else {
        int fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) {
            *answer = "no-terminal";
        }
        else if (!same_terminal()) { /* changed while it was opened: this may be the other one */
            *answer = "other-terminal";
        }
        else {
            asking = 1;
            rc = exchange(fd, prompt, prompt_len, line, &len, &save);
            asking = 0;
            rc = rc < 0 ? -1 : rc == 1 && is_yes(line, len);
            *answer = rc == 1 ? "yes" : "no";
        }
        if (fd >= 0) {
            close(fd);
        }
    }
    pthread_mutex_unlock(&question_lock);
    PyEval_RestoreThread(save);
    free(line);
    return rc;
}

/* ---- one question per launch ------------------------------------------------- */

/* A copy of a launch's argument list (list or tuple, read as the containers they are:
 * no code of the program runs), or NULL for anything else. */
static PyObject *
contents(PyObject *argv)
{
    if (argv != NULL && PyList_Check(argv)) {
        return PyList_AsTuple(argv);
    }
    if (argv != NULL && PyTuple_Check(argv)) {
        return PyTuple_GetSlice(argv, 0, PyTuple_GET_SIZE(argv));
    }
    return NULL;
}

/* Each argument the very same object, or plain text (str, bytes) of the same value. */
static int
same_list(PyObject *now, PyObject *then)
{
    if (PyTuple_GET_SIZE(now) != PyTuple_GET_SIZE(then)) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(now); i++) {
        PyObject *a = PyTuple_GET_ITEM(now, i), *b = PyTuple_GET_ITEM(then, i);
        if (a == b) {
            continue;
        }
        if (Py_TYPE(a) != Py_TYPE(b) || !(PyUnicode_CheckExact(a) || PyBytes_CheckExact(a))) {
            return 0;
        }
        if (PyUnicode_CheckExact(a) ? PyUnicode_Compare(a, b) != 0
                                    : PyBytes_GET_SIZE(a) != PyBytes_GET_SIZE(b)
                                          || memcmp(PyBytes_AS_STRING(a), PyBytes_AS_STRING(b),
                                                    (size_t)PyBytes_GET_SIZE(a)) != 0) {
            return 0;
        }
    }
    return 1;
}

/* The program a launch would really run: the first of its candidates (as named, as
 * found on PATH, in exec's order) that is an absolute executable file; a new str, or NULL. */
static PyObject *
runnable(const EventFacts *f)
{
    for (Py_ssize_t i = 0; f->exe_state == 1 && i < PyList_GET_SIZE(f->exes); i++) {
        PyObject *candidate = PyList_GET_ITEM(f->exes, i);
        PyObject *encoded = PyUnicode_EncodeFSDefault(candidate);
        const char *path = encoded != NULL ? PyBytes_AS_STRING(encoded) : NULL;
        struct stat st;
        int found = path != NULL && path[0] == '/' && strlen(path) == (size_t)PyBytes_GET_SIZE(encoded)
                    && stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
        Py_XDECREF(encoded);
        PyErr_Clear();
        if (found) {
            Py_INCREF(candidate);
            return candidate;
        }
    }
    return NULL;
}

static void
approval_clear(Approval *a)
{
    Py_CLEAR(a->argv);
    Py_CLEAR(a->cwd);
    Py_CLEAR(a->program);
}

/* This thread's approval, taken out (every ask of the thread's takes it); 0: none. */
static int
take_approval(unsigned long thread, Approval *out)
{
    for (int i = 0; i < n_approved; i++) {
        if (approved[i].thread == thread) {
            *out = approved[i];
            approved[i] = approved[--n_approved];
            return 1;
        }
    }
    return 0;
}

/* Whether EVENT carries out the launch APPROVED was a yes to: the same list, the same
 * program (the second event names no directory: its programs are found from the
 * launch's). */
static int
carries_out(const char *event, PyObject *args, PyObject *argv, const Approval *a)
{
    if ((strcmp(event, "_posixsubprocess.fork_exec") != 0 && strcmp(event, "os.posix_spawn") != 0)
        || argv == NULL || !same_list(argv, a->argv)) {
        return 0;
    }
    EventFacts f = {0};
    (void)exe_facts_from(&f, event, args, a->cwd);
    PyObject *program = runnable(&f);
    int same = program == NULL ? a->program == NULL
                               : a->program != NULL && PyUnicode_Compare(program, a->program) == 0;
    PyErr_Clear();
    Py_XDECREF(program);
    facts_clear(&f);
    return same;
}

/* The whole question as the terminal shows it, UTF-8 (a new bytes), or NULL. */
static PyObject *
question(const char *event, PyObject *args, const Shape *shape, EventFacts *f, PyObject *program, const char *rule)
{
    PyObject *said = ask_describe(event, args, shape, f, program, places_of(&new_links, event));
    if (said == NULL) {
        PyErr_Clear();
        said = PyUnicode_FromFormat("Attempt to %s", event);
    }
    PyObject *whole = said == NULL ? NULL
                      : rule != NULL && rule[0] ? PyUnicode_FromFormat("%U (tpython rule %s)", said, rule)
                                                : PyUnicode_FromFormat("%U (tpython)", said);
    PyObject *shown = whole != NULL ? ask_shown(whole) : NULL;
    PyObject *prompt = shown != NULL ? PyUnicode_FromFormat("%U. Continue [y/N] ", shown) : NULL;
    PyObject *bytes = prompt != NULL ? PyUnicode_AsUTF8String(prompt) : NULL;
    Py_XDECREF(said);
    Py_XDECREF(whole);
    Py_XDECREF(shown);
    Py_XDECREF(prompt);
    return bytes;
}

int
ask_decide(const char *event, PyObject *args, const Shape *shape, const char *rule, const char **answer)
{
    unsigned long thread = PyThread_get_thread_ident();
    Approval a = {0};
    int in_main = PyInterpreterState_Get() == PyInterpreterState_Main(); /* approvals are the main one's */
    int had = in_main && take_approval(thread, &a);
    PyObject *argv = contents(PyTuple_GET_SIZE(args) > 1 ? PyTuple_GET_ITEM(args, 1) : NULL);
    PyErr_Clear();
    int rc = 0;
    if (had && carries_out(event, args, argv, &a)) {
        *answer = "yes"; /* the launch the question before was about (the same list, the same program) */
        rc = 1;
        goto done;
    }
    EventFacts f = {0};
    (void)exe_facts_from(&f, event, args, NULL);
    PyObject *program = runnable(&f);
    PyObject *prompt = question(event, args, shape, &f, program, rule);
    facts_clear(&f);
    if (prompt == NULL) {
        PyErr_Clear();
        *answer = "no";
    }
    else {
        rc = ask_terminal(PyBytes_AS_STRING(prompt), (size_t)PyBytes_GET_SIZE(prompt), answer);
        Py_DECREF(prompt);
    }
    if (rc == 1 && in_main && strcmp(event, LAUNCH) == 0 && argv != NULL && n_approved < MAX_APPROVED) {
        PyObject *given = PyTuple_GET_SIZE(args) > 2 ? PyTuple_GET_ITEM(args, 2) : Py_None;
        Approval *slot = &approved[n_approved++];
        slot->thread = thread;
        slot->argv = argv;
        slot->cwd = given != Py_None ? (Py_INCREF(given), given) : NULL;
        slot->program = program;
        argv = program = NULL;
    }
    Py_XDECREF(program);
done:
    Py_XDECREF(argv);
    approval_clear(&a);
    return rc;
}
