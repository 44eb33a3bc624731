/* Repeated records: the same `log` record from the same place, recorded once, then counted.
 *
 * A `log` record C writes is keyed by its content: event, action, rule, the responsible
 * module, its frame's place (the code's file, name and first line, and the line in it)
 * and the rendered arguments; never by an object's identity. Keys are compared
 * byte for byte (the hash only finds the slot), so two different records are never
 * taken for one. The first record of a key is written as always and the key is kept
 * in a bounded table; later records with the same key are counted instead of written.
 * The counts go out in `tpython.repeats` records: every PERIOD_SECONDS
 * or PERIOD_COUNT repeats (written at the next logged event), and a final one before
 * `tpython.exit` (repeats_flush). A full table, or a key longer than MAX_KEY, never
 * drops anything: such records are written in full every time, and counted as
 * "untracked". At each summary, keys not repeated since the summary before are
 * forgotten, so the table follows what the program does now. Decisions are untouched:
 * this runs after an event has been decided `log`; denials and `ask` are written in full.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "repeats.h"

#define INDEX_SIZE (REPEATS_CAPACITY * 2)
#define PERIOD_SECONDS 10
#define PERIOD_COUNT 1000000
#define MAX_KEY 4096               /* bytes of a key kept in the table; longer ones are not tracked */
#define RECORD_BYTES (64 * 1024) /* a summary record's args: a new record past this */

typedef struct {
    char *material;   /* the key, serialised */
    size_t material_len;
    uint64_t hash;
    char *item;       /* {"event":...,"args":...,...,"place":...,"seq":N,"count": (repeats_remember),
                       * or NULL while its first record is being written */
    size_t item_len;
    uint64_t pending; /* repeats since the last summary */
    int idle;         /* none at the last summary */
} Repeat;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static Repeat table[REPEATS_CAPACITY]; /* dense, in the order keys were first recorded */
static uint16_t slots[INDEX_SIZE];     /* 1 + position in table, or 0: free */
static unsigned used;
static uint64_t pending_total;         /* repeats since the last summary, all keys */
static uint64_t total;                 /* repeats in this run */
static uint64_t untracked;             /* records written in full, since the last summary, that no key could be
                                        * kept for (a full table, a key over MAX_KEY bytes, out of memory) */
static time_t next_at;                 /* CLOCK_MONOTONIC_COARSE second of the next periodic summary, or 0 */

static void reindex(void);
static void drop(unsigned p);

/* A 64-bit hash of N bytes (it only picks the slot: keys are compared whole). */
static uint64_t
hash_bytes(const char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ n;
    for (; n >= 8; p += 8, n -= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdULL;
        h ^= h >> 31;
    }
    uint64_t w = 0;
    memcpy(&w, p, n);
    return (h ^ w) * 0xc4ceb9fe1a85ec53ULL;
}

static uint64_t
mix(uint64_t h, uint64_t v)
{
    h = (h ^ v) * 0x9E3779B97F4A7C15ULL;
    return h ^ (h >> 29);
}

/* A str's UTF-8 as a key part, and its hash (CPython keeps a str's hash: no work after
 * the first time; str's own, so that a subclass runs no code here). 0: it has none (not
 * UTF-8). */
static int
str_part(RepeatKey *key, int i, PyObject *s, uint64_t *h)
{
    Py_ssize_t n;
    const char *text = PyUnicode_Check(s) ? PyUnicode_AsUTF8AndSize(s, &n) : NULL;
    Py_hash_t sh = text != NULL ? PyUnicode_Type.tp_hash(s) : -1;
    if (text == NULL || sh == -1) {
        PyErr_Clear();
        return 0;
    }
    key->data[i] = text;
    key->len[i] = (size_t)n;
    *h = mix(*h, (uint64_t)sh);
    return 1;
}

void
repeats_key(RepeatKey *key, const char *event, const char *action, const char *rule, const char *extra,
            const AttribPlace *place, const Buf *args)
{
    const char *texts[] = {event, action, rule ? rule : "", extra};
    uint64_t h = 0;
    for (int i = 0; i <= KEY_EXTRA; i++) {
        key->data[i] = texts[i];
        key->len[i] = strlen(texts[i]);
        h = mix(h, hash_bytes(texts[i], key->len[i]));
    }
    /* The place by content: its code's file, name and first line, the line in it, and
     * its module's name (which also decides the record's package). */
    int ok = 1;
    key->where[0] = place->code != NULL ? place->code->co_firstlineno : 0;
    key->where[1] = place->line;
    key->where[2] = place->name != NULL;
    key->data[KEY_WHERE] = (const char *)key->where;
    key->len[KEY_WHERE] = sizeof key->where;
    h = mix(h, hash_bytes(key->data[KEY_WHERE], sizeof key->where));
    for (int i = KEY_FILE; i <= KEY_MODULE; i++) {
        key->data[i] = "";
        key->len[i] = 0;
    }
    if (place->code != NULL) {
        ok = str_part(key, KEY_FILE, place->code->co_filename, &h) && str_part(key, KEY_NAME, place->code->co_name, &h)
             && (place->name == NULL || str_part(key, KEY_MODULE, place->name, &h));
    }
    key->data[KEY_ARGS] = args->data;
    key->len[KEY_ARGS] = args->len;
    key->hash = mix(h, hash_bytes(args->data, args->len));
    key->size = 0;
    for (int i = 0; i < KEY_PARTS; i++) {
        key->size += sizeof(uint32_t) + key->len[i];
    }
    if (!ok || key->size > MAX_KEY) {
        key->size = 0; /* not tracked: recorded in full */
    }
}

/* KEY as the table keeps it: each part's length (4 bytes), then its bytes. */
static void
serialise(const RepeatKey *key, char *out)
{
    for (int i = 0; i < KEY_PARTS; i++) {
        uint32_t n = (uint32_t)key->len[i];
        memcpy(out, &n, sizeof n);
        memcpy(out + sizeof n, key->data[i], key->len[i]);
        out += sizeof n + key->len[i];
    }
}

static int
same(const Repeat *r, const RepeatKey *key)
{
    if (r->hash != key->hash || r->material_len != key->size) {
        return 0;
    }
    const char *m = r->material;
    for (int i = 0; i < KEY_PARTS; i++) {
        uint32_t n;
        memcpy(&n, m, sizeof n);
        if (n != key->len[i] || memcmp(m + sizeof n, key->data[i], n) != 0) {
            return 0;
        }
        m += sizeof n + n;
    }
    return 1;
}

/* The key's entry, or NULL; *FREE_SLOT: where it would go. Called with the lock held. */
static Repeat *
find(const RepeatKey *key, unsigned *free_slot)
{
    unsigned i = (unsigned)key->hash & (INDEX_SIZE - 1);
    for (;;) {
        unsigned position = slots[i];
        if (position == 0) {
            *free_slot = i;
            return NULL;
        }
        Repeat *r = &table[position - 1];
        if (same(r, key)) {
            return r;
        }
        i = (i + 1) & (INDEX_SIZE - 1);
    }
}

static time_t
now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return ts.tv_sec;
}

/* The next periodic summary is due PERIOD_SECONDS after something first waits for it. Lock held. */
static void
arm(void)
{
    if (next_at == 0) {
        next_at = now_seconds() + PERIOD_SECONDS;
    }
}

int
repeats_count(const RepeatKey *key)
{
    unsigned slot;
    int counted = 0;
    pthread_mutex_lock(&lock);
    Repeat *r = key->size ? find(key, &slot) : NULL;
    char *material = NULL;
    if (r != NULL) {
        r->pending++;
        pending_total++;
        total++;
        counted = 1;
    }
    else if (key->size == 0 || used >= REPEATS_CAPACITY || (material = malloc(key->size)) == NULL) {
        untracked++; /* recorded in full, as every repeat of it will be */
        arm();
    }
    else {
        /* Kept before its record is written, so that the same record made while this one
         * is being written (by the code attribution runs) is counted too. */
        serialise(key, material);
        table[used] = (Repeat){material, key->size, key->hash, NULL, 0, 0, 0};
        slots[slot] = (uint16_t)(++used);
        arm();
    }
    pthread_mutex_unlock(&lock);
    return counted;
}

/* PLACE as a JSON string "FILE:LINE", or null. */
static int
put_place(Buf *b, const AttribPlace *place)
{
    if (place->code == NULL || !PyUnicode_Check(place->code->co_filename)) {
        return buf_puts(b, "null");
    }
    int line = place->line;
    if (buf_json_str(b, place->code->co_filename, -1) < 0) {
        return -1;
    }
    b->len -= 1; /* reopen the string for ":LINE" */
    return buf_puts(b, ":") < 0 || buf_u64(b, (uint64_t)(line < 0 ? 0 : line)) < 0 || buf_puts(b, "\"") < 0 ? -1 : 0;
}

void
repeats_remember(const RepeatKey *key, long long seq, const char *module, const char *package,
                 const AttribPlace *place)
{
    if (key->size == 0) {
        return;
    }
    /* The record's own members (action "log" and enforced true left out), then where it
     * was made and the seq of the record written in full. */
    Buf item;
    buf_init(&item);
    int ok = buf_puts(&item, "{\"event\":") == 0 && buf_json_cstr(&item, key->data[KEY_EVENT]) == 0
             && buf_puts(&item, ",\"args\":") == 0 && buf_put(&item, key->data[KEY_ARGS], key->len[KEY_ARGS]) == 0
             && buf_puts(&item, ",\"rule\":") == 0
             && (key->len[KEY_RULE] ? buf_json_cstr(&item, key->data[KEY_RULE]) : buf_puts(&item, "null")) == 0
             && buf_puts(&item, ",\"module\":") == 0 && buf_puts(&item, module) == 0
             && buf_puts(&item, ",\"package\":") == 0 && buf_puts(&item, package) == 0
             && buf_put(&item, key->data[KEY_EXTRA], key->len[KEY_EXTRA]) == 0
             && buf_puts(&item, ",\"place\":") == 0 && put_place(&item, place) == 0
             && buf_puts(&item, ",\"seq\":") == 0 && buf_u64(&item, (uint64_t)seq) == 0
             && buf_puts(&item, ",\"count\":") == 0;
    char *copy = ok ? malloc(item.len) : NULL;
    if (copy != NULL) {
        memcpy(copy, item.data, item.len);
    }
    size_t item_len = item.len;
    buf_free(&item);
    unsigned slot;
    pthread_mutex_lock(&lock);
    Repeat *r = find(key, &slot);
    if (r != NULL && r->item == NULL && copy != NULL) {
        r->item = copy;
        r->item_len = item_len;
        copy = NULL;
    }
    else if (r != NULL && r->item == NULL) { /* out of memory: no summary could name it, so it goes */
        pending_total -= r->pending;
        drop((unsigned)(r - table));
        reindex();
    }
    pthread_mutex_unlock(&lock);
    free(copy); /* not kept: the table was full */
}

/* Drop entry P, keeping the table dense. Called with the lock held; reindex() after. */
static void
drop(unsigned p)
{
    free(table[p].material);
    free(table[p].item);
    table[p] = table[--used];
}

void
repeats_forget(const RepeatKey *key)
{
    unsigned slot;
    pthread_mutex_lock(&lock);
    Repeat *r = key->size ? find(key, &slot) : NULL;
    if (r != NULL && r->item == NULL) {
        pending_total -= r->pending;
        drop((unsigned)(r - table));
        reindex();
    }
    pthread_mutex_unlock(&lock);
}

/* The index again, after the table was compacted. Called with the lock held. */
static void
reindex(void)
{
    memset(slots, 0, sizeof slots);
    for (unsigned p = 0; p < used; p++) {
        unsigned i = (unsigned)table[p].hash & (INDEX_SIZE - 1);
        while (slots[i] != 0) {
            i = (i + 1) & (INDEX_SIZE - 1);
        }
        slots[i] = (uint16_t)(p + 1);
    }
}

/* The args of the summary records, as *N buffers (a new array, or NULL): pending counts
 * cleared, keys idle since the summary before forgotten. Lock held. */
static Buf *
collect(int *n)
{
    Buf *bodies = NULL;
    int ok = 1;
    *n = 0;
    uint64_t waiting = 0; /* counts of keys whose first record is still being written */
    for (unsigned p = 0; p < used;) {
        Repeat *r = &table[p];
        if (r->item == NULL) {
            waiting += r->pending;
            p++;
            continue;
        }
        if (r->pending == 0 && r->idle) {
            drop(p); /* the last entry moves here: look at P again */
            continue;
        }
        if (r->pending > 0 && ok && (*n == 0 || bodies[*n - 1].len >= RECORD_BYTES)) {
            Buf *grown = realloc(bodies, (size_t)(*n + 1) * sizeof(Buf));
            ok = grown != NULL;
            if (ok) {
                bodies = grown;
                buf_init(&bodies[(*n)++]);
                ok = buf_puts(&bodies[*n - 1], "{\"repeats\":[") == 0;
            }
        }
        if (r->pending > 0 && ok) {
            Buf *b = &bodies[*n - 1];
            ok = (b->data[b->len - 1] == '[' ? 0 : buf_puts(b, ",")) == 0 && buf_put(b, r->item, r->item_len) == 0
                 && buf_u64(b, r->pending) == 0 && buf_puts(b, "}") == 0;
        }
        r->idle = r->pending == 0;
        r->pending = 0;
        p++;
    }
    if (untracked && ok && *n == 0) { /* said even when no key repeated */
        Buf *grown = realloc(bodies, sizeof(Buf));
        ok = grown != NULL;
        if (ok) {
            bodies = grown;
            buf_init(&bodies[0]);
            *n = 1;
            ok = buf_puts(&bodies[0], "{\"repeats\":[") == 0;
        }
    }
    for (int i = 0; ok && i < *n; i++) {
        ok = buf_puts(&bodies[i], "]") == 0;
        if (ok && i == 0 && untracked) {
            ok = buf_puts(&bodies[0], ",\"untracked\":") == 0 && buf_u64(&bodies[0], untracked) == 0;
        }
        ok = ok && buf_puts(&bodies[i], "}") == 0;
    }
    reindex();
    pending_total = waiting;
    untracked = 0;
    if (!ok) { /* out of memory: these counts are lost, the run goes on */
        for (int i = 0; i < *n; i++) {
            buf_free(&bodies[i]);
        }
        free(bodies);
        *n = 0;
        return NULL;
    }
    return bodies;
}

static void
flush(int feed)
{
    int n;
    pthread_mutex_lock(&lock);
    Buf *bodies = collect(&n);
    next_at = used ? now_seconds() + PERIOD_SECONDS : 0;
    pthread_mutex_unlock(&lock);
    for (int i = 0; i < n; i++) {
        Buf line;
        buf_init(&line);
        char py_lost[1024] = "";
        if (feed) {
            chain_py_lost(py_lost, sizeof(py_lost));
        }
        int delivered;
        if (chain_record(&line, "tpython.repeats", bodies[i].data, bodies[i].len, "log", 1, NULL, "null", "null", "",
                         py_lost, &delivered) >= 0 && feed) {
            chain_feed_python(line.data, line.len);
        }
        buf_free(&line);
        buf_free(&bodies[i]);
    }
    free(bodies);
}

void
repeats_tick(int in_main)
{
    /* Unlocked reads: a summary a little early or late is harmless, and the lock is taken to write it. */
    uint64_t pending = __atomic_load_n(&pending_total, __ATOMIC_RELAXED);
    time_t due = __atomic_load_n(&next_at, __ATOMIC_RELAXED);
    if (!in_main || (pending == 0 && __atomic_load_n(&untracked, __ATOMIC_RELAXED) == 0)) {
        return;
    }
    if (pending < PERIOD_COUNT && (due == 0 || now_seconds() < due)) {
        return;
    }
    flush(chain_has_listener());
}

PyObject *
tp_repeats_flush(PyObject *module, PyObject *unused)
{
    (void)module; (void)unused;
    if (chain_is_ready() && (__atomic_load_n(&pending_total, __ATOMIC_RELAXED)
                             || __atomic_load_n(&untracked, __ATOMIC_RELAXED))) {
        flush(chain_has_listener());
    }
    Py_RETURN_NONE;
}

void
repeats_reset(void)
{
    pthread_mutex_t fresh = PTHREAD_MUTEX_INITIALIZER; /* it may have been held at fork() */
    lock = fresh;
    for (unsigned p = 0; p < used; p++) {
        free(table[p].material);
        free(table[p].item);
    }
    used = 0;
    memset(slots, 0, sizeof slots);
    pending_total = total = untracked = 0;
    next_at = 0;
}

uint64_t
repeats_total(void)
{
    return __atomic_load_n(&total, __ATOMIC_RELAXED);
}

unsigned
repeats_tracked(void)
{
    return __atomic_load_n(&used, __ATOMIC_RELAXED);
}
