/* `host` and `port` conditions in C (netconds.c). */
#ifndef TPYTHON_NETCONDS_H
#define TPYTHON_NETCONDS_H
#include <Python.h>
#include <limits.h>

#include "conditions.h"
#include "globs.h"

typedef struct {
    unsigned char addr[16];
    int len;     /* 4 (IPv4) or 16 (IPv6) */
    int prefix;  /* bits */
} Network;

typedef struct {
    int strict_all;
    GlobList names;  /* host name globs */
    Network *nets;
    Py_ssize_t n_nets;
} HostCond;

typedef struct {
    int strict_all;
    long *ranges;    /* lo, hi pairs */
    Py_ssize_t n;
} PortCond;

#define PORT_NONE LLONG_MIN /* EventFacts.port: none, or unknown */

/* F->host and F->port (facts.event_host_port), once. */
void net_facts(EventFacts *f, const char *event, PyObject *args);

/* FACTS: condition_facts of c_options (eventargs' socket_address, host_port, url). */
int netconds_configure(PyObject *facts);
/* The position of a socket event's AF_UNIX address (a str or bytes), or -1. */
int net_unix_address(const char *event, PyObject *args);

/* ("host", strict_all, (name glob tokens, ...), ((packed network, prefix), ...)) */
int host_cond_build(PyObject *spec, HostCond *c);
/* ("port", strict_all, ((low, high), ...)) */
int port_cond_build(PyObject *spec, PortCond *c);
/* 1, 0 or COND_UNKNOWN */
int host_cond_holds(const HostCond *c, const char *event, PyObject *args, EventFacts *f);
int port_cond_holds(const PortCond *c, const char *event, PyObject *args, EventFacts *f);

#endif
