/* The record chain in C (record.c: numbering and hashing; jsonl.c: the JSONL files;
 * pysinks.c: the hand-over to the Python sinks; jsonbuf.c: JSON text building). */
#ifndef TPYTHON_RECORD_H
#define TPYTHON_RECORD_H
#include <Python.h>
#include <stdint.h>

#include "jsonbuf.h"

int chain_is_ready(void);
/* The current run's id (hex), "" before chain_start. */
const char *chain_run_id(void);
int chain_in_new_process(void);
long long chain_record(Buf *line, const char *event, const char *args_json, size_t args_len, const char *action,
                       int enforced, const char *rule, const char *module_json, const char *package_json,
                       const char *extra, const char *py_lost, int *delivered);

/* The Python sinks: whether a listener was given to chain_start; their lost counts as
 * a JSON fragment for the next record; hand them LINE (GIL held, main interpreter),
 * returning how many took it. */
int chain_has_listener(void);
void chain_py_lost(char *out, size_t size);
int chain_feed_python(const char *line, size_t len);
/* chain_start: LISTENER (a callable, held for the life of the process) takes each line. */
void chain_set_listener(PyObject *listener);

PyObject *tp_chain_start(PyObject *module, PyObject *args);
PyObject *tp_chain_restart(PyObject *module, PyObject *args);
/* MESSAGE on tpython's own stderr (the descriptor chain_start was given). */
void chain_warn(const char *message);
PyObject *tp_chain_record(PyObject *module, PyObject *args);
PyObject *tp_chain_state(PyObject *module, PyObject *unused);

#endif
