/* Carrying a decision out in C: records written from C (rendered, attributed, chained,
 * handed to the Python sinks from the main interpreter) and the `log`, `deny`, `kill`
 * and `ask` actions, with [log] on_sink_failure = "fail-closed" and a kill's exit record.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ask.h"
#include "attrib.h"
#include "dispatch.h"
#include "enforce.h"
#include "record.h"
#include "repeats.h"
#include "tallies.h"
#include "violation.h"

uint64_t logged_in_c;
uint64_t unrecorded;
uint64_t asks_allowed;

/* [log] on_sink_failure = "fail-closed": a deny that no sink could record ends the
 * process (tpython.exit_status.KILLED, as a kill does), so making the log fail (a full disk) cannot
 * be used to try denied things unseen. */
static void
fail_closed_exit(const char *event, const char *rule)
{
    char message[512];
    snprintf(message, sizeof message,
             "tpython: a deny of %s (rule %s) could not be recorded by any sink; [log] on_sink_failure = "
             "\"fail-closed\": ending the process\n", event, rule && rule[0] ? rule : "default");
    chain_warn(message);
    _exit(tp_status_killed);
}

/* Chain and write one record of EVENT, attributed to PLACE, with its arguments RENDERED
 * (and to the Python sinks too, from the main interpreter). MODULE and PACKAGE receive
 * the JSON of its module and distribution, each with a NUL. Returns its seq, or -1. */
static long long
write_record(const char *event, const Buf *rendered, const AttribPlace *place, const char *action, int enforced,
             const char *rule, const char *extra, int in_main, int *delivered, Buf *module, Buf *package)
{
    Buf line;
    buf_init(&line);
    long long seq = -1;
    if (attrib_render(place, module, package, in_main) == 0 && buf_put(module, "", 1) == 0
        && buf_put(package, "", 1) == 0) {
        int feed = in_main && chain_has_listener(); /* Python sinks, reached from the main interpreter */
        char py_lost[1024] = "";
        if (feed) {
            chain_py_lost(py_lost, sizeof(py_lost));
        }
        seq = chain_record(&line, event, rendered->data, rendered->len, action, enforced, rule, module->data,
                           package->data, extra, py_lost, delivered);
        if (seq >= 0 && feed) {
            *delivered += chain_feed_python(line.data, line.len);
        }
    }
    buf_free(&line);
    return seq;
}

/* Write a record from C. An argument C cannot render without running code is named by its type.
 * A `log` record written before in this run, from the same place with the same
 * arguments, is counted instead (repeats.c; never a denial). Returns 0 when written
 * or counted, -1 on failure. */
int
record_in_c(const char *event, PyObject *args, const Entry *entry, const char *action, int enforced,
            const char *rule, const char *extra, int in_main, int *delivered)
{
    *delivered = 0;
    Buf rendered;
    buf_init(&rendered);
    int rc = render_args(&rendered, args, entry ? entry->shape : NULL);
    if (rc == RENDER_PYTHON) { /* what C cannot look into without running code: named by its type */
        rendered.len = 0;
        rc = render_args_bare(&rendered, args);
    }
    if (rc != RENDER_OK) {
        buf_free(&rendered);
        return -1;
    }
    AttribPlace place;
    attrib_find(&place, in_main);
    rule = rule && rule[0] ? rule : NULL;
    int repeatable = strcmp(action, "log") == 0;
    RepeatKey key;
    if (repeatable) {
        repeats_key(&key, event, action, rule, extra, &place, &rendered);
    }
    if (!repeatable || !repeats_count(&key)) {
        Buf module, package;
        buf_init(&module);
        buf_init(&package);
        long long seq = write_record(event, &rendered, &place, action, enforced, rule, extra, in_main, delivered,
                                     &module, &package);
        rc = seq < 0 ? -1 : 0;
        if (repeatable && rc == 0) {
            repeats_remember(&key, seq, module.data, package.data, &place);
        }
        else if (repeatable) {
            repeats_forget(&key);
        }
        buf_free(&module);
        buf_free(&package);
    }
    if (repeatable && rc == 0) {
        repeats_tick(in_main);
    }
    attrib_clear(&place);
    buf_free(&rendered);
    return rc;
}

/* A `log`: rendered, attributed, chained and written without Python. */
int
log_in_c(const char *event, PyObject *args, const Entry *entry, const char *rule, int in_main)
{
    int delivered;
    int rc = record_in_c(event, args, entry, "log", 1, rule, "", in_main, &delivered);
    if (rc != 0) { /* out of memory: a `log` blocks nothing; the record is counted as not made */
        PyErr_Clear();
        __atomic_fetch_add(&unrecorded, 1, __ATOMIC_RELAXED);
        return 0;
    }
    __atomic_fetch_add(&logged_in_c, 1, __ATOMIC_RELAXED);
    probe(event, "log", rule);
    return 0;
}

/* A `deny`: recorded and raised without Python (tpython.PolicyViolation in the main
 * interpreter, PermissionError in a subinterpreter). A record that fails denies all the same. */
int
deny_in_c(const char *event, PyObject *args, const Entry *entry, const char *rule_id, const char *message,
          uint64_t *counter, int in_main)
{
    int delivered;
    int rc = record_in_c(event, args, entry, "deny", enforce, rule_id, "", in_main, &delivered);
    if (rc != 0) {
        PyErr_Clear();
        __atomic_fetch_add(&unrecorded, 1, __ATOMIC_RELAXED);
    }
    if ((rc != 0 || delivered == 0) && fail_closed && enforce) {
        fail_closed_exit(event, rule_id);
    }
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    probe(event, "deny", rule_id);
    if (!enforce) {
        return 0;
    }
    const char *rule = rule_id[0] ? rule_id : NULL;
    if (in_main) {
        return tp_raise_violation(event, rule, policy_name, message, args, entry != NULL ? entry->shape : NULL);
    }
    PyErr_Format(PyExc_PermissionError, "tpython: %s denied by rule %s of policy %s", event,
                 rule ? rule : "default", policy_name);
    return -1;
}

/* The run's last record, written by C when a `kill` ends the process: no Python runs
 * between the decision and the end (the program may have replaced any of it). */
static void
kill_exit_record(const char *event, const char *rule)
{
    Buf args, scratch, line;
    buf_init(&args);
    buf_init(&scratch);
    buf_init(&line);
    uint64_t denied = 0, killed = 0, counted = 0;
    char reason[512];
    snprintf(reason, sizeof reason, "killed by rule '%s' on %s", rule[0] ? rule : "default", event);
    int rc = buf_puts(&args, "{\"status\":") || buf_u64(&args, (uint64_t)tp_status_killed)
             || buf_puts(&args, ",\"counted\":") || tally_json(&args, A_COUNT, &counted)
             || buf_puts(&args, ",\"actions\":{\"log\":")
             || buf_u64(&args, __atomic_load_n(&logged_in_c, __ATOMIC_RELAXED))
             || tally_json(&scratch, A_DENY_C, &denied) || tally_json(&scratch, A_KILL_C, &killed)
             || buf_puts(&args, ",\"deny\":") || buf_u64(&args, denied) || buf_puts(&args, ",\"kill\":")
             || buf_u64(&args, killed) || buf_puts(&args, "},\"reason\":") || buf_json_cstr(&args, reason)
             || buf_puts(&args, "}");
    if (rc == 0) {
        char py_lost[1024] = "";
        int delivered = 0;
        int feed = PyInterpreterState_Get() == main_interp && chain_has_listener();
        if (feed) {
            chain_py_lost(py_lost, sizeof py_lost);
        }
        if (chain_record(&line, "tpython.exit", args.data, args.len, "log", 1, NULL, "null", "null", "", py_lost,
                         &delivered) >= 0 && feed) {
            (void)chain_feed_python(line.data, line.len);
        }
    }
    buf_free(&args);
    buf_free(&scratch);
    buf_free(&line);
}

/* The original standard streams (sys.__stdout__, sys.__stderr__ at install), flushed by
 * their type's own method (never an attribute the program set on them) before a kill. */
static void
flush_std_streams(void)
{
    for (int i = 0; i < 2; i++) {
        PyObject *stream = std_streams[i];
        PyObject *flush = stream != NULL ? PyObject_GetAttrString((PyObject *)Py_TYPE(stream), "flush") : NULL;
        PyObject *r = flush != NULL && PyCallable_Check(flush) ? PyObject_CallOneArg(flush, stream) : NULL;
        Py_XDECREF(r);
        Py_XDECREF(flush);
        PyErr_Clear();
    }
}

/* A `kill`: recorded, then (enforced) the run's tpython.exit is written and the process
 * ends with tpython.exit_status.KILLED, all in C: the event never proceeds, and nothing the program did
 * to tpython's Python objects runs. A record that fails does not save the process. */
int
kill_in_c(const char *event, PyObject *args, const Entry *entry, const char *rule_id, uint64_t *counter,
          int in_main)
{
    int delivered;
    int rc = record_in_c(event, args, entry, "kill", enforce, rule_id, "", in_main, &delivered);
    if (rc != 0) {
        PyErr_Clear();
        __atomic_fetch_add(&unrecorded, 1, __ATOMIC_RELAXED);
    }
    __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    probe(event, "kill", rule_id);
    if (!enforce) {
        return 0;
    }
    if ((rc != 0 || delivered == 0) && fail_closed) {
        fail_closed_exit(event, rule_id);
    }
    kill_exit_record(event, rule_id);
    char line[600];
    snprintf(line, sizeof line, "tpython: killed by rule '%s' on %s\n", rule_id[0] ? rule_id : "default", event);
    chain_warn(line);
    if (in_main) {
        flush_std_streams(); /* what the program printed so far */
    }
    _exit(tp_status_killed);
}

/* The `ask` of RULE_ID: asked at the terminal (ask.c; audit mode: not asked), recorded with
 * its answer, and a refusal raised as a deny's is. COUNTER (or NULL) counts refusals. */
int
ask_in_c(const char *event, PyObject *args, const Entry *entry, const char *rule_id, const char *message,
         uint64_t *counter, int in_main)
{
    const char *answer = "not-asked";
    int allowed = enforce ? ask_decide(event, args, entry ? entry->shape : NULL, rule_id, &answer) : 1;
    PyObject *type = NULL, *value = NULL, *tb = NULL;
    PyErr_Fetch(&type, &value, &tb); /* a signal handler's exception, raised after the record */
    char extra[64];
    snprintf(extra, sizeof extra, ",\"answer\":\"%s\"", answer);
    int delivered = 0;
    int rc = record_in_c(event, args, entry, "ask", enforce, rule_id, extra, in_main, &delivered);
    if (rc != 0) {
        PyErr_Clear();
    }
    probe(event, "ask", rule_id);
    if (allowed == 1) {
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        __atomic_fetch_add(&asks_allowed, 1, __ATOMIC_RELAXED);
        return 0;
    }
    if (counter != NULL) {
        __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
    }
    if (rc == 0 && delivered == 0 && fail_closed) {
        fail_closed_exit(event, rule_id);
    }
    if (type != NULL) {
        PyErr_Restore(type, value, tb);
        return -1;
    }
    const char *rule = rule_id[0] ? rule_id : NULL;
    if (!in_main) {
        PyErr_Format(PyExc_PermissionError, "tpython: %s denied by rule %s of policy %s: %s", event,
                     rule ? rule : "default", policy_name, ask_refusal(answer));
        return -1;
    }
    size_t size = strlen(ask_refusal(answer)) + strlen(message) + 3;
    char *why = malloc(size);
    if (why != NULL) {
        snprintf(why, size, "%s%s%s", ask_refusal(answer), message[0] ? "; " : "", message);
    }
    rc = tp_raise_violation(event, rule, policy_name, why ? why : ask_refusal(answer), args,
                            entry != NULL ? entry->shape : NULL);
    free(why);
    return rc;
}
