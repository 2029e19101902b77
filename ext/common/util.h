/* Errors, growable arrays, string maps and string lists (util.c): what both wings build on.
 *
 * Conventions: functions returning int return 0 on success and -1 on failure with a message in
 * a struct sp_err; pointers returned are malloc'd and owned by the caller unless said otherwise. */
#ifndef SNAKEPACK_COMMON_UTIL_H
#define SNAKEPACK_COMMON_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

/* What a failure is about, so that callers route it without reading the message. */
enum sp_err_kind {
    SP_ERR_SYSTEM = 0, /* out of memory, no descriptors: the machine, not the input */
    SP_ERR_INPUT,      /* a path, root or file named by the caller */
    SP_ERR_DPKG,       /* the dpkg database under the root */
};

struct sp_err {
    int errnum;      /* errno value, 0 when the failure is not an OS error */
    int kind;        /* enum sp_err_kind */
    char path[4096]; /* the file concerned (inside the root), "" when none */
    char msg[512];   /* one line naming the problem, never cut inside a UTF-8 character */
};

/* Records a failure of kind SP_ERR_SYSTEM and returns -1, so callers can write
 * `return sp_fail(err, ...)`. */
int sp_fail(struct sp_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records a failure about the file PATH; the message is "PATH: " followed by FMT's text. */
int sp_fail_at(struct sp_err *err, int kind, const char *path, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Cuts the NUL-terminated S so that it does not end inside a UTF-8 sequence. */
void sp_utf8_trim(char *s);

struct sp_vec {
    void *data;
    size_t len, cap, size; /* size: bytes per element */
};

void sp_vec_init(struct sp_vec *v, size_t elem_size);
/* Appends a zeroed element and returns it, or NULL when out of memory. */
void *sp_vec_push(struct sp_vec *v);
#define SP_VEC_AT(v, type, i) (((type *)(v)->data)[i])
void sp_vec_free(struct sp_vec *v);

/* Open-addressing map from NUL-terminated strings (copied) to a pointer-sized value. */
struct sp_map {
    struct sp_map_slot *slots;
    size_t len, cap;
};
void sp_map_init(struct sp_map *m);
/* Returns the value slot for KEY or NULL when absent. */
intptr_t *sp_map_get(const struct sp_map *m, const char *key);
intptr_t *sp_map_getn(const struct sp_map *m, const char *key, size_t keylen);
/* Inserts KEY (if absent) and returns its value slot (new slots hold 0); NULL when out of memory.
 */
intptr_t *sp_map_put(struct sp_map *m, const char *key);
/* Calls FN on every key; iteration order is unspecified. */
void sp_map_each(const struct sp_map *m, void (*fn)(const char *key, intptr_t *value, void *arg),
                 void *arg);
void sp_map_free(struct sp_map *m);

/* A growable list of owned strings. */
struct sp_strs {
    char **items;
    size_t len, cap;
};
int sp_strs_push(struct sp_strs *s, const char *str);
/* Appends STR, taking ownership (freed on failure; a NULL STR fails). */
int sp_strs_take(struct sp_strs *s, char *str);
int sp_strs_pushf(struct sp_strs *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sp_strs_free(struct sp_strs *s);

/* strcmp for qsort over an array of char *. */
int sp_strcmp_ptr(const void *a, const void *b);
/* Returns "A/B" (one slash between them), or NULL when out of memory. */
char *sp_path_join(const char *a, const char *b);
/* Returns a malloc'd printf result, or NULL when out of memory. */
char *sp_aprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
