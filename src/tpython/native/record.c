/* The record chain in C: numbering, hashing and writing JSONL records.
 *
 * The chain's state (run id, seq, the previous hash) lives here (the JSONL
 * files in jsonl.c), so every record shares one chain (the events C decides,
 * and tpython's own start, exit and worker records), and the program cannot
 * rewind or fork it from Python. The format is tpython.logs.chain's, byte for byte: compact JSON,
 * every non-ASCII character escaped, `hash` the SHA-256 of the record
 * without it. SHA-256 comes from GNU Nettle: as fast as OpenSSL's (both use
 * the CPU's SHA instructions), and loading it costs a fraction of what loading
 * libcrypto and initialising its providers costs at every start (about 3 ms).
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nettle/sha2.h>

#include "dispatch.h"
#include "jsonvalid.h"
#include "jsonl.h"
#include "record.h"
#include "repeats.h"

static pthread_mutex_t chain_lock = PTHREAD_MUTEX_INITIALIZER;
static int chain_ready;
static char run_id[64];
static long chain_pid;
static uint64_t chain_seq;
static uint64_t chain_written;
static char prev_hash[65];
static int has_prev;
static const char HEX[] = "0123456789abcdef";

/* ---- the chain ---------------------------------------------------------- */

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
    int any_lost = py_lost[0] != '\0' || jsonl_any_lost();
    if (ok && any_lost) {
        int first = 1;
        ok = buf_puts(line, ",\"lost\":{") == 0 && jsonl_put_lost(line, &first) == 0;
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
    if (ok) {
        int block = strcmp(action, "deny") == 0 || strcmp(action, "kill") == 0 || strcmp(action, "ask") == 0;
        *delivered = jsonl_write(line->data, line->len, block);
    }
    pthread_mutex_unlock(&chain_lock);
    return ok ? seq : -1;
}

const char *
chain_run_id(void)
{
    return run_id;
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
    if (PyList_GET_SIZE(sinks) > JSONL_MAX_SINKS) {
        PyErr_Format(PyExc_ValueError, "at most %d JSONL sinks", JSONL_MAX_SINKS);
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
        if (!PyArg_ParseTuple(PyList_GET_ITEM(sinks, i), "issLi", &fd, &name, &path, &rotate_bytes, &keep)
            || jsonl_add(fd, name, path, rotate_bytes, keep) < 0) {
            pthread_mutex_unlock(&chain_lock);
            return NULL;
        }
    }
    jsonl_set_warn_fd(wfd);
    if (listener != Py_None) {
        chain_set_listener(listener);
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
    jsonl_restart();
    repeats_reset(); /* the parent's repeats are its run's; the child's run starts with none */
    Py_RETURN_NONE;
}

/* Once the engine is sealed, Python code outside tpython's C-entered work (the
 * open_code hook) may write only the records tpython writes there: the
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
    /* Each fragment must be what it says, whoever calls: one JSON value for the arguments,
     * module and package, known action, members for the lost counts; once the program
     * runs, no extra members (a field of the record's own named again would win). */
    static const char *const ACTIONS[] = {"allow", "count", "log", "ask", "deny", "kill", NULL};
    int known_action = 0;
    for (int i = 0; ACTIONS[i]; i++) {
        known_action |= strcmp(action, ACTIONS[i]) == 0;
    }
    if (!known_action || !json_value_valid(args_json, (size_t)args_len)
        || !json_value_valid(module_json, strlen(module_json)) || !json_value_valid(package_json, strlen(package_json))
        || !json_members_valid(py_lost, strlen(py_lost))
        || (extra[0] != '\0' && (extra[0] != ',' || !json_members_valid(extra + 1, strlen(extra + 1))))
        || (extra[0] != '\0' && tp_is_sealed() && !tp_is_busy())) {
        PyErr_SetString(PyExc_ValueError, "tpython: chain_record: a fragment is not what it must be");
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
    if (jsonl_lost_counts(lost, total) < 0) {
        Py_DECREF(lost);
        Py_DECREF(total);
        pthread_mutex_unlock(&chain_lock);
        return NULL;
    }
    PyObject *out = Py_BuildValue("{s:s,s:K,s:K,s:N,s:N}", "run", run_id, "seq", (unsigned long long)chain_seq,
                                  "written", (unsigned long long)chain_written, "lost", lost, "lost_total", total);
    pthread_mutex_unlock(&chain_lock);
    return out;
}
