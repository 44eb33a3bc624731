/* Address literals as the C library reads them, without the _socket module (net.c). */
#ifndef TPYTHON_NET_H
#define TPYTHON_NET_H
#include <Python.h>

PyObject *tp_inet_aton(PyObject *module, PyObject *arg);
PyObject *tp_is_ipv6(PyObject *module, PyObject *arg);

#endif
