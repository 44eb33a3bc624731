/* The JSONL files C writes records to: each one write(2) of a whole line (signals
 * held), a torn line taken back out, rotation by size, and each file's lost records.
 * Called with the chain's lock held (record.c). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "jsonl.h"
#include "record.h"

typedef struct {
    int fd;
    char *name;
    uint64_t lost;   /* records this sink missed since its last successful write */
    uint64_t lost_total; /* records this sink missed in this run */
    int warned;
    char *path;      /* for rotation: the file's path */
    long long rotate_bytes; /* 0: never rotated */
    int keep;        /* rotated files kept: PATH.1 (newest) ... PATH.KEEP */
    long long size;  /* the file's size when last looked at, plus what this process wrote since */
    long long unchecked; /* bytes written since the file was last looked at */
} FdSink;

static FdSink fd_sinks[JSONL_MAX_SINKS];
static int n_fd_sinks;
static int warn_fd = 2;

void
chain_warn(const char *message)
{
    ssize_t rc = write(warn_fd, message, strlen(message));
    (void)rc;
}

/* FD duplicated above the descriptors a program usually uses (200), close-on-exec;
 * anywhere above 2 when the process may not have that many (RLIMIT_NOFILE). */
static int
dup_high(int fd)
{
    int own = fcntl(fd, F_DUPFD_CLOEXEC, 200);
    return own >= 0 || errno != EINVAL ? own : fcntl(fd, F_DUPFD_CLOEXEC, 3);
}

/* Open SINK's path again (after a rotation, ours or another process's), above the
 * usual descriptors and close-on-exec, as chain_start does. */
static int
reopen_fd_sink(FdSink *sink)
{
    int fd = open(sink->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0640);
    if (fd < 0) {
        return -1;
    }
    int own = dup_high(fd);
    close(fd);
    if (own < 0) {
        return -1;
    }
    close(sink->fd);
    sink->fd = own;
    return 0;
}

static int
same_file(int fd, const char *path)
{
    struct stat a, b;
    return fstat(fd, &a) == 0 && stat(path, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

/* A descriptor holding the exclusive rotation lock (closing it releases it), or -1:
 * flock on the log's directory, opened for the purpose. A lock on the log's own
 * descriptor would not exclude forked children: flock locks belong to the open file
 * description, which fork shares, so parent and child would rotate at once and
 * overwrite each other's renamed files. A directory we may not read: the shared lock. */
static int
rotation_lock(FdSink *sink)
{
    int fd = -1;
    const char *slash = strrchr(sink->path, '/');
    if (slash != NULL) {
        size_t dlen = slash == sink->path ? 1 : (size_t)(slash - sink->path);
        char *dir = malloc(dlen + 1);
        if (dir != NULL) {
            memcpy(dir, sink->path, dlen);
            dir[dlen] = '\0';
            fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
            free(dir);
        }
    }
    if (fd < 0) {
        fd = dup(sink->fd);
    }
    if (fd >= 0 && flock(fd, LOCK_EX) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

/* Rotation by size (tpython.sinks.jsonl does the same for the launcher's records before the boot): when LEN
 * more bytes would take the file past rotate_bytes, PATH.i becomes PATH.i+1 (the
 * oldest beyond `keep` is overwritten), PATH becomes PATH.1, and a new PATH is begun,
 * one process at a time (rotation_lock); one that finds PATH is no longer its file
 * reopens it. The chain simply goes on. Looking at the file costs three system calls,
 * so it is done when this process's own count says the file is full, and otherwise
 * once per 1/64 of rotate_bytes written (other processes appending to the same file,
 * or rotating it, are seen then). */
static void
rotate_fd_sink(FdSink *sink, size_t len)
{
    long long incoming = (long long)len;
    if (sink->size + incoming <= sink->rotate_bytes && sink->unchecked + incoming < sink->rotate_bytes / 64) {
        return;
    }
    sink->unchecked = 0;
    if (!same_file(sink->fd, sink->path)) {
        reopen_fd_sink(sink);
    }
    struct stat st;
    if (fstat(sink->fd, &st) != 0) {
        return;
    }
    sink->size = st.st_size;
    if (st.st_size == 0 || st.st_size + (long long)len <= sink->rotate_bytes) {
        return;
    }
    int lock = rotation_lock(sink);
    if (lock < 0) {
        return;
    }
    int rotated = 0;
    if (same_file(sink->fd, sink->path)) { /* nobody rotated it while we waited */
        size_t plen = strlen(sink->path);
        char *from = malloc(plen + 24), *to = malloc(plen + 24);
        if (from != NULL && to != NULL) {
            for (int i = sink->keep - 1; i >= 1; i--) {
                snprintf(from, plen + 24, "%s.%d", sink->path, i);
                snprintf(to, plen + 24, "%s.%d", sink->path, i + 1);
                rename(from, to); /* a missing PATH.i is fine */
            }
            snprintf(to, plen + 24, "%s.1", sink->path);
            rotated = rename(sink->path, to) == 0;
        }
        free(from);
        free(to);
    }
    reopen_fd_sink(sink);
    close(lock);
    sink->size = fstat(sink->fd, &st) == 0 ? st.st_size : 0;
    (void)rotated;
}

/* Write LINE to one file sink with one write(2); a short write is taken back out. */
static int
write_fd_sink(FdSink *sink, const char *line, size_t len)
{
    if (sink->rotate_bytes > 0) {
        rotate_fd_sink(sink, len);
    }
    /* A fatal signal arriving during write(2) can cut it at a page boundary (a pool
     * worker terminated mid-record), leaving half a line that the next process's
     * record would be glued to. Signals wait until the record is whole (SIGKILL
     * cannot be held). */
    sigset_t all, previous;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &previous);
    ssize_t n = write(sink->fd, line, len);
    int saved = errno;
    pthread_sigmask(SIG_SETMASK, &previous, NULL);
    errno = saved;
    if (n > 0) {
        sink->size += n;
        sink->unchecked += n;
    }
    if (n == (ssize_t)len) {
        return 0;
    }
    int err = n < 0 ? errno : ENOSPC;
    if (n > 0) { /* a full disk: untear the partial line if it is still the file's end */
        struct stat st;
        off_t end = lseek(sink->fd, 0, SEEK_CUR);
        if (end >= 0 && fstat(sink->fd, &st) == 0 && st.st_size == end) {
            if (ftruncate(sink->fd, end - n) == 0) {
                sink->size -= n;
            }
        }
    }
    errno = err;
    return -1;
}

int
jsonl_add(int fd, const char *name, const char *path, long long rotate_bytes, int keep)
{
    if (n_fd_sinks >= JSONL_MAX_SINKS) {
        PyErr_Format(PyExc_ValueError, "at most %d JSONL sinks", JSONL_MAX_SINKS);
        return -1;
    }
    int own = dup_high(fd);
    char *copy = strdup(name), *path_copy = strdup(path);
    if (own < 0 || copy == NULL || path_copy == NULL) {
        free(copy);
        free(path_copy);
        if (own < 0) {
            PyErr_SetFromErrno(PyExc_OSError);
        }
        else {
            close(own);
            PyErr_NoMemory();
        }
        return -1;
    }
    /* size unknown: looked at before the first write */
    fd_sinks[n_fd_sinks++] = (FdSink){own, copy, 0, 0, 0, path_copy, rotate_bytes, keep < 1 ? 1 : keep,
                                      rotate_bytes, rotate_bytes};
    return 0;
}

void
jsonl_set_warn_fd(int fd)
{
    warn_fd = dup_high(fd);
    if (warn_fd < 0) {
        warn_fd = 2;
    }
}

int
jsonl_any_lost(void)
{
    for (int i = 0; i < n_fd_sinks; i++) {
        if (fd_sinks[i].lost != 0) {
            return 1;
        }
    }
    return 0;
}

int
jsonl_put_lost(Buf *line, int *first)
{
    for (int i = 0; i < n_fd_sinks; i++) {
        if (fd_sinks[i].lost) {
            if ((*first ? 0 : buf_puts(line, ",")) != 0 || buf_json_cstr(line, fd_sinks[i].name) != 0
                || buf_puts(line, ":") != 0 || buf_u64(line, fd_sinks[i].lost) != 0) {
                return -1;
            }
            *first = 0;
        }
    }
    return 0;
}

int
jsonl_write(const char *line, size_t len, int verify)
{
    int delivered = 0;
    for (int i = 0; i < n_fd_sinks; i++) {
        FdSink *sink = &fd_sinks[i];
        if (verify && !same_file(sink->fd, sink->path)) {
            /* dup2 of another file (/dev/null) over the log's descriptor, which no audit
             * event shows: the block is written to the log's own file, opened again. */
            (void)reopen_fd_sink(sink);
        }
        if (write_fd_sink(sink, line, len) == 0) {
            sink->lost = 0;
            delivered++;
            continue;
        }
        sink->lost++;
        sink->lost_total++;
        if (!sink->warned) {
            char message[512];
            snprintf(message, sizeof(message), "tpython: cannot write to %s: %s; counting lost records\n",
                     sink->name, strerror(errno));
            chain_warn(message);
            sink->warned = 1;
        }
    }
    return delivered;
}

void
jsonl_restart(void)
{
    for (int i = 0; i < n_fd_sinks; i++) {
        fd_sinks[i].lost = 0;
        fd_sinks[i].lost_total = 0;
        fd_sinks[i].warned = 0;
    }
}

static int
put_count(PyObject *dict, const char *name, uint64_t n)
{
    if (n == 0) {
        return 0;
    }
    PyObject *value = PyLong_FromUnsignedLongLong(n);
    int rc = value == NULL ? -1 : PyDict_SetItemString(dict, name, value);
    Py_XDECREF(value);
    return rc;
}

int
jsonl_lost_counts(PyObject *lost, PyObject *total)
{
    for (int i = 0; i < n_fd_sinks; i++) {
        if (put_count(lost, fd_sinks[i].name, fd_sinks[i].lost) < 0
            || put_count(total, fd_sinks[i].name, fd_sinks[i].lost_total) < 0) {
            return -1;
        }
    }
    return 0;
}
