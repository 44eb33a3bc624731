/* Rule conditions evaluated in C (conditions.c): every condition a policy can write
 * (`path`, `write`, `host`, `port`, `executable`, `module`, `caller`, `arg`), from the
 * tables tpython.engine.rules.native_conditions compiles once at start. */
#ifndef TPYTHON_CONDITIONS_H
#define TPYTHON_CONDITIONS_H
#include <Python.h>

#include "render.h"

#define COND_APPLIES 1
#define COND_NOT 0
#define COND_PYTHON -1 /* a fact C cannot read: decided as unknown (no exception set) */
#define COND_UNKNOWN -2 /* a fact C cannot know: the condition decides so as never to open a hole */

typedef struct CondSet CondSet;

#define FACT_PATHS (2 * SHAPE_MAX + 2) /* each path argument and its real path; a link's target and its real path */

/* The facts of one event, each worked out once, on first use, for all of its rules. */
typedef struct {
    int state;                       /* paths: 0 not yet, 1 known, COND_PYTHON: unknowable here */
    int n;
    PyObject *paths[FACT_PATHS];     /* str, in the current interpreter */
    int args_state;                  /* 0: not yet, 1: ARGS_TEXT holds them, COND_UNKNOWN */
    char *args_text;                 /* the arguments as EventFacts.args_json, UTF-8 */
    size_t args_len;
    int net_state;                   /* 0: not yet, 1: HOST and PORT below */
    PyObject *host;                  /* str, or NULL: none or unknown */
    long long port;                  /* -1: none or unknown; beyond 65535: matches no range */
    int exe_state;                   /* 0: not yet, 1: EXES known, COND_UNKNOWN */
    PyObject *exes;                  /* list of str */
    int module_state;                /* 0: not yet, 1: MODULE below */
    PyObject *module;                /* the responsible module's name, or NULL: none */
} EventFacts;

/* What the conditions need besides the rules (tpython.engine.native c_options: move_events,
 * write_events, write_flags, condition_facts); once, before any rule is built. */
int conds_configure(PyObject *options);

/* A rule's conditions, or NULL with no exception when it has none. NULL with an
 * exception: bad input. */
CondSet *conds_build(PyObject *spec);

/* Whether the rule applies to this event: COND_APPLIES or COND_NOT (a fact C cannot
 * know decided so as never to open a hole). */
int conds_apply(const CondSet *set, const char *event, PyObject *args, const Shape *shape, EventFacts *facts);

void facts_clear(EventFacts *facts);

/* Where an event keeps a fact: event -> up to 4 argument positions (-1: none), from a
 * tuple of (event, position or None, ...) (tpython.engine.eventargs, via c_options). */
typedef struct {
    char *event;
    int pos[4];
} EventPlaces;

typedef struct {
    EventPlaces *items;
    Py_ssize_t n;
} PlaceTable;

int places_build(PyObject *tuple, PlaceTable *table);
/* EVENT's positions in TABLE, or NULL. */
const int *places_of(const PlaceTable *table, const char *event);
/* ARGS[POS] (borrowed), or NULL when POS is -1 or beyond them. */
PyObject *arg_at(PyObject *args, int pos);

/* Helpers the condition files share: a tuple of str -> strdup'ed names; membership. */
int cond_names(PyObject *tuple, char ***out, Py_ssize_t *n);
int cond_named(char *const *list, Py_ssize_t n, const char *event);

#endif
