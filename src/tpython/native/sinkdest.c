/* The sinks' destinations: what tpython resolved and opened before the program ran.
 *
 * Once the program runs (sealed), the sinks keep using what they set up before it: the
 * addresses resolved then, sockets opened to those, and nothing else. net.c's functions
 * are plain system calls with no audit event; the program can call them too, so after
 * the seal they refuse anything tpython did not set up itself before it (net.c asks
 * here). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdlib.h>
#include <string.h>

#include "sinkdest.h"

#define MAX_KNOWN 32
static KnownAddress known[MAX_KNOWN];
static int n_known;
static int known_fds[MAX_KNOWN * 4];
static int n_known_fds;

void
sinkdest_remember_address(const char *where, int port, int stream, int family, const void *addr, socklen_t len)
{
    if (n_known >= MAX_KNOWN || len > sizeof(struct sockaddr_storage)) {
        return;
    }
    KnownAddress *k = &known[n_known];
    if ((k->where = strdup(where)) == NULL) {
        return;
    }
    k->port = port;
    k->stream = stream;
    k->family = family;
    k->len = len;
    memcpy(&k->addr, addr, len);
    n_known++;
}

const KnownAddress *
sinkdest_known_name(const char *where, int port, int stream)
{
    for (int i = 0; i < n_known; i++) {
        if (known[i].port == port && known[i].stream == stream && strcmp(known[i].where, where) == 0) {
            return &known[i];
        }
    }
    return NULL;
}

int
sinkdest_known_address(const void *addr, socklen_t len)
{
    for (int i = 0; i < n_known; i++) {
        if (known[i].len == len && memcmp(&known[i].addr, addr, len) == 0) {
            return 1;
        }
    }
    return 0;
}

int
sinkdest_known_fd(int fd)
{
    for (int i = 0; i < n_known_fds; i++) {
        if (known_fds[i] == fd) {
            return 1;
        }
    }
    return 0;
}

void
sinkdest_remember_fd(int fd)
{
    for (int i = 0; i < n_known_fds; i++) {
        if (known_fds[i] == fd) {
            return;
        }
    }
    if (n_known_fds < (int)(sizeof known_fds / sizeof known_fds[0])) {
        known_fds[n_known_fds++] = fd;
    }
}

PyObject *
sinkdest_refuse(const char *what)
{
    PyErr_Format(PyExc_PermissionError, "tpython: %s: not a destination tpython set up before the program ran",
                 what);
    return NULL;
}

