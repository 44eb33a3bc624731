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

/* ARG's text as UTF-8 in *TEXT, or NULL there when it can be no address (a NUL, a lone
 * surrogate). -1 with a Python error when ARG is not a str. */
static int
c_text(PyObject *arg, const char **text)
{
    *text = NULL;
    if (!PyUnicode_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "expected a str");
        return -1;
    }
    Py_ssize_t size;
    const char *utf8 = PyUnicode_AsUTF8AndSize(arg, &size);
    if (utf8 == NULL) {
        PyErr_Clear();
    }
    else if (strlen(utf8) == (size_t)size) {
        *text = utf8;
    }
    return 0;
}

/* inet_aton(text) -> the 4 packed bytes, or None when the C library refuses it. */
PyObject *
tp_inet_aton(PyObject *module, PyObject *arg)
{
    (void)module;
    const char *text;
    struct in_addr address;
    if (c_text(arg, &text) < 0) {
        return NULL;
    }
    if (text == NULL || inet_aton(text, &address) == 0) {
        Py_RETURN_NONE;
    }
    return PyBytes_FromStringAndSize((const char *)&address, sizeof address);
}

/* is_ipv6(text) -> whether inet_pton(AF_INET6, text) takes it. */
PyObject *
tp_is_ipv6(PyObject *module, PyObject *arg)
{
    (void)module;
    const char *text;
    struct in6_addr address;
    if (c_text(arg, &text) < 0) {
        return NULL;
    }
    return PyBool_FromLong(text != NULL && inet_pton(AF_INET6, text, &address) == 1);
}
