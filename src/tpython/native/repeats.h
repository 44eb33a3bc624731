/* Repeated records, recorded once and then counted (repeats.c). */
#ifndef TPYTHON_REPEATS_H
#define TPYTHON_REPEATS_H
#include <Python.h>

#include "attrib.h"
#include "record.h"

/* What makes a record the same record: its parts, compared byte for byte, and a hash
 * of them. The parts point into the caller's data (valid while the record is made). */
enum { KEY_EVENT, KEY_ACTION, KEY_RULE, KEY_EXTRA, KEY_WHERE, KEY_FILE, KEY_NAME, KEY_MODULE, KEY_ARGS, KEY_PARTS };
typedef struct {
    const char *data[KEY_PARTS];
    size_t len[KEY_PARTS];
    int where[3];       /* KEY_WHERE: the code's first line, the line, whether there is a module */
    size_t size;        /* what the table keeps of it; 0: not tracked (recorded in full) */
    uint64_t hash;
} RepeatKey;

/* KEY of a `log` record about to be written from C: event, action, rule, EXTRA, the
 * responsible place and module, and the rendered arguments. */
void repeats_key(RepeatKey *key, const char *event, const char *action, const char *rule, const char *extra,
                 const AttribPlace *place, const Buf *args);
/* 1: KEY was recorded before in this run: counted, not to be written again; 0: write it
 * (KEY is then kept, when the table has room, and its repeats counted from now on). */
int repeats_count(const RepeatKey *key);
/* KEY's record was written as SEQ, with MODULE and PACKAGE (JSON texts): what the summary says of it. */
void repeats_remember(const RepeatKey *key, long long seq, const char *module, const char *package,
                      const AttribPlace *place);
/* KEY's record could not be written: its repeats are not to be counted. */
void repeats_forget(const RepeatKey *key);
/* The periodic summary, when one is due (IN_MAIN: the Python sinks can be fed). */
void repeats_tick(int in_main);
/* A forked child: its run starts with an empty table. */
void repeats_reset(void);
/* Repeats counted in this run, in all. */
uint64_t repeats_total(void);
unsigned repeats_tracked(void);

/* repeats_flush(): the summary of everything pending, now (before tpython.exit). */
PyObject *tp_repeats_flush(PyObject *module, PyObject *unused);

#define REPEATS_CAPACITY 4096

#endif
