/* Paths inside a root filesystem, resolved as the kernel resolves them after chroot(2): an
 * absolute symlink restarts at the root, ".." never climbs above it, so nothing escapes. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snakepack.h"

/* The kernel's limit on symlinks followed in one lookup (fs/namei.c MAXSYMLINKS). */
#define MAX_SYMLINKS 40

int sp_root_init(struct sp_root *r, const char *root, struct sp_err *err)
{
    sp_map_init(&r->canon);
    size_t n = strlen(root);
    while (n > 0 && root[n - 1] == '/')
        n--; /* "/" becomes "", the real root */
    r->root = strndup(root, n);
    if (r->root == NULL)
        return sp_fail(err, ENOMEM, "out of memory");
    return 0;
}

static void free_canon(const char *key, intptr_t *value, void *arg)
{
    (void)key;
    (void)arg;
    if (*value > 0)
        free((char *)*value);
}

void sp_root_free(struct sp_root *r)
{
    sp_map_each(&r->canon, free_canon, NULL);
    sp_map_free(&r->canon);
    free(r->root);
    r->root = NULL;
}

char *sp_root_host(const struct sp_root *r, const char *path)
{
    return sp_aprintf("%s%s%s", r->root, path[0] == '/' ? "" : "/", path);
}

int sp_root_resolve(const struct sp_root *r, const char *path, int follow_last, char **out)
{
    size_t rootlen = strlen(r->root);
    char host[PATH_MAX + PATH_MAX]; /* root + resolved part; res points into it */
    char rest[PATH_MAX], tmp[PATH_MAX], target[PATH_MAX];
    int links = 0;

    if (rootlen >= PATH_MAX || strlen(path) >= sizeof rest) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(host, r->root, rootlen);
    char *res = host + rootlen;
    size_t reslen = 0;
    res[0] = '\0';
    strcpy(rest, path);

    char *p = rest;
    for (;;) {
        while (*p == '/')
            p++;
        if (*p == '\0')
            break;
        char *comp = p;
        while (*p && *p != '/')
            p++;
        size_t complen = (size_t)(p - comp);
        char *after = p;
        while (*after == '/')
            after++;
        int last = *after == '\0';

        if (complen == 1 && comp[0] == '.')
            continue;
        if (complen == 2 && comp[0] == '.' && comp[1] == '.') {
            while (reslen > 0 && res[reslen - 1] != '/')
                reslen--;
            if (reslen > 0)
                reslen--; /* drop the slash; at the root ".." stays at the root */
            res[reslen] = '\0';
            continue;
        }
        if (reslen + 1 + complen >= PATH_MAX) {
            errno = ENAMETOOLONG;
            return -1;
        }
        size_t parentlen = reslen;
        res[reslen++] = '/';
        memcpy(res + reslen, comp, complen);
        reslen += complen;
        res[reslen] = '\0';

        struct stat st;
        if (lstat(host, &st) < 0)
            return -1;
        if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
            if (++links > MAX_SYMLINKS) {
                errno = ELOOP;
                return -1;
            }
            ssize_t n = readlink(host, target, sizeof target - 1);
            if (n < 0)
                return -1;
            target[n] = '\0';
            /* The rest of the path goes after the link's target. */
            int len = snprintf(tmp, sizeof tmp, "%s/%s", target, after);
            if (len < 0 || (size_t)len >= sizeof tmp) {
                errno = ENAMETOOLONG;
                return -1;
            }
            strcpy(rest, tmp);
            p = rest;
            reslen = target[0] == '/' ? 0 : parentlen;
            res[reslen] = '\0';
            continue;
        }
        if (!last && !S_ISDIR(st.st_mode)) {
            errno = ENOTDIR;
            return -1;
        }
    }
    *out = reslen == 0 ? strdup("/") : strdup(res);
    if (*out == NULL) {
        errno = ENOMEM;
        return -1;
    }
    return 0;
}

const char *sp_root_canon_dir(struct sp_root *r, const char *dir)
{
    intptr_t *slot = sp_map_get(&r->canon, dir);
    if (slot == NULL) {
        char *canon = NULL;
        intptr_t value;
        if (sp_root_resolve(r, dir, 1, &canon) < 0) {
            value = -errno;
        } else {
            struct stat st;
            char *host = sp_root_host(r, canon);
            if (host == NULL) {
                free(canon);
                errno = ENOMEM;
                return NULL;
            }
            if (stat(host, &st) < 0 || !S_ISDIR(st.st_mode)) {
                value = -ENOTDIR;
                free(canon);
            } else {
                value = (intptr_t)canon;
            }
            free(host);
        }
        if ((slot = sp_map_put(&r->canon, dir)) == NULL) {
            if (value > 0)
                free((char *)value);
            errno = ENOMEM;
            return NULL;
        }
        *slot = value;
    }
    if (*slot < 0) {
        errno = (int)-*slot;
        return NULL;
    }
    return (const char *)*slot;
}

char *sp_root_canon_link(struct sp_root *r, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (slash == NULL) {
        errno = EINVAL;
        return NULL;
    }
    char *dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
    if (dir == NULL) {
        errno = ENOMEM;
        return NULL;
    }
    const char *canon = sp_root_canon_dir(r, dir);
    free(dir);
    if (canon == NULL)
        return NULL;
    char *link = sp_path_join(canon, slash + 1);
    if (link == NULL)
        errno = ENOMEM;
    return link;
}
