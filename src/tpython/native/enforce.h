/* Carrying a decision out in C (enforce.c): a record written from C, and the `log`,
 * `deny`, `kill` and `ask` actions. No Python code of tpython's runs: the program may
 * have replaced any of it. IN_MAIN: the event is the main interpreter's. */
#ifndef TPYTHON_ENFORCE_H
#define TPYTHON_ENFORCE_H
#include <stdint.h>

#include "engine_state.h"

/* Write a record of EVENT (ENTRY: its entry, or NULL). *DELIVERED: how many sinks took
 * it. 0 when written (or counted as a repeat of a `log`), -1 on failure. */
int record_in_c(const char *event, PyObject *args, const Entry *entry, const char *action, int enforced,
                const char *rule, const char *extra, int in_main, int *delivered);
int log_in_c(const char *event, PyObject *args, const Entry *entry, const char *rule, int in_main);
/* COUNTER (or NULL for ask) tallies denials, kills and refusals. -1 with an exception when
 * the event is stopped; a kill in enforce mode never returns. */
int deny_in_c(const char *event, PyObject *args, const Entry *entry, const char *rule_id, const char *message,
              uint64_t *counter, int in_main);
int kill_in_c(const char *event, PyObject *args, const Entry *entry, const char *rule_id, uint64_t *counter,
              int in_main);
int ask_in_c(const char *event, PyObject *args, const Entry *entry, const char *rule_id, const char *message,
             uint64_t *counter, int in_main);

#endif
