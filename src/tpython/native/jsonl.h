/* The JSONL files C writes records to (jsonl.c). Every function but jsonl_set_warn_fd
 * is called with the chain's lock held. */
#ifndef TPYTHON_JSONL_H
#define TPYTHON_JSONL_H
#include <Python.h>

#include "jsonbuf.h"

#define JSONL_MAX_SINKS 8

/* chain_start: take over FD (duplicated above the usual descriptors, close-on-exec) as
 * the sink NAME writing PATH, rotated past ROTATE_BYTES (0: never), KEEP files kept.
 * 0, or -1 with an exception. */
int jsonl_add(int fd, const char *name, const char *path, long long rotate_bytes, int keep);
/* chain_warn writes to a duplicate of FD (stderr when it cannot be made). */
void jsonl_set_warn_fd(int fd);
/* Whether a file missed records since its last one; their `"name":n` pairs into LINE
 * (*FIRST: no pair before). 0, or -1 out of memory. */
int jsonl_any_lost(void);
int jsonl_put_lost(Buf *line, int *first);
/* LINE to every file; how many took it (a file that did not counts it as lost). */
/* LINE to every file; VERIFY: first make sure each descriptor is still its file (a
 * block's record: the program may have put another file on the descriptor). */
int jsonl_write(const char *line, size_t len, int verify);
/* A forked child's new run: no file has lost anything in it yet. */
void jsonl_restart(void);
/* {name: n} of the records each file missed since its last one, and in the whole run. */
int jsonl_lost_counts(PyObject *lost, PyObject *total);

#endif
