/* The native engine's audit hook: a frozen policy table and the hot path.
 *
 * `tp_install_audit` takes the policy compiled by tpython.engine.native, copies
 * what it needs into C memory (no Python object is consulted afterwards) and
 * adds the hook with PySys_AddAuditHook, which is runtime-wide: it sees every
 * interpreter's events, subinterpreters included, and cannot be removed.
 *
 * Each event name is resolved once, on first sight, to an entry: the action
 * when no condition is involved (category default, or the first matching rule
 * when that rule has no conditions), or "python" when conditions must be
 * evaluated. `allow` and `count` entries are decided here: no call into
 * Python, no allocation, one hash of the name and one probe of a fixed table
 * (for CPython's own literal event names, one probe of a cache by address).
 * `ask` is asked here too (ask.c). Everything else goes to the slow path, a Python
 * callable that returns (action, rule, then); the probe fires, then `then()` (if any)
 * enforces; an `ask` it returns is asked by C.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ask.h"
#include "attrib.h"
#include "conditions.h"
#include "dispatch.h"
#include "guard.h"
#include "literals.h"
#include "probes.h"
#include "record.h"
#include "render.h"
#include "repeats.h"
#include "violation.h"

#ifdef TPYTHON_PROBES
__extension__ unsigned short tpython_audit_semaphore __attribute__((unused)) __attribute__((section(".probes")));
#endif

enum { A_ALLOW, A_COUNT, A_LOG, A_ASK, A_DENY, A_KILL, A_PYTHON, A_LOG_C, A_DENY_C, A_COND, A_KILL_C, A_ASK_C,
       N_ACTIONS };
static const char *const ACTION_NAMES[N_ACTIONS] = {"allow", "count", "log", "ask", "deny", "kill", "python",
                                                    "log-in-c", "deny-in-c", "conditions-in-c", "kill-in-c",
                                                    "ask-in-c"};

typedef struct Rule Rule;

typedef struct {
    const char *name;
    uint64_t hash;
    size_t len;
    int action;                /* A_ALLOW, A_COUNT, A_LOG_C, A_DENY_C, A_KILL_C, A_ASK_C, A_COND: decided here;
                                  or A_PYTHON */
    int can_block;             /* a deny or kill is possible (candidate rule or default) */
    const char *rule;          /* the deciding rule's id, or "" */
    const char *message;       /* the deciding rule's message, or "" */
    const Shape *shape;        /* where its paths are, or NULL */
    uint64_t count;            /* counted, or denied or killed in C */
    /* A_COND: rules whose conditions C evaluates, in order, before `final` */
    int final;                 /* A_ALLOW, A_COUNT, A_LOG_C, A_DENY_C, A_KILL_C or A_ASK_C, with rule/message/count */
    int n_steps;
    const Rule **steps;
    int *step_actions;         /* each step's action when it applies */
    uint64_t *step_counts;     /* counted, denied or killed in C by each step */
} Entry;

#define TABLE_BITS 13
#define TABLE_SIZE (1u << TABLE_BITS)
#define TABLE_LIMIT (TABLE_SIZE * 3 / 4)
_Static_assert(TABLE_LIMIT < UINT16_MAX, "table_index holds positions in 16 bits");

struct Rule {
    char **globs;
    Py_ssize_t n_globs;
    int action;
    int conditional;
    CondSet *conds;            /* its conditions (NULL: it has none) */
    char *id;
    char *message;
};

typedef struct {
    char *name;
    int action;
} Known;

typedef struct {
    char *name;
    Shape shape;
} EventShape;

/* The frozen policy. */
static int installed;
static Known *known;        /* catalog events and their category default, sorted by name */
static Py_ssize_t n_known;
static int other_default;   /* the default of events not in the catalog */
static Rule *rules;
static Py_ssize_t n_rules;
static char **guarded;      /* events the integrity guard must see (always the slow path) */
static Py_ssize_t n_guarded;
static PyObject *slow_path; /* callable(event, args) -> (action, rule, then) */
static EventShape *shapes;  /* sorted by name */
static Py_ssize_t n_shapes;
static int log_in_c_enabled; /* records of unconditional `log` and `deny` events are written here */
static int enforce;          /* the policy's mode: enforce (1) or audit (0) */
static char *policy_name;
static uint64_t logged_in_c;
static PyInterpreterState *main_interp;

/* The entries, densely, in the order their names were first seen; found through an
 * open-addressing index of their positions. An entry is whole before its position is
 * stored in the index (release), so a reader that finds it sees all of it. Only the
 * entries in use are touched: a run meets some hundred event names, and a table of
 * whole entries by hash (768 KB) put each on a page of its own (about 190 page faults,
 * 0.2 ms of every start). */
static Entry entries[TABLE_LIMIT];
static uint16_t table_index[TABLE_SIZE]; /* 1 + position in entries, or 0: free */
static unsigned table_used;              /* entries[0..table_used) are whole */
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static uint64_t unrecorded; /* decided events whose record could not be made (out of memory) */

static int sealed; /* see tp_seal */

/* Entries by the address of a literal event name (literals.c): a slot is set once,
 * under table_lock (entry first, then the address), and never changed, so a reader
 * that sees its address sees its entry. */
#define LITERAL_SLOTS 512
typedef struct {
    const char *volatile name;
    Entry *entry;
} LiteralSlot;
static LiteralSlot literal_slots[LITERAL_SLOTS];

static inline LiteralSlot *
literal_slot(const char *event)
{
    return &literal_slots[((uintptr_t)event >> 3) & (LITERAL_SLOTS - 1)];
}

/* tpython's own work on this thread (the slow path, start, exit): not the program's. */
static _Thread_local int busy __attribute__((tls_model("initial-exec")));

static uint64_t
fnv1a(const char *s, size_t *len)
{
    uint64_t h = 14695981039346656037ULL;
    const char *p = s;
    for (; *p; p++) {
        h ^= (unsigned char)*p;
        h *= 1099511628211ULL;
    }
    *len = (size_t)(p - s);
    return h;
}

static int
action_code(const char *name)
{
    for (int i = 0; i < N_ACTIONS; i++) {
        if (strcmp(name, ACTION_NAMES[i]) == 0) {
            return i;
        }
    }
    return -1;
}

static int
known_cmp(const void *a, const void *b)
{
    return strcmp(((const Known *)a)->name, ((const Known *)b)->name);
}

static int
default_for(const char *event)
{
    Known key = {(char *)event, 0};
    Known *hit = n_known ? bsearch(&key, known, (size_t)n_known, sizeof(Known), known_cmp) : NULL;
    return hit ? hit->action : other_default;
}

static int
rule_matches(const Rule *rule, const char *event)
{
    for (Py_ssize_t i = 0; i < rule->n_globs; i++) {
        if (fnmatch(rule->globs[i], event, 0) == 0) {
            return 1;
        }
    }
    return 0;
}

static int
is_guarded(const char *event)
{
    for (Py_ssize_t i = 0; i < n_guarded; i++) {
        if (strcmp(guarded[i], event) == 0) {
            return 1;
        }
    }
    return 0;
}

/* The entry an event name resolves to, as tpython.engine.rules.DispatchTable would:
 * the first matching rule decides when it has no conditions; a conditional one
 * before it sends the event to Python. */
static int
shape_cmp(const void *a, const void *b)
{
    return strcmp(((const EventShape *)a)->name, ((const EventShape *)b)->name);
}

static const Shape *
shape_of(const char *event)
{
    EventShape key;
    key.name = (char *)event;
    EventShape *hit = n_shapes ? bsearch(&key, shapes, (size_t)n_shapes, sizeof(EventShape), shape_cmp) : NULL;
    return hit ? &hit->shape : NULL;
}

/* The C action taking ACTION for this event, or A_PYTHON. An `ask` is always C's (ask.c). */
static int
c_action(int action)
{
    if (action == A_ASK) {
        return A_ASK_C;
    }
    if ((action == A_LOG || action == A_DENY || action == A_KILL) && log_in_c_enabled && chain_is_ready()) {
        return action == A_LOG ? A_LOG_C : action == A_DENY ? A_DENY_C : A_KILL_C;
    }
    return action == A_ALLOW || action == A_COUNT ? action : A_PYTHON;
}

static void
free_steps(Entry *e)
{
    free(e->steps);
    free(e->step_actions);
    free(e->step_counts);
    e->steps = NULL;
    e->step_actions = NULL;
    e->step_counts = NULL;
    e->n_steps = 0;
}

/* Fill E for EVENT: the first matching rule without conditions decides, and the
 * conditional rules before it become steps (C evaluates every condition). */
static void
resolve(const char *event, Entry *e)
{
    int deflt = default_for(event);
    e->shape = shape_of(event);
    e->can_block = deflt == A_DENY || deflt == A_KILL;
    e->rule = "";
    e->message = "";
    e->n_steps = 0;
    e->steps = NULL;
    e->step_actions = NULL;
    e->step_counts = NULL;
    int action = -1, python = 0;
    for (Py_ssize_t i = 0; i < n_rules; i++) {
        const Rule *rule = &rules[i];
        if (!rule_matches(rule, event)) {
            continue;
        }
        if (rule->action == A_DENY || rule->action == A_KILL) {
            e->can_block = 1;
        }
        if (action >= 0 || python) {
            continue;
        }
        if (!rule->conditional) {
            action = rule->action;
            e->rule = rule->id;
            e->message = rule->message;
        }
        else { /* conditional: C evaluates its conditions (build_rules refuses one without) */
            const Rule **grown = realloc(e->steps, (size_t)(e->n_steps + 1) * sizeof(Rule *));
            if (grown == NULL) {
                python = 1;
                continue;
            }
            e->steps = grown;
            e->steps[e->n_steps++] = rule;
        }
    }
    int final = python ? A_PYTHON : c_action(action < 0 ? deflt : action);
    if (is_guarded(event)) {
        final = A_PYTHON;
    }
    if (e->n_steps == 0) {
        e->action = final;
        return;
    }
    e->step_actions = malloc((size_t)e->n_steps * sizeof(int));
    e->step_counts = calloc((size_t)e->n_steps, sizeof(uint64_t));
    if (final == A_PYTHON || e->step_actions == NULL || e->step_counts == NULL) {
        free_steps(e);
        e->action = A_PYTHON;
        e->rule = "";
        e->message = "";
        return;
    }
    for (int k = 0; k < e->n_steps; k++) {
        e->step_actions[k] = c_action(e->steps[k]->action);
    }
    e->final = final;
    e->action = A_COND;
}

static Entry *
lookup(const char *event, uint64_t hash, size_t len)
{
    unsigned i = (unsigned)hash & (TABLE_SIZE - 1);
    for (;;) {
        unsigned position = __atomic_load_n(&table_index[i], __ATOMIC_ACQUIRE);
        if (position == 0) {
            return NULL;
        }
        Entry *e = &entries[position - 1];
        if (e->hash == hash && e->len == len && memcmp(e->name, event, len) == 0) {
            return e;
        }
        i = (i + 1) & (TABLE_SIZE - 1);
    }
}

/* Insert EVENT (first sight). NULL when the table is full: the event then
 * always takes the slow path, which decides it correctly, only slower. */
static Entry *
insert(const char *event, uint64_t hash, size_t len)
{
    Entry *found = NULL;
    pthread_mutex_lock(&table_lock);
    found = lookup(event, hash, len);
    if (found == NULL && table_used < TABLE_LIMIT) {
        char *copy = malloc(len + 1);
        if (copy != NULL) {
            memcpy(copy, event, len + 1);
            unsigned i = (unsigned)hash & (TABLE_SIZE - 1);
            while (table_index[i] != 0) {
                i = (i + 1) & (TABLE_SIZE - 1);
            }
            unsigned position = table_used;
            Entry *e = &entries[position];
            e->name = copy;
            e->hash = hash;
            e->len = len;
            resolve(copy, e);
            e->count = 0;
            __atomic_store_n(&table_used, position + 1, __ATOMIC_RELEASE);
            __atomic_store_n(&table_index[i], (uint16_t)(position + 1), __ATOMIC_RELEASE);
            found = e;
        }
    }
    pthread_mutex_unlock(&table_lock);
    return found;
}

/* The entry of EVENT: by its address when it is a literal seen before, else by its
 * text (and a literal's address is then kept, if its slot is free). */
static Entry *
entry_of(const char *event)
{
    LiteralSlot *slot = literal_slot(event);
    if (__atomic_load_n(&slot->name, __ATOMIC_ACQUIRE) == event) {
        return slot->entry;
    }
    size_t len;
    uint64_t hash = fnv1a(event, &len);
    Entry *e = lookup(event, hash, len);
    if (e == NULL) {
        e = insert(event, hash, len);
    }
    /* A slot another literal holds stays its own: no lock for names that collide. */
    if (e != NULL && __atomic_load_n(&slot->name, __ATOMIC_ACQUIRE) == NULL && is_literal(event)) {
        pthread_mutex_lock(&table_lock);
        if (slot->name == NULL) {
            slot->entry = e;
            __atomic_store_n(&slot->name, event, __ATOMIC_RELEASE);
        }
        pthread_mutex_unlock(&table_lock);
    }
    return e;
}

/* Names counted, denied or killed after the table filled up: they have no entry to keep
 * the tally in, so it is kept here, by name, action (A_COUNT, A_DENY_C, A_KILL_C) and rule. */
typedef struct Overflow {
    struct Overflow *next;
    uint64_t count;
    int action;
    const char *rule; /* a rule's id (frozen with the policy), or "" */
    char name[];
} Overflow;
static Overflow *overflow;

static void
overflow_tally(const char *event, int action, const char *rule)
{
    pthread_mutex_lock(&table_lock);
    Overflow *o = overflow;
    while (o != NULL && !(o->action == action && o->rule == rule && strcmp(o->name, event) == 0)) {
        o = o->next;
    }
    if (o == NULL && (o = malloc(sizeof(Overflow) + strlen(event) + 1)) != NULL) {
        strcpy(o->name, event);
        o->count = 0;
        o->action = action;
        o->rule = rule;
        o->next = overflow;
        overflow = o;
    }
    if (o != NULL) {
        o->count++;
    }
    pthread_mutex_unlock(&table_lock);
}

/* How many times E's events were counted (its own count, and its steps' that count). */
static uint64_t
entry_counted(const Entry *e)
{
    uint64_t n = 0;
    if (e->action == A_COUNT || (e->action == A_COND && e->final == A_COUNT)) {
        n = __atomic_load_n(&e->count, __ATOMIC_RELAXED);
    }
    for (int k = 0; e->action == A_COND && k < e->n_steps; k++) {
        if (e->step_actions[k] == A_COUNT) {
            n += __atomic_load_n(&e->step_counts[k], __ATOMIC_RELAXED);
        }
    }
    return n;
}

static void
probe(const char *event, const char *action, const char *rule)
{
    if (TPYTHON_AUDIT_ENABLED()) {
        TPYTHON_AUDIT(event, action, rule);
    }
    (void)event; (void)action; (void)rule;
}

/* [log] on_sink_failure = "fail-closed": a deny that no sink could record ends the
 * process (status 255, as a kill does), so making the log fail (a full disk) cannot
 * be used to try denied things unseen. */
static int fail_closed;

static void
fail_closed_exit(const char *event, const char *rule)
{
    char message[512];
    snprintf(message, sizeof message,
             "tpython: a deny of %s (rule %s) could not be recorded by any sink; [log] on_sink_failure = "
             "\"fail-closed\": ending the process\n", event, rule && rule[0] ? rule : "default");
    chain_warn(message);
    _exit(255);
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
static int
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

/* An unconditional `log`: rendered, attributed, chained and written without Python,
 * unless an argument needs the Python renderer (then the slow path takes it). */
static int
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
static int
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

/* `"name":n` pairs of the names whose tally is WANT (A_COUNT: counted; A_DENY_C or
 * A_KILL_C: denied or killed, summed over rules), in OUT as a JSON object. */
static int
tally_json(Buf *out, int want, uint64_t *total)
{
    int first = 1, rc = buf_puts(out, "{");
    unsigned used = __atomic_load_n(&table_used, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; rc == 0 && i < used; i++) {
        const Entry *e = &entries[i];
        uint64_t n = 0;
        if (want == A_COUNT) {
            n = entry_counted(e);
        }
        else {
            int final = e->action == A_COND ? e->final : e->action;
            n = final == want ? __atomic_load_n(&e->count, __ATOMIC_RELAXED) : 0;
            for (int k = 0; e->action == A_COND && k < e->n_steps; k++) {
                n += e->step_actions[k] == want ? __atomic_load_n(&e->step_counts[k], __ATOMIC_RELAXED) : 0;
            }
        }
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
    int rc = buf_puts(&args, "{\"status\":255,\"counted\":") || tally_json(&args, A_COUNT, &counted)
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
static PyObject *std_streams[2];

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
 * ends with status 255, all in C: the event never proceeds, and nothing the program did
 * to tpython's Python objects runs. A record that fails does not save the process. */
static int
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
    _exit(255);
}

static uint64_t asks_allowed; /* asks allowed (a yes, or audit mode's not-asked): C's tally for the summary */

/* The `ask` of RULE_ID: asked at the terminal (ask.c; audit mode: not asked), recorded with
 * its answer, and a refusal raised as a deny's is. COUNTER (or NULL) counts refusals. */
static int
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
    if (rc == 1) { /* never Python's: its arguments named by their C types */
        rc = record_in_c(event, args, entry, "ask", enforce, rule_id, extra, 0, &delivered);
    }
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

/* The message of the rule named ID, or "". */
static const char *
rule_message(const char *id)
{
    for (Py_ssize_t i = 0; id != NULL && i < n_rules; i++) {
        if (strcmp(rules[i].id, id) == 0) {
            return rules[i].message;
        }
    }
    return "";
}

/* The raised exception without its traceback: the frames it has are tpython's own (the
 * enforcement the slow path returned), and the program's frames are added to it as it
 * propagates, so that it ends at the program's call as the operating system's errors do. */
static void
drop_traceback(void)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    Py_XDECREF(tb);
    if (value != NULL && PyExceptionInstance_Check(value)) {
        PyException_SetTraceback(value, Py_None);
    }
    PyErr_Restore(type, value, NULL);
}

/* The slow path: the Python engine decides, the probe fires, then enforcement. */
static int
slow(const char *event, PyObject *args, const Entry *entry)
{
    if (PyInterpreterState_Get() != main_interp) {
        /* The Python engine's objects belong to the main interpreter: its conditions
         * cannot be evaluated here. Fail closed when this event could be denied (and
         * record that); otherwise record it as logged. */
        int block = entry == NULL || entry->can_block;
        const char *extra = ",\"subinterpreter\":true";
        int delivered;
        if (!chain_is_ready() || record_in_c(event, args, entry, block ? "deny" : "log", block ? enforce : 1,
                                             "tpython-subinterpreter", extra, 0, &delivered) < 0) {
            PyErr_Clear();
            __atomic_fetch_add(&unrecorded, 1, __ATOMIC_RELAXED);
        }
        probe(event, block ? "deny" : "log", "tpython-subinterpreter");
        if (block) {
            PyErr_Format(PyExc_PermissionError,
                         "tpython: %s denied: the native engine cannot evaluate this event's "
                         "conditions in a subinterpreter", event);
            return -1;
        }
        return 0;
    }
    busy = 1;
    PyObject *decision = PyObject_CallFunction(slow_path, "sO", event, args);
    int rc = 0;
    if (decision == NULL) {
        rc = -1; /* the slow path failed closed itself, or the program's exception propagates */
    }
    else if (!PyTuple_Check(decision) || PyTuple_GET_SIZE(decision) != 3) {
        PyErr_SetString(PyExc_SystemError, "tpython: slow path returned a bad decision");
        rc = -1;
    }
    else {
        const char *action = PyUnicode_Check(PyTuple_GET_ITEM(decision, 0))
                             ? PyUnicode_AsUTF8(PyTuple_GET_ITEM(decision, 0)) : NULL;
        PyObject *rule_obj = PyTuple_GET_ITEM(decision, 1);
        const char *rule = PyUnicode_Check(rule_obj) ? PyUnicode_AsUTF8(rule_obj) : "";
        if (action != NULL && strcmp(action, "ask") == 0) { /* asked by C, the program's code watched */
            busy = 0;
            rc = ask_in_c(event, args, entry, rule ? rule : "", rule_message(rule), NULL, 1);
            Py_DECREF(decision);
            return rc;
        }
        probe(event, action ? action : "?", rule ? rule : "");
        PyObject *then = PyTuple_GET_ITEM(decision, 2);
        if (then != Py_None) {
            PyObject *r = PyObject_CallNoArgs(then);
            if (r == NULL) {
                rc = -1;
                drop_traceback(); /* the denial's traceback ends at the program's call */
            }
            Py_XDECREF(r);
        }
    }
    Py_XDECREF(decision);
    busy = 0;
    return rc;
}

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

static uint64_t after_exit; /* events seen during shutdown, not recorded */

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
 * C action (A_ALLOW, A_LOG_C, A_DENY_C) with the deciding rule, or A_PYTHON. */
static int
decide_cond(const char *event, PyObject *args, Entry *e, const char **rule, const char **message,
            uint64_t **counter)
{
    EventFacts facts = {0};
    int action = e->final;
    *rule = e->rule;
    *message = e->message;
    *counter = &e->count;
    for (int k = 0; k < e->n_steps; k++) {
        int r = conds_apply(e->steps[k]->conds, event, args, e->shape, &facts);
        if (r == COND_PYTHON) {
            action = A_PYTHON;
            break;
        }
        if (r == COND_APPLIES) {
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
    case A_ASK_C:
        return ask_in_c(event, args, e, rule, message, counter, in_main);
    default:
        return slow(event, args, e);
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

/* ---- building the frozen policy ------------------------------------------ */

static char *
copy_str(PyObject *obj, const char *what)
{
    if (!PyUnicode_Check(obj)) {
        PyErr_Format(PyExc_TypeError, "%s must be a str", what);
        return NULL;
    }
    const char *s = PyUnicode_AsUTF8(obj);
    if (s == NULL) {
        return NULL;
    }
    char *copy = strdup(s);
    if (copy == NULL) {
        PyErr_NoMemory();
    }
    return copy;
}

static int
parse_action(PyObject *obj, int *out)
{
    char *name = copy_str(obj, "action");
    if (name == NULL) {
        return -1;
    }
    *out = action_code(name);
    free(name);
    if (*out < 0 || *out == A_PYTHON) {
        PyErr_SetString(PyExc_ValueError, "unknown action");
        return -1;
    }
    return 0;
}

static int
build_known(PyObject *catalog)
{
    if (!PyDict_Check(catalog)) {
        PyErr_SetString(PyExc_TypeError, "defaults must be a dict of event -> action");
        return -1;
    }
    n_known = PyDict_Size(catalog);
    known = calloc((size_t)(n_known ? n_known : 1), sizeof(Known));
    if (known == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value;
    while (PyDict_Next(catalog, &pos, &key, &value)) {
        if ((known[i].name = copy_str(key, "event")) == NULL || parse_action(value, &known[i].action) < 0) {
            return -1;
        }
        i++;
    }
    qsort(known, (size_t)n_known, sizeof(Known), known_cmp);
    return 0;
}

static int
build_rules(PyObject *list)
{
    if (!PyList_Check(list)) {
        PyErr_SetString(PyExc_TypeError, "rules must be a list");
        return -1;
    }
    n_rules = PyList_GET_SIZE(list);
    rules = calloc((size_t)(n_rules ? n_rules : 1), sizeof(Rule));
    if (rules == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n_rules; i++) {
        PyObject *globs, *action, *id, *message, *conds;
        int conditional;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(list, i), "O!OpOOO", &PyTuple_Type, &globs, &action,
                              &conditional, &id, &message, &conds)) {
            return -1;
        }
        Rule *r = &rules[i];
        r->conditional = conditional;
        r->conds = conds_build(conds);
        if (r->conds == NULL && (PyErr_Occurred() || conditional)) {
            if (!PyErr_Occurred()) { /* C evaluates every condition: a rule with some has a table */
                PyErr_SetString(PyExc_ValueError, "a conditional rule without its conditions");
            }
            return -1;
        }
        if (parse_action(action, &r->action) < 0 || (r->id = copy_str(id, "rule id")) == NULL
            || (r->message = copy_str(message, "rule message")) == NULL) {
            return -1;
        }
        r->n_globs = PyTuple_GET_SIZE(globs);
        r->globs = calloc((size_t)(r->n_globs ? r->n_globs : 1), sizeof(char *));
        if (r->globs == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        for (Py_ssize_t g = 0; g < r->n_globs; g++) {
            if ((r->globs[g] = copy_str(PyTuple_GET_ITEM(globs, g), "event glob")) == NULL) {
                return -1;
            }
        }
    }
    return 0;
}

static int
positions(PyObject *tuple, signed char *out)
{
    memset(out, -1, SHAPE_MAX);
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) >= SHAPE_MAX) {
        PyErr_SetString(PyExc_ValueError, "argument positions must be a short tuple");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tuple); i++) {
        long v = PyLong_AsLong(PyTuple_GET_ITEM(tuple, i));
        if (v < 0 || v > 100) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "bad argument position");
            }
            return -1;
        }
        out[i] = (signed char)v;
    }
    return 0;
}

/* The dir_fd position of each path argument; None: it has none. */
static int
dirfd_positions(PyObject *tuple, signed char *out)
{
    memset(out, -1, SHAPE_MAX);
    if (!PyTuple_Check(tuple) || PyTuple_GET_SIZE(tuple) >= SHAPE_MAX) {
        PyErr_SetString(PyExc_ValueError, "dir_fd positions must be a short tuple");
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(tuple); i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (item == Py_None) {
            continue;
        }
        long v = PyLong_AsLong(item);
        if (v < 0 || v > 100) {
            if (!PyErr_Occurred()) {
                PyErr_SetString(PyExc_ValueError, "bad dir_fd position");
            }
            return -1;
        }
        out[i] = (signed char)v;
    }
    return 0;
}

static int
build_shapes(PyObject *dict)
{
    if (!PyDict_Check(dict)) {
        PyErr_SetString(PyExc_TypeError, "shapes must be a dict");
        return -1;
    }
    n_shapes = PyDict_Size(dict);
    shapes = calloc((size_t)(n_shapes ? n_shapes : 1), sizeof(EventShape));
    if (shapes == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_ssize_t pos = 0, i = 0;
    PyObject *key, *value, *paths, *lists, *sources, *dirfds, *texts;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        if ((shapes[i].name = copy_str(key, "event")) == NULL
            || !PyArg_ParseTuple(value, "OOOOO", &paths, &lists, &sources, &dirfds, &texts)
            || positions(paths, shapes[i].shape.paths) < 0 || positions(lists, shapes[i].shape.path_lists) < 0
            || positions(sources, shapes[i].shape.sources) < 0 || positions(texts, shapes[i].shape.texts) < 0
            || dirfd_positions(dirfds, shapes[i].shape.dirfds) < 0) {
            return -1;
        }
        i++;
    }
    qsort(shapes, (size_t)n_shapes, sizeof(EventShape), shape_cmp);
    return 0;
}

static int
build_options(PyObject *options)
{
    if (!PyDict_Check(options)) {
        PyErr_SetString(PyExc_TypeError, "options must be a dict");
        return -1;
    }
    PyObject *shapes_obj = PyDict_GetItemString(options, "shapes");
    PyObject *log_in_c_obj = PyDict_GetItemString(options, "log_in_c");
    PyObject *stdlib = PyDict_GetItemString(options, "stdlib");
    PyObject *site = PyDict_GetItemString(options, "site");
    PyObject *tpython_dir = PyDict_GetItemString(options, "tpython");
    PyObject *lookup = PyDict_GetItemString(options, "package_lookup");
    PyObject *launcher_file = PyDict_GetItemString(options, "launcher_file");
    PyObject *enforce_obj = PyDict_GetItemString(options, "enforce");
    PyObject *policy_obj = PyDict_GetItemString(options, "policy");
    PyObject *fail_closed_obj = PyDict_GetItemString(options, "fail_closed");
    if (!shapes_obj || !log_in_c_obj || !stdlib || !site || !tpython_dir || !lookup || !launcher_file || !enforce_obj
        || !policy_obj || !fail_closed_obj) {
        PyErr_SetString(PyExc_KeyError, "options need shapes, log_in_c, stdlib, site, tpython, package_lookup, "
                                        "launcher_file, enforce, policy, fail_closed");
        return -1;
    }
    if (conds_configure(options) < 0 /* move_events, write_events, write_flags, condition_facts */
        || ask_configure(PyDict_GetItemString(options, "condition_facts")) < 0) {
        return -1;
    }
    if ((policy_name = copy_str(policy_obj, "policy name")) == NULL) {
        return -1;
    }
    enforce = PyObject_IsTrue(enforce_obj) == 1;
    fail_closed = PyObject_IsTrue(fail_closed_obj) == 1;
    const char *names[2] = {"__stdout__", "__stderr__"};
    for (int i = 0; i < 2; i++) {
        std_streams[i] = PySys_GetObject(names[i]); /* borrowed */
        Py_XINCREF(std_streams[i]);
    }
    if (build_shapes(shapes_obj) < 0 || attrib_configure(stdlib, site, tpython_dir, launcher_file, lookup) < 0) {
        return -1;
    }
    log_in_c_enabled = PyObject_IsTrue(log_in_c_obj) == 1;
    return 0;
}

static int
build_guarded(PyObject *names)
{
    if (!PyTuple_Check(names)) {
        PyErr_SetString(PyExc_TypeError, "guarded must be a tuple");
        return -1;
    }
    n_guarded = PyTuple_GET_SIZE(names);
    guarded = calloc((size_t)(n_guarded ? n_guarded : 1), sizeof(char *));
    if (guarded == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < n_guarded; i++) {
        if ((guarded[i] = copy_str(PyTuple_GET_ITEM(names, i), "event")) == NULL) {
            return -1;
        }
    }
    return 0;
}

PyObject *
tp_install_audit(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *catalog, *other, *rule_list, *guard_names, *callable, *options;
    if (!PyArg_ParseTuple(args, "O!OO!O!OO!:install_audit", &PyDict_Type, &catalog, &other, &PyList_Type,
                          &rule_list, &PyTuple_Type, &guard_names, &callable, &PyDict_Type, &options)) {
        return NULL;
    }
    if (installed || slow_path != NULL) {
        PyErr_SetString(PyExc_RuntimeError, "tpython's audit hook is already installed");
        return NULL;
    }
    if (!PyCallable_Check(callable)) {
        PyErr_SetString(PyExc_TypeError, "the slow path must be callable");
        return NULL;
    }
    if (parse_action(other, &other_default) < 0 || build_known(catalog) < 0 || build_options(options) < 0
        || build_rules(rule_list) < 0 || build_guarded(guard_names) < 0) {
        return NULL; /* the half-built tables are never used: installed stays 0 */
    }
    Py_INCREF(callable);
    slow_path = callable;
    main_interp = PyInterpreterState_Get();
    (void)literals_init(); /* when it fails, every name is looked up by its text */
    if (PySys_AddAuditHook(hook, NULL) < 0) {
        Py_CLEAR(slow_path);
        return NULL;
    }
    installed = 1;
    Py_RETURN_NONE;
}

PyObject *
tp_counts(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    PyObject *out = PyDict_New();
    if (out == NULL) {
        return NULL;
    }
    unsigned used = __atomic_load_n(&table_used, __ATOMIC_ACQUIRE);
    for (unsigned i = 0; i < used; i++) {
        const char *name = entries[i].name;
        uint64_t n = entry_counted(&entries[i]);
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
    unsigned used = __atomic_load_n(&table_used, __ATOMIC_ACQUIRE);
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
    if (sealed && !chain_in_new_process()) {
        PyErr_SetString(PyExc_RuntimeError, "tpython: counters are reset only in a forked child");
        return NULL;
    }
    unsigned used = __atomic_load_n(&table_used, __ATOMIC_ACQUIRE);
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

PyObject *
tp_entry(PyObject *module, PyObject *name)
{
    (void)module;
    if (!PyUnicode_Check(name)) {
        PyErr_SetString(PyExc_TypeError, "entry() needs an event name");
        return NULL;
    }
    const char *event = PyUnicode_AsUTF8(name);
    if (event == NULL) {
        return NULL;
    }
    Entry e;
    memset(&e, 0, sizeof e);
    resolve(event, &e);
    free_steps(&e);
    return Py_BuildValue("(ssO)", ACTION_NAMES[e.action], e.rule, e.can_block ? Py_True : Py_False);
}

/* decide(event, args) -> (action, rule or None) as C decides it without recording
 * anything; action "python" when only the slow path can. */
PyObject *
tp_decide(PyObject *module, PyObject *args)
{
    (void)module;
    const char *event;
    PyObject *event_args;
    if (!PyArg_ParseTuple(args, "sO!", &event, &PyTuple_Type, &event_args)) {
        return NULL;
    }
    if (!installed) {
        PyErr_SetString(PyExc_RuntimeError, "tpython's audit hook is not installed");
        return NULL;
    }
    size_t len;
    uint64_t hash = fnv1a(event, &len);
    Entry *e = lookup(event, hash, len);
    if (e == NULL && (e = insert(event, hash, len)) == NULL) {
        return Py_BuildValue("(sz)", "python", NULL);
    }
    int action = e->action;
    const char *rule = e->rule, *message;
    uint64_t *counter;
    if (action == A_COND) {
        action = decide_cond(event, event_args, e, &rule, &message, &counter);
        (void)message;
        (void)counter;
    }
    static const char *const public_names[N_ACTIONS] = {"allow", "count", "log", "ask", "deny", "kill", "python",
                                                        "log", "deny", "python", "kill", "ask"};
    return Py_BuildValue("(sz)", public_names[action], action == A_PYTHON || !rule[0] ? NULL : rule);
}

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

PyObject *
tp_stats(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    return Py_BuildValue("{s:O,s:I,s:I,s:K,s:K,s:K,s:I,s:K,s:O,s:O,s:K}", "installed", installed ? Py_True : Py_False,
                         "events", table_used, "capacity", (unsigned)TABLE_LIMIT,
                         "unrecorded", (unsigned long long)__atomic_load_n(&unrecorded, __ATOMIC_RELAXED),
                         "logged_in_c", (unsigned long long)__atomic_load_n(&logged_in_c, __ATOMIC_RELAXED),
                         "repeated", (unsigned long long)repeats_total(), "repeats_tracked", repeats_tracked(),
                         "after_exit", (unsigned long long)__atomic_load_n(&after_exit, __ATOMIC_RELAXED),
                         "log_in_c", log_in_c_enabled ? Py_True : Py_False,
                         "probes", TPYTHON_PROBES ? Py_True : Py_False,
                         "asks_allowed", (unsigned long long)__atomic_load_n(&asks_allowed, __ATOMIC_RELAXED));
}

/* ---- sealing ------------------------------------------------------------- */

/* Before the program's first line (and before `site`), tpython seals the engine:
 * from then on no Python code can mark a thread's work as tpython's own
 * (set_busy refuses), and the only C paths that do (the slow path, the
 * open_code hook) are entered by CPython itself. */

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
