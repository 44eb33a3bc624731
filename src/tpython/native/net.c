/* Address literals as the C library reads them, for tpython.engine.facts; and the
 * sinks' own system calls, which raise no audit events (below).
 *
 * The same inet_aton(3) and inet_pton(3) that _socket.inet_aton and inet_pton
 * call, so that facts need not load _socket (a fifth of a millisecond of every
 * start) nor trust whatever module the program may have put in sys.modules under
 * that name later. A str holding a NUL is no address (the C library would read
 * only up to it).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/errqueue.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "dispatch.h"
#include "net.h"
#include "sinkdest.h"

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

/* ---- the network sinks' sockets ---------------------------------------------
 *
 * The syslog and journald sinks send through these plain system calls: CPython's
 * _socket raises audit events (socket.__new__, socket.connect, socket.sendto,
 * socket.sendmsg, socket.getaddrinfo), and a sink's own work must neither be
 * recorded as the program's nor reach its policy (a reconnection recorded, sent,
 * failing and reconnecting made a loop). When to connect, and what a failure
 * means, is decided in Python (tpython/sinks/link.py); this is only the calls.
 * Descriptors are close-on-exec; a send never raises SIGPIPE.
 */

static PyObject *
errno_error(int error)
{
    errno = error;
    return PyErr_SetFromErrno(PyExc_OSError);
}

/* net_address(where, port, stream) -> (family, sockaddr): PORT < 0: WHERE is a local
 * socket's path; otherwise a host name or address, resolved once (getaddrinfo(3)). */
PyObject *
tp_net_address(PyObject *module, PyObject *args)
{
    (void)module;
    const char *where;
    int port, stream;
    if (!PyArg_ParseTuple(args, "sip:net_address", &where, &port, &stream)) {
        return NULL;
    }
    if (tp_is_sealed()) { /* no lookup (an unaudited DNS query) after the seal: what was found before */
        const KnownAddress *k = sinkdest_known_name(where, port, stream);
        return k != NULL ? Py_BuildValue("(iy#)", k->family, (const char *)&k->addr, (Py_ssize_t)k->len)
                         : sinkdest_refuse("net_address");
    }
    if (port < 0) {
        struct sockaddr_un un;
        memset(&un, 0, sizeof un);
        un.sun_family = AF_UNIX;
        size_t len = strlen(where);
        if (len == 0 || len >= sizeof un.sun_path) {
            return errno_error(len ? ENAMETOOLONG : ENOENT);
        }
        memcpy(un.sun_path, where, len);
        socklen_t un_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len + 1);
        sinkdest_remember_address(where, port, stream, AF_UNIX, &un, un_len);
        return Py_BuildValue("(iy#)", AF_UNIX, (const char *)&un, (Py_ssize_t)un_len);
    }
    char service[16];
    snprintf(service, sizeof service, "%d", port);
    struct addrinfo hints, *found = NULL;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = stream ? SOCK_STREAM : SOCK_DGRAM;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = getaddrinfo(where, service, &hints, &found);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_Format(PyExc_OSError, "cannot resolve %s: %s", where,
                     rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        return NULL;
    }
    sinkdest_remember_address(where, port, stream, found->ai_family, found->ai_addr, found->ai_addrlen);
    PyObject *out = Py_BuildValue("(iy#)", found->ai_family, (const char *)found->ai_addr,
                                  (Py_ssize_t)found->ai_addrlen);
    freeaddrinfo(found);
    return out;
}

static int
set_blocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    return flags < 0 ? -1 : fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
}

/* net_open(family, sockaddr, stream, connect, timeout) -> (fd, ready): a socket whose
 * sends wait at most TIMEOUT seconds; with CONNECT, connected to SOCKADDR (a stream
 * connection may still be in progress: ready False, see net_connected). UDP sockets
 * queue the ICMP errors their datagrams cause (IP_RECVERR): see net_refusals. */
PyObject *
tp_net_open(PyObject *module, PyObject *args)
{
    (void)module;
    int family, stream, do_connect;
    const char *address;
    Py_ssize_t address_len;
    double timeout;
    if (!PyArg_ParseTuple(args, "iy#ppd:net_open", &family, &address, &address_len, &stream, &do_connect,
                          &timeout)) {
        return NULL;
    }
    if (address_len <= 0 || (size_t)address_len > sizeof(struct sockaddr_storage)) {
        PyErr_SetString(PyExc_ValueError, "not a socket address");
        return NULL;
    }
    if (tp_is_sealed() && !sinkdest_known_address(address, (socklen_t)address_len)) {
        return sinkdest_refuse("net_open");
    }
    int fd = socket(family, (stream ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    struct timeval wait = {(time_t)timeout, (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof wait);
    if (!stream && family == AF_INET) {
        (void)setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one);
    }
    else if (!stream && family == AF_INET6) {
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof one);
    }
    int ready = 1, rc = 0;
    if (do_connect) {
        do {
            rc = connect(fd, (const struct sockaddr *)address, (socklen_t)address_len);
        } while (rc != 0 && errno == EINTR);
        if (rc != 0 && errno == EINPROGRESS) {
            ready = 0;
            rc = 0;
        }
    }
    if (rc == 0 && ready) {
        rc = set_blocking(fd);
    }
    if (rc != 0) {
        int error = errno;
        close(fd);
        return errno_error(error);
    }
    sinkdest_remember_fd(fd);
    return Py_BuildValue("(iO)", fd, ready ? Py_True : Py_False);
}

/* net_connected(fd, wait) -> whether FD's connection is established (waiting at most
 * WAIT seconds for it); OSError when it failed. */
PyObject *
tp_net_connected(PyObject *module, PyObject *args)
{
    (void)module;
    int fd;
    double wait;
    if (!PyArg_ParseTuple(args, "id:net_connected", &fd, &wait)) {
        return NULL;
    }
    struct pollfd p = {fd, POLLOUT, 0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    do {
        rc = poll(&p, 1, wait > 0 ? (int)(wait * 1000) : 0);
    } while (rc < 0 && errno == EINTR);
    Py_END_ALLOW_THREADS
    if (rc < 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (rc == 0) {
        Py_RETURN_FALSE;
    }
    int error = 0;
    socklen_t size = sizeof error;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    if (error == 0 && set_blocking(fd) != 0) {
        error = errno;
    }
    if (error != 0) {
        return errno_error(error);
    }
    Py_RETURN_TRUE;
}

static double
monotonic_now(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* net_send(fd, data, to, stream, wait) -> None: DATA whole, or OSError. A datagram goes
 * in one send (to the address TO when given: a socket that is not connected); without
 * WAIT it is not queued behind a full receiver. A stream's data is sent until all of it
 * went or the socket's send timeout passed. */
PyObject *
tp_net_send(PyObject *module, PyObject *args)
{
    (void)module;
    int fd, stream, wait;
    Py_buffer data, to = {0};
    if (!PyArg_ParseTuple(args, "iy*z*pp:net_send", &fd, &data, &to, &stream, &wait)) {
        return NULL;
    }
    int flags = MSG_NOSIGNAL | (wait ? 0 : MSG_DONTWAIT);
    const struct sockaddr *address = to.buf != NULL && to.len > 0 ? (const struct sockaddr *)to.buf : NULL;
    socklen_t address_len = address != NULL ? (socklen_t)to.len : 0;
    if (tp_is_sealed()
        && (!sinkdest_known_fd(fd) || (address != NULL && !sinkdest_known_address(address, address_len)))) {
        PyBuffer_Release(&data);
        if (to.obj != NULL) {
            PyBuffer_Release(&to);
        }
        return sinkdest_refuse("net_send");
    }
    const char *bytes = data.buf;
    size_t left = (size_t)data.len;
    int error = 0;
    Py_BEGIN_ALLOW_THREADS
    struct timeval limit;
    socklen_t size = sizeof limit;
    double deadline = 0;
    if (stream && getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &limit, &size) == 0) {
        deadline = monotonic_now() + (double)limit.tv_sec + (double)limit.tv_usec / 1e6;
    }
    do {
        ssize_t n = sendto(fd, bytes, left, flags, address, address_len);
        if (n >= 0) {
            bytes += n;
            left -= (size_t)n;
            if (!stream) {
                break;
            }
        }
        else if (errno != EINTR && !(stream && (errno == EAGAIN || errno == EWOULDBLOCK)
                                     && monotonic_now() < deadline)) {
            error = errno;
            break;
        }
    } while (left > 0);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    if (to.obj != NULL) {
        PyBuffer_Release(&to);
    }
    if (error != 0) {
        return errno_error(error == EAGAIN && stream ? ETIMEDOUT : error);
    }
    Py_RETURN_NONE;
}

/* net_peer_closed(fd) -> whether the other end of a stream closed it (a syslog collector
 * never sends anything: readable means closed, and a record sent into it would vanish). */
PyObject *
tp_net_peer_closed(PyObject *module, PyObject *arg)
{
    (void)module;
    int fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    struct pollfd p = {fd, POLLIN | POLLRDHUP, 0};
    int rc;
    do {
        rc = poll(&p, 1, 0);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0 || (p.revents & (POLLERR | POLLHUP | POLLRDHUP | POLLNVAL))) {
        Py_RETURN_TRUE;
    }
    if (p.revents & POLLIN) {
        char byte;
        ssize_t n = recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
            Py_RETURN_TRUE;
        }
    }
    Py_RETURN_FALSE;
}

/* net_refusals(fd) -> how many ICMP errors (port or host unreachable, ...) came back for
 * datagrams FD sent: each is one datagram the collector did not get. Drains the queue. */
PyObject *
tp_net_refusals(PyObject *module, PyObject *arg)
{
    (void)module;
    int fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    long refused = 0;
    for (int i = 0; i < 4096; i++) {
        char payload[64];
        union {
            char buf[512];
            struct cmsghdr align;
        } control;
        struct iovec iov = {payload, sizeof payload};
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        if (recvmsg(fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break; /* EAGAIN: nothing (more) queued */
        }
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
            if ((c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_RECVERR)
                || (c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_RECVERR)) {
                struct sock_extended_err err;
                memcpy(&err, CMSG_DATA(c), sizeof err);
                if (err.ee_origin == SO_EE_ORIGIN_ICMP || err.ee_origin == SO_EE_ORIGIN_ICMP6) {
                    refused++;
                }
            }
        }
    }
    return PyLong_FromLong(refused);
}

/* net_send_memfd(fd, data, to) -> None: DATA in a sealed memfd whose descriptor is sent
 * to the address TO (the journal's protocol for an entry too large for a datagram). */
PyObject *
tp_net_send_memfd(PyObject *module, PyObject *args)
{
    (void)module;
    int fd;
    Py_buffer data, to;
    if (!PyArg_ParseTuple(args, "iy*y*:net_send_memfd", &fd, &data, &to)) {
        return NULL;
    }
    if (tp_is_sealed() && (!sinkdest_known_fd(fd) || !sinkdest_known_address(to.buf, (socklen_t)to.len))) {
        PyBuffer_Release(&data);
        PyBuffer_Release(&to);
        return sinkdest_refuse("net_send_memfd");
    }
    int error = 0;
    Py_BEGIN_ALLOW_THREADS
    int mem = memfd_create("tpython-journal", MFD_ALLOW_SEALING | MFD_CLOEXEC);
    if (mem < 0) {
        error = errno;
    }
    const char *bytes = data.buf;
    size_t left = (size_t)data.len;
    while (!error && left > 0) {
        ssize_t n = write(mem, bytes, left);
        if (n < 0 && errno != EINTR) {
            error = errno;
        }
        else if (n > 0) {
            bytes += n;
            left -= (size_t)n;
        }
    }
    if (!error && fcntl(mem, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) != 0) {
        error = errno;
    }
    if (!error) {
        union {
            char buf[CMSG_SPACE(sizeof(int))];
            struct cmsghdr align;
        } control;
        memset(&control, 0, sizeof control);
        char nothing = 0;
        struct iovec iov = {&nothing, 0};
        struct msghdr msg;
        memset(&msg, 0, sizeof msg);
        msg.msg_name = to.buf;
        msg.msg_namelen = (socklen_t)to.len;
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.buf;
        msg.msg_controllen = sizeof control.buf;
        struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &mem, sizeof(int));
        ssize_t n;
        do {
            n = sendmsg(fd, &msg, MSG_NOSIGNAL);
        } while (n < 0 && errno == EINTR);
        if (n < 0) {
            error = errno;
        }
    }
    if (mem >= 0) {
        close(mem);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    PyBuffer_Release(&to);
    if (error != 0) {
        return errno_error(error);
    }
    Py_RETURN_NONE;
}

/* ---- the JSONL sink's file calls ---------------------------------------------
 * What the launcher's JSONL sink does to its files besides writing (reopening
 * the log, rotating it under a lock, taking back a torn line) raises audit events
 * through os and fcntl (open, os.rename, fcntl.flock, os.truncate); these do not.
 * The run's JSONL files are C's own (record.c, jsonl.c). */

/* sink_open(path, flags, mode) -> fd */
PyObject *
tp_sink_open(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *path;
    int flags, mode, fd;
    if (tp_refuse_sealed("sink_open") < 0
        || !PyArg_ParseTuple(args, "O&ii:sink_open", PyUnicode_FSConverter, &path, &flags, &mode)) {
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    fd = open(PyBytes_AS_STRING(path), flags | O_CLOEXEC, mode);
    Py_END_ALLOW_THREADS
    if (fd < 0) {
        PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
    }
    Py_DECREF(path);
    return fd < 0 ? NULL : PyLong_FromLong(fd);
}

/* sink_rename(source, target) -> None */
PyObject *
tp_sink_rename(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *source, *target = NULL;
    if (tp_refuse_sealed("sink_rename") < 0 || !PyArg_ParseTuple(args, "O&O&:sink_rename", PyUnicode_FSConverter, &source, PyUnicode_FSConverter,
                          &target)) {
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = rename(PyBytes_AS_STRING(source), PyBytes_AS_STRING(target));
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        PyErr_SetFromErrnoWithFilenameObjects(PyExc_OSError, source, target);
    }
    Py_DECREF(source);
    Py_DECREF(target);
    if (rc != 0) {
        return NULL;
    }
    Py_RETURN_NONE;
}

/* sink_lock(fd) -> None: flock(fd, LOCK_EX), waiting for it */
PyObject *
tp_sink_lock(PyObject *module, PyObject *arg)
{
    (void)module;
    if (tp_refuse_sealed("sink_lock") < 0) {
        return NULL;
    }
    int fd = PyLong_AsLong(arg);
    if (fd == -1 && PyErr_Occurred()) {
        return NULL;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    do {
        rc = flock(fd, LOCK_EX);
    } while (rc != 0 && errno == EINTR);
    Py_END_ALLOW_THREADS
    if (rc != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}

/* sink_truncate(fd, length) -> None */
PyObject *
tp_sink_truncate(PyObject *module, PyObject *args)
{
    (void)module;
    int fd;
    long long length;
    if (tp_refuse_sealed("sink_truncate") < 0 || !PyArg_ParseTuple(args, "iL:sink_truncate", &fd, &length)) {
        return NULL;
    }
    if (ftruncate(fd, (off_t)length) != 0) {
        return PyErr_SetFromErrno(PyExc_OSError);
    }
    Py_RETURN_NONE;
}
