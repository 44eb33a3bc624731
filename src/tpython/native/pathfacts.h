/* Facts about the files an event names, for `path` and `write` conditions (pathfacts.c). */
#ifndef TPYTHON_PATHFACTS_H
#define TPYTHON_PATHFACTS_H
#include <Python.h>

#include "conditions.h"

int pathfacts_configure(PyObject *write_events, long long write_flags);
/* Whether the root directory changed since start (a chroot raises no audit event). */
int root_changed(void);
/* tpython.engine.facts.is_write: 1, 0 or COND_PYTHON. */
int is_write(const char *event, PyObject *args);
/* The event's candidate paths into F: 1, COND_UNKNOWN or COND_PYTHON. NEW_LINK: (position
 * of a new symbolic link's target text, of the link) when EVENT makes one; MOVED: (position
 * of a name, of its new name) when EVENT may give a symbolic link a new name; or NULL. */
int event_paths(EventFacts *f, const char *event, PyObject *args, const Shape *shape, const int *new_link,
                const int *moved);
/* posixpath.normpath of an absolute path, in place; its new length (0: out of memory). */
size_t normpath(char *path, size_t len);
/* os.readlink("/proc/self/fd/FD") into BUF; -1 when it cannot be read. */
ssize_t fd_path(long fd, char *buf, size_t size);
/* os.path.realpath of the absolute PATH into OUT (PATH_MAX bytes; TMP too): 0, or -1
 * when C cannot give what Python would. */
int real_path(const char *path, char *out, char *tmp);

#endif
