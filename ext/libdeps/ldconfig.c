/* The loader's configuration under a root: the binary ld.so.cache that ldconfig writes, and
 * ld.so.conf with its includes for trees that have no cache yet. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libdeps/ldconfig.h"

/* glibc sysdeps/generic/dl-cache.h: the new format's header and entries. */
#define CACHE_MAGIC_NEW "glibc-ld.so.cache1.1"
#define CACHE_MAGIC_OLD "ld.so-1.7.0"
#define NEW_HEADER_SIZE 48 /* magic+version 20, nlibs 4, len_strings 4, flags 1+3, ext 4, 12 */
#define NEW_ENTRY_SIZE 24  /* flags 4, key 4, value 4, osversion 4, hwcap 8 */
#define OLD_HEADER_SIZE 16 /* magic 11 + pad, nlibs 4 */
#define OLD_ENTRY_SIZE 12
#define CACHE_ENDIAN_LITTLE 2
#define CACHE_ENDIAN_BIG 3

struct flagmap {
    int flags;
    struct sp_map m;  /* soname -> offset of the path string, from the first matching entry */
    struct sp_map hw; /* soname -> index + 1 of its first entry tied to a hardware subdirectory */
};

static uint32_t u32(const struct sp_ldcache *c, size_t off)
{
    uint32_t v;
    memcpy(&v, c->buf + off, sizeof v);
    return c->swap ? __builtin_bswap32(v) : v;
}

static uint64_t u64(const struct sp_ldcache *c, size_t off)
{
    uint64_t v;
    memcpy(&v, c->buf + off, sizeof v);
    return c->swap ? __builtin_bswap64(v) : v;
}

/* Returns 1 when OFF (relative to the new header) starts a NUL-terminated string in the file. */
static int cache_str_ok(const struct sp_ldcache *c, uint32_t off)
{
    size_t at = c->base + off;
    return at >= c->base && at < c->size && memchr(c->buf + at, '\0', c->size - at) != NULL;
}

int sp_ldcache_parse(struct sp_ldcache *c, unsigned char *buf, size_t size, struct sp_err *err)
{
    static const char path[] = "/etc/ld.so.cache";
    memset(c, 0, sizeof *c);
    sp_vec_init(&c->maps, sizeof(struct flagmap));
    c->buf = buf;
    c->size = size;
    /* A file in the old format may carry the new one after its entries (glibc dl-cache.c). */
    if (c->size >= OLD_HEADER_SIZE && memcmp(c->buf, CACHE_MAGIC_OLD, 11) == 0) {
        uint32_t nold;
        memcpy(&nold, c->buf + 12, 4);
        size_t off = OLD_HEADER_SIZE + (size_t)nold * OLD_ENTRY_SIZE;
        c->base = (off + 7) & ~(size_t)7;
    }
    if (c->base > c->size || c->size - c->base < NEW_HEADER_SIZE ||
        memcmp(c->buf + c->base, CACHE_MAGIC_NEW, 20) != 0) {
        sp_fail_at(err, SP_ERR_INPUT, path, 0, "not in the glibc-ld.so.cache1.1 format");
        goto bad;
    }
    int endian = c->buf[c->base + 28];
    int little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
    c->swap = (endian == CACHE_ENDIAN_BIG && little) || (endian == CACHE_ENDIAN_LITTLE && !little);
    c->nlibs = u32(c, c->base + 20);
    if (c->nlibs > (c->size - c->base - NEW_HEADER_SIZE) / NEW_ENTRY_SIZE) {
        sp_fail_at(err, SP_ERR_INPUT, path, 0, "%u entries do not fit in the file", c->nlibs);
        goto bad;
    }
    return 0;
bad:
    free(c->buf);
    c->buf = NULL;
    return -1;
}

int sp_ldcache_load(struct sp_ldcache *c, const struct sp_root *r, struct sp_err *err)
{
    char *buf = NULL;
    size_t size = 0;
    memset(c, 0, sizeof *c);
    sp_vec_init(&c->maps, sizeof(struct flagmap));
    if (sp_root_slurp(r, "/etc/ld.so.cache", SP_MAX_LOADER_FILE, SP_ERR_INPUT, &buf, &size, err) <
        0)
        /* No cache is no error: the loader goes straight to the default directories. */
        return err->errnum == ENOENT ? 0 : -1;
    return sp_ldcache_parse(c, (unsigned char *)buf, size, err);
}

/* Indexes the entries of FLAGS: first entry per name wins, as in glibc's lookup, which walks
 * the equal keys in file order. Entries tied to a glibc-hwcaps subdirectory or to legacy
 * hardware capabilities (a nonzero hwcap field) are indexed apart: which one a loader takes
 * depends on its CPU (sp_ldcache_hw_paths). */
static struct flagmap *index_flags(struct sp_ldcache *c, int flags)
{
    struct flagmap *fm = sp_vec_push(&c->maps);
    if (fm == NULL)
        return NULL;
    fm->flags = flags;
    sp_map_init(&fm->m);
    sp_map_init(&fm->hw);
    for (uint32_t i = 0; i < c->nlibs; i++) {
        size_t e = c->base + NEW_HEADER_SIZE + (size_t)i * NEW_ENTRY_SIZE;
        int32_t eflags = (int32_t)u32(c, e);
        uint32_t key = u32(c, e + 4), value = u32(c, e + 8);
        if (eflags != flags || !cache_str_ok(c, key) || !cache_str_ok(c, value))
            continue;
        const char *name = (const char *)c->buf + c->base + key;
        struct sp_map *m = u64(c, e + 16) != 0 ? &fm->hw : &fm->m;
        if (sp_map_get(m, name))
            continue;
        intptr_t *slot = sp_map_put(m, name);
        if (slot == NULL)
            return NULL;
        *slot = m == &fm->hw ? (intptr_t)i + 1 : (intptr_t)value + 1;
    }
    return fm;
}

static struct flagmap *flagmap(struct sp_ldcache *c, int flags)
{
    for (size_t i = 0; i < c->maps.len; i++) {
        if (SP_VEC_AT(&c->maps, struct flagmap, i).flags == flags)
            return &SP_VEC_AT(&c->maps, struct flagmap, i);
    }
    return index_flags(c, flags);
}

const char *sp_ldcache_lookup(struct sp_ldcache *c, int flags, const char *name, int *enomem)
{
    if (c->buf == NULL)
        return NULL;
    struct flagmap *fm = flagmap(c, flags);
    if (fm == NULL) {
        *enomem = 1;
        return NULL;
    }
    intptr_t *slot = sp_map_get(&fm->m, name);
    return slot ? (const char *)c->buf + c->base + (*slot - 1) : NULL;
}

size_t sp_ldcache_hw_paths(struct sp_ldcache *c, int flags, const char *name, const char **out,
                           size_t max, int *enomem)
{
    if (c->buf == NULL)
        return 0;
    struct flagmap *fm = flagmap(c, flags);
    if (fm == NULL) {
        *enomem = 1;
        return 0;
    }
    intptr_t *slot = sp_map_get(&fm->hw, name);
    size_t n = 0;
    /* ldconfig sorts the entries by name (glibc's lookup bisects them): the rest of NAME's
     * entries follow its first. */
    for (uint32_t i = slot ? (uint32_t)(*slot - 1) : c->nlibs; i < c->nlibs && n < max; i++) {
        size_t e = c->base + NEW_HEADER_SIZE + (size_t)i * NEW_ENTRY_SIZE;
        uint32_t key = u32(c, e + 4), value = u32(c, e + 8);
        if (!cache_str_ok(c, key) || strcmp((const char *)c->buf + c->base + key, name) != 0)
            break;
        if ((int32_t)u32(c, e) == flags && u64(c, e + 16) != 0 && cache_str_ok(c, value))
            out[n++] = (const char *)c->buf + c->base + value;
    }
    return n;
}

const char *sp_ldcache_find_library(const struct sp_ldcache *c, int flags, const char *name)
{
    size_t n = strlen(name);
    for (uint32_t i = 0; c->buf && i < c->nlibs; i++) {
        size_t e = c->base + NEW_HEADER_SIZE + (size_t)i * NEW_ENTRY_SIZE;
        uint32_t key = u32(c, e + 4);
        if ((int32_t)u32(c, e) != flags || u64(c, e + 16) != 0 || !cache_str_ok(c, key))
            continue;
        const char *soname = (const char *)c->buf + c->base + key;
        if (strncmp(soname, "lib", 3) == 0 && strncmp(soname + 3, name, n) == 0 &&
            soname[3 + n] == '.' && soname[4 + n] != '\0' && !strpbrk(soname, " \t\n"))
            return soname;
    }
    return NULL;
}

void sp_ldcache_free(struct sp_ldcache *c)
{
    for (size_t i = 0; i < c->maps.len; i++) {
        sp_map_free(&SP_VEC_AT(&c->maps, struct flagmap, i).m);
        sp_map_free(&SP_VEC_AT(&c->maps, struct flagmap, i).hw);
    }
    sp_vec_free(&c->maps);
    free(c->buf);
    c->buf = NULL;
}

/* ---- ld.so.conf ---- */

#define MAX_INCLUDE_DEPTH 16
#define CONF_ACTIVE 1 /* on the current include chain */
#define CONF_WARNED 2 /* a loop through it was reported */

struct conf {
    const struct sp_root *r;
    struct sp_map seen; /* "device:inode" of every file parsed -> CONF_* bits */
    struct sp_strs *dirs, *warnings;
};

static int parse_conf(struct conf *c, const char *file, int depth);

static int has_magic(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '*' || s[i] == '?' || s[i] == '[')
            return 1;
    }
    return 0;
}

/* Appends to NAMES, sorted as glob(3) sorts, the entries of directory DIR (inside the root)
 * that match PATTERN. A directory that cannot be listed matches nothing, as in glob(3). */
static int list_matching(struct conf *c, const char *dir, const char *pattern,
                         struct sp_strs *names)
{
    struct sp_err err = {0};
    int fd = sp_root_open(c->r, dir, 1, SP_ERR_INPUT, &err);
    if (fd < 0)
        return err.errnum == ENOMEM ? -1 : 0;
    DIR *d = fdopendir(fd);
    if (d == NULL) {
        close(fd);
        return errno == ENOMEM ? -1 : 0;
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        if (fnmatch(pattern, de->d_name, FNM_PERIOD) == 0)
            rc = sp_strs_push(names, de->d_name);
    }
    closedir(d);
    if (rc == 0 && names->len > 1)
        qsort(names->items, names->len, sizeof *names->items, sp_strcmp_ptr);
    return rc;
}

/* Parses every file that the rest of an include pattern, REST, names below DIR (a path inside
 * the root as written so far). Like glob(3), but each directory with a wildcard component is
 * listed through sp_root_open, so that no symlink or ".." leads out of the root. */
static int expand(struct conf *c, const char *dir, const char *rest, int depth)
{
    while (*rest == '/')
        rest++;
    if (*rest == '\0')
        return parse_conf(c, dir, depth);
    const char *slash = strchr(rest, '/');
    size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
    const char *prefix = strcmp(dir, "/") == 0 ? "" : dir;
    int rc = 0;
    if (!has_magic(rest, n)) {
        char *next = sp_aprintf("%s/%.*s", prefix, (int)n, rest);
        rc = next ? expand(c, next, rest + n, depth) : -1;
        free(next);
        return rc;
    }
    char *pattern = strndup(rest, n);
    struct sp_strs names = {0};
    rc = pattern ? list_matching(c, dir, pattern, &names) : -1;
    for (size_t i = 0; rc == 0 && i < names.len; i++) {
        char *next = sp_aprintf("%s/%s", prefix, names.items[i]);
        rc = next ? expand(c, next, rest + n, depth) : -1;
        free(next);
    }
    sp_strs_free(&names);
    free(pattern);
    return rc;
}

/* One include pattern of FILE: relative patterns are relative to FILE's directory. */
static int include(struct conf *c, const char *file, const char *pattern, int depth)
{
    if (pattern[0] == '/')
        return expand(c, "/", pattern, depth);
    const char *slash = strrchr(file, '/');
    char *dir =
        slash == NULL || slash == file ? strdup("/") : strndup(file, (size_t)(slash - file));
    int rc = dir ? expand(c, dir, pattern, depth) : -1;
    free(dir);
    return rc;
}

/* Parses the text of the ld.so.conf FILE (TEXT, changed in place): appends its directories to
 * c->dirs and follows its includes at DEPTH + 1. Returns -1 when out of memory. */
static int parse_lines(struct conf *c, const char *file, char *text, int depth)
{
    int rc = 0;
    for (char *line = text, *next; rc == 0 && line; line = next) {
        char *nl = strchr(line, '\n');
        next = nl ? nl + 1 : NULL;
        if (nl)
            *nl = '\0';
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL;
        char *word = strtok_r(line, " \t\r", &save);
        if (word == NULL || strcmp(word, "hwcap") == 0)
            continue; /* hwcap lines are obsolete, ignored by current ldconfig */
        if (strcmp(word, "include") == 0) {
            while (rc == 0 && (word = strtok_r(NULL, " \t\r", &save)) != NULL)
                rc = include(c, file, word, depth + 1);
            continue;
        }
        char *eq = strchr(word, '='); /* old "dir=TYPE" syntax */
        if (eq)
            *eq = '\0';
        size_t n = strlen(word);
        while (n > 1 && word[n - 1] == '/')
            word[--n] = '\0';
        if (word[0] == '/')
            rc = sp_strs_push(c->dirs, word);
    }
    return rc;
}

/* Parses FILE (inside the root) unless it was parsed already: files are told apart by device
 * and inode, not by spelling, so that no pattern can make one file be read twice. A missing
 * file is skipped as ldconfig skips it; one that cannot be read gets a warning. */
static int parse_conf(struct conf *c, const char *file, int depth)
{
    struct sp_err err = {0};
    if (depth > MAX_INCLUDE_DEPTH)
        return sp_strs_pushf(c->warnings, "%s: includes nested deeper than %d: ignored", file,
                             MAX_INCLUDE_DEPTH);
    int fd = sp_root_open(c->r, file, 0, SP_ERR_INPUT, &err);
    if (fd < 0) {
        if (err.errnum == ENOMEM)
            return -1;
        return err.errnum == ENOENT ? 0 : sp_strs_pushf(c->warnings, "%s: ignored", err.msg);
    }
    struct stat st;
    char key[64];
    if (fstat(fd, &st) < 0) {
        close(fd);
        return sp_strs_pushf(c->warnings, "%s: %s: ignored", file, strerror(errno));
    }
    snprintf(key, sizeof key, "%ju:%ju", (uintmax_t)st.st_dev, (uintmax_t)st.st_ino);
    intptr_t *state = sp_map_get(&c->seen, key);
    if (state) {
        close(fd);
        if ((*state & CONF_ACTIVE) == 0 || (*state & CONF_WARNED))
            return 0; /* parsed already, or its loop already reported */
        *state |= CONF_WARNED;
        return sp_strs_pushf(c->warnings, "%s: include loop in ld.so.conf: ignored", file);
    }
    char *text = NULL;
    size_t len;
    int rc = sp_read_fd(fd, file, SP_MAX_LOADER_FILE, SP_ERR_INPUT, &text, &len, &err);
    close(fd);
    if (rc < 0)
        return err.errnum == ENOMEM ? -1 : sp_strs_pushf(c->warnings, "%s: ignored", err.msg);
    if ((state = sp_map_put(&c->seen, key)) == NULL) {
        free(text);
        return -1;
    }
    *state = CONF_ACTIVE;
    rc = parse_lines(c, file, text, depth);
    free(text);
    if ((state = sp_map_get(&c->seen, key)) != NULL) /* the map may have grown meanwhile */
        *state &= ~CONF_ACTIVE;
    return rc;
}

int sp_ldconf_dirs(const struct sp_root *r, struct sp_strs *dirs, struct sp_strs *warnings,
                   struct sp_err *err)
{
    struct conf c = {.r = r, .dirs = dirs, .warnings = warnings};
    sp_map_init(&c.seen);
    int rc = parse_conf(&c, "/etc/ld.so.conf", 0);
    sp_map_free(&c.seen);
    if (rc < 0)
        return sp_fail(err, ENOMEM, "out of memory");
    return 0;
}
