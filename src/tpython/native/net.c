/* Address literals as the C library reads them, for tpython.engine.facts.
 *
 * The same inet_aton(3) and inet_pton(3) that _socket.inet_aton and inet_pton
 * call, so that facts need not load _socket (a fifth of a millisecond of every
 * start) nor trust whatever module the program may have put in sys.modules under
 * that name later. A str holding a NUL is no address (the C library would read
 * only up to it).
 */
#include <Python.h>
#include <arpa/inet.h>
#include <string.h>

#include "net.h"

/* TEXT as UTF-8 when it holds no NUL, else NULL (no Python error set). */
static const char *
c_text(PyObject *arg)
{
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected a str");
        return NULL;
    }
    Py_ssize_t size;
    const char *text = PyUnicode_AsUTF8AndSize(arg, &size);
    if (text == NULL) {
        PyErr_Clear(); /* a lone surrogate: no address */
        return NULL;
    }
    return strlen(text) == (size_t)size ? text : NULL;
}

/* inet_aton(text) -> the 4 packed bytes, or None when the C library refuses it. */
PyObject *
tp_inet_aton(PyObject *module, PyObject *arg)
{
    (void)module;
    const char *text = c_text(arg);
    if (text == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_NONE;
    }
    struct in_addr address;
    if (inet_aton(text, &address) == 0) {
        Py_RETURN_NONE;
    }
    return PyBytes_FromStringAndSize((const char *)&address, sizeof address);
}

/* is_ipv6(text) -> whether inet_pton(AF_INET6, text) takes it. */
PyObject *
tp_is_ipv6(PyObject *module, PyObject *arg)
{
    (void)module;
    const char *text = c_text(arg);
    if (text == NULL) {
        if (PyErr_Occurred()) {
            return NULL;
        }
        Py_RETURN_FALSE;
    }
    struct in6_addr address;
    return PyBool_FromLong(inet_pton(AF_INET6, text, &address) == 1);
}
