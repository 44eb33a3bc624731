/* The entry table: each event name resolved once, on first sight, to an entry.
 *
 * An entry holds the action when no condition is involved (the category default,
 * or the first matching rule when that rule has no conditions), or the conditional
 * rules before it as steps whose conditions the hook evaluates. Finding an entry is
 * one hash of the name and one probe of a fixed table (for CPython's own literal
 * event names, one probe of a cache by address): no call into Python, no allocation.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "events.h"
#include "literals.h"

_Static_assert(TABLE_LIMIT < UINT16_MAX, "table_index holds positions in 16 bits");

/* The entries, densely, in the order their names were first seen; found through an
 * open-addressing index of their positions. An entry is whole before its position is
 * stored in the index (release), so a reader that finds it sees all of it. Only the
 * entries in use are touched: a run meets some hundred event names, and a table of
 * whole entries by hash (768 KB) put each on a page of its own (about 190 page faults,
 * 0.2 ms of every start). */
Entry entries[TABLE_LIMIT];
static uint16_t table_index[TABLE_SIZE]; /* 1 + position in entries, or 0: free */
static unsigned table_used;              /* entries[0..table_used) are whole */
pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
Overflow *overflow;

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

unsigned
events_used(void)
{
    return __atomic_load_n(&table_used, __ATOMIC_ACQUIRE);
}

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

int
known_cmp(const void *a, const void *b)
{
    return strcmp(((const Known *)a)->name, ((const Known *)b)->name);
}

int
shape_cmp(const void *a, const void *b)
{
    return strcmp(((const EventShape *)a)->name, ((const EventShape *)b)->name);
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

static const Shape *
shape_of(const char *event)
{
    EventShape key;
    key.name = (char *)event;
    EventShape *hit = n_shapes ? bsearch(&key, shapes, (size_t)n_shapes, sizeof(EventShape), shape_cmp) : NULL;
    return hit ? &hit->shape : NULL;
}

/* The C action carrying out the policy action ACTION. */
static int
c_action(int action)
{
    switch (action) {
    case A_LOG:
        return A_LOG_C;
    case A_DENY:
        return A_DENY_C;
    case A_KILL:
        return A_KILL_C;
    case A_ASK:
        return A_ASK_C;
    default:
        return action; /* A_ALLOW, A_COUNT */
    }
}

static int
blocks(int action)
{
    return action == A_DENY || action == A_KILL || action == A_ASK;
}

void
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
 * conditional rules before it become steps (C evaluates every condition). Out of
 * memory for the steps, their conditions are unknown facts, decided so as never to
 * open a hole: the first that could block is taken as applying, the others not. */
void
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
    int action = -1, oom = 0;
    const Rule *blocking = NULL; /* the first conditional rule that could block */
    for (Py_ssize_t i = 0; i < n_rules; i++) {
        const Rule *rule = &rules[i];
        if (!rule_matches(rule, event)) {
            continue;
        }
        if (rule->action == A_DENY || rule->action == A_KILL) {
            e->can_block = 1;
        }
        if (action >= 0) {
            continue;
        }
        if (!rule->conditional) {
            action = rule->action;
            e->rule = rule->id;
            e->message = rule->message;
            continue;
        }
        /* conditional: C evaluates its conditions (build_rules refuses one without) */
        if (blocking == NULL && blocks(rule->action)) {
            blocking = rule;
        }
        const Rule **grown = oom ? NULL : realloc(e->steps, (size_t)(e->n_steps + 1) * sizeof(Rule *));
        if (grown == NULL) {
            oom = 1;
            continue;
        }
        e->steps = grown;
        e->steps[e->n_steps++] = rule;
    }
    int final = c_action(action < 0 ? deflt : action);
    if (e->n_steps > 0 && !oom) {
        e->step_actions = malloc((size_t)e->n_steps * sizeof(int));
        e->step_counts = calloc((size_t)e->n_steps, sizeof(uint64_t));
        oom = e->step_actions == NULL || e->step_counts == NULL;
    }
    if (oom) {
        free_steps(e);
        if (blocking != NULL) {
            final = c_action(blocking->action);
            e->rule = blocking->id;
            e->message = blocking->message;
        }
    }
    if (e->n_steps == 0) {
        e->action = final;
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

/* Insert EVENT (first sight). NULL when the table is full: the event is then
 * resolved again each time it is seen, the same way, only slower. */
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

Entry *
entry_by_name(const char *event)
{
    size_t len;
    uint64_t hash = fnv1a(event, &len);
    Entry *e = lookup(event, hash, len);
    return e != NULL ? e : insert(event, hash, len);
}

/* The entry of EVENT: by its address when it is a literal seen before, else by its
 * text (and a literal's address is then kept, if its slot is free). */
Entry *
entry_of(const char *event)
{
    LiteralSlot *slot = literal_slot(event);
    if (__atomic_load_n(&slot->name, __ATOMIC_ACQUIRE) == event) {
        return slot->entry;
    }
    Entry *e = entry_by_name(event);
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

void
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
