/* The record chain in C: numbering, hashing and writing JSONL records.
 *
 * The chain's state (run id, seq, the previous hash) and the JSONL files live
 * here, so every record shares one chain (the events C decides, and tpython's
 * own start, exit and worker records), and the program cannot rewind or fork it
 * from Python. The format is tpython.logs.chain's, byte for byte: compact JSON,
 * every non-ASCII character escaped, `hash` the SHA-256 of the record
 * without it. SHA-256 comes from GNU Nettle: as fast as OpenSSL's (both use
 * the CPU's SHA instructions), and loading it costs a fraction of what loading
 * libcrypto and initialising its providers costs at every start (about 3 ms).
 */
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
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "dispatch.h"
#include "record.h"
#include "repeats.h"

#define MAX_FD_SINKS 8

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

static pthread_mutex_t chain_lock = PTHREAD_MUTEX_INITIALIZER;
static int chain_ready;
static char run_id[64];
static long chain_pid;
static uint64_t chain_seq;
static uint64_t chain_written;
static char prev_hash[65];
static int has_prev;
static FdSink fd_sinks[MAX_FD_SINKS];
static int n_fd_sinks;
static int warn_fd = 2;

/* ---- a growable buffer and JSON escaping (json.dumps, ensure_ascii=True) ---- */

int
buf_grow(Buf *b, size_t extra)
{
    size_t cap = b->cap ? b->cap : 512;
    while (cap < b->len + extra) {
        cap *= 2;
    }
    char *data = b->data == b->inline_data ? NULL : b->data;
    char *grown = realloc(data, cap);
    if (grown == NULL) {
        return -1;
    }
    if (data == NULL && b->len) {
        memcpy(grown, b->inline_data, b->len);
    }
    b->data = grown;
    b->cap = cap;
    return 0;
}

void
buf_init(Buf *b)
{
    b->data = b->inline_data;
    b->len = 0;
    b->cap = sizeof(b->inline_data);
    b->raw = 0;
    b->unencodable = 0;
}

const char *
buf_ellipsis(const Buf *b)
{
    return b->raw ? "\xe2\x80\xa6" : "\\u2026";
}

void
buf_free(Buf *b)
{
    if (b->data != b->inline_data) {
        free(b->data);
    }
    buf_init(b);
}

int
buf_u64(Buf *b, uint64_t v)
{
    char tmp[24];
    char *p = tmp + sizeof(tmp);
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    return buf_put(b, p, (size_t)(tmp + sizeof(tmp) - p));
}

static const char HEX[] = "0123456789abcdef";

static int
put_u_escape(Buf *b, unsigned c)
{
    char e[6] = {'\\', 'u', HEX[(c >> 12) & 0xF], HEX[(c >> 8) & 0xF], HEX[(c >> 4) & 0xF], HEX[c & 0xF]};
    return buf_put(b, e, 6);
}

/* One code point, as _json.c's ascii_escape_unichar writes it (escape_unicode in a raw buffer). */
static int
put_char(Buf *b, Py_UCS4 c)
{
    if (c >= ' ' && c <= '~' && c != '\\' && c != '"') {
        char ch = (char)c;
        return buf_put(b, &ch, 1);
    }
    if (b->raw && c >= 0x7f) {
        char u[4];
        if (c >= 0xD800 && c <= 0xDFFF) {
            b->unencodable = 1;
            return buf_put(b, "?", 1);
        }
        if (c < 0x80) {
            u[0] = (char)c;
            return buf_put(b, u, 1);
        }
        if (c < 0x800) {
            u[0] = (char)(0xC0 | (c >> 6));
            u[1] = (char)(0x80 | (c & 0x3F));
            return buf_put(b, u, 2);
        }
        if (c < 0x10000) {
            u[0] = (char)(0xE0 | (c >> 12));
            u[1] = (char)(0x80 | ((c >> 6) & 0x3F));
            u[2] = (char)(0x80 | (c & 0x3F));
            return buf_put(b, u, 3);
        }
        u[0] = (char)(0xF0 | (c >> 18));
        u[1] = (char)(0x80 | ((c >> 12) & 0x3F));
        u[2] = (char)(0x80 | ((c >> 6) & 0x3F));
        u[3] = (char)(0x80 | (c & 0x3F));
        return buf_put(b, u, 4);
    }
    switch (c) {
    case '\\': return buf_put(b, "\\\\", 2);
    case '"': return buf_put(b, "\\\"", 2);
    case '\b': return buf_put(b, "\\b", 2);
    case '\f': return buf_put(b, "\\f", 2);
    case '\n': return buf_put(b, "\\n", 2);
    case '\r': return buf_put(b, "\\r", 2);
    case '\t': return buf_put(b, "\\t", 2);
    default:
        if (c >= 0x10000) {
            Py_UCS4 v = c - 0x10000;
            return put_u_escape(b, 0xD800 | ((v >> 10) & 0x3FF)) < 0 ? -1 : put_u_escape(b, 0xDC00 | (v & 0x3FF));
        }
        return put_u_escape(b, c);
    }
}

/* A str as a JSON string, at most MAX characters, then "…[+N chars]" as render.bound() does. */
int
buf_json_str(Buf *b, PyObject *s, Py_ssize_t max)
{
    Py_ssize_t n = PyUnicode_GET_LENGTH(s);
    int kind = PyUnicode_KIND(s);
    const void *data = PyUnicode_DATA(s);
    Py_ssize_t stop = (max >= 0 && n > max) ? max : n;
    if (buf_reserve(b, (size_t)stop + 2) < 0 || buf_put(b, "\"", 1) < 0) {
        return -1;
    }
    if (kind == PyUnicode_1BYTE_KIND) { /* runs of plain ASCII are copied at once */
        const unsigned char *p = data;
        Py_ssize_t i = 0;
        while (i < stop) {
            Py_ssize_t run = i;
            while (run < stop && p[run] >= ' ' && p[run] <= '~' && p[run] != '\\' && p[run] != '"') {
                run++;
            }
            if (run > i && buf_put(b, (const char *)p + i, (size_t)(run - i)) < 0) {
                return -1;
            }
            if (run < stop && put_char(b, p[run]) < 0) {
                return -1;
            }
            i = run + 1;
        }
    }
    else {
        for (Py_ssize_t i = 0; i < stop; i++) {
            if (put_char(b, PyUnicode_READ(kind, data, i)) < 0) {
                return -1;
            }
        }
    }
    if (stop < n) {
        char tail[48];
        int len = snprintf(tail, sizeof(tail), "%s[+%zd chars]", buf_ellipsis(b), n - stop);
        if (buf_put(b, tail, (size_t)len) < 0) {
            return -1;
        }
    }
    return buf_put(b, "\"", 1);
}

/* A UTF-8 C string (event names, rule ids) as a JSON string. */
int
buf_json_cstr(Buf *b, const char *s)
{
    if (buf_put(b, "\"", 1) < 0) {
        return -1;
    }
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        if (*p < 0x80) {
            if (put_char(b, *p++) < 0) {
                return -1;
            }
            continue;
        }
        /* Decode one UTF-8 sequence (CPython hands hooks valid UTF-8). */
        Py_UCS4 c;
        int extra;
        if ((*p & 0xE0) == 0xC0) { c = *p & 0x1F; extra = 1; }
        else if ((*p & 0xF0) == 0xE0) { c = *p & 0x0F; extra = 2; }
        else { c = *p & 0x07; extra = 3; }
        p++;
        for (int i = 0; i < extra && (*p & 0xC0) == 0x80; i++) {
            c = (c << 6) | (*p++ & 0x3F);
        }
        if (put_char(b, c) < 0) {
            return -1;
        }
    }
    return buf_put(b, "\"", 1);
}

/* ---- the chain ---------------------------------------------------------- */

void
chain_warn(const char *message)
{
    ssize_t rc = write(warn_fd, message, strlen(message));
    (void)rc;
}

/* Write LINE to one file sink with one write(2); a short write is taken back out. */
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

/* Rotation by size (tpython.sinks.jsonl does the same for the Python engine): when LEN
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

/* RFC 3339 UTC with microseconds; the date and time part is formatted once a second.
 * Called with chain_lock held. */
static void
now_rfc3339(char *out, size_t size)
{
    static time_t cached_sec = -1;
    static char cached[32];
    static size_t cached_len;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        cached_len = strftime(cached, sizeof(cached), "%Y-%m-%dT%H:%M:%S", &tm);
        cached_sec = ts.tv_sec;
    }
    memcpy(out, cached, cached_len);
    long micro = ts.tv_nsec / 1000;
    char *p = out + cached_len;
    *p++ = '.';
    for (int i = 5; i >= 0; i--) {
        p[i] = (char)('0' + micro % 10);
        micro /= 10;
    }
    p[6] = 'Z';
    p[7] = '\0';
    (void)size;
}

/* SHA-256 of a record (Nettle's context lives on the stack: nothing to allocate or fail). */
static int
chain_sha256(const char *data, size_t len, unsigned char digest[SHA256_DIGEST_SIZE])
{
    struct sha256_ctx ctx;
    sha256_init(&ctx);
    sha256_update(&ctx, len, (const uint8_t *)data);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
    return 0;
}

/* Build, hash and write one record; LINE receives the JSONL line (with its newline).
 * ARGS_JSON, MODULE_JSON, PACKAGE_JSON are JSON texts; EXTRA is a fragment of
 * further members (",\"answer\":\"yes\"") or ""; PY_LOST a fragment of lost counts
 * of the Python sinks ("\"stderr\":2") or "". Returns the record's seq, or -1. */
long long
chain_record(Buf *line, const char *event, const char *args_json, size_t args_len, const char *action,
             int enforced, const char *rule, const char *module_json, const char *package_json,
             const char *extra, const char *py_lost, int *delivered)
{
    char ts[40];
    *delivered = 0;
    pthread_mutex_lock(&chain_lock);
    now_rfc3339(ts, sizeof(ts));
    long long seq = (long long)chain_seq;
    int ok = buf_puts(line, "{\"ts\":\"") == 0 && buf_puts(line, ts) == 0 && buf_puts(line, "\",\"seq\":") == 0
             && buf_u64(line, chain_seq) == 0 && buf_puts(line, ",\"run\":\"") == 0 && buf_puts(line, run_id) == 0
             && buf_puts(line, "\",\"pid\":") == 0 && buf_u64(line, (uint64_t)chain_pid) == 0
             && buf_puts(line, ",\"event\":") == 0 && buf_json_cstr(line, event) == 0
             && buf_puts(line, ",\"args\":") == 0 && buf_put(line, args_json, args_len) == 0
             && buf_puts(line, ",\"action\":\"") == 0 && buf_puts(line, action) == 0
             && buf_puts(line, enforced ? "\",\"enforced\":true,\"rule\":" : "\",\"enforced\":false,\"rule\":") == 0
             && (rule ? buf_json_cstr(line, rule) : buf_puts(line, "null")) == 0
             && buf_puts(line, ",\"module\":") == 0 && buf_puts(line, module_json) == 0
             && buf_puts(line, ",\"package\":") == 0 && buf_puts(line, package_json) == 0
             && buf_puts(line, extra) == 0;
    int any_lost = py_lost[0] != '\0';
    for (int i = 0; i < n_fd_sinks; i++) {
        any_lost |= fd_sinks[i].lost != 0;
    }
    if (ok && any_lost) {
        int first = 1;
        ok = buf_puts(line, ",\"lost\":{") == 0;
        for (int i = 0; ok && i < n_fd_sinks; i++) {
            if (fd_sinks[i].lost) {
                ok = (first ? 0 : buf_puts(line, ",")) == 0 && buf_json_cstr(line, fd_sinks[i].name) == 0
                     && buf_puts(line, ":") == 0 && buf_u64(line, fd_sinks[i].lost) == 0;
                first = 0;
            }
        }
        if (ok && py_lost[0]) {
            ok = (first ? 0 : buf_puts(line, ",")) == 0 && buf_puts(line, py_lost) == 0;
        }
        ok = ok && buf_puts(line, "}") == 0;
    }
    ok = ok && buf_puts(line, ",\"prev\":") == 0;
    if (ok) {
        ok = has_prev ? (buf_puts(line, "\"") == 0 && buf_put(line, prev_hash, 64) == 0 && buf_puts(line, "\"") == 0)
                      : buf_puts(line, "null") == 0;
    }
    ok = ok && buf_puts(line, "}") == 0;
    unsigned char digest[32];
    if (ok) {
        ok = chain_sha256(line->data, line->len, digest) == 0;
    }
    if (!ok) {
        pthread_mutex_unlock(&chain_lock);
        return -1;
    }
    for (int i = 0; i < 32; i++) {
        prev_hash[2 * i] = HEX[digest[i] >> 4];
        prev_hash[2 * i + 1] = HEX[digest[i] & 0xF];
    }
    prev_hash[64] = '\0';
    has_prev = 1;
    line->len -= 1; /* reopen the object for the hash */
    ok = buf_puts(line, ",\"hash\":\"") == 0 && buf_put(line, prev_hash, 64) == 0 && buf_puts(line, "\"}\n") == 0;
    chain_seq++;
    chain_written++;
    for (int i = 0; ok && i < n_fd_sinks; i++) {
        FdSink *sink = &fd_sinks[i];
        if (write_fd_sink(sink, line->data, line->len) == 0) {
            sink->lost = 0;
            (*delivered)++;
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
    pthread_mutex_unlock(&chain_lock);
    return ok ? seq : -1;
}

/* ---- the Python sinks, fed from records C writes --------------------------
 * With a syslog, journald or stderr sink, C still decides, renders, chains and
 * writes; it then hands the finished line to LINE_LISTENER (the NativeRecorder's
 * feed, given once to chain_start), which writes it to the Python sinks. What the
 * listener returns can change nothing but how many sinks took the record and the
 * Python sinks' lost counts, which C renders itself into later records. */
static PyObject *line_listener;
static char py_lost_text[1024]; /* "\"syslog\":3,..." or "" (guarded by the GIL) */

int
chain_has_listener(void)
{
    return line_listener != NULL;
}

void
chain_py_lost(char *out, size_t size)
{
    size_t n = strnlen(py_lost_text, size - 1); /* once per record: no snprintf */
    memcpy(out, py_lost_text, n);
    out[n] = '\0';
}

/* {sink name: count} (exact str keys, exact int values) as a JSON fragment, bounded. */
static void
set_py_lost(PyObject *lost)
{
    Buf b;
    buf_init(&b);
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    while (PyDict_Next(lost, &pos, &key, &value)) {
        if (!PyUnicode_CheckExact(key) || !PyLong_CheckExact(value)) {
            continue;
        }
        long long n = PyLong_AsLongLong(value);
        if (n <= 0) {
            PyErr_Clear();
            continue;
        }
        size_t mark = b.len; /* an entry goes in whole or not at all */
        int ok = (b.len ? buf_puts(&b, ",") : 0) == 0 && buf_json_str(&b, key, 64) == 0 && buf_puts(&b, ":") == 0
                 && buf_u64(&b, (uint64_t)n) == 0;
        if (!ok || b.len >= sizeof(py_lost_text)) {
            b.len = mark;
            break;
        }
    }
    memcpy(py_lost_text, b.data, b.len);
    py_lost_text[b.len] = '\0';
    buf_free(&b);
}

/* Lines made while this thread was handing one to the Python sinks (by events the
 * sinks' code raised itself), handed over right after it, in order. */
typedef struct Pending {
    struct Pending *next;
    size_t len;
    char line[];
} Pending;
static _Thread_local int feeding;  /* 1: handing a line over; 2: handing over the lines that waited */
static uint64_t not_refed;         /* lines made by the sinks' code while it took the lines that waited */
static _Thread_local Pending *pending_head, *pending_tail;

static int
feed_one(const char *line, size_t len)
{
    PyObject *type, *value, *traceback;
    PyErr_Fetch(&type, &value, &traceback); /* an exception C is about to raise stays */
    /* Once the program runs, the sinks' Python code runs as any code does: under the
     * hook, never in a state where the hook stands aside (what it does is decided and
     * recorded like the program's own work). Before, it is tpython's start-up work. */
    int previous = tp_is_busy();
    tp_busy_leave(!tp_is_sealed());
    PyObject *result = PyObject_CallFunction(line_listener, "y#", line, (Py_ssize_t)len);
    tp_busy_leave(previous);
    int took = 0;
    if (result != NULL && PyTuple_CheckExact(result) && PyTuple_GET_SIZE(result) == 2
        && PyLong_CheckExact(PyTuple_GET_ITEM(result, 0)) && PyDict_CheckExact(PyTuple_GET_ITEM(result, 1))) {
        long n = PyLong_AsLong(PyTuple_GET_ITEM(result, 0));
        took = n > 0 && n < 64 ? (int)n : 0;
        set_py_lost(PyTuple_GET_ITEM(result, 1));
    }
    else if (result == NULL) {
        chain_warn("tpython: writing a record to the Python sinks failed\n");
    }
    Py_XDECREF(result);
    PyErr_Clear();
    PyErr_Restore(type, value, traceback);
    return took;
}

/* Hand LINE to the Python sinks. Returns how many took it; a line made while this
 * thread is already handing one over waits for it (0 here, delivered right after). */
int
chain_feed_python(const char *line, size_t len)
{
    if (line_listener == NULL) {
        return 0;
    }
    if (feeding == 2) {
        /* Made by the sinks' own code while it took a line made by the sinks' own code: in
         * the JSONL files only, or a sink that acts on its records would never be done. */
        if (__atomic_fetch_add(&not_refed, 1, __ATOMIC_RELAXED) == 0) {
            chain_warn("tpython: the Python sinks' own code raised events while it wrote records; their records "
                       "are in the JSONL files, not handed to those sinks again\n");
        }
        return 0;
    }
    if (feeding) {
        Pending *p = malloc(sizeof(Pending) + len);
        if (p == NULL) {
            chain_warn("tpython: a record for the Python sinks was lost (out of memory)\n");
            return 0;
        }
        p->next = NULL;
        p->len = len;
        memcpy(p->line, line, len);
        if (pending_tail != NULL) {
            pending_tail->next = p;
        }
        else {
            pending_head = p;
        }
        pending_tail = p;
        return 0;
    }
    feeding = 1;
    int took = feed_one(line, len);
    feeding = 2;
    while (pending_head != NULL) {
        Pending *p = pending_head;
        pending_head = p->next;
        if (pending_head == NULL) {
            pending_tail = NULL;
        }
        (void)feed_one(p->line, p->len);
        free(p);
    }
    feeding = 0;
    return took;
}

int
chain_is_ready(void)
{
    return chain_ready;
}

/* ---- the Python API -------------------------------------------------------- */

static int
set_run(PyObject *run, long pid)
{
    const char *text = PyUnicode_Check(run) ? PyUnicode_AsUTF8(run) : NULL;
    if (text == NULL || strlen(text) >= sizeof(run_id) || strspn(text, HEX) != strlen(text)) {
        if (!PyErr_Occurred()) {
            PyErr_SetString(PyExc_ValueError, "run id must be lowercase hex");
        }
        return -1;
    }
    strcpy(run_id, text);
    chain_pid = pid;
    chain_seq = 0;
    chain_written = 0;
    has_prev = 0;
    return 0;
}

/* chain_start(run, pid, [(fd, name, path, rotate_bytes, keep), ...], warn_fd): take over the JSONL files (duplicated
 * above the usual descriptors, close-on-exec) and start the chain. Once per process. */
PyObject *
tp_chain_start(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *run, *sinks, *listener = Py_None;
    long pid;
    int wfd;
    if (!PyArg_ParseTuple(args, "UlO!i|O:chain_start", &run, &pid, &PyList_Type, &sinks, &wfd, &listener)) {
        return NULL;
    }
    if (listener != Py_None && !PyCallable_Check(listener)) {
        PyErr_SetString(PyExc_TypeError, "chain_start: the listener must be callable or None");
        return NULL;
    }
    if (chain_ready) {
        PyErr_SetString(PyExc_RuntimeError, "tpython's record chain is already started");
        return NULL;
    }
    if (PyList_GET_SIZE(sinks) > MAX_FD_SINKS) {
        PyErr_Format(PyExc_ValueError, "at most %d JSONL sinks", MAX_FD_SINKS);
        return NULL;
    }
    pthread_mutex_lock(&chain_lock);
    if (set_run(run, pid) < 0) {
        pthread_mutex_unlock(&chain_lock);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(sinks); i++) {
        int fd, keep;
        const char *name, *path;
        long long rotate_bytes;
        if (!PyArg_ParseTuple(PyList_GET_ITEM(sinks, i), "issLi", &fd, &name, &path, &rotate_bytes, &keep)) {
            pthread_mutex_unlock(&chain_lock);
            return NULL;
        }
        int own = dup_high(fd);
        char *copy = strdup(name), *path_copy = strdup(path);
        if (own < 0 || copy == NULL || path_copy == NULL) {
            pthread_mutex_unlock(&chain_lock);
            free(copy);
            free(path_copy);
            return own < 0 ? PyErr_SetFromErrno(PyExc_OSError) : PyErr_NoMemory();
        }
        /* size unknown: looked at before the first write */
        fd_sinks[n_fd_sinks++] = (FdSink){own, copy, 0, 0, 0, path_copy, rotate_bytes, keep < 1 ? 1 : keep,
                                          rotate_bytes, rotate_bytes};
    }
    warn_fd = dup_high(wfd);
    if (warn_fd < 0) {
        warn_fd = 2;
    }
    if (listener != Py_None) {
        Py_INCREF(listener);
        line_listener = listener; /* held for the life of the process: nothing replaces it */
    }
    chain_ready = 1;
    pthread_mutex_unlock(&chain_lock);
    Py_RETURN_NONE;
}

int
chain_in_new_process(void)
{
    return (long)getpid() != chain_pid;
}

/* chain_restart(run, pid): a forked child's new run, numbered from 0 (only there:
 * the program cannot start a new run in its own process). */
PyObject *
tp_chain_restart(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *run;
    long pid;
    if (!PyArg_ParseTuple(args, "Ul:chain_restart", &run, &pid)) {
        return NULL;
    }
    if (!chain_in_new_process() || pid != (long)getpid()) {
        PyErr_SetString(PyExc_RuntimeError, "tpython: a new run starts only in a forked child");
        return NULL;
    }
    /* The lock may have been held by another thread at fork(): this thread is alone now. */
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER;
    chain_lock = fresh;
    if (set_run(run, pid) < 0) {
        return NULL;
    }
    for (int i = 0; i < n_fd_sinks; i++) {
        fd_sinks[i].lost = 0;
        fd_sinks[i].lost_total = 0;
        fd_sinks[i].warned = 0;
    }
    repeats_reset(); /* the parent's repeats are its run's; the child's run starts with none */
    Py_RETURN_NONE;
}

/* Once the engine is sealed, Python code outside tpython's C-entered work (the slow
 * path, the open_code hook) may write only the records tpython writes there: the
 * exit record, the start record of a forked child (first in its run), multiprocessing
 * launches, and signals received (launcher/signals.py). The program cannot forge
 * decisions into the chain (it could write an extra tpython.exit, tpython.spawn or
 * tpython.signal record; docs/limits.md). */
static long start_written_pid;

static int
python_may_record(const char *event)
{
    long pid = (long)getpid();
    if (strcmp(event, "tpython.spawn") == 0 || strcmp(event, "tpython.exit") == 0
        || strcmp(event, "tpython.signal") == 0) {
        return 1;
    }
    if (strcmp(event, "tpython.start") == 0 && start_written_pid != pid && chain_seq == 0) {
        start_written_pid = pid;
        return 1;
    }
    return 0;
}

/* chain_record(event, args_json, action, enforced, rule, module_json, package_json, extra, py_lost)
 * -> (line, seq, hash, delivered: how many JSONL files got it)
 *   -> (line, seq, hash) */
PyObject *
tp_chain_record(PyObject *module, PyObject *args)
{
    (void)module;
    const char *event, *args_json, *action, *rule, *module_json, *package_json, *extra, *py_lost;
    Py_ssize_t args_len;
    int enforced;
    if (!PyArg_ParseTuple(args, "sy#spzssss:chain_record", &event, &args_json, &args_len, &action, &enforced, &rule,
                          &module_json, &package_json, &extra, &py_lost)) {
        return NULL;
    }
    if (!chain_ready) {
        PyErr_SetString(PyExc_RuntimeError, "tpython's record chain is not started");
        return NULL;
    }
    if (tp_is_sealed() && !tp_is_busy() && !python_may_record(event)) {
        PyErr_Format(PyExc_PermissionError, "tpython: the program cannot write %s records", event);
        return NULL;
    }
    Buf line;
    buf_init(&line);
    long long seq;
    int delivered;
    Py_BEGIN_ALLOW_THREADS
    seq = chain_record(&line, event, args_json, (size_t)args_len, action, enforced, rule, module_json,
                       package_json, extra, py_lost, &delivered);
    Py_END_ALLOW_THREADS
    if (seq < 0) {
        buf_free(&line);
        return PyErr_NoMemory();
    }
    PyObject *out = Py_BuildValue("(y#Ls#i)", line.data, (Py_ssize_t)line.len, seq,
                                  line.data + line.len - 67, (Py_ssize_t)64, delivered);
    buf_free(&line);
    return out;
}

/* chain_state() -> {"run", "seq", "written", "lost": {sink: n}, "lost_total": {sink: n}}: what each
 * JSONL file missed since its last record, and in the whole run */
static int
put_counts(PyObject *dict, const char *name, uint64_t n)
{
    if (n == 0) {
        return 0;
    }
    PyObject *value = PyLong_FromUnsignedLongLong(n);
    int rc = value == NULL ? -1 : PyDict_SetItemString(dict, name, value);
    Py_XDECREF(value);
    return rc;
}

PyObject *
tp_chain_state(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    PyObject *lost = PyDict_New(), *total = PyDict_New();
    if (lost == NULL || total == NULL) {
        Py_XDECREF(lost);
        Py_XDECREF(total);
        return NULL;
    }
    pthread_mutex_lock(&chain_lock);
    for (int i = 0; i < n_fd_sinks; i++) {
        if (put_counts(lost, fd_sinks[i].name, fd_sinks[i].lost) < 0
            || put_counts(total, fd_sinks[i].name, fd_sinks[i].lost_total) < 0) {
            Py_DECREF(lost);
            Py_DECREF(total);
            pthread_mutex_unlock(&chain_lock);
            return NULL;
        }
    }
    PyObject *out = Py_BuildValue("{s:s,s:K,s:K,s:N,s:N}", "run", run_id, "seq", (unsigned long long)chain_seq,
                                  "written", (unsigned long long)chain_written, "lost", lost, "lost_total", total);
    pthread_mutex_unlock(&chain_lock);
    return out;
}
