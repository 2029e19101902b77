/* Paths inside a root filesystem, resolved as the kernel resolves them after chroot(2): an
 * absolute symlink restarts at the root, ".." never climbs above it, so nothing escapes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libdeps/rootfs.h"

/* The kernel's limit on symlinks followed in one lookup (fs/namei.c MAXSYMLINKS). */
#define MAX_SYMLINKS 40

static int open_in_root(const struct sp_root *r, const char *path, int flags,
                        unsigned long long extra);
static char *fd_path(const struct sp_root *r, int fd);

int sp_root_openat2_off(void)
{
    const char *off = getenv("SNAKEPACK_NO_OPENAT2");
    return off && *off;
}

int sp_root_init(struct sp_root *r, const char *root, struct sp_err *err)
{
    sp_map_init(&r->canon);
    r->fd = -1;
    r->real = NULL;
    size_t n = strlen(root);
    while (n > 0 && root[n - 1] == '/')
        n--; /* "/" becomes "", the real root */
    r->root = strndup(root, n);
    if (r->root == NULL)
        return sp_fail(err, ENOMEM, "out of memory");
    if (sp_root_openat2_off())
        return 0;
    r->real = realpath(n ? r->root : "/", NULL);
    if (r->real == NULL)
        return errno == ENOMEM ? sp_fail(err, ENOMEM, "out of memory") : 0;
    if (strcmp(r->real, "/") == 0)
        r->real[0] = '\0'; /* a prefix of nothing */
    r->fd = open(n ? r->root : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
    /* Try it once: a kernel before 5.6, a seccomp filter or a missing /proc means user space. */
    int fd = open_in_root(r, "/", O_PATH, 0);
    char *named = fd >= 0 ? fd_path(r, fd) : NULL;
    if (named == NULL && r->fd >= 0) {
        close(r->fd);
        r->fd = -1;
    }
    if (fd >= 0)
        close(fd);
    free(named);
    return 0;
}

/* sp_map_each's callback: frees a canonical path the map holds. */
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
    free(r->real);
    if (r->fd >= 0)
        close(r->fd);
    r->fd = -1;
    r->root = r->real = NULL;
}

/* Opens PATH inside the root with openat2(RESOLVE_IN_ROOT | extra RESOLVE): the kernel walks it
 * as after chroot(2), in one call, and no rename during the walk can lead out. Returns the
 * descriptor; -1 with errno set; or -2 when the kernel cannot do it (openat2 missing or
 * forbidden: the caller falls back to user space). */
static int open_in_root(const struct sp_root *r, const char *path, int flags,
                        unsigned long long extra)
{
    struct open_how how = {.flags = (unsigned long long)(flags | O_CLOEXEC),
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS | extra};
    const char *rel = path + strspn(path, "/");
    for (int tries = 0; r->fd >= 0 && tries < 8; tries++) {
        int fd = (int)syscall(SYS_openat2, r->fd, *rel ? rel : ".", &how, sizeof how);
        if (fd >= 0 || (errno != EAGAIN && errno != ENOSYS && errno != EPERM && errno != E2BIG))
            return fd;
        if (errno != EAGAIN) /* EAGAIN: a rename raced a "..": the kernel asks to try again */
            break;
    }
    return -2;
}

/* The canonical path inside the root of what FD (from open_in_root) is, as the kernel names it.
 * NULL with errno set, or with errno 0 when /proc cannot tell (the caller falls back). */
static char *fd_path(const struct sp_root *r, int fd)
{
    char proc[64], host[PATH_MAX + 1];
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", fd);
    ssize_t n = readlink(proc, host, sizeof host - 1);
    size_t rootlen = strlen(r->real);
    if (n < 0 || (size_t)n >= sizeof host - 1) {
        errno = 0;
        return NULL;
    }
    host[n] = '\0';
    static const char deleted[] = " (deleted)"; /* what the kernel appends once it is unlinked */
    size_t dl = sizeof deleted - 1;
    if (strncmp(host, r->real, rootlen) != 0 || (host[rootlen] != '/' && host[rootlen] != '\0') ||
        ((size_t)n >= dl && strcmp(host + n - dl, deleted) == 0)) {
        errno = 0; /* deleted while open, or a bind mount named otherwise: the walk knows */
        return NULL;
    }
    char *canon = strdup(host[rootlen] ? host + rootlen : "/");
    if (canon == NULL)
        errno = ENOMEM;
    return canon;
}

char *sp_root_host(const struct sp_root *r, const char *path)
{
    return sp_aprintf("%s%s%s", r->root, path[0] == '/' ? "" : "/", path);
}

/* sp_root_resolve by the kernel. Returns 0, -1 with errno set, or -2 to fall back. */
static int resolve_in_root(const struct sp_root *r, const char *path, int follow_last, char **out)
{
    int fd = open_in_root(r, path, O_PATH | (follow_last ? 0 : O_NOFOLLOW), 0);
    if (fd < 0)
        return fd == -2 || errno == ELOOP ? -2 : -1; /* ELOOP: a magic link, walked as text */
    *out = fd_path(r, fd);
    int saved = errno;
    close(fd);
    errno = saved;
    return *out ? 0 : errno == 0 ? -2 : -1;
}

static int resolve_walk(const struct sp_root *r, const char *path, int follow_last, char **out);

int sp_root_resolve(const struct sp_root *r, const char *path, int follow_last, char **out)
{
    int rc = path[0] == '/' ? resolve_in_root(r, path, follow_last, out) : -2;
    if (rc != -2)
        return rc;
    return resolve_walk(r, path, follow_last, out);
}

/* sp_root_resolve component by component in user space. */
static int resolve_walk(const struct sp_root *r, const char *path, int follow_last, char **out)
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
        /* A trailing slash makes the last component a directory to look through, as in the
         * kernel: a symlink there is followed even without FOLLOW_LAST. */
        int last = *after == '\0' && after == p;

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
            int len = snprintf(tmp, sizeof tmp, "%s%s%s", target, *after || after != p ? "/" : "",
                               after); /* a trailing slash stays: the target must be a directory */
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

/* open_canonical by the kernel: CANON is opened with O_PATH, where no symlink may be met (it is
 * canonical: one there now was put there since), its type looked at, and the very same file
 * opened again for reading through /proc/self/fd. Returns the descriptor, -1 (ERR set), or -2
 * to fall back. */
static int open_canonical_in_root(const struct sp_root *r, const char *canon, const char *path,
                                  int directory, int kind, struct sp_err *err)
{
    int pfd = open_in_root(r, canon, O_PATH | O_NOFOLLOW, RESOLVE_NO_SYMLINKS);
    if (pfd == -2)
        return -2;
    if (pfd < 0)
        return sp_fail_at(err, kind, path, errno == ELOOP ? 0 : errno, "%s",
                          errno == ELOOP ? "replaced while it was being opened" : strerror(errno));
    struct stat st;
    char proc[64];
    int fd = -1;
    snprintf(proc, sizeof proc, "/proc/self/fd/%d", pfd);
    if (fstat(pfd, &st) < 0) {
        sp_fail_at(err, kind, path, errno, "%s", strerror(errno));
    } else if (directory ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) {
        sp_fail_at(err, kind, path, directory ? ENOTDIR : 0, "%s",
                   directory ? strerror(ENOTDIR) : "not a regular file");
    } else if ((fd = open(proc, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY |
                                    (directory ? O_DIRECTORY : 0))) < 0) {
        sp_fail_at(err, kind, path, errno, "%s", strerror(errno));
    }
    close(pfd);
    return fd;
}

/* Opens CANON, a canonical path inside the root, as sp_root_open does; messages name PATH. */
static int open_canonical(const struct sp_root *r, const char *canon, const char *path,
                          int directory, int kind, struct sp_err *err)
{
    int kfd = open_canonical_in_root(r, canon, path, directory, kind, err);
    if (kfd != -2)
        return kfd;
    struct stat before, after;
    int fd = -1;
    char *host = sp_root_host(r, canon);
    if (host == NULL)
        return sp_fail(err, ENOMEM, "out of memory");
    /* Look before opening: opening a FIFO blocks and opening a device can act on it. */
    if (lstat(host, &before) < 0) {
        sp_fail_at(err, kind, path, errno, "%s", strerror(errno));
    } else if (directory ? !S_ISDIR(before.st_mode) : !S_ISREG(before.st_mode)) {
        sp_fail_at(err, kind, path, directory ? ENOTDIR : 0, "%s",
                   directory ? strerror(ENOTDIR) : "not a regular file");
    } else if ((fd = open(host, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                                    (directory ? O_DIRECTORY : 0))) < 0) {
        sp_fail_at(err, kind, path, errno, "%s", strerror(errno));
    } else if (fstat(fd, &after) < 0 || after.st_dev != before.st_dev ||
               after.st_ino != before.st_ino) {
        sp_fail_at(err, kind, path, 0, "replaced while it was being opened");
        close(fd);
        fd = -1;
    }
    free(host);
    return fd;
}

int sp_root_open(const struct sp_root *r, const char *path, int directory, int kind,
                 struct sp_err *err)
{
    char *canon = NULL;
    if (sp_root_resolve(r, path, 1, &canon) < 0)
        return sp_fail_at(err, kind, path, errno, "%s", strerror(errno));
    int fd = open_canonical(r, canon, path, directory, kind, err);
    free(canon);
    return fd;
}

int sp_root_open_canonical(const struct sp_root *r, const char *canon, int kind, struct sp_err *err)
{
    return open_canonical(r, canon, canon, 0, kind, err);
}

int sp_read_fd(int fd, const char *name, size_t max, int kind, char **buf, size_t *len,
               struct sp_err *err)
{
    struct stat st;
    size_t cap = 4096, n = 0;
    if (fstat(fd, &st) < 0)
        return sp_fail_at(err, kind, name, errno, "%s", strerror(errno));
    if (!S_ISREG(st.st_mode))
        return sp_fail_at(err, kind, name, 0, "not a regular file");
    if (st.st_size > 0)
        cap = (size_t)st.st_size < max ? (size_t)st.st_size + 1 : max + 1;
    char *data = malloc(cap + 1);
    for (;;) {
        if (data == NULL)
            return sp_fail(err, ENOMEM, "out of memory");
        if (n == cap) { /* the file grew, or fstat gave no size (procfs) */
            if (cap > max) {
                free(data);
                return sp_fail_at(err, kind, name, EFBIG, "larger than %zu MiB: not read",
                                  max >> 20);
            }
            cap = cap * 2 < max + 1 ? cap * 2 : max + 1;
            char *bigger = realloc(data, cap + 1);
            if (bigger == NULL)
                free(data);
            data = bigger;
            continue;
        }
        ssize_t got = read(fd, data + n, cap - n);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            int saved = errno;
            free(data);
            return sp_fail_at(err, kind, name, saved, "%s", strerror(saved));
        }
        if (got == 0)
            break;
        n += (size_t)got;
    }
    if (n > max) {
        free(data);
        return sp_fail_at(err, kind, name, EFBIG, "larger than %zu MiB: not read", max >> 20);
    }
    data[n] = '\0';
    *buf = data;
    *len = n;
    return 0;
}

int sp_root_slurp(const struct sp_root *r, const char *path, size_t max, int kind, char **buf,
                  size_t *len, struct sp_err *err)
{
    int fd = sp_root_open(r, path, 0, kind, err);
    if (fd < 0)
        return -1;
    int rc = sp_read_fd(fd, path, max, kind, buf, len, err);
    close(fd);
    return rc;
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
            if (lstat(host, &st) < 0 || !S_ISDIR(st.st_mode)) {
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
