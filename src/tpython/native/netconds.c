/* `host` and `port` conditions in C.
 *
 * The remote host and port an event names, as tpython.engine.facts.event_host_port
 * finds them (where each event keeps them: tpython.engine.eventargs), and the
 * matching of tpython.engine.rules: a host that is an IP address (the legacy IPv4
 * forms inet_aton accepts included, an IPv4-mapped IPv6 address as its IPv4
 * address) is matched against the rule's networks and its name globs, any other
 * host against the name globs. A host or port that is not known answers
 * COND_UNKNOWN, which never opens a hole.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "netconds.h"


static PlaceTable socket_address; /* event -> (position of the address) */
static PlaceTable host_port;      /* event -> (position of the host, of the port) */
static PlaceTable url_args;       /* event -> (position of the URL) */

int
netconds_configure(PyObject *facts)
{
    PyObject *a = PyDict_GetItemString(facts, "socket_address");
    PyObject *h = PyDict_GetItemString(facts, "host_port");
    PyObject *u = PyDict_GetItemString(facts, "url");
    if (a == NULL || h == NULL || u == NULL) {
        PyErr_SetString(PyExc_KeyError, "condition_facts need socket_address, host_port, url");
        return -1;
    }
    return places_build(a, &socket_address) < 0 || places_build(h, &host_port) < 0 || places_build(u, &url_args) < 0
               ? -1 : 0;
}

int
net_unix_address(const char *event, PyObject *args)
{
    const int *pos = places_of(&socket_address, event);
    PyObject *addr = pos ? arg_at(args, pos[0]) : NULL;
    return addr != NULL && (PyUnicode_Check(addr) || PyBytes_Check(addr)) ? pos[0] : -1;
}

/* ---- facts ---------------------------------------------------------------- */

/* VALUE as a plain str (a str subclass copied without its methods), or NULL. */
static PyObject *
exact_str(PyObject *value)
{
    if (value == NULL || !PyUnicode_Check(value)) {
        return NULL;
    }
    return PyUnicode_Substring(value, 0, PyUnicode_GET_LENGTH(value)); /* exact str */
}

/* facts._host_text: bytes-like as ASCII (errors replaced), then strip().rstrip(".").lower(). */
static PyObject *
host_text(PyObject *value)
{
    PyObject *text = NULL;
    if (value == NULL || value == Py_None) {
        return NULL;
    }
    if (PyBytes_Check(value)) {
        text = PyUnicode_DecodeASCII(PyBytes_AS_STRING(value), PyBytes_GET_SIZE(value), "replace");
    }
    else if (PyByteArray_Check(value)) {
        text = PyUnicode_DecodeASCII(PyByteArray_AS_STRING(value), PyByteArray_GET_SIZE(value), "replace");
    }
    else if (PyMemoryView_Check(value) && Py_IS_TYPE(value, &PyMemoryView_Type)) {
        PyObject *data = PyBytes_FromObject(value); /* a released view: nothing is known */
        if (data != NULL) {
            text = PyUnicode_DecodeASCII(PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data), "replace");
            Py_DECREF(data);
        }
    }
    else {
        text = exact_str(value);
    }
    if (text == NULL) {
        PyErr_Clear();
        return NULL;
    }
    /* str's own methods, on an exact str: no code of the program runs */
    PyObject *stripped = PyObject_CallMethod(text, "strip", NULL);
    Py_DECREF(text);
    PyObject *trimmed = stripped ? PyObject_CallMethod(stripped, "rstrip", "s", ".") : NULL;
    Py_XDECREF(stripped);
    PyObject *lower = trimmed ? PyObject_CallMethod(trimmed, "lower", NULL) : NULL;
    Py_XDECREF(trimmed);
    if (lower == NULL) {
        PyErr_Clear();
    }
    return lower;
}

/* An ASCII digit string's value: PORT_NONE when it is longer than int() reads, LLONG_MAX
 * when it is beyond any port. */
static long long
digits_value(const char *s, size_t n)
{
    if (n > 4300) {
        return PORT_NONE;
    }
    while (n > 1 && *s == '0') {
        s++;
        n--;
    }
    if (n > 18) {
        return LLONG_MAX;
    }
    long long v = 0;
    for (size_t i = 0; i < n; i++) {
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int
all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return 0;
        }
    }
    return n > 0;
}

/* facts.event_host_port's port: an exact int, or a str of ASCII digits (a service name otherwise). */
static long long
port_number(PyObject *value)
{
    if (value == NULL) {
        return PORT_NONE;
    }
    if (PyLong_CheckExact(value)) {
        int overflow = 0;
        long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
        if (v == -1 && PyErr_Occurred()) {
            PyErr_Clear();
            return PORT_NONE;
        }
        return overflow ? LLONG_MAX : v; /* beyond any range (a negative one too) */
    }
    if (!PyUnicode_Check(value)) {
        return PORT_NONE;
    }
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(value, &n);
    if (s == NULL) {
        PyErr_Clear();
        return PORT_NONE;
    }
    return all_digits(s, (size_t)n) ? digits_value(s, (size_t)n) : PORT_NONE;
}

/* The host (new str, or NULL) and port of URL as urllib.parse.urlsplit gives them
 * (hostname, port); a URL urlsplit refuses, or C is not sure of, has no host. */
static PyObject *
url_host_port(PyObject *url, long long *port)
{
    *port = PORT_NONE;
    Py_ssize_t len;
    const char *raw = PyUnicode_AsUTF8AndSize(url, &len);
    char *u = raw ? malloc((size_t)len + 1) : NULL;
    PyObject *host = NULL;
    if (u == NULL) {
        PyErr_Clear();
        return NULL;
    }
    size_t n = 0;
    Py_ssize_t i = 0;
    while (i < len && (unsigned char)raw[i] <= ' ') { /* leading C0 controls and spaces */
        i++;
    }
    for (; i < len; i++) {
        if (raw[i] != '\t' && raw[i] != '\r' && raw[i] != '\n') {
            u[n++] = raw[i];
        }
    }
    u[n] = '\0';
    const char *p = u;
    const char *colon = memchr(u, ':', n);
    if (colon != NULL && colon > u && ((*u | 0x20) >= 'a' && (*u | 0x20) <= 'z')) {
        const char *c = u;
        while (c < colon && (((*c | 0x20) >= 'a' && (*c | 0x20) <= 'z') || (*c >= '0' && *c <= '9') || *c == '+'
                             || *c == '-' || *c == '.')) {
            c++;
        }
        if (c == colon) {
            p = colon + 1; /* the scheme */
        }
    }
    if (strncmp(p, "//", 2) != 0) {
        goto done; /* no network location */
    }
    p += 2;
    size_t netlen = strcspn(p, "/?#");
    char netloc[1024];
    if (netlen >= sizeof netloc) {
        goto done;
    }
    memcpy(netloc, p, netlen);
    netloc[netlen] = '\0';
    for (size_t k = 0; k < netlen; k++) {
        if ((unsigned char)netloc[k] >= 0x80) {
            goto done; /* urlsplit's NFKC check of a non-ASCII netloc: not C's to say */
        }
    }
    char *info = strrchr(netloc, '@');
    info = info ? info + 1 : netloc;
    int open_br = strchr(netloc, '[') != NULL, close_br = strchr(netloc, ']') != NULL;
    if (open_br != close_br) {
        goto done; /* ValueError: Invalid IPv6 URL */
    }
    char *name = info, *port_text = NULL;
    char *br = strchr(info, '[');
    if (br != NULL) {
        if (br != info) {
            goto done; /* text before the bracket: ValueError */
        }
        name = br + 1;
        char *end = strchr(name, ']');
        if (end == NULL) {
            goto done;
        }
        *end = '\0';
        if (end[1] != '\0' && end[1] != ':') {
            goto done;
        }
        port_text = end[1] == ':' ? end + 2 : NULL;
        char address[64];
        size_t alen = strcspn(name, "%");
        unsigned char packed[16];
        if (alen >= sizeof address) {
            goto done;
        }
        memcpy(address, name, alen);
        address[alen] = '\0';
        if (inet_pton(AF_INET6, address, packed) != 1) {
            goto done; /* not an IPv6 address (IPvFuture included): no host C is sure of */
        }
    }
    else {
        char *c = strchr(info, ':');
        if (c != NULL) {
            *c = '\0';
            port_text = c + 1;
        }
    }
    if (port_text != NULL && *port_text != '\0') {
        size_t plen = strlen(port_text);
        long long v = all_digits(port_text, plen) ? digits_value(port_text, plen) : PORT_NONE;
        if (v == PORT_NONE || v < 0 || v > 65535) {
            goto done; /* ValueError from .port: no host either */
        }
        *port = v;
    }
    if (*name != '\0') {
        host = PyUnicode_DecodeASCII(name, (Py_ssize_t)strlen(name), "strict");
    }
done:
    if (host == NULL) {
        *port = PORT_NONE;
        PyErr_Clear();
    }
    free(u);
    return host;
}

/* F->host and F->port, once. */
void
net_facts(EventFacts *f, const char *event, PyObject *args)
{
    if (f->net_state) {
        return;
    }
    f->net_state = 1;
    f->port = PORT_NONE;
    PyObject *host = NULL, *port = NULL;
    const int *pos;
    if ((pos = places_of(&socket_address, event)) != NULL) {
        PyObject *addr = arg_at(args, pos[0]);
        if (addr != NULL && PyTuple_Check(addr) && PyTuple_GET_SIZE(addr) >= 1) {
            host = PyTuple_GET_ITEM(addr, 0);
            port = PyTuple_GET_SIZE(addr) >= 2 ? PyTuple_GET_ITEM(addr, 1) : NULL;
        }
    }
    else if ((pos = places_of(&host_port, event)) != NULL) {
        host = arg_at(args, pos[0]);
        port = arg_at(args, pos[1]);
    }
    else if ((pos = places_of(&url_args, event)) != NULL) {
        PyObject *url = exact_str(arg_at(args, pos[0]));
        if (url != NULL && PyUnicode_GET_LENGTH(url) > 0) {
            PyObject *name = url_host_port(url, &f->port);
            f->host = host_text(name);
            Py_XDECREF(name);
        }
        Py_XDECREF(url);
        PyErr_Clear();
        return;
    }
    f->host = host_text(host);
    f->port = port_number(port);
}

/* facts.parse_address: HOST (lower-case) as an address into ADDR (4 or 16 bytes); 0: none. */
static int
parse_address(PyObject *host, unsigned char *addr)
{
    Py_ssize_t len;
    const char *s = PyUnicode_AsUTF8AndSize(host, &len);
    if (s == NULL) {
        PyErr_Clear();
        return 0;
    }
    size_t n = strcspn(s, "%"); /* the zone */
    const char *start = s;
    while (n > 0 && (*start == '[' || *start == ']')) {
        start++;
        n--;
    }
    while (n > 0 && (start[n - 1] == '[' || start[n - 1] == ']')) {
        n--;
    }
    char text[64];
    if (n == 0 || n >= sizeof text || memchr(start, '\0', n) != NULL) {
        return 0;
    }
    memcpy(text, start, n);
    text[n] = '\0';
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (inet_pton(AF_INET6, text, addr) == 1) {
        if (memcmp(addr, mapped, 12) == 0) {
            memmove(addr, addr + 12, 4);
            return 4;
        }
        return 16;
    }
    int digit = 0;
    for (size_t i = 0; i < n; i++) {
        char c = text[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') || c == 'x' || c == '.')) {
            return 0; /* facts._LEGACY_IPV4_CHARS */
        }
        digit |= c >= '0' && c <= '9';
    }
    struct in_addr in;
    if (!digit || inet_aton(text, &in) == 0) {
        return 0;
    }
    memcpy(addr, &in, 4);
    return 4;
}

/* ---- conditions ----------------------------------------------------------- */

int
host_cond_build(PyObject *spec, HostCond *c)
{
    PyObject *strict_all, *names, *nets;
    if (!PyArg_ParseTuple(spec, "sOO!O!", &(const char *){0}, &strict_all, &PyTuple_Type, &names, &PyTuple_Type,
                          &nets)) {
        return -1;
    }
    c->strict_all = PyObject_IsTrue(strict_all) == 1;
    if (globs_build(names, &c->names) < 0) {
        return -1;
    }
    c->n_nets = PyTuple_GET_SIZE(nets);
    c->nets = calloc((size_t)(c->n_nets ? c->n_nets : 1), sizeof(Network));
    if (c->nets == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < c->n_nets; i++) {
        Py_buffer packed;
        int prefix;
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(nets, i), "y*i", &packed, &prefix)) {
            return -1;
        }
        int ok = (packed.len == 4 || packed.len == 16) && prefix >= 0 && prefix <= packed.len * 8;
        if (ok) {
            memcpy(c->nets[i].addr, packed.buf, (size_t)packed.len);
            c->nets[i].len = (int)packed.len;
            c->nets[i].prefix = prefix;
        }
        PyBuffer_Release(&packed);
        if (!ok) {
            PyErr_SetString(PyExc_ValueError, "a network is (packed address, prefix length)");
            return -1;
        }
    }
    return 0;
}

static int
in_network(const Network *net, const unsigned char *addr, int len)
{
    if (net->len != len) {
        return 0;
    }
    int whole = net->prefix / 8, bits = net->prefix % 8;
    if (memcmp(net->addr, addr, (size_t)whole) != 0) {
        return 0;
    }
    unsigned char mask = (unsigned char)(0xff << (8 - bits));
    return bits == 0 || ((net->addr[whole] ^ addr[whole]) & mask) == 0;
}

int
host_cond_holds(const HostCond *c, const char *event, PyObject *args, EventFacts *f)
{
    net_facts(f, event, args);
    if (f->host == NULL) {
        return COND_UNKNOWN;
    }
    unsigned char addr[16];
    int len = c->n_nets ? parse_address(f->host, addr) : 0;
    for (Py_ssize_t i = 0; len && i < c->n_nets; i++) {
        if (in_network(&c->nets[i], addr, len)) {
            return 1;
        }
    }
    int m = globs_any(&c->names, f->host);
    return m < 0 ? COND_UNKNOWN : m;
}

int
port_cond_build(PyObject *spec, PortCond *c)
{
    PyObject *strict_all, *ranges;
    if (!PyArg_ParseTuple(spec, "sOO!", &(const char *){0}, &strict_all, &PyTuple_Type, &ranges)) {
        return -1;
    }
    c->strict_all = PyObject_IsTrue(strict_all) == 1;
    c->n = PyTuple_GET_SIZE(ranges);
    c->ranges = calloc((size_t)(2 * c->n + 1), sizeof(long));
    if (c->ranges == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < c->n; i++) {
        if (!PyArg_ParseTuple(PyTuple_GET_ITEM(ranges, i), "ll", &c->ranges[2 * i], &c->ranges[2 * i + 1])) {
            return -1;
        }
    }
    return 0;
}

int
port_cond_holds(const PortCond *c, const char *event, PyObject *args, EventFacts *f)
{
    net_facts(f, event, args);
    if (f->port == PORT_NONE) {
        return COND_UNKNOWN;
    }
    for (Py_ssize_t i = 0; i < c->n; i++) {
        if (c->ranges[2 * i] <= f->port && f->port <= c->ranges[2 * i + 1]) {
            return 1;
        }
    }
    return 0;
}
