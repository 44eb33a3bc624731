/* The checks on one file read as code, with their trust sources (trust.c, codecheck.c). */
#ifndef TPYTHON_TRUST_H
#define TPYTHON_TRUST_H
#include <Python.h>
#include <limits.h>

#define TP_XATTR_NAME "user.org.python.x-spython-hash"

typedef struct {
    char *path;   /* the file's real path, as the file system names it (bytes) */
    char hex[65]; /* its lowercase hex SHA-256 */
} ManifestEntry;

/* What `[integrity]` demands: copied from Python once, never consulted there again. */
typedef struct {
    long long max_size;
    int kernel_check;
    int require;
    int xattr;                /* the spython xattr vouches */
    PyObject *manifest_path;  /* str, or NULL: no manifest */
    ManifestEntry *entries;   /* sorted by path */
    Py_ssize_t n_entries;
} TrustConfig;

/* The outcome for one file. */
typedef struct {
    char real[PATH_MAX];   /* the real path */
    PyObject *data;        /* the bytes read (the loader gets these), or NULL */
    char hex[65];          /* their SHA-256, or "" when not hashed */
    const char *vouched;   /* "manifest" or "xattr": the source that vouched, or NULL */
    PyObject *reason;      /* why refused (str), or NULL: accepted */
} Verdict;

/* CONFIG (a dict: max_size, kernel_check, require, xattr, manifest: None or (path,
 * {real path: hex})) into OUT. 0, or -1 with an exception. */
int trust_parse(PyObject *config, TrustConfig *out);
void trust_free(TrustConfig *config);
void verdict_clear(Verdict *v);

/* The trust sources on the bytes of the open file FD (real path REAL, SHA-256 HEX):
 * 0 with V->vouched set, or V->reason (the sources' reasons); -1 with an exception. */
int trust_vouch(const TrustConfig *config, int fd, Verdict *v);
/* PATH (str) opened, checked and read once (codecheck.c): 0 with V filled, or -1 with
 * an exception (an OSError where the file cannot be opened or read, as io.open_code). */
int check_file(const TrustConfig *config, PyObject *path, Verdict *v);
/* The lowercase hex SHA-256 of LEN bytes at DATA into HEX (65 bytes). */
void trust_sha256(const void *data, size_t len, char hex[65]);

/* Digests the open_code hook accepted in this run (the guard's "vouched for"). */
int trusted_add(const char hex[65]);
int trusted_has(const char hex[65]);

/* The installed configuration (codecheck.c), or NULL. */
const TrustConfig *trust_installed(void);
/* Record a refusal as tpython.integrity, args {"path", "reason", KEY: VALUE (null when
 * NULL), "fallback": FALLBACK (when not NULL)}, and raise it: CacheRefused(CACHE_MESSAGE)
 * when that is given, else CodeRefused naming PATH and REASON. Returns NULL. */
PyObject *integrity_refuse(PyObject *path, PyObject *reason, const char *key, PyObject *value, PyObject *fallback,
                           PyObject *cache_message);

PyObject *tp_check_code(PyObject *module, PyObject *args);
PyObject *tp_trust_sources(PyObject *module, PyObject *config);

#endif
