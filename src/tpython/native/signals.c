/* C in front of Python's handler for the signals that end a run (launcher/signals.py).
 *
 * Python runs a signal's handler in the main thread between bytecodes. A signal that
 * arrives just before that thread blocks (a lock, a read, a sleep) is only marked:
 * the call does not return, and Python runs the handler when it does, perhaps never,
 * where the default action would have ended the process at once. So, for each signal
 * tpython records the end of the run by, this handler runs first: it passes the
 * signal to Python's handler (which marks it), then starts a timer that sends SIGTERM
 * to the main thread every NUDGE_NS until Python's handler has the end in hand
 * (signal_taken): a blocked call then returns with EINTR and Python runs the handler.
 * The timer's SIGTERMs do nothing else here. Once the end is in hand, a second signal
 * ends the process at once, by its default action.
 *
 * One timer per process (a forked child makes its own): each POSIX timer holds one of
 * the user's queued-signal slots (RLIMIT_SIGPENDING). SIGTERM carries the nudges only
 * while this handler is SIGTERM's: a program's own SIGTERM handler never sees them.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"
#include "signals.h"

#ifndef sigev_notify_thread_id
#define sigev_notify_thread_id _sigev_un._tid
#endif

#define NUDGE_NS 20000000L /* 20 ms */

static struct sigaction python_action[NSIG]; /* Python's handler, which front() calls */
static timer_t nudge_timer;
static pid_t timer_pid; /* the process the timer was made in (0: none) */
static volatile sig_atomic_t nudging;
static volatile sig_atomic_t taken;

static void front(int sig, siginfo_t *info, void *context);

/* Whether front() is SIG's handler (sigaction is async-signal-safe). */
static int
fronts(int sig)
{
    struct sigaction current;
    return sigaction(sig, NULL, &current) == 0 && (current.sa_flags & SA_SIGINFO) && current.sa_sigaction == front;
}

static void
front(int sig, siginfo_t *info, void *context)
{
    int saved = errno;
    if (sig == SIGTERM && info != NULL && info->si_code == SI_TIMER) {
        errno = saved; /* a nudge: arriving was its work */
        return;
    }
    if (taken) { /* a second signal while the end is written: end now */
        struct sigaction by_default;
        memset(&by_default, 0, sizeof(by_default));
        by_default.sa_handler = SIG_DFL;
        sigaction(sig, &by_default, NULL);
        raise(sig); /* held while this handler runs; its default action once it returns */
        errno = saved;
        return;
    }
    const struct sigaction *python = &python_action[sig];
    if (python->sa_flags & SA_SIGINFO) {
        python->sa_sigaction(sig, info, context);
    }
    else if (python->sa_handler != SIG_DFL && python->sa_handler != SIG_IGN) {
        python->sa_handler(sig);
    }
    if (!nudging && timer_pid == getpid() && fronts(SIGTERM)) {
        struct itimerspec every = {{0, NUDGE_NS}, {0, NUDGE_NS}};
        nudging = 1;
        timer_settime(nudge_timer, 0, &every, NULL);
    }
    errno = saved;
}

/* This process's nudge timer, aimed at the calling thread (Python's main thread). */
static void
make_timer(void)
{
    if (timer_pid == getpid()) {
        return;
    }
    struct sigevent event;
    memset(&event, 0, sizeof(event));
    event.sigev_notify = SIGEV_THREAD_ID;
    event.sigev_signo = SIGTERM;
    event.sigev_notify_thread_id = (pid_t)syscall(SYS_gettid);
    nudging = 0;
    taken = 0;
    if (timer_create(CLOCK_MONOTONIC, &event, &nudge_timer) == 0) {
        timer_pid = getpid();
    }
    /* else no nudges: a signal may wait for a blocked call, as under Python's own handler */
}

PyObject *
tp_signal_front(PyObject *module, PyObject *numbers)
{
    (void)module;
    PyObject *seq = PySequence_Fast(numbers, "signal_front: a sequence of signal numbers");
    if (seq == NULL) {
        return NULL;
    }
    make_timer();
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(seq); i++) {
        long sig = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        if (sig == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return NULL;
        }
        struct sigaction current;
        if (sig < 1 || sig >= NSIG || sigaction((int)sig, NULL, &current) != 0) {
            continue;
        }
        if ((current.sa_flags & SA_SIGINFO) ? current.sa_sigaction == front
                                            : current.sa_handler == SIG_DFL || current.sa_handler == SIG_IGN) {
            continue; /* fronted already, or no handler of Python's to front */
        }
        python_action[sig] = current;
        struct sigaction mine = current;
        mine.sa_flags |= SA_SIGINFO;
        mine.sa_sigaction = front;
        sigaction((int)sig, &mine, NULL);
    }
    Py_DECREF(seq);
    Py_RETURN_NONE;
}

PyObject *
tp_signal_taken(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    taken = 1;
    if (nudging && timer_pid == getpid()) {
        struct itimerspec stop;
        memset(&stop, 0, sizeof(stop));
        timer_settime(nudge_timer, 0, &stop, NULL);
    }
    nudging = 0;
    Py_RETURN_NONE;
}

/* signal_call(handler, signum, frame): a handler of the program's, called with this thread's
 * work marked as the program's (a signal can come while tpython decides or writes, and what
 * the handler does is audited like the rest of the program). Nothing is ever marked as
 * tpython's work here: the mark is only put back as it was. */
PyObject *
tp_signal_call(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *handler, *signum, *frame;
    if (!PyArg_ParseTuple(args, "OOO:signal_call", &handler, &signum, &frame)) {
        return NULL;
    }
    int previous = tp_is_busy();
    tp_busy_leave(0);
    PyObject *result = PyObject_CallFunctionObjArgs(handler, signum, frame, NULL);
    tp_busy_leave(previous);
    return result;
}
