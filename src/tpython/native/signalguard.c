/* `_signal.signal` and `_signal.getsignal` wrapped in C (launcher/signals.py says what for).
 *
 * Their PyMethodDefs point at the wrappers below (originals.c): every instance of `_signal`
 * calls them, and the originals are C pointers no Python object reaches, so the program
 * cannot put the default action back for a signal whose end tpython records.
 *
 * When the program sets HANDLER for signal N, the wrapper decides what Python's handler
 * table gets (the stand-in) and keeps what the program set, which `getsignal` reports:
 *   - Python's default_int_handler: tpython's `interrupt` (3.11+; before, itself);
 *   - a callable: a Relay of it (below);
 *   - SIG_DFL for a signal whose end is recorded (`fatal`): tpython's `end_by`, with C in
 *     front of Python's handler (signals.c);
 *   - anything else (SIG_IGN): itself.
 * A Relay, called by Python with (signum, frame), asks tpython's `relay` whether to record
 * `tpython.signal` and how to run the handler, then calls the handler itself: no frame of
 * tpython's is on the stack while the program's handler runs.
 *
 * A new instance of the module (multi-phase init, 3.10+: a re-import, `_imp.create_builtin`)
 * runs its exec slot, which forgets each Python handler behind a C handler of its own (a
 * signal would then be "ignored due to race condition"): that slot is wrapped too, and puts
 * the stand-ins back.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>

#include "dispatch.h"
#include "originals.h"
#include "signalguard.h"
#include "signals.h"

#define RELAY_DONE 0    /* deferred or handled: nothing to call now */
#define RELAY_PROGRAM 1 /* call the handler as the program's work (audited) */
#define RELAY_PLAIN 2   /* call it as it is (C's record on its way to the Python sinks) */

static _PyCFunctionFast signal_original;
static PyCFunction getsignal_original;
static PyObject *signal_module; /* `self` for the originals: the module the wrappers were taken from */
static int guarded;
static char fatal[NSIG];          /* signals whose end is recorded */
static PyObject *shown[NSIG];     /* what the program set, where a stand-in stands in for it */
static PyObject *standing[NSIG];  /* that stand-in */
static PyObject *end_by, *interrupt, *relay, *default_int;
static int (*exec_original)(PyObject *module); /* the module's Py_mod_exec, or NULL */

/* -- Relay: the program's handler behind tpython's record ------------------------- */

typedef struct {
    PyObject_HEAD
    PyObject *handler;
} Relay;

static int
relay_traverse(Relay *self, visitproc visit, void *arg)
{
    Py_VISIT(self->handler);
    return 0;
}

static int
relay_clear(Relay *self)
{
    Py_CLEAR(self->handler);
    return 0;
}

static void
relay_dealloc(Relay *self)
{
    PyObject_GC_UnTrack(self);
    relay_clear(self);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyObject *
relay_call(Relay *self, PyObject *args, PyObject *kwargs)
{
    PyObject *number, *frame;
    if (!PyArg_ParseTuple(args, "OO:relay", &number, &frame)) {
        return NULL;
    }
    PyObject *how_obj = PyObject_CallFunctionObjArgs(relay, self->handler, number, frame, NULL);
    if (how_obj == NULL) {
        return NULL;
    }
    long how = PyLong_AsLong(how_obj);
    Py_DECREF(how_obj);
    if (how == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (how == RELAY_DONE) {
        Py_RETURN_NONE;
    }
    if (how == RELAY_PLAIN) {
        return PyObject_CallFunctionObjArgs(self->handler, number, frame, NULL);
    }
    int previous = tp_is_busy(); /* the program's work, though the signal came while tpython worked */
    tp_busy_leave(0);
    PyObject *result = PyObject_CallFunctionObjArgs(self->handler, number, frame, NULL);
    tp_busy_leave(previous);
    return result;
}

static PyTypeObject RelayType = {
    PyVarObject_HEAD_INIT(NULL, 0)
    .tp_name = "tpython.signal_relay",
    .tp_basicsize = sizeof(Relay),
    .tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC,
    .tp_dealloc = (destructor)relay_dealloc,
    .tp_traverse = (traverseproc)relay_traverse,
    .tp_clear = (inquiry)relay_clear,
    .tp_call = (ternaryfunc)relay_call,
};

/* -- the decision ---------------------------------------------------------------- */

/* The signal number SIGNALNUM names, or 0 where it names none (the original says why). */
static int
number_of(PyObject *signalnum)
{
    if (!PyLong_Check(signalnum)) {
        return 0;
    }
    int overflow;
    long n = PyLong_AsLongAndOverflow(signalnum, &overflow);
    if (n == -1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return overflow == 0 && n >= 1 && n < NSIG ? (int)n : 0;
}

/* Whether HANDLER is Python's SIGINT handler, of any instance of the module (each has its own
 * function object, all from one def). */
static int
is_default_int(PyObject *handler)
{
    return handler == default_int
           || (PyCFunction_Check(handler) && ((PyCFunctionObject *)handler)->m_ml
                                                  == ((PyCFunctionObject *)default_int)->m_ml);
}

/* What Python's handler table gets when the program sets HANDLER for NUMBER (new reference). */
static PyObject *
stand_in(int number, PyObject *handler)
{
    if (number == 0) {
        Py_INCREF(handler);
        return handler;
    }
    int int_handler = is_default_int(handler);
    if (int_handler && interrupt != NULL) {
        Py_INCREF(interrupt);
        return interrupt;
    }
    if (!int_handler && PyCallable_Check(handler)) {
        Relay *wrapper = PyObject_GC_New(Relay, &RelayType);
        if (wrapper == NULL) {
            return NULL;
        }
        Py_INCREF(handler);
        wrapper->handler = handler;
        PyObject_GC_Track(wrapper);
        return (PyObject *)wrapper;
    }
    if (fatal[number] && PyLong_Check(handler) && !PyBool_Check(handler)) {
        int overflow;
        long value = PyLong_AsLongAndOverflow(handler, &overflow);
        if (value == 0 && overflow == 0 && !PyErr_Occurred()) {
            Py_INCREF(end_by);
            return end_by;
        }
        PyErr_Clear();
    }
    Py_INCREF(handler);
    return handler;
}

/* C in front of Python's handler for NUMBER (signals.c). */
static int
front(int number)
{
    PyObject *numbers = Py_BuildValue("(i)", number);
    PyObject *done = numbers != NULL ? tp_signal_front(NULL, numbers) : NULL;
    Py_XDECREF(numbers);
    Py_XDECREF(done);
    return done != NULL ? 0 : -1;
}

/* Set INSTALLED for NUMBER through the original, keeping HANDLER as what the program set;
 * returns what the program had set before (new reference). */
static PyObject *
set_handler(PyObject *self, PyObject *signalnum, int number, PyObject *handler, PyObject *installed)
{
    PyObject *call[2] = {signalnum, installed};
    PyObject *previous = signal_original(self, call, 2);
    if (previous == NULL || number == 0) {
        return previous;
    }
    if (installed == end_by && front(number) < 0) {
        Py_DECREF(previous);
        return NULL;
    }
    PyObject *stood = standing[number], *was = shown[number];
    standing[number] = shown[number] = NULL;
    if (stood != NULL && stood == previous) {
        Py_INCREF(was);
        Py_SETREF(previous, was);
    }
    Py_XDECREF(stood);
    Py_XDECREF(was);
    if (installed != handler) {
        Py_INCREF(handler);
        Py_INCREF(installed);
        shown[number] = handler;
        standing[number] = installed;
    }
    return previous;
}

static PyObject *
signal_wrapper(PyObject *self, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        return signal_original(self, args, nargs); /* says what is wrong */
    }
    int number = number_of(args[0]);
    PyObject *installed = stand_in(number, args[1]);
    if (installed == NULL) {
        return NULL;
    }
    PyObject *previous = set_handler(self, args[0], number, args[1], installed);
    Py_DECREF(installed);
    return previous;
}

static PyObject *
getsignal_wrapper(PyObject *self, PyObject *signalnum)
{
    PyObject *current = getsignal_original(self, signalnum);
    int number = current != NULL ? number_of(signalnum) : 0;
    if (number != 0 && standing[number] != NULL && standing[number] == current) {
        Py_INCREF(shown[number]);
        Py_SETREF(current, shown[number]);
    }
    return current;
}

/* The module's exec, then tpython's stand-ins back in Python's handler table. */
static int
exec_wrapper(PyObject *module)
{
    if (exec_original(module) < 0) {
        return -1;
    }
    for (int number = 1; number < NSIG; number++) {
        if (standing[number] == NULL) {
            continue;
        }
        PyObject *signalnum = PyLong_FromLong(number);
        PyObject *call[2] = {signalnum, standing[number]};
        PyObject *previous = signalnum != NULL ? signal_original(module, call, 2) : NULL;
        Py_XDECREF(signalnum);
        if (previous == NULL) {
            PyErr_Clear(); /* not the main thread of the main interpreter: its handlers are not set there */
            continue;
        }
        Py_DECREF(previous);
        if (standing[number] == end_by && front(number) < 0) {
            return -1;
        }
    }
    return 0;
}

/* Wrap the exec slot of the module's def (multi-phase init); none before 3.10. */
static int
wrap_exec(PyObject *module)
{
    PyModuleDef *def = PyModule_Check(module) ? PyModule_GetDef(module) : NULL;
    if (def == NULL) {
        PyErr_Clear();
        return 0;
    }
    for (PyModuleDef_Slot *slot = def->m_slots; slot != NULL && slot->slot != 0; slot++) {
        if (slot->slot == Py_mod_exec && slot->value != (void *)exec_wrapper) {
            exec_original = (int (*)(PyObject *))slot->value;
            return tp_patch_pointer(&slot->value, (void *)exec_wrapper);
        }
    }
    return 0;
}

/* -- from tpython's start --------------------------------------------------------- */

PyObject *
tp_signal_guard(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *signal_fn, *getsignal_fn, *numbers, *end, *interrupt_fn, *relay_fn, *int_handler;
    if (!PyArg_ParseTuple(args, "OOOOOOO:signal_guard", &signal_fn, &getsignal_fn, &numbers, &end, &interrupt_fn,
                          &relay_fn, &int_handler)) {
        return NULL;
    }
    if (guarded) {
        PyErr_SetString(PyExc_RuntimeError, "signal_guard: once per process");
        return NULL;
    }
    PyMethodDef *set_def = tp_builtin_def(signal_fn, "signal", METH_FASTCALL);
    PyMethodDef *get_def = set_def != NULL ? tp_builtin_def(getsignal_fn, "getsignal", METH_O) : NULL;
    if (get_def != NULL && !PyCFunction_Check(int_handler)) {
        PyErr_SetString(PyExc_TypeError, "signal_guard: default_int_handler is not a builtin");
        return NULL;
    }
    PyObject *numbers_seq = get_def != NULL ? PySequence_Fast(numbers, "signal_guard: signal numbers") : NULL;
    if (numbers_seq == NULL || PyType_Ready(&RelayType) < 0) {
        Py_XDECREF(numbers_seq);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PySequence_Fast_GET_SIZE(numbers_seq); i++) {
        int number = number_of(PySequence_Fast_GET_ITEM(numbers_seq, i));
        fatal[number] = number != 0;
    }
    Py_DECREF(numbers_seq);
    signal_module = PyCFunction_GET_SELF(signal_fn);
    Py_XINCREF(signal_module);
    signal_original = (_PyCFunctionFast)(void (*)(void))set_def->ml_meth;
    getsignal_original = get_def->ml_meth;
    Py_INCREF(end);
    Py_INCREF(relay_fn);
    Py_INCREF(int_handler);
    end_by = end;
    relay = relay_fn;
    default_int = int_handler;
    interrupt = interrupt_fn != Py_None ? (Py_INCREF(interrupt_fn), interrupt_fn) : NULL;
    if (tp_patch_meth(set_def, (PyCFunction)(void (*)(void))signal_wrapper) < 0
        || tp_patch_meth(get_def, getsignal_wrapper) < 0 || wrap_exec(signal_module) < 0) {
        return NULL;
    }
    guarded = 1;
    /* What stands in at start: for each signal at its default (or Python's SIGINT handler);
     * one ignored (nohup) or with a handler from before tpython is left so. */
    for (int number = 1; number < NSIG; number++) {
        if (!fatal[number] && number != SIGINT) {
            continue;
        }
        PyObject *signalnum = PyLong_FromLong(number);
        PyObject *current = signalnum != NULL ? getsignal_original(signal_module, signalnum) : NULL;
        int at_default = current != NULL && PyLong_CheckExact(current) && PyLong_AsLong(current) == 0;
        PyObject *installed = current == NULL ? NULL
                              : (at_default || is_default_int(current)) ? stand_in(number, current)
                                                                       : (Py_INCREF(current), current);
        PyObject *previous = installed == NULL || installed == current
                                 ? NULL
                                 : set_handler(signal_module, signalnum, number, current, installed);
        int failed = current == NULL || installed == NULL || (installed != current && previous == NULL);
        Py_XDECREF(previous);
        Py_XDECREF(installed);
        Py_XDECREF(current);
        Py_XDECREF(signalnum);
        if (failed) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

PyObject *
tp_signal_refront(PyObject *module, PyObject *unused)
{
    (void)module;
    (void)unused;
    for (int number = 1; number < NSIG; number++) {
        if (standing[number] != NULL && standing[number] == end_by && front(number) < 0) {
            return NULL;
        }
    }
    Py_RETURN_NONE;
}

PyObject *
tp_signal_die(PyObject *module, PyObject *arg)
{
    (void)module;
    long number = PyLong_AsLong(arg);
    if (number == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (number < 1 || number >= NSIG) {
        PyErr_SetString(PyExc_ValueError, "signal_die: signal number out of range");
        return NULL;
    }
    struct sigaction by_default;
    memset(&by_default, 0, sizeof(by_default));
    by_default.sa_handler = SIG_DFL;
    sigset_t only;
    sigemptyset(&only);
    sigaddset(&only, (int)number);
    sigaction((int)number, &by_default, NULL);
    pthread_sigmask(SIG_UNBLOCK, &only, NULL);
    raise((int)number);
    Py_RETURN_NONE; /* a signal whose default is to do nothing: the caller ends the process */
}
