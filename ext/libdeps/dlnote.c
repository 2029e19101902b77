/* The FDO ELF dlopen metadata note (the UAPI group's "ELF dlopen metadata" spec, as systemd's
 * sd-dlopen.h writes it): a note of owner "FDO" and type 0x407c0c0a in a section .note.dlopen,
 * whose descriptor is a NUL-terminated JSON array of objects
 *     {"feature": "...", "description": "...", "priority": "required|recommended|suggested",
 *      "soname": ["libfoo.so.1", "libfoo.so.0"]}
 * naming the libraries a program may dlopen(); the sonames of one object are alternatives.
 * This file reads that JSON; elf.c finds the notes. The parser takes any bytes: depth, lengths
 * and every escape are checked, and anything it does not need is skipped. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>

#include "libdeps/dlnote.h"

#define MAX_DEPTH 32

struct json {
    const char *p, *end;
};

static void blank(struct json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

static int hexval(char c)
{
    return c >= '0' && c <= '9'   ? c - '0'
           : c >= 'a' && c <= 'f' ? c - 'a' + 10
           : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                  : -1;
}

/* Reads 4 hex digits at P (which has at least 4 bytes). Returns the value or -1. */
static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

static size_t put_utf8(char *out, unsigned long c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* Reads a string at j->p (its opening quote). With OUT, stores a malloc'd copy, escapes
 * decoded; a NUL inside (\u0000) fails, since no name holds one. Returns 0 or -1. */
static int string(struct json *j, char **out)
{
    if (j->p >= j->end || *j->p != '"')
        return -1;
    const char *start = ++j->p;
    char *s = out ? malloc((size_t)(j->end - start) + 1) : NULL;
    size_t n = 0;
    if (out && s == NULL)
        return -1;
    while (j->p < j->end && *j->p != '"') {
        unsigned char c = (unsigned char)*j->p;
        if (c < 0x20)
            goto bad; /* control characters must be escaped */
        if (c != '\\') {
            if (s)
                s[n++] = (char)c;
            j->p++;
            continue;
        }
        if (j->end - j->p < 2)
            goto bad;
        char e = j->p[1];
        j->p += 2;
        const char *simple = strchr("\"\\/bfnrt", e);
        if (e != '\0' && simple) {
            static const char decoded[] = "\"\\/\b\f\n\r\t";
            if (s)
                s[n++] = decoded[simple - "\"\\/bfnrt"];
            continue;
        }
        if (e != 'u' || j->end - j->p < 4)
            goto bad;
        long c1 = hex4(j->p);
        j->p += 4;
        if (c1 <= 0 || (c1 >= 0xDC00 && c1 <= 0xDFFF))
            goto bad;
        unsigned long cp = (unsigned long)c1;
        if (c1 >= 0xD800 && c1 <= 0xDBFF) { /* a surrogate pair */
            long c2 = j->end - j->p >= 6 && j->p[0] == '\\' && j->p[1] == 'u' ? hex4(j->p + 2) : -1;
            if (c2 < 0xDC00 || c2 > 0xDFFF)
                goto bad;
            j->p += 6;
            cp = 0x10000 + (((unsigned long)c1 - 0xD800) << 10) + ((unsigned long)c2 - 0xDC00);
        }
        if (s)
            n += put_utf8(s + n, cp); /* never longer than the 6 or 12 bytes it was written in */
    }
    if (j->p >= j->end)
        goto bad;
    j->p++;
    if (out) {
        s[n] = '\0';
        *out = s;
    }
    return 0;
bad:
    free(s);
    return -1;
}

static int skip_value(struct json *j, int depth);

/* Skips an array or object at j->p. */
static int skip_container(struct json *j, int depth, char open, char close)
{
    if (depth > MAX_DEPTH)
        return -1;
    j->p++;
    blank(j);
    if (j->p < j->end && *j->p == close) {
        j->p++;
        return 0;
    }
    for (;;) {
        if (open == '{') {
            if (string(j, NULL) < 0)
                return -1;
            blank(j);
            if (j->p >= j->end || *j->p++ != ':')
                return -1;
        }
        if (skip_value(j, depth + 1) < 0)
            return -1;
        blank(j);
        if (j->p >= j->end)
            return -1;
        if (*j->p == close) {
            j->p++;
            return 0;
        }
        if (*j->p++ != ',')
            return -1;
    }
}

static int skip_value(struct json *j, int depth)
{
    blank(j);
    if (j->p >= j->end)
        return -1;
    switch (*j->p) {
    case '"':
        return string(j, NULL);
    case '{':
        return skip_container(j, depth, '{', '}');
    case '[':
        return skip_container(j, depth, '[', ']');
    }
    static const char *const words[] = {"true", "false", "null"};
    for (size_t i = 0; i < 3; i++) {
        size_t n = strlen(words[i]);
        if ((size_t)(j->end - j->p) >= n && memcmp(j->p, words[i], n) == 0) {
            j->p += n;
            return 0;
        }
    }
    const char *start = j->p; /* a number: digits, sign, dot, exponent */
    while (j->p < j->end && strchr("0123456789+-.eE", *j->p) && *j->p != '\0')
        j->p++;
    return j->p > start ? 0 : -1;
}

/* Reads an array of strings into NAMES. */
static int string_array(struct json *j, struct sp_strs *names)
{
    blank(j);
    if (j->p >= j->end || *j->p != '[')
        return -1;
    j->p++;
    blank(j);
    if (j->p < j->end && *j->p == ']') {
        j->p++;
        return 0;
    }
    for (;;) {
        char *s = NULL;
        blank(j);
        if (string(j, &s) < 0 || sp_strs_take(names, s) < 0)
            return -1;
        blank(j);
        if (j->p >= j->end)
            return -1;
        if (*j->p == ']') {
            j->p++;
            return 0;
        }
        if (*j->p++ != ',')
            return -1;
    }
}

static int priority_of(const char *s)
{
    if (strcmp(s, "required") == 0)
        return SP_DLOPEN_REQUIRED;
    if (strcmp(s, "recommended") == 0)
        return SP_DLOPEN_RECOMMENDED;
    if (strcmp(s, "suggested") == 0)
        return SP_DLOPEN_SUGGESTED;
    return -1;
}

/* Reads one object of the array into D. */
static int entry(struct json *j, struct sp_dlopen *d)
{
    d->priority = SP_DLOPEN_RECOMMENDED; /* the spec's default */
    blank(j);
    if (j->p >= j->end || *j->p != '{')
        return -1;
    j->p++;
    blank(j);
    if (j->p < j->end && *j->p == '}') {
        j->p++;
        return 0;
    }
    for (;;) {
        char *key = NULL;
        blank(j);
        if (string(j, &key) < 0)
            return -1;
        blank(j);
        int rc = j->p < j->end && *j->p++ == ':' ? 0 : -1;
        if (rc == 0 && strcmp(key, "soname") == 0) {
            rc = string_array(j, &d->sonames);
        } else if (rc == 0 && (strcmp(key, "feature") == 0 || strcmp(key, "priority") == 0)) {
            char *value = NULL;
            blank(j);
            rc = string(j, &value);
            if (rc == 0 && key[0] == 'f') {
                free(d->feature);
                d->feature = value;
            } else if (rc == 0) {
                d->priority = priority_of(value);
                rc = d->priority < 0 ? -1 : 0;
                free(value);
            }
        } else if (rc == 0) {
            rc = skip_value(j, 1);
        }
        free(key);
        if (rc < 0)
            return -1;
        blank(j);
        if (j->p >= j->end)
            return -1;
        if (*j->p == '}') {
            j->p++;
            return 0;
        }
        if (*j->p++ != ',')
            return -1;
    }
}

void sp_dlopen_free(struct sp_vec *entries)
{
    for (size_t i = 0; i < entries->len; i++) {
        struct sp_dlopen *d = &SP_VEC_AT(entries, struct sp_dlopen, i);
        free(d->feature);
        sp_strs_free(&d->sonames);
    }
    sp_vec_free(entries);
}

static int parse_array(const char *text, size_t len, struct sp_vec *entries)
{
    struct json j = {text, text + len};
    const char *nul = memchr(text, '\0', len); /* the descriptor is NUL-terminated and padded */
    if (nul)
        j.end = nul;
    blank(&j);
    if (j.p >= j.end || *j.p != '[')
        return -1;
    j.p++;
    blank(&j);
    if (j.p < j.end && *j.p == ']')
        return 0;
    for (;;) {
        struct sp_dlopen *d = sp_vec_push(entries);
        if (d == NULL || entry(&j, d) < 0)
            return -1;
        blank(&j);
        if (j.p >= j.end)
            return -1;
        if (*j.p == ']')
            break;
        if (*j.p++ != ',')
            return -1;
    }
    j.p++;
    blank(&j);
    return j.p == j.end ? 0 : -1;
}

int sp_dlopen_parse(const char *text, size_t len, struct sp_vec *entries)
{
    size_t before = entries->len;
    if (parse_array(text, len, entries) == 0)
        return 0;
    /* a damaged note names nothing: not even the objects read before the damage */
    for (size_t i = before; i < entries->len; i++) {
        struct sp_dlopen *d = &SP_VEC_AT(entries, struct sp_dlopen, i);
        free(d->feature);
        sp_strs_free(&d->sonames);
    }
    entries->len = before;
    return -1;
}
