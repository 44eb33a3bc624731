/* The decision engine's shared state (internal to events.c, tallies.c, enforce.c,
 * hook.c and install.c): the actions, the frozen policy install.c builds, and the
 * run's tallies. Each variable is defined once, in the file named beside it. */
#ifndef TPYTHON_ENGINE_STATE_H
#define TPYTHON_ENGINE_STATE_H
#include <Python.h>
#include <stdint.h>

#include "conditions.h"
#include "probes.h"
#include "render.h"

/* Policy actions (A_ALLOW..A_KILL, as the policy writes them) and the actions C carries
 * out (A_LOG_C..A_ASK_C; A_COND: conditions to evaluate first). */
enum { A_ALLOW, A_COUNT, A_LOG, A_ASK, A_DENY, A_KILL, A_LOG_C, A_DENY_C, A_COND, A_KILL_C, A_ASK_C, N_ACTIONS };
extern const char *const ACTION_NAMES[N_ACTIONS]; /* install.c */

typedef struct {
    char **globs;
    Py_ssize_t n_globs;
    int action;
    int conditional;
    CondSet *conds;            /* its conditions (NULL: it has none) */
    char *id;
    char *message;
} Rule;

typedef struct {
    const char *name;
    uint64_t hash;
    size_t len;
    int action;                /* A_ALLOW, A_COUNT, A_LOG_C, A_DENY_C, A_KILL_C, A_ASK_C or A_COND */
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

typedef struct {
    char *name;
    int action;
} Known;

typedef struct {
    char *name;
    Shape shape;
} EventShape;

/* The frozen policy (install.c). */
extern int installed;
extern Known *known;        /* catalog events and their category default, sorted by name */
extern Py_ssize_t n_known;
extern int other_default;   /* the default of events not in the catalog */
extern Rule *rules;
extern Py_ssize_t n_rules;
extern EventShape *shapes;  /* sorted by name */
extern Py_ssize_t n_shapes;
extern int enforce;         /* the policy's mode: enforce (1) or audit (0) */
extern int fail_closed;     /* [log] on_sink_failure = "fail-closed" */
extern char *policy_name;
extern PyInterpreterState *main_interp;
extern PyObject *std_streams[2]; /* sys.__stdout__, sys.__stderr__ at install */

/* The run's tallies besides the entries' own (enforce.c, hook.c). */
extern uint64_t logged_in_c;
extern uint64_t unrecorded;   /* decided events whose record could not be made (out of memory) */
extern uint64_t asks_allowed; /* asks allowed (a yes, or audit mode's not-asked) */
extern uint64_t after_exit;   /* events seen during shutdown, not recorded */

int known_cmp(const void *a, const void *b);  /* events.c */
int shape_cmp(const void *a, const void *b);

/* hook.c: add the audit hook (install.c, once); E's conditions evaluated, giving the C
 * action with the deciding rule, its message and its tally. */
int hook_add(void);
int decide_cond(const char *event, PyObject *args, Entry *e, const char **rule, const char **message,
                uint64_t **counter);

static inline void
probe(const char *event, const char *action, const char *rule)
{
    if (TPYTHON_AUDIT_ENABLED()) {
        TPYTHON_AUDIT(event, action, rule);
    }
    (void)event; (void)action; (void)rule;
}

#endif
