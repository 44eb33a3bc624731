/* `_signal.signal` and `_signal.getsignal` wrapped in C (signalguard.c). */
#ifndef TPYTHON_SIGNALGUARD_H
#define TPYTHON_SIGNALGUARD_H
#include <Python.h>

/* signal_guard(signal, getsignal, fatal, end_by, interrupt, relay, default_int_handler): the wrappers
 * and tpython's stand-ins at start (once per process). */
PyObject *tp_signal_guard(PyObject *module, PyObject *args);
/* signal_refront(): C in front of each signal end_by stands in for (a forked child). */
PyObject *tp_signal_refront(PyObject *module, PyObject *unused);
/* signal_die(number): the default action back for NUMBER, unblocked and raised. */
PyObject *tp_signal_die(PyObject *module, PyObject *arg);

#endif
