/* Whether a text is exactly one JSON value (RFC 8259), for the fragments Python hands to
 * the record chain (tp_chain_record): a fragment that closes its value early could add
 * fields of its own to the record ("event", "action"), and a raw newline would split the
 * line. Only a check of the grammar, no parsing into objects: CPython's json module is
 * Python code the program can replace, and no JSON library is among tpython's
 * dependencies for C, so these ~100 lines are written here. */
#include <stddef.h>

#include "jsonvalid.h"

#define MAX_DEPTH 64

typedef struct {
    const char *p, *end;
} Cursor;

static void
skip_space(Cursor *c)
{
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) {
        c->p++;
    }
}

static int
is_hex(char ch)
{
    return (ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f') || (ch >= 'A' && ch <= 'F');
}

static int
string(Cursor *c)
{
    if (c->p >= c->end || *c->p != '"') {
        return 0;
    }
    c->p++;
    while (c->p < c->end) {
        unsigned char ch = (unsigned char)*c->p++;
        if (ch == '"') {
            return 1;
        }
        if (ch < 0x20) {
            return 0; /* a raw control character (a newline) */
        }
        if (ch == '\\') {
            if (c->p >= c->end) {
                return 0;
            }
            char e = *c->p++;
            if (e == 'u') {
                for (int i = 0; i < 4; i++, c->p++) {
                    if (c->p >= c->end || !is_hex(*c->p)) {
                        return 0;
                    }
                }
            }
            else if (e != '"' && e != '\\' && e != '/' && e != 'b' && e != 'f' && e != 'n' && e != 'r' && e != 't') {
                return 0;
            }
        }
    }
    return 0;
}

static int
digits(Cursor *c)
{
    const char *start = c->p;
    while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
        c->p++;
    }
    return c->p > start;
}

static int
number(Cursor *c)
{
    if (c->p < c->end && *c->p == '-') {
        c->p++;
    }
    if (!digits(c)) {
        return 0;
    }
    if (c->p < c->end && *c->p == '.') {
        c->p++;
        if (!digits(c)) {
            return 0;
        }
    }
    if (c->p < c->end && (*c->p == 'e' || *c->p == 'E')) {
        c->p++;
        if (c->p < c->end && (*c->p == '+' || *c->p == '-')) {
            c->p++;
        }
        return digits(c);
    }
    return 1;
}

static int
literal(Cursor *c, const char *word)
{
    for (; *word; word++, c->p++) {
        if (c->p >= c->end || *c->p != *word) {
            return 0;
        }
    }
    return 1;
}

static int value(Cursor *c, int depth);

static int
members(Cursor *c, int depth, char close, int keyed)
{
    c->p++; /* the opening bracket */
    skip_space(c);
    if (c->p < c->end && *c->p == close) {
        c->p++;
        return 1;
    }
    for (;;) {
        skip_space(c);
        if (keyed) {
            if (!string(c)) {
                return 0;
            }
            skip_space(c);
            if (c->p >= c->end || *c->p++ != ':') {
                return 0;
            }
        }
        if (!value(c, depth + 1)) {
            return 0;
        }
        skip_space(c);
        if (c->p >= c->end) {
            return 0;
        }
        char ch = *c->p++;
        if (ch == close) {
            return 1;
        }
        if (ch != ',') {
            return 0;
        }
    }
}

static int
value(Cursor *c, int depth)
{
    skip_space(c);
    if (c->p >= c->end || depth > MAX_DEPTH) {
        return 0;
    }
    switch (*c->p) {
    case '{':
        return members(c, depth, '}', 1);
    case '[':
        return members(c, depth, ']', 0);
    case '"':
        return string(c);
    case 't':
        return literal(c, "true");
    case 'f':
        return literal(c, "false");
    case 'n':
        return literal(c, "null");
    default:
        return number(c);
    }
}

int
json_value_valid(const char *text, size_t len)
{
    Cursor c = {text, text + len};
    if (!value(&c, 0)) {
        return 0;
    }
    skip_space(&c);
    return c.p == c.end;
}

int
json_members_valid(const char *text, size_t len)
{
    /* `"key":value,...` (empty allowed), as it would sit inside an object */
    Cursor c = {text, text + len};
    skip_space(&c);
    if (c.p == c.end) {
        return 1;
    }
    for (;;) {
        skip_space(&c);
        if (!string(&c)) {
            return 0;
        }
        skip_space(&c);
        if (c.p >= c.end || *c.p++ != ':' || !value(&c, 1)) {
            return 0;
        }
        skip_space(&c);
        if (c.p == c.end) {
            return 1;
        }
        if (*c.p++ != ',') {
            return 0;
        }
    }
}
