/* Small containers shared by the cores: errors, growable arrays, string maps, string lists. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"

void sp_utf8_trim(char *s)
{
    size_t n = strlen(s), start = n;
    /* Walk back over continuation bytes (10xxxxxx) to the lead byte of the last sequence. */
    while (start > 0 && n - start < 4 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start == 0)
        return;
    unsigned char lead = (unsigned char)s[start - 1];
    size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
    if (lead >= 0xC0 && n - (start - 1) < want)
        s[start - 1] = '\0'; /* the last sequence was cut short */
}

static int vfail(struct sp_err *err, int kind, const char *path, int errnum, const char *fmt,
                 va_list ap)
{
    size_t used = 0;
    err->errnum = errnum;
    err->kind = kind;
    err->path[0] = '\0';
    if (path) {
        snprintf(err->path, sizeof err->path, "%s", path);
        int n = snprintf(err->msg, sizeof err->msg, "%s: ", path);
        used = n < 0 ? 0 : (size_t)n < sizeof err->msg ? (size_t)n : sizeof err->msg - 1;
    }
    vsnprintf(err->msg + used, sizeof err->msg - used, fmt, ap);
    sp_utf8_trim(err->msg);
    return -1;
}

int sp_fail(struct sp_err *err, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, SP_ERR_SYSTEM, NULL, errnum, fmt, ap);
    va_end(ap);
    return -1;
}

int sp_fail_at(struct sp_err *err, int kind, const char *path, int errnum, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfail(err, kind, path, errnum, fmt, ap);
    va_end(ap);
    return -1;
}

void sp_vec_init(struct sp_vec *v, size_t elem_size)
{
    v->data = NULL;
    v->len = v->cap = 0;
    v->size = elem_size;
}

void *sp_vec_push(struct sp_vec *v)
{
    if (v->len == v->cap) {
        size_t cap = v->cap ? v->cap * 2 : 8;
        void *data = realloc(v->data, cap * v->size);
        if (data == NULL)
            return NULL;
        v->data = data;
        v->cap = cap;
    }
    void *elem = (char *)v->data + v->len++ * v->size;
    memset(elem, 0, v->size);
    return elem;
}

void sp_vec_free(struct sp_vec *v)
{
    free(v->data);
    v->data = NULL;
    v->len = v->cap = 0;
}

struct sp_map_slot {
    char *key;
    uint64_t hash;
    intptr_t value;
};

/* FNV-1a: short keys (paths, package names), no adversary who could pick collisions cheaply
 * matters here since every key comes from the machine being analysed. */
static uint64_t hash_bytes(const char *s, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

void sp_map_init(struct sp_map *m)
{
    m->slots = NULL;
    m->len = m->cap = 0;
}

static struct sp_map_slot *find_slot(const struct sp_map *m, const char *key, size_t n, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        struct sp_map_slot *s = &m->slots[i];
        if (s->key == NULL)
            return s;
        if (s->hash == h && strncmp(s->key, key, n) == 0 && s->key[n] == '\0')
            return s;
    }
}

intptr_t *sp_map_getn(const struct sp_map *m, const char *key, size_t n)
{
    if (m->cap == 0)
        return NULL;
    struct sp_map_slot *s = find_slot(m, key, n, hash_bytes(key, n));
    return s->key ? &s->value : NULL;
}

intptr_t *sp_map_get(const struct sp_map *m, const char *key)
{
    return sp_map_getn(m, key, strlen(key));
}

static int grow(struct sp_map *m)
{
    size_t cap = m->cap ? m->cap * 2 : 64;
    struct sp_map_slot *slots = calloc(cap, sizeof *slots);
    if (slots == NULL)
        return -1;
    struct sp_map old = *m;
    m->slots = slots;
    m->cap = cap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].key)
            *find_slot(m, old.slots[i].key, strlen(old.slots[i].key), old.slots[i].hash) =
                old.slots[i];
    }
    free(old.slots);
    return 0;
}

intptr_t *sp_map_put(struct sp_map *m, const char *key)
{
    if ((m->len + 1) * 4 > m->cap * 3 && grow(m) < 0)
        return NULL;
    size_t n = strlen(key);
    uint64_t h = hash_bytes(key, n);
    struct sp_map_slot *s = find_slot(m, key, n, h);
    if (s->key == NULL) {
        if ((s->key = strdup(key)) == NULL)
            return NULL;
        s->hash = h;
        s->value = 0;
        m->len++;
    }
    return &s->value;
}

void sp_map_each(const struct sp_map *m, void (*fn)(const char *, intptr_t *, void *), void *arg)
{
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slots[i].key)
            fn(m->slots[i].key, &m->slots[i].value, arg);
    }
}

void sp_map_free(struct sp_map *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i].key);
    free(m->slots);
    sp_map_init(m);
}

int sp_strs_take(struct sp_strs *s, char *str)
{
    if (str == NULL)
        return -1;
    if (s->len == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 8;
        char **items = realloc(s->items, cap * sizeof *items);
        if (items == NULL) {
            free(str);
            return -1;
        }
        s->items = items;
        s->cap = cap;
    }
    s->items[s->len++] = str;
    return 0;
}

int sp_strs_push(struct sp_strs *s, const char *str)
{
    return sp_strs_take(s, strdup(str));
}

int sp_strs_pushf(struct sp_strs *s, const char *fmt, ...)
{
    char *str = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&str, fmt, ap);
    va_end(ap);
    return sp_strs_take(s, n < 0 ? NULL : str);
}

void sp_strs_free(struct sp_strs *s)
{
    for (size_t i = 0; i < s->len; i++)
        free(s->items[i]);
    free(s->items);
    s->items = NULL;
    s->len = s->cap = 0;
}

int sp_strcmp_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char *sp_path_join(const char *a, const char *b)
{
    size_t na = strlen(a);
    while (na > 0 && a[na - 1] == '/')
        na--;
    while (*b == '/')
        b++;
    return sp_aprintf("%.*s/%s", (int)na, a, b);
}

char *sp_aprintf(const char *fmt, ...)
{
    char *str = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&str, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : str;
}
