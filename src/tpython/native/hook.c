/* The audit hook: every event of every interpreter is decided here, in C.
 *
 * PySys_AddAuditHook's hook is runtime-wide (subinterpreters included) and cannot be
 * removed. `allow` and `count` entries are decided with no call into Python and no
 * allocation; conditions are evaluated by conditions.c, and `log`, `deny`, `kill` and
 * `ask` are carried out by enforce.c. A fact C cannot know is decided so as never to
 * open a hole (conditions.c). Also here: tpython's own work marked busy, and sealing.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

#include "dispatch.h"
#include "enforce.h"
#include "events.h"
#include "guard.h"

#ifdef TPYTHON_PROBES
__extension__ unsigned short tpython_audit_semaphore __attribute__((unused)) __attribute__((section(".probes")));
#endif

/* tpython's own work on this thread (start-up before the seal, the open_code hook, exit):
 * not the program's. */
static _Thread_local int busy __attribute__((tls_model("initial-exec")));
static int sealed; /* see tp_seal */

uint64_t after_exit;

/* Interpreter shutdown: tpython.exit has been written, so nothing more is recorded
 * (the run ends with it), but what could be denied still is (fail closed). */
static int
finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

static int
shutdown_event(const char *event, const Entry *e)
{
    __atomic_fetch_add(&after_exit, 1, __ATOMIC_RELAXED);
    if (e == NULL || e->can_block) {
        probe(event, "deny", "tpython-shutdown");
        PyErr_Format(PyExc_PermissionError, "tpython: %s denied during interpreter shutdown", event);
        return -1;
    }
    probe(event, "log", "tpython-shutdown");
    return 0;
}

/* An A_COND entry: its steps' conditions in order, then its final action. Returns the
 * C action with the deciding rule (conds_apply decides a fact it cannot know itself). */
int
decide_cond(const char *event, PyObject *args, Entry *e, const char **rule, const char **message,
            uint64_t **counter)
{
    EventFacts facts = {0};
    int action = e->final;
    *rule = e->rule;
    *message = e->message;
    *counter = &e->count;
    for (int k = 0; k < e->n_steps; k++) {
        if (conds_apply(e->steps[k]->conds, event, args, e->shape, &facts) == COND_APPLIES) {
            action = e->step_actions[k];
            *rule = e->steps[k]->id;
            *message = e->steps[k]->message;
            *counter = &e->step_counts[k];
            break;
        }
    }
    facts_clear(&facts);
    return action;
}

/* Decide EVENT by its entry E and carry the decision out. OVERFLOWED: E is a scratch
 * entry (the table is full), whose tallies go to the overflow list. */
static int
act(const char *event, PyObject *args, Entry *e, int overflowed)
{
    int in_main = PyInterpreterState_Get() == main_interp;
    int action = e->action;
    const char *rule = e->rule, *message = e->message;
    uint64_t *counter = &e->count;
    if (action == A_COND) {
        action = decide_cond(event, args, e, &rule, &message, &counter);
    }
    if (overflowed && (action == A_COUNT || action == A_DENY_C || action == A_KILL_C)) {
        overflow_tally(event, action, rule);
    }
    switch (action) {
    case A_ALLOW:
        probe(event, "allow", rule);
        return 0;
    case A_COUNT:
        __atomic_fetch_add(counter, 1, __ATOMIC_RELAXED);
        probe(event, "count", rule);
        return 0;
    case A_LOG_C:
        return log_in_c(event, args, e, rule, in_main);
    case A_DENY_C:
        return deny_in_c(event, args, e, rule, message, counter, in_main);
    case A_KILL_C:
        return kill_in_c(event, args, e, rule, counter, in_main);
    default: /* A_ASK_C */
        return ask_in_c(event, args, e, rule, message, counter, in_main);
    }
}

static int
hook(const char *event, PyObject *args, void *user_data)
{
    (void)user_data;
    if (busy || !installed) {
        return 0;
    }
    if (tp_guard(event, args) < 0) { /* the integrity guard (guard.c), before the policy */
        return -1;
    }
    Entry *e = entry_of(event);
    if (e != NULL && e->action == A_COUNT) {
        __atomic_fetch_add(&e->count, 1, __ATOMIC_RELAXED);
        probe(event, "count", e->rule);
        return 0;
    }
    if (e != NULL && e->action == A_ALLOW) {
        probe(event, "allow", e->rule);
        return 0;
    }
    if (finalizing()) {
        return shutdown_event(event, e);
    }
    if (e != NULL) {
        return act(event, args, e, 0);
    }
    /* The table is full: the name is resolved again each time, the same way. */
    Entry scratch;
    memset(&scratch, 0, sizeof scratch);
    scratch.name = event;
    resolve(event, &scratch);
    int rc = act(event, args, &scratch, 1);
    free_steps(&scratch);
    return rc;
}

int
hook_add(void)
{
    return PySys_AddAuditHook(hook, NULL);
}

/* ---- busy and sealing ------------------------------------------------------ */

/* Before the program's first line (and before `site`), tpython seals the engine:
 * from then on no Python code can mark a thread's work as tpython's own
 * (set_busy refuses), and the only C paths that do (the open_code hook, the
 * integrity guard's own reads) are entered by CPython itself. */

PyObject *
tp_set_busy(PyObject *module, PyObject *flag)
{
    (void)module;
    if (sealed) {
        PyErr_SetString(PyExc_RuntimeError, "tpython: the engine is sealed; nothing can switch its hook off");
        return NULL;
    }
    int previous = busy;
    int value = PyObject_IsTrue(flag);
    if (value < 0) {
        return NULL;
    }
    busy = value;
    return PyBool_FromLong(previous);
}

int
tp_busy_enter(void)
{
    int previous = busy;
    busy = 1;
    return previous;
}

void
tp_busy_leave(int previous)
{
    busy = previous;
}

int
tp_is_sealed(void)
{
    return sealed;
}

int
tp_refuse_sealed(const char *name)
{
    if (!sealed) {
        return 0;
    }
    PyErr_Format(PyExc_PermissionError, "tpython: %s is tpython's own; the program cannot call it once it runs",
                 name);
    return -1;
}

int
tp_is_busy(void)
{
    return busy;
}

PyObject *
tp_seal(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    if (!installed) {
        PyErr_SetString(PyExc_RuntimeError, "tpython's audit hook is not installed");
        return NULL;
    }
    busy = 0;
    sealed = 1;
    Py_RETURN_NONE;
}
