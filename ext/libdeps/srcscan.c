/* Reading the Python sources that the walk found, for the library names they pass to ctypes
 * and cffi (pysrc.c). A tree's sources weigh far more than its ELF files (dist-packages: 120 MB
 * in 8,000 files), so they are read by every thread that has time: a thread of their own while
 * the ELF files resolve, then the thread that resolved them. Threads claim the files a few at a
 * time, and only a file that names a library is kept, under a lock.
 *
 * Each file is opened below the scanned directory it was found in, without following any
 * symlink on the way (openat2 RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS; where the kernel or a
 * seccomp filter refuses openat2, one component at a time with O_NOFOLLOW), so a tree that
 * changes while it is read is never left either. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "libdeps/pysrc.h"
#include "libdeps/srcscan.h"

#define CLAIM 16                      /* files claimed at once */
#define MAX_SOURCE ((size_t)32 << 20) /* far above any real module */

#define FILE_FLAGS (O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC)
#define DIR_FLAGS (O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)

/* Opens RELATIVE below directory DIRFD with FLAGS one component at a time, following no
 * symlink. */
static int open_by_components(int dirfd, const char *relative, int flags)
{
    char *copy = strdup(relative);
    if (copy == NULL)
        return -1;
    int fd = dirfd, rc = -1;
    char *name = copy;
    for (char *slash; (slash = strchr(name, '/')) != NULL; name = slash + 1) {
        *slash = '\0';
        int next = openat(fd, name, DIR_FLAGS);
        if (fd != dirfd)
            close(fd);
        if (next < 0)
            goto out;
        fd = next;
    }
    rc = openat(fd, name, flags);
out:
    if (fd != dirfd && fd >= 0)
        close(fd);
    free(copy);
    return rc;
}

/* Opens RELATIVE beneath DIRFD, never leaving it: openat2(RESOLVE_BENEATH) where the kernel has
 * it (a refusal sets s->no_openat2 for every thread), else component by component. Returns the
 * descriptor, or -1 with errno set. */
static int open_beneath(struct sp_srcscan *s, int dirfd, const char *relative, int flags)
{
#ifdef SYS_openat2
    if (!__atomic_load_n(&s->no_openat2, __ATOMIC_RELAXED)) {
        struct open_how how = {
            .flags = (uint64_t)flags,
            .resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS,
        };
        int fd = (int)syscall(SYS_openat2, dirfd, relative, &how, sizeof how);
        if (fd >= 0 || (errno != ENOSYS && errno != EPERM))
            return fd;
        __atomic_store_n(&s->no_openat2, 1, __ATOMIC_RELAXED);
    }
#endif
    return open_by_components(dirfd, relative, flags);
}

/* What one reading thread keeps from file to file: its buffer, and the directory of the last
 * file (the walk lists a directory's files together, so most files are opened by name in it). */
struct worker {
    char *buf;
    size_t cap;
    const struct sp_srcbase *base;
    char *dir; /* relative to base, or NULL */
    int dirfd;
};

/* Opens the source at RELATIVE below base B. */
static int open_source(struct sp_srcscan *s, struct worker *w, const struct sp_srcbase *b,
                       const char *relative)
{
    const char *slash = strrchr(relative, '/');
    if (slash == NULL)
        return openat(b->fd, relative, FILE_FLAGS);
    size_t n = (size_t)(slash - relative);
    if (w->base != b || w->dir == NULL || strlen(w->dir) != n || memcmp(w->dir, relative, n) != 0) {
        if (w->dir)
            close(w->dirfd);
        free(w->dir);
        w->base = b;
        if ((w->dir = strndup(relative, n)) == NULL)
            return -1;
        if ((w->dirfd = open_beneath(s, b->fd, w->dir, DIR_FLAGS)) < 0) {
            int saved = errno;
            free(w->dir);
            w->dir = NULL;
            errno = saved;
            return -1;
        }
    }
    return openat(w->dirfd, slash + 1, FILE_FLAGS);
}

/* Adds the warning TEXT (taken; NULL: out of memory, which sets s->enomem) under the lock. */
static void warn(struct sp_srcscan *s, char *text)
{
    pthread_mutex_lock(&s->lock);
    if (text == NULL || sp_strs_take(&s->warnings, text) < 0)
        s->enomem = 1;
    pthread_mutex_unlock(&s->lock);
}

/* Reads source I into the worker's buffer (grown as needed) and keeps its calls. */
static void scan_one(struct sp_srcscan *s, struct worker *w, size_t i)
{
    char **buf = &w->buf;
    size_t *cap = &w->cap;
    const char *path = s->paths.items[i];
    const struct sp_srcbase *b = s->bases.data;
    while (i >= b->end)
        b++;
    struct stat st;
    int fd = open_source(s, w, b, path + b->skip);
    if (fd < 0 || fstat(fd, &st) < 0) {
        int saved = errno;
        if (fd >= 0)
            close(fd);
        warn(s, sp_aprintf("%s: %s: not scanned for library names", path, strerror(saved)));
        return;
    }
    size_t want = (size_t)st.st_size, got = 0;
    if (!S_ISREG(st.st_mode) || want > MAX_SOURCE) {
        close(fd);
        warn(s, S_ISREG(st.st_mode)
                    ? sp_aprintf("%s: larger than %zu MiB: not scanned for library names", path,
                                 MAX_SOURCE >> 20)
                    : sp_aprintf("%s: not a regular file: not scanned for library names", path));
        return;
    }
    if (want > *cap) {
        char *bigger = realloc(*buf, want);
        if (bigger == NULL) {
            close(fd);
            warn(s, NULL);
            return;
        }
        *buf = bigger;
        *cap = want;
    }
    ssize_t n = 1;
    while (got < want && (n = read(fd, *buf + got, want - got)) != 0) {
        if (n > 0)
            got += (size_t)n;
        else if (errno != EINTR)
            break;
    }
    int saved = errno;
    close(fd);
    if (got < want) { /* a part of a source is not the source: nothing of it counts */
        warn(s, n < 0 ? sp_aprintf("%s: %s: not scanned for library names", path, strerror(saved))
                      : sp_aprintf("%s: %zu of its %zu bytes read (it shrank): not scanned for "
                                   "library names",
                                   path, got, want));
        return;
    }
    if (!sp_pysrc_maybe(*buf, got))
        return;
    struct sp_vec calls;
    sp_vec_init(&calls, sizeof(struct sp_pycall));
    int rc = sp_pysrc_calls(*buf, got, &calls);
    if (rc == SP_PYSRC_TRUNCATED)
        warn(s, sp_aprintf("%s: brackets or f-strings nested deeper than Python allows: what lies "
                           "deeper not scanned for library names",
                           path));
    pthread_mutex_lock(&s->lock);
    struct sp_pysource *src = NULL;
    if (rc >= 0 && calls.len && (src = sp_vec_push(&s->sources)) != NULL &&
        (src->path = strdup(path)) != NULL) {
        src->calls = calls;
        calls = (struct sp_vec){0};
    } else if (rc < 0 || calls.len) {
        if (src)
            s->sources.len--;
        s->enomem = 1;
    }
    pthread_mutex_unlock(&s->lock);
    sp_pycalls_free(&calls);
}

void sp_srcscan_work(struct sp_srcscan *s)
{
    struct worker w = {0};
    for (;;) {
        size_t first = __atomic_fetch_add(&s->next, CLAIM, __ATOMIC_RELAXED);
        if (first >= s->paths.len)
            break;
        for (size_t i = first; i < first + CLAIM && i < s->paths.len; i++)
            scan_one(s, &w, i);
    }
    if (w.dir)
        close(w.dirfd);
    free(w.dir);
    free(w.buf);
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const struct sp_pysource *)a)->path, ((const struct sp_pysource *)b)->path);
}

void sp_srcscan_init(struct sp_srcscan *s)
{
    memset(s, 0, sizeof *s);
    s->no_openat2 = sp_root_openat2_off();
    sp_vec_init(&s->bases, sizeof(struct sp_srcbase));
    sp_vec_init(&s->sources, sizeof(struct sp_pysource));
    pthread_mutex_init(&s->lock, NULL);
}

int sp_srcscan_base(struct sp_srcscan *s, const struct sp_root *r, const char *path,
                    struct sp_err *err)
{
    size_t from = s->bases.len ? SP_VEC_AT(&s->bases, struct sp_srcbase, s->bases.len - 1).end : 0;
    struct sp_srcbase *b = sp_vec_push(&s->bases);
    if (b == NULL)
        return sp_fail(err, ENOMEM, "out of memory");
    b->end = s->paths.len;
    b->fd = -1;
    if (b->end == from)
        return 0; /* no sources under PATH: nothing to open */
    /* The directory the walk listed: PATH, or the directory of PATH when it is a source. The
     * walk's paths are PATH, "/" and the rest. */
    size_t len = strlen(path);
    b->skip = len + (path[len - 1] != '/');
    const char *first = s->paths.items[from];
    char *dir = NULL, *canon = NULL, *host = NULL;
    if (strlen(first) < b->skip) {
        b->skip = (size_t)(strrchr(first, '/') - first) + 1;
        dir = b->skip > 1 ? strndup(first, b->skip - 1) : strdup("/");
    } else {
        dir = strdup(path);
    }
    int rc = 0;
    if (dir == NULL || sp_root_resolve(r, dir, 1, &canon) < 0 ||
        (host = sp_root_host(r, canon)) == NULL ||
        (b->fd = open(*host ? host : "/", O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
        rc = errno == ENOMEM ? sp_fail(err, ENOMEM, "out of memory")
                             : sp_fail_at(err, SP_ERR_INPUT, path, errno, "%s", strerror(errno));
    free(dir);
    free(canon);
    free(host);
    return rc;
}

void sp_srcscan_done(struct sp_srcscan *s)
{
    if (s->sources.len > 1)
        qsort(s->sources.data, s->sources.len, sizeof(struct sp_pysource), by_path);
    if (s->warnings.len > 1)
        qsort(s->warnings.items, s->warnings.len, sizeof(char *), sp_strcmp_ptr);
}

void sp_srcscan_free(struct sp_srcscan *s)
{
    for (size_t i = 0; i < s->bases.len; i++) {
        if (SP_VEC_AT(&s->bases, struct sp_srcbase, i).fd >= 0)
            close(SP_VEC_AT(&s->bases, struct sp_srcbase, i).fd);
    }
    sp_vec_free(&s->bases);
    for (size_t i = 0; i < s->sources.len; i++) {
        struct sp_pysource *src = &SP_VEC_AT(&s->sources, struct sp_pysource, i);
        free(src->path);
        sp_pycalls_free(&src->calls);
    }
    sp_vec_free(&s->sources);
    sp_strs_free(&s->paths);
    sp_strs_free(&s->warnings);
    pthread_mutex_destroy(&s->lock);
}
