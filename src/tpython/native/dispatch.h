/* The decision engine's Python API: install.c (install_audit, entry, decide, stats),
 * tallies.c (counts, denials, reset_counts) and hook.c (busy marking and sealing). */
#ifndef TPYTHON_DISPATCH_H
#define TPYTHON_DISPATCH_H
#include <Python.h>

PyObject *tp_install_audit(PyObject *module, PyObject *args);
PyObject *tp_counts(PyObject *module, PyObject *unused);
PyObject *tp_denials(PyObject *module, PyObject *unused);
PyObject *tp_reset_counts(PyObject *module, PyObject *unused);
PyObject *tp_entry(PyObject *module, PyObject *name);
PyObject *tp_decide(PyObject *module, PyObject *args);
PyObject *tp_set_busy(PyObject *module, PyObject *flag);
PyObject *tp_stats(PyObject *module, PyObject *unused);

PyObject *tp_seal(PyObject *module, PyObject *unused);
int tp_busy_enter(void);
void tp_busy_leave(int previous);
int tp_is_sealed(void);
int tp_is_busy(void);
/* -1 with PermissionError once sealed: NAME is tpython's own, not the program's to call. */
int tp_refuse_sealed(const char *name);
/* The exit statuses tpython ends a process with (tpython.exit_status, given at install). */
extern int tp_status_killed, tp_status_not_found;

#endif
