/* stageline._speedups: the masking hot loop of a snapshot, in C.
 *
 * stageline.data.masking is the reference: every fake value, date shift and
 * fingerprint here is the same, byte for byte, as the Python there makes for the same
 * input and key (tests/data/test_speedups.py checks it on generated inputs). This file
 * takes only the common case: a value that is ASCII and, in a COPY field, holds no
 * escape; anything else (and an e-mail address inside a longer text, a date or an IP
 * address in another form, JSON that is not plain) comes back as None, and the caller
 * masks it in Python. Built when a C compiler and OpenSSL's headers are there
 * (hatch_build.py); without it, stageline runs the Python alone.
 */
#define PY_SSIZE_T_CLEAN
#define OPENSSL_SUPPRESS_DEPRECATED /* SHA256_CTX: the cheapest state to copy */
#include <Python.h>
#include <openssl/sha.h>
#include <stdint.h>
#include <string.h>

enum { K_NULL, K_REDACT, K_HASH, K_EMAIL, K_NAME, K_PHONE, K_ADDRESS, K_TEXT, K_IP, K_DATE, K_NONE };
static const char *KIND_NAMES[] = {"null", "redact", "hash", "email", "name",
                                   "phone", "address", "text", "ip", "date"};

/* the word lists, in the order masking.WORD_TABLES gives them */
enum { W_FIRST_LOWER, W_LAST_LOWER, W_DOMAINS, W_FIRST, W_LAST, W_STREETS, W_KINDS, W_CITIES, W_WORDS, W_TABLES };
static const Py_ssize_t TABLE_SIZES[W_TABLES] = {64, 64, 4, 64, 64, 32, 8, 32, 256};

#define MIN_FINGERPRINT_LENGTH 4
#define OUT_MAX 1100 /* the longest fake: 64 words of at most 15 bytes, spaces, a dot */
#define MAX_DEPTH 64

typedef struct {
    const char *s;
    Py_ssize_t n;
} Word;

typedef struct {
    PyObject_HEAD
    SHA256_CTX inner, outer;
    PyObject *keep; /* the bytes the words point into */
    Word *words[W_TABLES];
    uint64_t *prints;
    size_t count, capacity;
} Masker;

static const char HEX[] = "0123456789abcdef";

static void hmac(const Masker *m, const unsigned char *data, size_t n, unsigned char out[32]) {
    SHA256_CTX c = m->inner;
    unsigned char inner[32];
    SHA256_Update(&c, data, n);
    SHA256_Final(inner, &c);
    c = m->outer;
    SHA256_Update(&c, inner, 32);
    SHA256_Final(out, &c);
}

static int record(Masker *m, const unsigned char d[8]) {
    if (m->count == m->capacity) {
        size_t capacity = m->capacity ? m->capacity * 2 : 4096;
        uint64_t *grown = PyMem_Realloc(m->prints, capacity * sizeof(uint64_t));
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        m->prints = grown;
        m->capacity = capacity;
    }
    uint64_t fp = 0;
    for (int i = 0; i < 8; i++) fp = (fp << 8) | d[i];
    m->prints[m->count++] = fp;
    return 0;
}

/* str.isspace() for an ASCII character */
static int is_space(unsigned char c) { return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20); }

static int lower(unsigned char c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

/* What Prints.add_digest records for an ASCII value whose HMAC is d: the fingerprint of
 * its normalized form (stripped, case-folded), when it is long enough. Returns 1 when
 * the value holds e-mail addresses inside a longer text (Python must look for them;
 * nothing was recorded), -1 on error, 0 otherwise. */
static int fingerprint(Masker *m, const unsigned char *v, Py_ssize_t n, const unsigned char d[32]) {
    Py_ssize_t start = 0, stop = n;
    while (start < stop && is_space(v[start])) start++;
    while (stop > start && is_space(v[stop - 1])) stop--;
    int at = 0, separator = 0, changed = (start != 0 || stop != n);
    for (Py_ssize_t i = start; i < stop; i++) {
        unsigned char c = v[i];
        if (c == '@') at = 1;
        else if (c == ' ' || c == '<' || c == ',' || c == ';') separator = 1;
        else if (c >= 'A' && c <= 'Z') changed = 1;
    }
    if (at && separator) return 1;
    Py_ssize_t len = stop - start;
    if (len < MIN_FINGERPRINT_LENGTH) return 0;
    if (!changed) return record(m, d);
    unsigned char small[256];
    unsigned char *norm = len <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc(len);
    if (norm == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < len; i++) norm[i] = (unsigned char)lower(v[start + i]);
    unsigned char fd[32];
    hmac(m, norm, (size_t)len, fd);
    if (norm != small) PyMem_Free(norm);
    return record(m, fd);
}

static char *put(char *o, const Word *w) {
    memcpy(o, w->s, (size_t)w->n);
    return o + w->n;
}

static char *put_hex(char *o, const unsigned char *d, int n) {
    for (int i = 0; i < n; i++) {
        *o++ = HEX[d[i] >> 4];
        *o++ = HEX[d[i] & 15];
    }
    return o;
}

static unsigned be16(const unsigned char *d) { return ((unsigned)d[0] << 8) | d[1]; }

/* days since 0000-03-01 of a proleptic Gregorian date, and back */
static int64_t days_from_civil(int64_t y, unsigned mo, unsigned dd) {
    y -= mo <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + dd - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe;
}

static void civil_from_days(int64_t z, int64_t *y, unsigned *mo, unsigned *dd) {
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    unsigned doe = (unsigned)(z - era * 146097);
    unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    unsigned mp = (5 * doy + 2) / 153;
    *dd = doy - (153 * mp + 2) / 5 + 1;
    *mo = mp < 10 ? mp + 3 : mp - 9;
    *y = (int64_t)yoe + era * 400 + (*mo <= 2);
}

static int digits(const unsigned char *v, int n, unsigned *out) {
    unsigned x = 0;
    for (int i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return 0;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return 1;
}

/* masking.shift_date for a value that starts "YYYY-MM-DD"; NULL: Python decides */
static PyObject *shift_date(const unsigned char *v, Py_ssize_t n, const unsigned char d[32], long days,
                            Py_ssize_t limit) {
    unsigned y, mo, dd;
    if (n < 10 || v[4] != '-' || v[7] != '-' || !digits(v, 4, &y) || !digits(v + 5, 2, &mo) ||
        !digits(v + 8, 2, &dd))
        return NULL;
    static const unsigned MONTH[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (y < 1 || mo < 1 || mo > 12 || dd < 1 || dd > MONTH[mo - 1] + (mo == 2 && leap)) return NULL;
    uint32_t pick = ((uint32_t)d[0] << 24) | ((uint32_t)d[1] << 16) | ((uint32_t)d[2] << 8) | d[3];
    int64_t offset = (int64_t)(pick % (uint64_t)(2 * days + 1)) - days;
    int64_t ny;
    unsigned nm, nd;
    civil_from_days(days_from_civil(y, mo, dd) + offset, &ny, &nm, &nd);
    if (ny < 1 || ny > 9999) return NULL; /* OverflowError there: Python keeps the value */
    Py_ssize_t len = n;
    if (limit >= 0 && len > limit) len = limit;
    PyObject *out = PyBytes_FromStringAndSize(NULL, len);
    if (out == NULL) return NULL;
    char head[32];
    snprintf(head, sizeof(head), "%04u-%02u-%02u", (unsigned)ny, nm, nd);
    char *o = PyBytes_AS_STRING(out);
    Py_ssize_t take = len < 10 ? len : 10;
    memcpy(o, head, (size_t)take);
    if (len > 10) memcpy(o + 10, v + 10, (size_t)(len - 10));
    return out;
}

/* The fake of an ASCII value of a leaf kind into o (at least OUT_MAX bytes); its length,
 * -2 for a null, -1 when Python must do it. */
static Py_ssize_t fake(const Masker *m, int kind, const unsigned char *v, Py_ssize_t n,
                       const unsigned char d[32], char *o) {
    char *start = o;
    Word *const *w = m->words;
    switch (kind) {
    case K_NULL:
        return -2;
    case K_REDACT:
        memcpy(o, "[redacted]", 10);
        return 10;
    case K_HASH:
        return put_hex(o, d, 16) - start;
    case K_EMAIL:
        o = put(o, &w[W_FIRST_LOWER][d[0] & 63]);
        *o++ = '.';
        o = put(o, &w[W_LAST_LOWER][d[1] & 63]);
        *o++ = '.';
        o = put_hex(o, d + 3, 8);
        *o++ = '@';
        return put(o, &w[W_DOMAINS][d[2] & 3]) - start;
    case K_NAME:
        o = put(o, &w[W_FIRST][d[0] & 63]);
        *o++ = ' ';
        return put(o, &w[W_LAST][d[1] & 63]) - start;
    case K_PHONE:
        return snprintf(o, OUT_MAX, "+1-%u-555-01%02u", 200 + be16(d) % 800, d[2] % 100u);
    case K_ADDRESS:
        o += snprintf(o, OUT_MAX, "%u ", 1 + be16(d) % 9999);
        o = put(o, &w[W_STREETS][d[2] & 31]);
        *o++ = ' ';
        o = put(o, &w[W_KINDS][d[3] & 7]);
        *o++ = ',';
        *o++ = ' ';
        return put(o, &w[W_CITIES][d[4] & 31]) - start;
    case K_TEXT: {
        Py_ssize_t count = n / 7;
        count = count < 1 ? 1 : count > 64 ? 64 : count;
        unsigned char stream[64];
        memcpy(stream, d, 32);
        if (count > 32) SHA256(stream, 32, stream + 32);
        for (Py_ssize_t i = 0; i < count; i++) {
            if (i) *o++ = ' ';
            o = put(o, &w[W_WORDS][stream[i]]);
        }
        /* str.capitalize(): the first character upper case, the rest lower */
        for (char *c = start; c < o; c++) *c = (char)lower((unsigned char)*c);
        if (*start >= 'a' && *start <= 'z') *start = (char)(*start - 32);
        *o++ = '.';
        return o - start;
    }
    case K_IP:
        for (Py_ssize_t i = 0; i < n; i++)
            if (v[i] == ':' || v[i] == '/') return -1;
        return snprintf(o, OUT_MAX, "%u.%u.%u.%u", 240u + (d[0] & 15u), d[1], d[2], d[3]);
    }
    return -1;
}

static int plain_ascii(const unsigned char *v, Py_ssize_t n, int no_backslash) {
    for (Py_ssize_t i = 0; i < n; i++)
        if (v[i] >= 0x80 || (no_backslash && v[i] == '\\')) return 0;
    return 1;
}

/* ---- Masker(key, words) ---- */

static void free_words(Word **words) {
    for (int t = 0; t < W_TABLES; t++) {
        PyMem_Free(words[t]);
        words[t] = NULL;
    }
}

static int Masker_init(Masker *self, PyObject *args, PyObject *kwds) {
    static char *names[] = {"key", "words", NULL};
    Py_buffer key;
    PyObject *tables;
    if (!PyArg_ParseTupleAndKeywords(args, kwds, "y*O!", names, &key, &PyTuple_Type, &tables))
        return -1;
    unsigned char padded[64] = {0};
    if (key.len > 64) SHA256(key.buf, (size_t)key.len, padded);
    else memcpy(padded, key.buf, (size_t)key.len);
    PyBuffer_Release(&key);
    if (PyTuple_GET_SIZE(tables) != W_TABLES) {
        PyErr_Format(PyExc_ValueError, "words: %d tables expected", W_TABLES);
        return -1;
    }
    /* everything is built aside and swapped in at the end: a failed __init__ leaves the
     * Masker as it was */
    Word *words[W_TABLES] = {NULL};
    PyObject *keep = PyList_New(0);
    if (keep == NULL) return -1;
    for (int t = 0; t < W_TABLES; t++) {
        PyObject *table = PyTuple_GET_ITEM(tables, t);
        if (!PyTuple_Check(table) || PyTuple_GET_SIZE(table) != TABLE_SIZES[t]) {
            PyErr_Format(PyExc_ValueError, "words[%d]: a tuple of %zd words expected", t, TABLE_SIZES[t]);
            goto failed;
        }
        words[t] = PyMem_Calloc((size_t)TABLE_SIZES[t], sizeof(Word));
        if (words[t] == NULL) {
            PyErr_NoMemory();
            goto failed;
        }
        for (Py_ssize_t i = 0; i < TABLE_SIZES[t]; i++) {
            PyObject *ascii = PyUnicode_AsASCIIString(PyTuple_GET_ITEM(table, i));
            if (ascii == NULL) goto failed;
            int appended = PyList_Append(keep, ascii);
            Py_DECREF(ascii); /* keep holds it */
            if (appended < 0) goto failed;
            if (PyBytes_GET_SIZE(ascii) > 15) {
                PyErr_SetString(PyExc_ValueError, "words: at most 15 characters each");
                goto failed;
            }
            words[t][i].s = PyBytes_AS_STRING(ascii);
            words[t][i].n = PyBytes_GET_SIZE(ascii);
        }
    }
    unsigned char ipad[64], opad[64];
    for (int i = 0; i < 64; i++) {
        ipad[i] = padded[i] ^ 0x36;
        opad[i] = padded[i] ^ 0x5C;
    }
    SHA256_Init(&self->inner);
    SHA256_Update(&self->inner, ipad, 64);
    SHA256_Init(&self->outer);
    SHA256_Update(&self->outer, opad, 64);
    free_words(self->words);
    memcpy(self->words, words, sizeof(words));
    Py_XSETREF(self->keep, keep);
    return 0;
failed:
    free_words(words);
    Py_DECREF(keep);
    return -1;
}

static int ready(Masker *self) {
    if (self->keep != NULL) return 1;
    PyErr_SetString(PyExc_RuntimeError, "Masker.__init__ was not called");
    return 0;
}

static void Masker_dealloc(Masker *self) {
    free_words(self->words);
    PyMem_Free(self->prints);
    Py_XDECREF(self->keep);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static int kind_of(PyObject *name) {
    for (int k = 0; k < K_NONE; k++)
        if (PyUnicode_CompareWithASCIIString(name, KIND_NAMES[k]) == 0) return k;
    return K_NONE;
}

/* One leaf value: its fake as bytes, Py_None for a null, or NULL with no error set when
 * Python must mask it. Records the fingerprint (not for dates). */
/* The fake of a leaf kind for the ASCII value v into out, and the value's fingerprint
 * recorded unless the fake is the value itself (then it hides nothing): the length, -2
 * for a null, -1 when Python must do it (nothing recorded), -3 with an error set. */
static Py_ssize_t leaf(Masker *m, int kind, const unsigned char *v, Py_ssize_t n, char *out) {
    unsigned char d[32];
    hmac(m, v, (size_t)n, d);
    Py_ssize_t len = fake(m, kind, v, n, d, out);
    if (len == -1 || (len == n && memcmp(out, v, (size_t)n) == 0)) return len;
    int done = fingerprint(m, v, n, d);
    return done == 0 ? len : done > 0 ? -1 : -3;
}

/* One value of a column: its fake as bytes, Py_None for a null, or NULL with no error
 * set when Python must mask it. Records the fingerprint (not for dates). */
static PyObject *mask_value(Masker *m, int kind, const unsigned char *v, Py_ssize_t n, Py_ssize_t limit,
                            long days) {
    if (kind == K_DATE) {
        unsigned char d[32];
        hmac(m, v, (size_t)n, d);
        return shift_date(v, n, d, days, limit);
    }
    char out[OUT_MAX];
    Py_ssize_t len = leaf(m, kind, v, n, out);
    if (len == -2) Py_RETURN_NONE;
    if (len < 0) return NULL;
    if (limit >= 0 && len > limit) len = limit;
    return PyBytes_FromStringAndSize(out, len);
}

static PyObject *Masker_one(Masker *self, PyObject *args) {
    PyObject *kind_name, *value;
    if (!ready(self) || !PyArg_ParseTuple(args, "UU", &kind_name, &value)) return NULL;
    int kind = kind_of(kind_name);
    if (kind == K_NONE || kind == K_DATE || kind == K_NULL)
        return PyErr_Format(PyExc_ValueError, "no fast path for %R", kind_name);
    if (!PyUnicode_IS_ASCII(value)) Py_RETURN_NONE;
    const unsigned char *v = (const unsigned char *)PyUnicode_DATA(value);
    PyObject *out = mask_value(self, kind, v, PyUnicode_GET_LENGTH(value), -1, 0);
    if (out == NULL) {
        if (PyErr_Occurred()) return NULL;
        Py_RETURN_NONE;
    }
    PyObject *text = PyUnicode_DecodeASCII(PyBytes_AS_STRING(out), PyBytes_GET_SIZE(out), NULL);
    Py_DECREF(out);
    return text;
}

/* ---- JSON: the text kept as it is, the strings under a rule's key replaced ---- */

typedef struct {
    const char *name;
    Py_ssize_t n;
    int kind;
} KeyRule;

typedef struct {
    Masker *m;
    const unsigned char *end;
    const unsigned char *p;
    char *buffer; /* the document as masked so far: length bytes of capacity */
    Py_ssize_t length, capacity;
    KeyRule *rules;
    Py_ssize_t nrules;
} Json;

/* 0: done; 1: Python must do this document (not plain, or not JSON); -1: error set */
static int j_value(Json *j, int depth);

static void j_space(Json *j) {
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) j->p++;
}

static int j_emit(Json *j, const void *s, Py_ssize_t n) {
    if (j->capacity - j->length < n) {
        Py_ssize_t capacity = (j->capacity + n) * 2;
        char *grown = PyMem_Realloc(j->buffer, (size_t)capacity);
        if (grown == NULL) {
            PyErr_NoMemory();
            return -1;
        }
        j->buffer = grown;
        j->capacity = capacity;
    }
    memcpy(j->buffer + j->length, s, (size_t)n);
    j->length += n;
    return 0;
}

/* a string at p (no escapes: the field held no backslash); its body in *s, *n */
static int j_string(Json *j, const unsigned char **s, Py_ssize_t *n) {
    if (j->p >= j->end || *j->p != '"') return 1;
    const unsigned char *start = ++j->p;
    while (j->p < j->end && *j->p != '"') {
        if (*j->p < 0x20) return 1;
        j->p++;
    }
    if (j->p >= j->end) return 1;
    *s = start;
    *n = j->p - start;
    j->p++;
    return 0;
}

/* an integer, as JSON writes it */
static int j_number(Json *j) {
    const unsigned char *p = j->p, *e = j->end;
    if (p < e && *p == '-') p++;
    if (p >= e) return 1;
    if (*p == '0') p++;
    else if (*p >= '1' && *p <= '9') while (p < e && *p >= '0' && *p <= '9') p++;
    else return 1;
    /* a fraction, an exponent or -0: Python's json prints those its own way (19.90 as
     * 19.9), so Python does the document and both paths give the same text */
    if (p < e && (*p == '.' || *p == 'e' || *p == 'E')) return 1;
    if (p - j->p == 2 && j->p[0] == '-' && j->p[1] == '0') return 1;
    j->p = p;
    return 0;
}

static int j_literal(Json *j, const char *word) {
    Py_ssize_t n = (Py_ssize_t)strlen(word);
    if (j->end - j->p < n || memcmp(j->p, word, (size_t)n) != 0) return 1;
    j->p += n;
    return 0;
}

static int j_copy_from(Json *j, const unsigned char *from) { return j_emit(j, from, j->p - from); }

static int j_masked(Json *j, int kind) {
    const unsigned char *from = j->p;
    j_space(j);
    int r = j_copy_from(j, from);
    if (r) return r;
    if (j->p < j->end && *j->p == 'n') {
        from = j->p;
        return j_literal(j, "null") ? 1 : j_copy_from(j, from);
    }
    const unsigned char *s;
    Py_ssize_t n;
    if (j_string(j, &s, &n)) return 1; /* an object, array, number under a rule: Python */
    char out[OUT_MAX];
    Py_ssize_t len = leaf(j->m, kind, s, n, out);
    if (len == -2) return j_emit(j, "null", 4);
    if (len < 0) return len == -3 ? -1 : 1;
    if ((r = j_emit(j, "\"", 1)) || (r = j_emit(j, out, len))) return r;
    return j_emit(j, "\"", 1);
}

/* after an opening bracket: 2 when the container is empty (closed and copied), 0 to go on */
static int j_open(Json *j, char open, char close) {
    j->p++;
    int r = j_emit(j, &open, 1);
    if (r) return r;
    const unsigned char *from = j->p;
    j_space(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        r = j_copy_from(j, from);
        return r ? r : 2;
    }
    j->p = from; /* the space goes out with the first member */
    return 0;
}

/* after a member or an element: 2 at the closing bracket, 0 after a comma */
static int j_next(Json *j, char close) {
    const unsigned char *from = j->p;
    j_space(j);
    if (j->p >= j->end) return 1;
    unsigned char c = *j->p++;
    int r = j_copy_from(j, from);
    if (r) return r;
    return c == close ? 2 : c == ',' ? 0 : 1;
}

static int j_object(Json *j, int depth) {
    int r = j_open(j, '{', '}');
    while (r == 0) {
        const unsigned char *from = j->p;
        j_space(j);
        const unsigned char *name;
        Py_ssize_t n;
        if (j_string(j, &name, &n)) return 1;
        j_space(j);
        if (j->p >= j->end || *j->p != ':') return 1;
        j->p++;
        r = j_copy_from(j, from);
        if (r) return r;
        int kind = K_NONE;
        for (Py_ssize_t i = 0; i < j->nrules; i++)
            if (j->rules[i].n == n && memcmp(j->rules[i].name, name, (size_t)n) == 0) kind = j->rules[i].kind;
        r = kind == K_NONE ? j_value(j, depth + 1) : j_masked(j, kind);
        if (r == 0) r = j_next(j, '}');
    }
    return r == 2 ? 0 : r;
}

static int j_array(Json *j, int depth) {
    int r = j_open(j, '[', ']');
    while (r == 0) {
        r = j_value(j, depth + 1);
        if (r == 0) r = j_next(j, ']');
    }
    return r == 2 ? 0 : r;
}

static int j_value(Json *j, int depth) {
    if (depth > MAX_DEPTH) return 1;
    const unsigned char *from = j->p;
    j_space(j);
    int r = j_copy_from(j, from);
    if (r) return r;
    if (j->p >= j->end) return 1;
    from = j->p;
    switch (*j->p) {
    case '{':
        return j_object(j, depth);
    case '[':
        return j_array(j, depth);
    case '"': {
        const unsigned char *s;
        Py_ssize_t n;
        r = j_string(j, &s, &n);
        break;
    }
    case 't':
        r = j_literal(j, "true");
        break;
    case 'f':
        r = j_literal(j, "false");
        break;
    case 'n':
        r = j_literal(j, "null");
        break;
    default:
        r = j_number(j);
    }
    return r ? r : j_copy_from(j, from);
}

/* ---- fields: one masked column value, or a whole COPY block ---- */

#define K_JSON K_NONE /* a spec's kind for a json column */

typedef struct {
    int kind;
    Py_ssize_t limit;
    long days;
    KeyRule *rules; /* json */
    Py_ssize_t nrules;
    PyObject *fallback; /* block(): masks one field in Python */
} Spec;

/* Appends field v (COPY text) masked per spec to j's buffer: 0, or 1 when Python must
 * mask it (nothing appended or recorded), or -1 with an error set. */
static int mask_field(Masker *m, const Spec *spec, const unsigned char *v, Py_ssize_t n, Json *j) {
    if (n == 2 && v[0] == '\\' && v[1] == 'N') return j_emit(j, v, 2);
    if (!plain_ascii(v, n, 1)) return 1;
    size_t count = m->count;
    Py_ssize_t length = j->length;
    int r;
    if (spec->kind == K_JSON) {
        j->p = v;
        j->end = v + n;
        j->rules = spec->rules;
        j->nrules = spec->nrules;
        r = j_value(j, 0);
        if (r == 0) {
            const unsigned char *from = j->p;
            j_space(j);
            r = j->p != j->end ? 1 : j_copy_from(j, from);
        }
    } else {
        PyObject *out = mask_value(m, spec->kind, v, n, spec->limit, spec->days);
        if (out == NULL) {
            r = PyErr_Occurred() ? -1 : 1;
        } else {
            r = out == Py_None ? j_emit(j, "\\N", 2) : j_emit(j, PyBytes_AS_STRING(out), PyBytes_GET_SIZE(out));
            Py_DECREF(out);
        }
    }
    if (r != 0) { /* Python does all of this value, its fingerprints too */
        m->count = count;
        j->length = length;
    }
    return r;
}

static void spec_clear(Spec *spec) {
    PyMem_Free(spec->rules);
    spec->rules = NULL;
}

/* a spec from a kind's name (str) or a json column's keys (dict of str to kind) */
static int spec_of(Spec *spec, PyObject *what, Py_ssize_t limit, long days, PyObject *fallback) {
    memset(spec, 0, sizeof(*spec));
    spec->limit = limit;
    spec->days = days;
    spec->fallback = fallback;
    if (PyUnicode_Check(what)) {
        spec->kind = kind_of(what);
        if (spec->kind == K_NONE) {
            PyErr_Format(PyExc_ValueError, "no fast path for %R", what);
            return -1;
        }
        if (spec->kind == K_DATE && days < 0) {
            PyErr_SetString(PyExc_ValueError, "days must not be negative");
            return -1;
        }
        return 0;
    }
    if (!PyDict_Check(what)) {
        PyErr_SetString(PyExc_TypeError, "a kind (str) or a json column's keys (dict) expected");
        return -1;
    }
    spec->kind = K_JSON;
    Py_ssize_t pos = 0, i = 0;
    spec->rules = PyMem_Calloc((size_t)(PyDict_GET_SIZE(what) + 1), sizeof(KeyRule));
    if (spec->rules == NULL) {
        PyErr_NoMemory();
        return -1;
    }
    PyObject *name, *kind_name;
    while (PyDict_Next(what, &pos, &name, &kind_name)) {
        int kind = PyUnicode_Check(kind_name) ? kind_of(kind_name) : K_NONE;
        if (!PyUnicode_Check(name) || kind == K_NONE || kind == K_DATE) {
            PyErr_Format(PyExc_ValueError, "no fast path for the json key %R: %R", name, kind_name);
            spec_clear(spec);
            return -1;
        }
        spec->rules[i].name = PyUnicode_AsUTF8AndSize(name, &spec->rules[i].n);
        if (spec->rules[i].name == NULL) {
            spec_clear(spec);
            return -1;
        }
        spec->rules[i++].kind = kind;
    }
    spec->nrules = i;
    return 0;
}

/* column() and json_column(): a list of fields in, a list out (None: Python must) */
static PyObject *fields_out(Masker *self, const Spec *spec, PyObject *fields) {
    Py_ssize_t count = PyList_GET_SIZE(fields);
    size_t before = self->count;
    PyObject *result = PyList_New(count);
    Json j = {self, NULL, NULL, NULL, 0, 0, NULL, 0};
    for (Py_ssize_t f = 0; result != NULL && f < count; f++) {
        PyObject *field = PyList_GET_ITEM(fields, f), *out = NULL;
        int r = -1;
        if (!PyBytes_Check(field)) PyErr_SetString(PyExc_TypeError, "fields: bytes expected");
        else {
            j.length = 0;
            r = mask_field(self, spec, (const unsigned char *)PyBytes_AS_STRING(field),
                           PyBytes_GET_SIZE(field), &j);
        }
        if (r == 0) out = PyBytes_FromStringAndSize(j.buffer, j.length);
        else if (r == 1) out = Py_NewRef(Py_None);
        if (out == NULL) {
            Py_CLEAR(result);
            self->count = before;
            break;
        }
        PyList_SET_ITEM(result, f, out);
    }
    PyMem_Free(j.buffer);
    return result;
}

static PyObject *Masker_column(Masker *self, PyObject *args) {
    PyObject *kind_name, *fields;
    Py_ssize_t limit;
    long days;
    if (!ready(self) || !PyArg_ParseTuple(args, "UO!nl", &kind_name, &PyList_Type, &fields, &limit, &days))
        return NULL;
    Spec spec;
    if (spec_of(&spec, kind_name, limit, days, NULL) < 0) return NULL;
    return fields_out(self, &spec, fields);
}

static PyObject *Masker_json_column(Masker *self, PyObject *args) {
    PyObject *keys, *fields;
    if (!ready(self) || !PyArg_ParseTuple(args, "O!O!", &PyDict_Type, &keys, &PyList_Type, &fields))
        return NULL;
    Spec spec;
    if (spec_of(&spec, keys, -1, 0, NULL) < 0) return NULL;
    PyObject *result = fields_out(self, &spec, fields);
    spec_clear(&spec);
    return result;
}

/* The next field of a COPY row at *p (the row's last when last): its length, with *p
 * past its tab or newline; -1 with an error set when the row has another width. */
static Py_ssize_t next_field(const unsigned char **p, const unsigned char *end, int last, Py_ssize_t width) {
    const unsigned char *start = *p, *q = start;
    while (q < end && *q != '\t' && *q != '\n') q++;
    if (q == end || *q != (last ? '\n' : '\t')) {
        PyErr_Format(PyExc_ValueError, "a COPY block whose rows do not all have %zd fields", width);
        return -1;
    }
    *p = q + 1;
    return q - start;
}

/* fallback(field) for a field the C does not take: a new reference, or NULL (error set) */
static PyObject *ask_python(PyObject *fallback, const unsigned char *v, Py_ssize_t n) {
    PyObject *raw = PyBytes_FromStringAndSize((const char *)v, n);
    PyObject *out = raw ? PyObject_CallOneArg(fallback, raw) : NULL;
    Py_XDECREF(raw);
    return out;
}

/* block(block, width, columns): whole rows of COPY text (ending with a newline) with
 * the columns given as (position, kind or json keys, limit, days, fallback) masked; a
 * field the C cannot take goes to fallback(field) -> bytes. */
static PyObject *Masker_block(Masker *self, PyObject *args) {
    Py_buffer block;
    Py_ssize_t width;
    PyObject *columns, *result = NULL;
    if (!ready(self) || !PyArg_ParseTuple(args, "y*nO!", &block, &width, &PyList_Type, &columns)) return NULL;
    Spec *specs = NULL, **at = NULL;
    Json j = {self, NULL, NULL, NULL, 0, 0, NULL, 0};
    Py_ssize_t ncolumns = PyList_GET_SIZE(columns), made = 0;
    size_t before = self->count;
    if (width < 1) {
        PyErr_SetString(PyExc_ValueError, "width must be at least 1");
        goto done;
    }
    specs = PyMem_Calloc((size_t)(ncolumns + 1), sizeof(Spec));
    at = PyMem_Calloc((size_t)width, sizeof(Spec *));
    if (specs == NULL || at == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; made < ncolumns; made++) {
        PyObject *column = PyList_GET_ITEM(columns, made), *what, *fallback;
        Py_ssize_t position, limit;
        long days;
        if (!PyTuple_Check(column) ||
            !PyArg_ParseTuple(column, "nOnlO", &position, &what, &limit, &days, &fallback))
            goto failed_spec;
        if (position < 0 || position >= width || at[position] != NULL || !PyCallable_Check(fallback)) {
            PyErr_SetString(PyExc_ValueError, "columns: distinct positions below width, callable fallbacks");
            goto failed_spec;
        }
        if (spec_of(&specs[made], what, limit, days, fallback) < 0) goto failed_spec;
        at[position] = &specs[made];
        continue;
    failed_spec:
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_TypeError, "columns: (position, kind, limit, days, fallback) tuples");
        goto done;
    }
    const unsigned char *p = block.buf, *end = p + block.len;
    j.capacity = block.len + block.len / 4 + 64; /* fakes run a little longer than the values */
    j.buffer = PyMem_Malloc((size_t)j.capacity);
    if (j.buffer == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    while (p < end) {
        for (Py_ssize_t f = 0; f < width; f++) {
            const unsigned char *start = p;
            Py_ssize_t n = next_field(&p, end, f == width - 1, width);
            if (n < 0) goto done;
            const Spec *spec = at[f];
            int r = spec == NULL ? j_emit(&j, start, n) : mask_field(self, spec, start, n, &j);
            if (r == 1) {
                PyObject *out = ask_python(spec->fallback, start, n);
                if (out != NULL && !PyBytes_Check(out)) {
                    PyErr_SetString(PyExc_TypeError, "a fallback must return bytes");
                    Py_CLEAR(out);
                }
                r = out == NULL ? -1 : j_emit(&j, PyBytes_AS_STRING(out), PyBytes_GET_SIZE(out));
                Py_XDECREF(out);
            }
            if (r != 0 || j_emit(&j, start + n, 1) != 0) goto done; /* the tab or newline */
        }
    }
    result = PyBytes_FromStringAndSize(j.buffer, j.length);
done:
    if (result == NULL) self->count = before;
    for (Py_ssize_t i = 0; i < made; i++) spec_clear(&specs[i]);
    PyMem_Free(specs);
    PyMem_Free(at);
    PyMem_Free(j.buffer);
    PyBuffer_Release(&block);
    return result;
}

/* ---- the leak scan: does a value hold a production value's fingerprint? ---- */

typedef struct {
    Py_buffer *sets; /* sorted native uint64 arrays */
    Py_ssize_t nsets;
} Prints;

static int known(const Prints *prints, uint64_t fp) {
    for (Py_ssize_t s = 0; s < prints->nsets; s++) {
        const uint64_t *a = prints->sets[s].buf;
        Py_ssize_t lo = 0, hi = prints->sets[s].len / 8;
        while (lo < hi) {
            Py_ssize_t mid = lo + (hi - lo) / 2;
            if (a[mid] < fp) lo = mid + 1;
            else hi = mid;
        }
        if (lo < prints->sets[s].len / 8 && a[lo] == fp) return 1;
    }
    return 0;
}

static int in_table(const Word *words, Py_ssize_t count, const unsigned char *s, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < count; i++)
        if (words[i].n == n && memcmp(words[i].s, s, (size_t)n) == 0) return 1;
    return 0;
}

/* masking.candidates() and the lookup, for an ASCII string: 1 when a production value's
 * fingerprint is found, 0 when not, 2 when Python must look (e-mails inside a text). */
static int leaked(const Masker *m, const unsigned char *v, Py_ssize_t n, const Prints *prints) {
    Py_ssize_t start = 0, stop = n;
    while (start < stop && is_space(v[start])) start++;
    while (stop > start && is_space(v[stop - 1])) stop--;
    Py_ssize_t len = stop - start, at = -1, spaces = 0, space = -1;
    int separator = 0;
    for (Py_ssize_t i = start; i < stop; i++) {
        if (v[i] == '@') at = i;
        else if (v[i] == ' ' || v[i] == '<' || v[i] == ',' || v[i] == ';') separator = 1;
        if (v[i] == ' ') {
            spaces++;
            space = i;
        }
    }
    if (at >= 0 && separator) return 2;
    if (len < MIN_FINGERPRINT_LENGTH) return 0;
    unsigned char small[256];
    unsigned char *norm = len <= (Py_ssize_t)sizeof(small) ? small : PyMem_Malloc(len);
    if (norm == NULL) return 2; /* no memory to spare: Python looks */
    for (Py_ssize_t i = 0; i < len; i++) norm[i] = (unsigned char)lower(v[start + i]);
    int fake = 0; /* what our own fakes produce is not looked up (masking.fingerprintable) */
    if (at >= 0)
        for (Py_ssize_t k = 0; k < TABLE_SIZES[W_DOMAINS] && !fake; k++) {
            const Word *w = &m->words[W_DOMAINS][k];
            fake = len > w->n && norm[len - w->n - 1] == '@' && memcmp(norm + len - w->n, w->s, (size_t)w->n) == 0;
        }
    if (spaces == 1 && !fake) {
        Py_ssize_t cut = space - start;
        fake = in_table(m->words[W_FIRST_LOWER], TABLE_SIZES[W_FIRST_LOWER], norm, cut) &&
               in_table(m->words[W_LAST_LOWER], TABLE_SIZES[W_LAST_LOWER], norm + cut + 1, len - cut - 1);
    }
    int found = 0;
    if (!fake) {
        unsigned char d[32];
        hmac(m, norm, (size_t)len, d);
        uint64_t fp = 0;
        for (int i = 0; i < 8; i++) fp = (fp << 8) | d[i];
        found = known(prints, fp);
    }
    if (norm != small) PyMem_Free(norm);
    return found;
}

/* every string leaf of a JSON document (object keys are not values): 0 parsed, 1 Python */
static int s_value(Json *j, int depth, const Prints *prints, int *hit) {
    if (depth > MAX_DEPTH) return 1;
    j_space(j);
    if (j->p >= j->end) return 1;
    const unsigned char *s;
    Py_ssize_t n;
    unsigned char open = *j->p;
    if (open == '{' || open == '[') {
        unsigned char close = open == '{' ? '}' : ']';
        j->p++;
        j_space(j);
        if (j->p < j->end && *j->p == close) {
            j->p++;
            return 0;
        }
        for (;;) {
            if (open == '{') {
                j_space(j);
                if (j_string(j, &s, &n)) return 1;
                j_space(j);
                if (j->p >= j->end || *j->p != ':') return 1;
                j->p++;
            }
            if (s_value(j, depth + 1, prints, hit)) return 1;
            j_space(j);
            if (j->p >= j->end) return 1;
            unsigned char c = *j->p++;
            if (c == close) return 0;
            if (c != ',') return 1;
        }
    }
    if (open == '"') {
        if (j_string(j, &s, &n)) return 1;
        if (!*hit) {
            int r = leaked(j->m, s, n, prints);
            if (r == 2) return 1;
            *hit = r;
        }
        return 0;
    }
    if (open == 't') return j_literal(j, "true");
    if (open == 'f') return j_literal(j, "false");
    if (open == 'n') return j_literal(j, "null");
    return j_number(j); /* a fraction: Python parses it */
}

/* scan(block, columns, sets) -> (values, hits): whole COPY rows of len(columns) fields,
 * each column given as (is_json, fallback); a value counts once in its column's hits when
 * it (or a JSON leaf of it, or an e-mail inside it) is a production value. A value the C
 * does not take goes to fallback(field) -> bool. */
static PyObject *Masker_scan(Masker *self, PyObject *args) {
    Py_buffer block;
    PyObject *columns, *sets, *result = NULL;
    if (!ready(self) || !PyArg_ParseTuple(args, "y*O!O!", &block, &PyList_Type, &columns, &PyList_Type, &sets))
        return NULL;
    Py_ssize_t width = PyList_GET_SIZE(columns), nsets = PyList_GET_SIZE(sets), got = 0, values = 0;
    Prints prints = {PyMem_Calloc((size_t)nsets + 1, sizeof(Py_buffer)), 0};
    Py_ssize_t *hits = PyMem_Calloc((size_t)width + 1, sizeof(Py_ssize_t));
    int *json = PyMem_Calloc((size_t)width + 1, sizeof(int));
    if (prints.sets == NULL || hits == NULL || json == NULL) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < nsets; got++) {
        if (PyObject_GetBuffer(PyList_GET_ITEM(sets, got), &prints.sets[got], PyBUF_SIMPLE) < 0) goto done;
        prints.nsets = got + 1;
        if (prints.sets[got].len % 8) {
            PyErr_SetString(PyExc_ValueError, "sets: arrays of 64-bit integers expected");
            goto done;
        }
    }
    if (width < 1) {
        PyErr_SetString(PyExc_ValueError, "columns: at least one");
        goto done;
    }
    for (Py_ssize_t c = 0; c < width; c++) {
        PyObject *column = PyList_GET_ITEM(columns, c);
        if (!PyTuple_Check(column) || PyTuple_GET_SIZE(column) != 2 || !PyCallable_Check(PyTuple_GET_ITEM(column, 1))) {
            PyErr_SetString(PyExc_TypeError, "columns: (is_json, fallback) tuples");
            goto done;
        }
        json[c] = PyObject_IsTrue(PyTuple_GET_ITEM(column, 0));
        if (json[c] < 0) goto done;
    }
    Json j = {self, NULL, NULL, NULL, 0, 0, NULL, 0};
    const unsigned char *p = block.buf, *end = p + block.len;
    while (p < end) {
        for (Py_ssize_t c = 0; c < width; c++) {
            const unsigned char *start = p;
            Py_ssize_t n = next_field(&p, end, c == width - 1, width);
            if (n < 0) goto done;
            if (n == 2 && start[0] == '\\' && start[1] == 'N') continue;
            values++;
            int hit = 2;
            if (plain_ascii(start, n, 1)) {
                if (json[c]) {
                    int found = 0;
                    j.p = start;
                    j.end = start + n;
                    if (s_value(&j, 0, &prints, &found) == 0) {
                        j_space(&j);
                        if (j.p == j.end) hit = found;
                    }
                } else {
                    hit = leaked(self, start, n, &prints);
                }
            }
            if (hit == 2) {
                PyObject *out = ask_python(PyTuple_GET_ITEM(PyList_GET_ITEM(columns, c), 1), start, n);
                hit = out == NULL ? -1 : PyObject_IsTrue(out);
                Py_XDECREF(out);
                if (hit < 0) goto done;
            }
            hits[c] += hit;
        }
    }
    PyObject *counts = PyList_New(width);
    if (counts == NULL) goto done;
    for (Py_ssize_t c = 0; c < width; c++) PyList_SET_ITEM(counts, c, PyLong_FromSsize_t(hits[c]));
    result = Py_BuildValue("(nN)", values, counts);
done:
    for (Py_ssize_t i = 0; i < prints.nsets; i++) PyBuffer_Release(&prints.sets[i]);
    PyMem_Free(prints.sets);
    PyMem_Free(hits);
    PyMem_Free(json);
    PyBuffer_Release(&block);
    return result;
}

static PyObject *Masker_drain(Masker *self, PyObject *Py_UNUSED(ignored)) {
    PyObject *out = PyBytes_FromStringAndSize((const char *)self->prints, (Py_ssize_t)(self->count * sizeof(uint64_t)));
    if (out != NULL) self->count = 0;
    return out;
}

/* ---- sort_unique ---- */

static PyObject *sort_unique(PyObject *module, PyObject *arg) {
    Py_buffer in;
    if (PyObject_GetBuffer(arg, &in, PyBUF_SIMPLE) < 0) return NULL;
    if (in.len % 8) {
        PyBuffer_Release(&in);
        return PyErr_Format(PyExc_ValueError, "a whole number of 64-bit integers expected");
    }
    size_t n = (size_t)in.len / 8;
    uint64_t *a = PyMem_Malloc(n ? n * 8 : 8), *b = PyMem_Malloc(n ? n * 8 : 8);
    size_t *counts = PyMem_Malloc(65536 * sizeof(size_t));
    if (a == NULL || b == NULL || counts == NULL) {
        PyMem_Free(a);
        PyMem_Free(b);
        PyMem_Free(counts);
        PyBuffer_Release(&in);
        return PyErr_NoMemory();
    }
    memcpy(a, in.buf, n * 8);
    PyBuffer_Release(&in);
    Py_BEGIN_ALLOW_THREADS
    /* least significant digit radix sort, 16 bits a pass */
    {
        for (int shift = 0; shift < 64; shift += 16) {
            memset(counts, 0, 65536 * sizeof(size_t));
            for (size_t i = 0; i < n; i++) counts[(a[i] >> shift) & 0xFFFF]++;
            size_t total = 0;
            for (size_t k = 0; k < 65536; k++) {
                size_t c = counts[k];
                counts[k] = total;
                total += c;
            }
            for (size_t i = 0; i < n; i++) b[counts[(a[i] >> shift) & 0xFFFF]++] = a[i];
            uint64_t *t = a;
            a = b;
            b = t;
        }
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(counts);
    PyMem_Free(b);
    size_t kept = 0;
    for (size_t i = 0; i < n; i++)
        if (kept == 0 || a[i] != a[kept - 1]) a[kept++] = a[i];
    PyObject *out = PyBytes_FromStringAndSize((const char *)a, (Py_ssize_t)(kept * 8));
    PyMem_Free(a);
    return out;
}

static PyMethodDef Masker_methods[] = {
    {"column", (PyCFunction)Masker_column, METH_VARARGS,
     "column(kind, fields, limit, days) -> list: masked COPY fields, None where Python must"},
    {"one", (PyCFunction)Masker_one, METH_VARARGS, "one(kind, value) -> str | None"},
    {"json_column", (PyCFunction)Masker_json_column, METH_VARARGS,
     "json_column(keys, fields) -> list: JSON COPY fields with the strings under keys masked"},
    {"scan", (PyCFunction)Masker_scan, METH_VARARGS,
     "scan(block, columns, sets) -> (values, hits): the leak scan of whole COPY rows"},
    {"block", (PyCFunction)Masker_block, METH_VARARGS,
     "block(block, width, columns) -> bytes: whole COPY rows with the columns masked"},
    {"drain", (PyCFunction)Masker_drain, METH_NOARGS, "the fingerprints recorded since the last drain"},
    {NULL, NULL, 0, NULL},
};

static PyTypeObject MaskerType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "stageline._speedups.Masker",
    .tp_basicsize = sizeof(Masker),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_new = PyType_GenericNew,
    .tp_init = (initproc)Masker_init,
    .tp_dealloc = (destructor)Masker_dealloc,
    .tp_methods = Masker_methods,
    .tp_doc = "The keyed masks of stageline.data.masking for plain ASCII values.",
};

static PyMethodDef module_methods[] = {
    {"sort_unique", sort_unique, METH_O, "sort_unique(packed uint64s) -> the sorted set, packed"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "stageline._speedups", NULL, -1, module_methods, NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__speedups(void) {
    if (PyType_Ready(&MaskerType) < 0) return NULL;
    PyObject *m = PyModule_Create(&module);
    if (m == NULL) return NULL;
    if (PyModule_AddObjectRef(m, "Masker", (PyObject *)&MaskerType) < 0) {
        Py_DECREF(m);
        return NULL;
    }
    return m;
}
