/* The sinks' destinations, set up before the program ran (sinkdest.c). */
#ifndef TPYTHON_SINKDEST_H
#define TPYTHON_SINKDEST_H
#include <Python.h>
#include <sys/socket.h>

typedef struct {
    char *where;
    int port, stream;
    int family;
    socklen_t len;
    struct sockaddr_storage addr;
} KnownAddress;

void sinkdest_remember_address(const char *where, int port, int stream, int family, const void *addr,
                               socklen_t len);
/* The address resolved for (WHERE, PORT, STREAM) before the seal, or NULL. */
const KnownAddress *sinkdest_known_name(const char *where, int port, int stream);
int sinkdest_known_address(const void *addr, socklen_t len);
void sinkdest_remember_fd(int fd);
int sinkdest_known_fd(int fd);
/* NULL with PermissionError: WHAT is not a destination set up before the program ran. */
PyObject *sinkdest_refuse(const char *what);

#endif
