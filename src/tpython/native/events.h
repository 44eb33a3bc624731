/* The entry table (events.c): each event name resolved once, on first sight, to an
 * entry from the frozen rules; names met after the table filled up keep their tallies
 * in an overflow list. */
#ifndef TPYTHON_EVENTS_H
#define TPYTHON_EVENTS_H
#include <pthread.h>

#include "engine_state.h"

#define TABLE_BITS 13
#define TABLE_SIZE (1u << TABLE_BITS)
#define TABLE_LIMIT (TABLE_SIZE * 3 / 4)

/* Names counted, denied or killed after the table filled up: they have no entry to keep
 * the tally in, so it is kept here, by name, action (A_COUNT, A_DENY_C, A_KILL_C) and rule. */
typedef struct Overflow {
    struct Overflow *next;
    uint64_t count;
    int action;
    const char *rule; /* a rule's id (frozen with the policy), or "" */
    char name[];
} Overflow;

extern Entry entries[TABLE_LIMIT]; /* entries[0..events_used()) are whole */
extern Overflow *overflow;         /* read under table_lock */
extern pthread_mutex_t table_lock;

unsigned events_used(void);
/* Fill E for EVENT from the frozen rules; free_steps releases what it allocated. */
void resolve(const char *event, Entry *e);
void free_steps(Entry *e);
/* The entry of EVENT (found, or made on first sight), or NULL when the table is full. */
Entry *entry_of(const char *event);
/* The entry of EVENT by its text only (no literal slot), or NULL when the table is full. */
Entry *entry_by_name(const char *event);
void overflow_tally(const char *event, int action, const char *rule);

#endif
