/* The signals whose end tpython records: C in front of Python's handler (signals.c). */
#ifndef TPYTHON_SIGNALS_H
#define TPYTHON_SIGNALS_H
#include <Python.h>

/* signal_front(numbers): C in front of the handler Python has for each of NUMBERS. */
PyObject *tp_signal_front(PyObject *module, PyObject *numbers);
/* signal_taken(): Python's handler has taken the end of the run in hand. */
PyObject *tp_signal_taken(PyObject *module, PyObject *unused);
/* signal_call(handler, signum, frame): the program's handler, as the program's work. */
PyObject *tp_signal_call(PyObject *module, PyObject *args);

#endif
