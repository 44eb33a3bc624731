/* A growable text buffer and JSON escaping as json.dumps does it (jsonbuf.c): what
 * records, rendered arguments and tallies are built in. */
#ifndef TPYTHON_JSONBUF_H
#define TPYTHON_JSONBUF_H
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

#endif
