/* Trust sources in C: who vouches that a file's bytes may run (SPEC 3.2).
 *
 * * a manifest: the table of real path -> SHA-256 that tpython.integrity.manifest
 *   parsed from the bytes the launcher verified, copied here once (sorted, searched
 *   with bsearch); Python's copy is never consulted again;
 * * the spython xattr `user.org.python.x-spython-hash`, read with fgetxattr on the
 *   file descriptor the checked bytes were read from.
 *
 * Also: SHA-256 (GNU Nettle), the digests accepted in this run (the guard asks
 * whether code it meets was vouched for), and check_code() for `tpython trust check`,
 * which runs the very checks the open_code hook runs.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <nettle/sha2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "dispatch.h"
#include "trust.h"

static const char HEX_DIGITS[] = "0123456789abcdef";
#define ELLIPSIS "\xe2\x80\xa6" /* "…", as UTF-8: an argument of PyUnicode_FromFormat, whose format is ASCII */

void
trust_sha256(const void *data, size_t len, char hex[65])
{
    struct sha256_ctx ctx;
    unsigned char digest[SHA256_DIGEST_SIZE];
    sha256_init(&ctx);
    sha256_update(&ctx, len, (const uint8_t *)data);
    sha256_digest(&ctx, SHA256_DIGEST_SIZE, digest);
    for (int i = 0; i < SHA256_DIGEST_SIZE; i++) {
        hex[2 * i] = HEX_DIGITS[digest[i] >> 4];
        hex[2 * i + 1] = HEX_DIGITS[digest[i] & 0xF];
    }
    hex[64] = '\0';
}

/* ---- the configuration ---------------------------------------------------- */

static int
entry_cmp(const void *a, const void *b)
{
    return strcmp(((const ManifestEntry *)a)->path, ((const ManifestEntry *)b)->path);
}

static int
is_hex_digest(const char *s, Py_ssize_t n)
{
    if (n != 64) {
        return 0;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return 0;
        }
    }
    return 1;
}

static int
parse_manifest(PyObject *manifest, TrustConfig *out)
{
    PyObject *path, *files;
    if (!PyArg_ParseTuple(manifest, "UO!:manifest", &path, &PyDict_Type, &files)) {
        return -1;
    }
    Py_ssize_t n = PyDict_Size(files);
    out->entries = calloc((size_t)(n ? n : 1), sizeof(ManifestEntry));
    if (out->entries == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    Py_INCREF(path);
    out->manifest_path = path;
    Py_ssize_t pos = 0;
    PyObject *key, *value;
    while (PyDict_Next(files, &pos, &key, &value)) {
        Py_ssize_t len;
        const char *digest = PyUnicode_Check(value) ? PyUnicode_AsUTF8AndSize(value, &len) : NULL;
        if (!PyUnicode_Check(key) || digest == NULL || !is_hex_digest(digest, len)) {
            PyErr_Clear();
            PyErr_SetString(PyExc_ValueError, "manifest: each entry maps a path to a lowercase hex SHA-256");
            return -1;
        }
        PyObject *encoded = PyUnicode_EncodeFSDefault(key);
        if (encoded == NULL) {
            return -1;
        }
        ManifestEntry *e = &out->entries[out->n_entries];
        e->path = strdup(PyBytes_AS_STRING(encoded));
        Py_DECREF(encoded);
        if (e->path == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        memcpy(e->hex, digest, 65);
        out->n_entries++;
    }
    qsort(out->entries, (size_t)out->n_entries, sizeof(ManifestEntry), entry_cmp);
    return 0;
}

static int
flag(PyObject *config, const char *key, int *out)
{
    PyObject *value = PyDict_GetItemString(config, key);
    if (value == NULL) {
        PyErr_Format(PyExc_KeyError, "integrity configuration needs %s", key);
        return -1;
    }
    *out = PyObject_IsTrue(value);
    return *out < 0 ? -1 : 0;
}

int
trust_parse(PyObject *config, TrustConfig *out)
{
    memset(out, 0, sizeof *out);
    if (!PyDict_Check(config)) {
        PyErr_SetString(PyExc_TypeError, "the integrity configuration is a dict");
        return -1;
    }
    PyObject *max_size = PyDict_GetItemString(config, "max_size");
    PyObject *manifest = PyDict_GetItemString(config, "manifest");
    if (max_size == NULL || manifest == NULL) {
        PyErr_SetString(PyExc_KeyError, "integrity configuration needs max_size and manifest");
        return -1;
    }
    out->max_size = PyLong_AsLongLong(max_size);
    if ((out->max_size == -1 && PyErr_Occurred()) || flag(config, "kernel_check", &out->kernel_check) < 0
        || flag(config, "require", &out->require) < 0 || flag(config, "xattr", &out->xattr) < 0
        || (manifest != Py_None && parse_manifest(manifest, out) < 0)) {
        trust_free(out);
        return -1;
    }
    return 0;
}

void
trust_free(TrustConfig *config)
{
    for (Py_ssize_t i = 0; i < config->n_entries; i++) {
        free(config->entries[i].path);
    }
    free(config->entries);
    Py_CLEAR(config->manifest_path);
    config->entries = NULL;
    config->n_entries = 0;
}

void
verdict_clear(Verdict *v)
{
    Py_CLEAR(v->data);
    Py_CLEAR(v->reason);
}

/* ---- the sources ---------------------------------------------------------- */

/* The manifest's word on V: NULL when it vouches, else the reason (new reference;
 * NULL with an exception on failure, told apart by PyErr_Occurred). */
static PyObject *
manifest_says(const TrustConfig *config, const Verdict *v)
{
    ManifestEntry key;
    key.path = (char *)v->real;
    const ManifestEntry *hit = config->n_entries
        ? bsearch(&key, config->entries, (size_t)config->n_entries, sizeof(ManifestEntry), entry_cmp) : NULL;
    if (hit == NULL) {
        return PyUnicode_FromFormat("not in the manifest %U", config->manifest_path);
    }
    if (memcmp(hit->hex, v->hex, 64) != 0) {
        return PyUnicode_FromFormat("hash mismatch with the manifest (expected %.12s%s, got %.12s%s)", hit->hex,
                                    ELLIPSIS, v->hex, ELLIPSIS);
    }
    return NULL;
}

/* The xattr's word on the open file FD, as manifest_says. */
static PyObject *
xattr_says(int fd, const Verdict *v)
{
    ssize_t size = fgetxattr(fd, TP_XATTR_NAME, NULL, 0);
    char *value = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (value != NULL) {
        size = fgetxattr(fd, TP_XATTR_NAME, value, (size_t)size);
    }
    PyObject *stamped = value != NULL && size >= 0 ? PyUnicode_DecodeASCII(value, size, NULL) : NULL;
    PyErr_Clear(); /* not ASCII: no stamp, as xattrs.read_stamp says */
    PyObject *reason = NULL;
    if (stamped == NULL) {
        reason = PyUnicode_FromString("no " TP_XATTR_NAME " xattr");
    }
    else if (size != 64 || memcmp(value, v->hex, 64) != 0) {
        PyObject *head = PyUnicode_Substring(stamped, 0, 12);
        reason = head == NULL ? NULL
            : PyUnicode_FromFormat("stale xattr (stamped %U%s, file is %.12s%s)", head, ELLIPSIS, v->hex, ELLIPSIS);
        Py_XDECREF(head);
    }
    Py_XDECREF(stamped);
    free(value);
    return reason;
}

static int
add_reason(PyObject *reasons, PyObject *reason)
{
    if (reason == NULL) {
        return PyErr_Occurred() ? -1 : 0;
    }
    int rc = PyList_Append(reasons, reason);
    Py_DECREF(reason);
    return rc;
}

int
trust_vouch(const TrustConfig *config, int fd, Verdict *v)
{
    v->vouched = NULL;
    if (config->manifest_path == NULL && !config->xattr) {
        if (config->require) {
            v->reason = PyUnicode_FromString("no trust source is configured");
            return v->reason == NULL ? -1 : 0;
        }
        return 0;
    }
    PyObject *reasons = PyList_New(0);
    if (reasons == NULL) {
        return -1;
    }
    int rc = 0;
    Py_ssize_t before;
    if (config->manifest_path != NULL) {
        before = PyList_GET_SIZE(reasons);
        rc = add_reason(reasons, manifest_says(config, v));
        if (rc == 0 && PyList_GET_SIZE(reasons) == before) {
            v->vouched = "manifest";
        }
    }
    if (rc == 0 && v->vouched == NULL && config->xattr) {
        before = PyList_GET_SIZE(reasons);
        rc = add_reason(reasons, xattr_says(fd, v));
        if (rc == 0 && PyList_GET_SIZE(reasons) == before) {
            v->vouched = "xattr";
        }
    }
    if (rc == 0 && v->vouched == NULL && config->require) {
        PyObject *sep = PyUnicode_FromString("; ");
        v->reason = sep == NULL ? NULL : PyUnicode_Join(sep, reasons);
        Py_XDECREF(sep);
        rc = v->reason == NULL ? -1 : 0;
    }
    Py_DECREF(reasons);
    return rc;
}

/* ---- the digests vouched for in this run ----------------------------------- */

typedef struct {
    unsigned char digest[32];
    int used;
} Slot;

static Slot *slots;
static size_t n_slots, n_used;
static pthread_mutex_t slots_lock = PTHREAD_MUTEX_INITIALIZER; /* subinterpreters may have GILs of their own */

static void
unhex(const char hex[65], unsigned char out[32])
{
    for (int i = 0; i < 32; i++) {
        int hi = hex[2 * i] <= '9' ? hex[2 * i] - '0' : hex[2 * i] - 'a' + 10;
        int lo = hex[2 * i + 1] <= '9' ? hex[2 * i + 1] - '0' : hex[2 * i + 1] - 'a' + 10;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
}

static Slot *
probe_slot(Slot *table, size_t size, const unsigned char digest[32])
{
    size_t i;
    memcpy(&i, digest, sizeof i); /* the digest's own bits spread well */
    for (i &= size - 1;; i = (i + 1) & (size - 1)) {
        if (!table[i].used || memcmp(table[i].digest, digest, 32) == 0) {
            return &table[i];
        }
    }
}

int
trusted_add(const char hex[65])
{
    unsigned char digest[32];
    unhex(hex, digest);
    int rc = 0;
    pthread_mutex_lock(&slots_lock);
    if ((n_used + 1) * 2 > n_slots) {
        size_t size = n_slots ? n_slots * 2 : 1024;
        Slot *grown = calloc(size, sizeof(Slot));
        for (size_t i = 0; grown != NULL && i < n_slots; i++) {
            if (slots[i].used) {
                *probe_slot(grown, size, slots[i].digest) = slots[i];
            }
        }
        if (grown != NULL) {
            free(slots);
            slots = grown;
            n_slots = size;
        }
        else if (n_used + 1 >= n_slots) {
            rc = -1; /* full: no room to probe */
        }
    }
    if (rc == 0) {
        Slot *s = probe_slot(slots, n_slots, digest);
        if (!s->used) {
            memcpy(s->digest, digest, 32);
            s->used = 1;
            n_used++;
        }
    }
    pthread_mutex_unlock(&slots_lock);
    if (rc < 0) {
        PyErr_NoMemory();
    }
    return rc;
}

int
trusted_has(const char hex[65])
{
    unsigned char digest[32];
    unhex(hex, digest);
    pthread_mutex_lock(&slots_lock);
    int found = n_slots != 0 && probe_slot(slots, n_slots, digest)->used;
    pthread_mutex_unlock(&slots_lock);
    return found;
}

/* ---- for `tpython trust check` --------------------------------------------- */

/* check_code(path, config) -> (real_path, reason or None, data or None, sha256 or None,
 * vouched_by or None): the open_code hook's checks on PATH, under CONFIG (trust_parse's).
 * The last CONFIG is kept parsed (by identity): `trust check` asks for one per file. */
static PyObject *cached_config;
static TrustConfig cached;

PyObject *
tp_check_code(PyObject *module, PyObject *args)
{
    (void)module;
    PyObject *path, *config;
    if (tp_refuse_sealed("check_code") < 0 || !PyArg_ParseTuple(args, "UO:check_code", &path, &config)) {
        return NULL;
    }
    if (config != cached_config) {
        TrustConfig parsed;
        if (trust_parse(config, &parsed) < 0) {
            return NULL;
        }
        trust_free(&cached);
        cached = parsed;
        Py_INCREF(config);
        Py_XSETREF(cached_config, config);
    }
    Verdict v;
    PyObject *out = NULL;
    if (check_file(&cached, path, &v) == 0) {
        PyObject *real = PyUnicode_DecodeFSDefault(v.real);
        out = real == NULL ? NULL : Py_BuildValue("(NOOzz)", real, v.reason ? v.reason : Py_None,
                                                  v.data && !v.reason ? v.data : Py_None, v.hex[0] ? v.hex : NULL,
                                                  v.vouched);
        verdict_clear(&v);
    }
    return out;
}

/* trust_sources(config) -> the names of the sources CONFIG configures, in the order they are asked. */
PyObject *
tp_trust_sources(PyObject *module, PyObject *config)
{
    (void)module;
    TrustConfig parsed;
    if (trust_parse(config, &parsed) < 0) {
        return NULL;
    }
    PyObject *out = PyList_New(0);
    PyObject *name = out != NULL && parsed.manifest_path != NULL
        ? PyUnicode_FromFormat("manifest %U", parsed.manifest_path) : NULL;
    if (name != NULL && PyList_Append(out, name) < 0) {
        Py_CLEAR(out);
    }
    Py_XDECREF(name);
    name = out != NULL && parsed.xattr ? PyUnicode_FromString("xattr " TP_XATTR_NAME) : NULL;
    if (name != NULL && PyList_Append(out, name) < 0) {
        Py_CLEAR(out);
    }
    Py_XDECREF(name);
    if (PyErr_Occurred()) {
        Py_CLEAR(out);
    }
    trust_free(&parsed);
    return out;
}
