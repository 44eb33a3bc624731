/* The run's tallies kept in C: counts(), denials() and reset_counts() for the Python
 * side's summary and a forked child, and the tallies of the exit record a kill writes. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>

#include "dispatch.h"
#include "events.h"
#include "record.h"
#include "tallies.h"

/* How many of E's events were tallied under WANT (A_COUNT: counted; A_DENY_C, A_KILL_C,
 * A_ASK_C: blocked so): its final action's count and its steps' that took WANT. */
static uint64_t
entry_tally(const Entry *e, int want)
{
    int final = e->action == A_COND ? e->final : e->action;
    uint64_t n = final == want ? __atomic_load_n(&e->count, __ATOMIC_RELAXED) : 0;
    for (int k = 0; e->action == A_COND && k < e->n_steps; k++) {
        n += e->step_actions[k] == want ? __atomic_load_n(&e->step_counts[k], __ATOMIC_RELAXED) : 0;
    }
    return n;
}

int
tally_json(Buf *out, int want, uint64_t *total)
{
    int first = 1, rc = buf_puts(out, "{");
    unsigned used = events_used();
    for (unsigned i = 0; rc == 0 && i < used; i++) {
        const Entry *e = &entries[i];
        uint64_t n = entry_tally(e, want);
        if (n > 0) {
            *total += n;
            rc = (first ? 0 : buf_puts(out, ",")) || buf_json_cstr(out, e->name) || buf_puts(out, ":")
                 || buf_u64(out, n);
            first = 0;
        }
    }
    for (const Overflow *o = overflow; rc == 0 && o != NULL; o = o->next) {
        if (o->action == want) {
            *total += o->count;
            rc = (first ? 0 : buf_puts(out, ",")) || buf_json_cstr(out, o->name) || buf_puts(out, ":")
                 || buf_u64(out, o->count);
            first = 0;
        }
    }
    return rc || buf_puts(out, "}");
}

PyObject *
tp_counts(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    PyObject *out = PyDict_New();
    if (out == NULL) {
        return NULL;
    }
    unsigned used = events_used();
    for (unsigned i = 0; i < used; i++) {
        const char *name = entries[i].name;
        uint64_t n = entry_tally(&entries[i], A_COUNT);
        if (n == 0) {
            continue;
        }
        PyObject *value = PyLong_FromUnsignedLongLong(n);
        if (value == NULL || PyDict_SetItemString(out, name, value) < 0) {
            Py_XDECREF(value);
            Py_DECREF(out);
            return NULL;
        }
        Py_DECREF(value);
    }
    pthread_mutex_lock(&table_lock);
    for (const Overflow *o = overflow; o != NULL; o = o->next) {
        PyObject *value = o->action == A_COUNT ? PyLong_FromUnsignedLongLong(o->count) : NULL;
        if (o->action == A_COUNT && (value == NULL || PyDict_SetItemString(out, o->name, value) < 0)) {
            Py_XDECREF(value);
            Py_CLEAR(out);
            break;
        }
        Py_XDECREF(value);
    }
    pthread_mutex_unlock(&table_lock);
    return out;
}

static int
append_denial(PyObject *out, const char *event, const char *rule, uint64_t n, int action)
{
    if (n == 0) {
        return 0;
    }
    PyObject *item = Py_BuildValue("(szKs)", event, rule[0] ? rule : NULL, (unsigned long long)n,
                                   action == A_KILL_C ? "kill" : action == A_ASK_C ? "ask" : "deny");
    int rc = item == NULL ? -1 : PyList_Append(out, item);
    Py_XDECREF(item);
    return rc;
}

/* denials() -> [(event, rule or None, n, "deny" | "kill" | "ask")] of the events denied, killed or refused in C */
PyObject *
tp_denials(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    PyObject *out = PyList_New(0);
    unsigned used = events_used();
    for (unsigned i = 0; out != NULL && i < used; i++) {
        const Entry *e = &entries[i];
        const char *name = e->name;
        int rc = 0;
        int final = e->action == A_COND ? e->final : e->action;
        if (final == A_DENY_C || final == A_KILL_C || final == A_ASK_C) {
            rc = append_denial(out, name, e->rule, __atomic_load_n(&e->count, __ATOMIC_RELAXED), final);
        }
        for (int k = 0; rc == 0 && e->action == A_COND && k < e->n_steps; k++) {
            int a = e->step_actions[k];
            if (a == A_DENY_C || a == A_KILL_C || a == A_ASK_C) {
                rc = append_denial(out, name, e->steps[k]->id, __atomic_load_n(&e->step_counts[k], __ATOMIC_RELAXED),
                                   a);
            }
        }
        if (rc < 0) {
            Py_CLEAR(out);
        }
    }
    pthread_mutex_lock(&table_lock);
    for (const Overflow *o = overflow; out != NULL && o != NULL; o = o->next) {
        if (o->action != A_COUNT && append_denial(out, o->name, o->rule, o->count, o->action) < 0) {
            Py_CLEAR(out);
        }
    }
    pthread_mutex_unlock(&table_lock);
    return out;
}

PyObject *
tp_reset_counts(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    if (tp_is_sealed() && !chain_in_new_process()) {
        PyErr_SetString(PyExc_RuntimeError, "tpython: counters are reset only in a forked child");
        return NULL;
    }
    unsigned used = events_used();
    for (unsigned i = 0; i < used; i++) {
        __atomic_store_n(&entries[i].count, 0, __ATOMIC_RELAXED);
        for (int k = 0; entries[i].action == A_COND && k < entries[i].n_steps; k++) {
            __atomic_store_n(&entries[i].step_counts[k], 0, __ATOMIC_RELAXED);
        }
    }
    pthread_mutex_lock(&table_lock);
    for (Overflow *o = overflow; o != NULL; o = o->next) {
        o->count = 0;
    }
    pthread_mutex_unlock(&table_lock);
    __atomic_store_n(&unrecorded, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&logged_in_c, 0, __ATOMIC_RELAXED);
    __atomic_store_n(&asks_allowed, 0, __ATOMIC_RELAXED);
    Py_RETURN_NONE;
}
