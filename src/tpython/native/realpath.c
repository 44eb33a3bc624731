/* os.path.realpath (strict=False) in C, as posixpath._joinrealpath walks it.
 *
 * When the whole path exists, realpath(3) gives the same answer. Otherwise Python's
 * walk: each component resolved from where the ones before it lead (`..` the parent
 * of that), a component that is not there (or that lstat cannot read) taken as a
 * plain name, a symbolic link's target walked in its turn (a dangling one leaves
 * its target's missing part as plain names), and a link met again while it is
 * being resolved (a loop) ends the walk: what is resolved, then the rest unchanged.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "pathfacts.h"

#define MAX_SEEN 64  /* symbolic links resolved in one walk */
#define MAX_DEPTH 40 /* links within links */

typedef struct {
    char *link[MAX_SEEN];
    char *resolved[MAX_SEEN]; /* NULL: being resolved */
    int n;
} Seen;

/* posixpath.join(PATH, NAME[:N]) into OUT (PATH_MAX); -1: too long. */
static int
join(const char *path, const char *name, size_t n, char *out)
{
    size_t p = strlen(path);
    if (n > 0 && name[0] == '/') {
        p = 0; /* an absolute name replaces the path */
    }
    if (p + 1 + n >= PATH_MAX) {
        return -1;
    }
    memmove(out, path, p);
    if (p > 0 && out[p - 1] != '/') {
        out[p++] = '/';
    }
    memcpy(out + p, name, n);
    out[p + n] = '\0';
    return 0;
}

/* posixpath.split(PATH)[0] in place; returns whether the tail was "..". */
static int
split_head(char *path)
{
    char *slash = strrchr(path, '/');
    const char *tail = slash ? slash + 1 : path;
    int pardir = strcmp(tail, "..") == 0;
    if (slash == NULL) {
        path[0] = '\0';
        return pardir;
    }
    size_t head = (size_t)(slash - path) + 1;
    size_t keep = head;
    while (keep > 0 && path[keep - 1] == '/') {
        keep--;
    }
    path[keep == 0 ? head : keep] = '\0'; /* trailing slashes go, unless it is all slashes */
    return pardir;
}

static int
seen_index(const Seen *seen, const char *link)
{
    for (int i = 0; i < seen->n; i++) {
        if (strcmp(seen->link[i], link) == 0) {
            return i;
        }
    }
    return -1;
}

/* Walk REST from PATH (PATH_MAX, updated in place). *OK 0: a loop ended the walk.
 * -1: C cannot follow (too long, too deep, a link readlink cannot read). */
static int
walk(char *path, const char *rest, Seen *seen, int *ok, int depth)
{
    *ok = 1;
    if (depth > MAX_DEPTH) {
        return -1;
    }
    if (rest[0] == '/') {
        strcpy(path, "/");
        rest++;
    }
    char *next = malloc(PATH_MAX), *target = malloc(PATH_MAX);
    int rc = next && target ? 0 : -1;
    while (rc == 0 && *rest != '\0') {
        const char *name = rest;
        size_t n = strcspn(rest, "/");
        rest += n;
        if (*rest == '/') {
            rest++;
        }
        if (n == 0 || (n == 1 && name[0] == '.')) {
            continue;
        }
        if (n == 2 && name[0] == '.' && name[1] == '.') {
            if (path[0] != '\0') {
                if (split_head(path)) { /* a relative path's own "..": keep climbing */
                    rc = join(path, "../..", 5, path);
                }
            }
            else {
                strcpy(path, "..");
            }
            continue;
        }
        if ((rc = join(path, name, n, next)) < 0) {
            break;
        }
        struct stat st;
        if (lstat(next, &st) != 0 || !S_ISLNK(st.st_mode)) {
            strcpy(path, next);
            continue;
        }
        int i = seen_index(seen, next);
        if (i >= 0 && seen->resolved[i] != NULL) {
            strcpy(path, seen->resolved[i]);
            continue;
        }
        if (i >= 0) { /* a loop: the resolved part, then the rest unchanged */
            rc = join(next, rest, strlen(rest), path);
            *ok = 0;
            break;
        }
        ssize_t len = readlink(next, target, PATH_MAX - 1);
        if (len < 0 || seen->n == MAX_SEEN || (i = seen->n, seen->link[i] = strdup(next)) == NULL) {
            rc = -1;
            break;
        }
        target[len] = '\0';
        seen->resolved[i] = NULL;
        seen->n++;
        int inner_ok;
        if ((rc = walk(path, target, seen, &inner_ok, depth + 1)) < 0) {
            break;
        }
        if (!inner_ok) {
            rc = join(path, rest, strlen(rest), path);
            *ok = 0;
            break;
        }
        if ((seen->resolved[i] = strdup(path)) == NULL) {
            rc = -1;
        }
    }
    free(next);
    free(target);
    return rc;
}

int
real_path(const char *path, char *out, char *tmp)
{
    (void)tmp;
    if (realpath(path, out) != NULL) {
        return 0;
    }
    if (path[0] != '/') {
        return -1; /* the caller gives absolute paths */
    }
    Seen seen = {.n = 0};
    int ok;
    out[0] = '\0';
    int rc = walk(out, path, &seen, &ok, 0);
    for (int i = 0; i < seen.n; i++) {
        free(seen.link[i]);
        free(seen.resolved[i]);
    }
    if (rc < 0) {
        return -1;
    }
    size_t n = normpath(out, strlen(out)); /* abspath: the walk of an absolute path stays absolute */
    if (n == 0) {
        return -1;
    }
    out[n] = '\0';
    return 0;
}
