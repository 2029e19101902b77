/* The loader's configuration under a root: the binary ld.so.cache that ldconfig writes, and
 * ld.so.conf with its includes for trees that have no cache yet. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snakepack.h"

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
    struct sp_map m; /* soname -> offset of the path string, from the first matching entry */
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

int sp_ldcache_load(struct sp_ldcache *c, const struct sp_root *r, struct sp_err *err)
{
    memset(c, 0, sizeof *c);
    sp_vec_init(&c->maps, sizeof(struct flagmap));
    char *path = sp_root_host(r, "/etc/ld.so.cache");
    if (path == NULL)
        return sp_fail(err, ENOMEM, "out of memory");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        int saved = errno;
        free(path);
        if (saved == ENOENT)
            return 0; /* no cache: the loader goes straight to the default directories */
        return sp_fail(err, saved, "/etc/ld.so.cache: %s", strerror(saved));
    }
    struct stat st;
    int rc = -1;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        sp_fail(err, errno, "/etc/ld.so.cache: not a regular file");
        goto out;
    }
    c->size = (size_t)st.st_size;
    if ((c->buf = malloc(c->size + 1)) == NULL) {
        sp_fail(err, ENOMEM, "out of memory");
        goto out;
    }
    for (size_t got = 0; got < c->size;) {
        ssize_t n = read(fd, c->buf + got, c->size - got);
        if (n <= 0) {
            sp_fail(err, n < 0 ? errno : EIO, "/etc/ld.so.cache: short read");
            goto out;
        }
        got += (size_t)n;
    }
    /* A file in the old format may carry the new one after its entries (glibc dl-cache.c). */
    if (c->size >= OLD_HEADER_SIZE && memcmp(c->buf, CACHE_MAGIC_OLD, 11) == 0) {
        uint32_t nold;
        memcpy(&nold, c->buf + 12, 4);
        size_t off = OLD_HEADER_SIZE + (size_t)nold * OLD_ENTRY_SIZE;
        c->base = (off + 7) & ~(size_t)7;
    }
    if (c->base > c->size || c->size - c->base < NEW_HEADER_SIZE ||
        memcmp(c->buf + c->base, CACHE_MAGIC_NEW, 20) != 0) {
        sp_fail(err, 0, "/etc/ld.so.cache: not in the glibc-ld.so.cache1.1 format");
        goto out;
    }
    int endian = c->buf[c->base + 28];
    int little = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__;
    c->swap = (endian == CACHE_ENDIAN_BIG && little) || (endian == CACHE_ENDIAN_LITTLE && !little);
    c->nlibs = u32(c, c->base + 20);
    if (c->nlibs > (c->size - c->base - NEW_HEADER_SIZE) / NEW_ENTRY_SIZE) {
        sp_fail(err, 0, "/etc/ld.so.cache: %u entries do not fit in the file", c->nlibs);
        goto out;
    }
    rc = 0;
out:
    if (rc < 0) {
        free(c->buf);
        c->buf = NULL;
    }
    free(path);
    close(fd);
    return rc;
}

/* Indexes the entries of FLAGS: first entry per name wins, as in glibc's lookup, which walks
 * the equal keys in file order. Entries tied to a glibc-hwcaps subdirectory or to hardware
 * capabilities are left out: the base copy serves every CPU and has the same owner, so results
 * do not depend on the machine that runs the analysis. */
static struct flagmap *index_flags(struct sp_ldcache *c, int flags)
{
    struct flagmap *fm = sp_vec_push(&c->maps);
    if (fm == NULL)
        return NULL;
    fm->flags = flags;
    sp_map_init(&fm->m);
    for (uint32_t i = 0; i < c->nlibs; i++) {
        size_t e = c->base + NEW_HEADER_SIZE + (size_t)i * NEW_ENTRY_SIZE;
        int32_t eflags = (int32_t)u32(c, e);
        uint32_t key = u32(c, e + 4), value = u32(c, e + 8);
        if (eflags != flags || u64(c, e + 16) != 0)
            continue;
        if (!cache_str_ok(c, key) || !cache_str_ok(c, value))
            continue;
        const char *name = (const char *)c->buf + c->base + key;
        if (sp_map_get(&fm->m, name))
            continue;
        intptr_t *slot = sp_map_put(&fm->m, name);
        if (slot == NULL)
            return NULL;
        *slot = (intptr_t)value + 1;
    }
    return fm;
}

const char *sp_ldcache_lookup(struct sp_ldcache *c, int flags, const char *name, int *enomem)
{
    if (c->buf == NULL)
        return NULL;
    struct flagmap *fm = NULL;
    for (size_t i = 0; i < c->maps.len; i++) {
        if (SP_VEC_AT(&c->maps, struct flagmap, i).flags == flags)
            fm = &SP_VEC_AT(&c->maps, struct flagmap, i);
    }
    if (fm == NULL && (fm = index_flags(c, flags)) == NULL) {
        *enomem = 1;
        return NULL;
    }
    intptr_t *slot = sp_map_get(&fm->m, name);
    return slot ? (const char *)c->buf + c->base + (*slot - 1) : NULL;
}

void sp_ldcache_free(struct sp_ldcache *c)
{
    for (size_t i = 0; i < c->maps.len; i++)
        sp_map_free(&SP_VEC_AT(&c->maps, struct flagmap, i).m);
    sp_vec_free(&c->maps);
    free(c->buf);
    c->buf = NULL;
}

/* ---- ld.so.conf ---- */

#define MAX_INCLUDE_DEPTH 16

static int parse_conf(const struct sp_root *r, const char *file, struct sp_map *seen, int depth,
                      struct sp_strs *dirs, struct sp_strs *warnings);

/* Expands one include pattern (relative to the including file's directory) under the root. */
static int include_glob(const struct sp_root *r, const char *from, const char *pattern,
                        struct sp_map *seen, int depth, struct sp_strs *dirs,
                        struct sp_strs *warnings)
{
    char *abs = NULL;
    if (pattern[0] == '/') {
        abs = strdup(pattern);
    } else {
        const char *slash = strrchr(from, '/');
        abs = sp_aprintf("%.*s/%s", (int)(slash ? slash - from : 0), from, pattern);
    }
    char *host = abs ? sp_root_host(r, abs) : NULL;
    free(abs);
    if (host == NULL)
        return -1;
    glob_t g;
    int rc = 0;
    int grc = glob(host, 0, NULL, &g);
    if (grc == 0) {
        size_t rootlen = strlen(r->root);
        for (size_t i = 0; i < g.gl_pathc && rc == 0; i++)
            rc = parse_conf(r, g.gl_pathv[i] + rootlen, seen, depth + 1, dirs, warnings);
    }
    if (grc != GLOB_NOMATCH)
        globfree(&g);
    free(host);
    return rc;
}

static int parse_conf(const struct sp_root *r, const char *file, struct sp_map *seen, int depth,
                      struct sp_strs *dirs, struct sp_strs *warnings)
{
    /* SEEN marks the files being parsed (1) on the current include chain: a diamond of
     * includes is fine, a file that includes itself again is a loop. */
    intptr_t *active = sp_map_get(seen, file);
    if (depth > MAX_INCLUDE_DEPTH || (active && *active)) {
        return sp_strs_pushf(warnings, "%s: include loop in ld.so.conf, ignored", file);
    }
    char *host = sp_root_host(r, file);
    if (host == NULL || (active = sp_map_put(seen, file)) == NULL) {
        free(host);
        return -1;
    }
    FILE *f = fopen(host, "re");
    free(host);
    if (f == NULL)
        return 0; /* like ldconfig: a missing file is skipped */
    *active = 1;
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, f) >= 0) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = '\0';
        char *save = NULL;
        char *word = strtok_r(line, " \t\r\n", &save);
        if (word == NULL)
            continue;
        if (strcmp(word, "include") == 0) {
            while (rc == 0 && (word = strtok_r(NULL, " \t\r\n", &save)) != NULL)
                rc = include_glob(r, file, word, seen, depth, dirs, warnings);
        } else if (strcmp(word, "hwcap") == 0) {
            continue; /* obsolete, ignored by current ldconfig */
        } else {
            char *eq = strchr(word, '='); /* old "dir=TYPE" syntax */
            if (eq)
                *eq = '\0';
            size_t n = strlen(word);
            while (n > 1 && word[n - 1] == '/')
                word[--n] = '\0';
            if (word[0] == '/')
                rc = sp_strs_push(dirs, word);
        }
    }
    free(line);
    fclose(f);
    if ((active = sp_map_get(seen, file)) != NULL)
        *active = 0;
    return rc;
}

int sp_ldconf_dirs(const struct sp_root *r, struct sp_strs *dirs, struct sp_strs *warnings,
                   struct sp_err *err)
{
    struct sp_map seen;
    sp_map_init(&seen);
    int rc = parse_conf(r, "/etc/ld.so.conf", &seen, 0, dirs, warnings);
    sp_map_free(&seen);
    if (rc < 0)
        return sp_fail(err, ENOMEM, "out of memory");
    return 0;
}
