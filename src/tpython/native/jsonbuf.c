/* A growable buffer and JSON escaping (json.dumps, ensure_ascii=True; a raw buffer
 * keeps non-ASCII as UTF-8, as ensure_ascii=False does). */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "jsonbuf.h"

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
