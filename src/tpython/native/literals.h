/* Event names that are string literals of the interpreter (literals.c). */
#ifndef TPYTHON_LITERALS_H
#define TPYTHON_LITERALS_H

/* Find the read-only segments of the object that holds CPython (libpython, or the
 * python executable when it is linked statically). 0, or -1 when they are not found
 * (no event name is then taken for a literal). */
int literals_init(void);

/* Whether NAME lies in those segments: a literal such as "builtins.id" that CPython
 * passes to PySys_Audit, whose bytes cannot change while the process lives, so that
 * its address alone names the event. */
int is_literal(const char *name);

#endif
