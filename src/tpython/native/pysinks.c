/* The Python sinks (syslog, journald, stderr), fed from the records C writes.
 *
 * With such a sink, C still decides, renders, chains and writes; it then hands the
 * finished line to the listener (the NativeRecorder's feed, given once to
 * chain_start), which writes it to the Python sinks. What the listener returns can
 * change nothing but how many sinks took the record and the Python sinks' lost
 * counts, which C renders itself into later records.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "record.h"

static PyObject *line_listener;
static char py_lost_text[1024]; /* "\"syslog\":3,..." or "" (guarded by the GIL) */

int
chain_has_listener(void)
{
    return line_listener != NULL;
}

void
chain_py_lost(char *out, size_t size)
{
    size_t n = strnlen(py_lost_text, size - 1); /* once per record: no snprintf */
    memcpy(out, py_lost_text, n);
    out[n] = '\0';
}

/* {sink name: count} (exact str keys, exact int values) as a JSON fragment, bounded. */
static void
set_py_lost(PyObject *lost)
{
    Buf b;
    buf_init(&b);
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(lost, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key) || !PyLong_CheckExact(value)) {
            continue;
        }
        long long n = PyLong_AsLongLong(value);
        if (n <= 0) {
            PyErr_Clear();
            continue;
        }
        size_t mark = b.len; /* an entry goes in whole or not at all */
        int ok = (b.len ? buf_puts(&b, ",") : 0) == 0 && buf_json_str(&b, key, 64) == 0 && buf_puts(&b, ":") == 0
                 && buf_u64(&b, (uint64_t)n) == 0;
        if (!ok || b.len >= sizeof(py_lost_text)) {
            b.len = mark;
            break;
        }
    }
    memcpy(py_lost_text, b.data, b.len);
    py_lost_text[b.len] = '\0';
    buf_free(&b);
}

/* Lines made while this thread was handing one to the Python sinks (by events the
 * sinks' code raised itself), handed over right after it, in order. */
typedef struct Pending {
    struct Pending *next;
    size_t len;
    char line[];
} Pending;
static _Thread_local int feeding;  /* 1: handing a line over; 2: handing over the lines that waited */
static uint64_t not_refed;         /* lines made by the sinks' code while it took the lines that waited */
static _Thread_local Pending *pending_head, *pending_tail;

static int
feed_one(const char *line, size_t len)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback); /* an exception C is about to raise stays */
    /* Once the program runs, the sinks' Python code runs as any code does: under the
     * hook, never in a state where the hook stands aside (what it does is decided and
     * recorded like the program's own work). Before, it is tpython's start-up work. */
    int previous = tp_is_busy();
    tp_busy_leave(!tp_is_sealed());
    PyObject *result = PyObject_CallFunction(line_listener, "y#", line, (Py_ssize_t)len);
    tp_busy_leave(previous);
    int took = 0;
    if (result != NULL && PyTuple_CheckExact(result) && PyTuple_GET_SIZE(result) == 2
        && PyLong_CheckExact(PyTuple_GET_ITEM(result, 0)) && PyDict_CheckExact(PyTuple_GET_ITEM(result, 1))) {
        long n = PyLong_AsLong(PyTuple_GET_ITEM(result, 0));
        took = n > 0 && n < 64 ? (int)n : 0;
        set_py_lost(PyTuple_GET_ITEM(result, 1));
    }
    else if (result == NULL) {
        chain_warn("tpython: writing a record to the Python sinks failed\n");
    }
    Py_XDECREF(result);
    PyErr_Clear();
    PyErr_Restore(type, value, traceback);
    return took;
}

/* Hand LINE to the Python sinks. Returns how many took it; a line made while this
 * thread is already handing one over waits for it (0 here, delivered right after). */
int
chain_feed_python(const char *line, size_t len)
{
    if (line_listener == NULL) {
        return 0;
    }
    if (feeding == 2) {
        /* Made by the sinks' own code while it took a line made by the sinks' own code: in
         * the JSONL files only, or a sink that acts on its records would never be done. */
        if (__atomic_fetch_add(&not_refed, 1, __ATOMIC_RELAXED) == 0) {
            chain_warn("tpython: the Python sinks' own code raised events while it wrote records; their records "
                       "are in the JSONL files, not handed to those sinks again\n");
        }
        return 0;
    }
    if (feeding) {
        Pending *p = malloc(sizeof(Pending) + len);
        if (p == NULL) {
            chain_warn("tpython: a record for the Python sinks was lost (out of memory)\n");
            return 0;
        }
        p->next = NULL;
        p->len = len;
        memcpy(p->line, line, len);
        if (pending_tail != NULL) {
            pending_tail->next = p;
        }
        else {
            pending_head = p;
        }
        pending_tail = p;
        return 0;
    }
    feeding = 1;
    int took = feed_one(line, len);
    feeding = 2;
    while (pending_head != NULL) {
        Pending *p = pending_head;
        pending_head = p->next;
        if (pending_head == NULL) {
            pending_tail = NULL;
        }
        (void)feed_one(p->line, p->len);
        free(p);
    }
    feeding = 0;
    return took;
}

void
chain_set_listener(PyObject *listener)
{
    Py_INCREF(listener);
    line_listener = listener; /* held for the life of the process: nothing replaces it */
}
