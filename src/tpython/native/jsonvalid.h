/* Whether a text is one JSON value, or object members (jsonvalid.c). */
#ifndef TPYTHON_JSONVALID_H
#define TPYTHON_JSONVALID_H
#include <stddef.h>

int json_value_valid(const char *text, size_t len);
/* `"key":value,...` as inside an object; empty is valid. */
int json_members_valid(const char *text, size_t len);

#endif
