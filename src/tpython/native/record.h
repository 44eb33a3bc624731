/* The record chain in C (record.c): JSON text building, hashing, JSONL writes. */
#ifndef TPYTHON_RECORD_H
#define TPYTHON_RECORD_H
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    char *data;
    size_t len;
    size_t cap;
    unsigned char raw;         /* JSON strings keep non-ASCII as UTF-8 (json.dumps(ensure_ascii=False)) */
    unsigned char unencodable; /* raw, and a lone surrogate was met: the text is not what Python has */
    char inline_data[1024];    /* most records fit: no allocation */
} Buf;

void buf_init(Buf *b);
void buf_free(Buf *b);
int buf_grow(Buf *b, size_t extra);

static inline int
buf_reserve(Buf *b, size_t extra)
{
    return b->len + extra <= b->cap ? 0 : buf_grow(b, extra);
}

static inline int
buf_put(Buf *b, const char *s, size_t n)
{
    if (buf_reserve(b, n) < 0) {
        return -1;
    }
    memcpy(b->data + b->len, s, n);
    b->len += n;
    return 0;
}

static inline int
buf_puts(Buf *b, const char *s)
{
    return buf_put(b, s, strlen(s));
}

int buf_u64(Buf *b, uint64_t v);
/* "…" as a JSON text fragment: escaped, or UTF-8 in a raw buffer. */
const char *buf_ellipsis(const Buf *b);
int buf_json_str(Buf *b, PyObject *s, Py_ssize_t max);
int buf_json_cstr(Buf *b, const char *s);

int chain_is_ready(void);
/* The current run's id (hex), "" before chain_start. */
const char *chain_run_id(void);
int chain_in_new_process(void);
long long chain_record(Buf *line, const char *event, const char *args_json, size_t args_len, const char *action,
                       int enforced, const char *rule, const char *module_json, const char *package_json,
                       const char *extra, const char *py_lost, int *delivered);

/* The Python sinks: whether a listener was given to chain_start; their lost counts as
 * a JSON fragment for the next record; hand them LINE (GIL held, main interpreter),
 * returning how many took it. */
int chain_has_listener(void);
void chain_py_lost(char *out, size_t size);
int chain_feed_python(const char *line, size_t len);

PyObject *tp_chain_start(PyObject *module, PyObject *args);
PyObject *tp_chain_restart(PyObject *module, PyObject *args);
/* MESSAGE on tpython's own stderr (the descriptor chain_start was given). */
void chain_warn(const char *message);
PyObject *tp_chain_record(PyObject *module, PyObject *args);
PyObject *tp_chain_state(PyObject *module, PyObject *unused);

#endif
