/* Address literals as the C library reads them, without the _socket module; the sinks'
 * system calls, without audit events (net.c). */
#ifndef TPYTHON_NET_H
#define TPYTHON_NET_H
#include <Python.h>

PyObject *tp_inet_aton(PyObject *module, PyObject *arg);
PyObject *tp_is_ipv6(PyObject *module, PyObject *arg);

/* The network sinks' sockets, without _socket's audit events (net.c). */
PyObject *tp_net_address(PyObject *module, PyObject *args);
PyObject *tp_net_open(PyObject *module, PyObject *args);
PyObject *tp_net_connected(PyObject *module, PyObject *args);
PyObject *tp_net_send(PyObject *module, PyObject *args);
PyObject *tp_net_peer_closed(PyObject *module, PyObject *arg);
PyObject *tp_net_refusals(PyObject *module, PyObject *arg);
PyObject *tp_net_send_memfd(PyObject *module, PyObject *args);

/* The JSONL sink's file calls, without os's and fcntl's audit events (net.c). */
PyObject *tp_sink_open(PyObject *module, PyObject *args);
PyObject *tp_sink_rename(PyObject *module, PyObject *args);
PyObject *tp_sink_lock(PyObject *module, PyObject *arg);
PyObject *tp_sink_truncate(PyObject *module, PyObject *args);

#endif
