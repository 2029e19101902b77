/* Finding the ELF files under a scanned path: by their magic bytes, whatever their names
 * (libfoo.so.1, auditwheel's libfoo-1a2b3c4d.so.1.2, executables), without following symlinks
 * below the path, so a tree is scanned once and never left.
 *
 * Opening a file costs three system calls where listing it costs a fraction of one, and in a
 * Python tree nine files in ten are sources, byte-code and headers. Files whose extension names
 * such a text or data format are therefore not opened: neither Python's import system nor the
 * loader ever maps them as code, whatever their bytes. The Python sources among them are
 * listed when asked for (their library names are read by srcscan.c). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libdeps/elf.h"
#include "libdeps/walk.h"

#define MAX_DEPTH 256

struct walk {
    struct sp_strs *found, *warnings;
    struct sp_strs *sources; /* or NULL */
};

static int is_source(const char *name)
{
    size_t n = strlen(name);
    return n > 3 && strcmp(name + n - 3, ".py") == 0;
}

/* A name a user expects to be a shared library: NAME.so or NAME.so.N[.N...] (so not
 * ld.so.conf or ld.so.cache, which are no libraries). */
static int looks_like_library(const char *name)
{
    for (const char *so = strstr(name, ".so"); so; so = strstr(so + 3, ".so")) {
        const char *v = so + 3;
        if (so == name)
            continue;
        if (*v == '\0')
            return 1;
        while (*v == '.' && v[1] >= '0' && v[1] <= '9') {
            v += 2;
            while (*v >= '0' && *v <= '9')
                v++;
        }
        if (*v == '\0' && v != so + 3)
            return 1;
    }
    return 0;
}

/* GNU ld scripts named like libraries (libc.so, libncurses.so in -dev packages) serve the link
 * editor only: the loader never opens them, so they deserve no warning. They start with a
 * comment or a command. */
static int linker_script(const unsigned char *head, size_t n)
{
    static const char *const starts[] = {"/*", "INPUT(", "GROUP(", "OUTPUT_FORMAT("};
    for (size_t i = 0; i < sizeof starts / sizeof starts[0]; i++) {
        size_t len = strlen(starts[i]);
        if (n >= len && memcmp(head, starts[i], len) == 0)
            return 1;
    }
    return 0;
}

/* Extensions of files that are never loaded as ELF objects (see the top of this file). */
static const char *const skipped_extensions[] = {
    "py",  "pyc", "pyo",  "pyi", "pyx", "pxd", "pxi", "h",   "hh",   "hpp",   "c",
    "cc",  "cpp", "cxx",  "f",   "f90", "txt", "rst", "md",  "json", "toml",  "cfg",
    "ini", "csv", "html", "js",  "css", "svg", "png", "jpg", "gif",  "debug", /* separate debug
                                                                                 information */
};

static int never_elf(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (dot == NULL || dot == name)
        return 0;
    for (size_t i = 0; i < sizeof skipped_extensions / sizeof skipped_extensions[0]; i++) {
        if (strcmp(dot + 1, skipped_extensions[i]) == 0)
            return 1;
    }
    return 0;
}

static int walk_check_file(struct walk *w, int dfd, const char *name, const char *path)
{
    if (w->sources && is_source(name))
        return sp_strs_push(w->sources, path);
    int fd =
        openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_NOATIME);
    if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership or CAP_FOWNER */
        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return sp_strs_pushf(w->warnings, "%s: %s: skipped", path, strerror(errno));
    unsigned char head[64]; /* as cheap to read as the four bytes of the magic */
    ssize_t n = read(fd, head, sizeof head);
    int saved = errno;
    close(fd);
    if (n < 0)
        return sp_strs_pushf(w->warnings, "%s: %s: skipped", path, strerror(saved));
    if (sp_elf_magic(head, (size_t)n))
        return sp_strs_push(w->found, path);
    if (looks_like_library(name) && !linker_script(head, (size_t)n))
        return sp_strs_pushf(w->warnings, "%s: not an ELF file: skipped", path);
    return 0;
}

/* A directory's entries, read with getdents64(2) straight from its descriptor: fdopendir(3)
 * costs three more system calls per directory (fstat, two fcntl), a third of a walk's. */
struct listing {
    int fd;
    char *buf;
    size_t len, pos;
};

enum { LISTING_BUF = 32768 };

/* Returns the next entry, or NULL at the end (errno 0) or on an error (errno set). */
static const struct dirent64 *next_entry(struct listing *l)
{
    if (l->pos >= l->len) {
        ssize_t n = getdents64(l->fd, l->buf, LISTING_BUF);
        if (n <= 0) {
            errno = n < 0 ? errno : 0;
            return NULL;
        }
        l->len = (size_t)n;
        l->pos = 0;
    }
    const struct dirent64 *de = (const struct dirent64 *)(l->buf + l->pos);
    l->pos += de->d_reclen;
    return de;
}

/* Walks the directory open on DFD (taking ownership of it) whose root-relative path is REL. */
static int walk_dir(struct walk *w, int dfd, const char *rel, int depth)
{
    struct listing l = {dfd, malloc(LISTING_BUF), 0, 0};
    if (l.buf == NULL) {
        close(dfd);
        return -1;
    }
    int rc = 0;
    const struct dirent64 *de;
    while (rc == 0 && (errno = 0, de = next_entry(&l)) != NULL) {
        const char *name = de->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
            continue;
        unsigned char type = de->d_type;
        if (type == DT_UNKNOWN) { /* some filesystems do not fill d_type */
            struct stat st;
            if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue;
            type = S_ISDIR(st.st_mode)   ? DT_DIR
                   : S_ISREG(st.st_mode) ? DT_REG
                   : S_ISLNK(st.st_mode) ? DT_LNK
                                         : DT_FIFO; /* any other kind: never opened */
        }
        if (type == DT_LNK ||
            (type == DT_REG && never_elf(name) && !(w->sources && is_source(name))))
            continue; /* symlinks are not followed below PATH: what they name is elsewhere */
        if (type != DT_DIR && type != DT_REG) { /* never opened: a FIFO would block */
            rc = sp_strs_pushf(w->warnings, "%s/%s: not a regular file: skipped", rel, name);
            continue;
        }
        char *path = sp_path_join(rel, name);
        if (path == NULL) {
            rc = -1;
            break;
        }
        if (type == DT_REG) {
            rc = walk_check_file(w, dfd, name, path);
        } else if (depth >= MAX_DEPTH) {
            rc = sp_strs_pushf(w->warnings, "%s: nested deeper than %d: skipped", path, MAX_DEPTH);
        } else {
            int cfd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0)
                rc = sp_strs_pushf(w->warnings, "%s: %s: skipped", path, strerror(errno));
            else
                rc = walk_dir(w, cfd, path, depth + 1);
        }
        free(path);
    }
    if (rc == 0 && errno != 0)
        rc = sp_strs_pushf(w->warnings, "%s: %s: listing stopped", rel, strerror(errno));
    free(l.buf);
    close(dfd);
    return rc;
}

int sp_walk(const struct sp_root *r, const char *path, struct sp_strs *found,
            struct sp_strs *sources, struct sp_strs *warnings, struct sp_err *err)
{
    struct walk w = {found, warnings, sources};
    char *canon = NULL, *host = NULL;
    size_t before = found->len;
    int rc = -1;

    if (path[0] != '/') { /* "" would be the root itself */
        sp_fail_at(err, SP_ERR_INPUT, path, EINVAL, "not an absolute path");
        goto out;
    }
    if (sp_root_resolve(r, path, 1, &canon) < 0) {
        sp_fail_at(err, SP_ERR_INPUT, path, errno, "%s", strerror(errno));
        goto out;
    }
    if ((host = sp_root_host(r, canon)) == NULL) {
        sp_fail(err, ENOMEM, "out of memory");
        goto out;
    }
    struct stat st;
    if (lstat(host, &st) < 0) {
        sp_fail_at(err, SP_ERR_INPUT, path, errno, "%s", strerror(errno));
        goto out;
    }
    if (S_ISREG(st.st_mode)) {
        char *slash = strrchr(host, '/');
        *slash = '\0';
        int dfd = open(*host ? host : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0) {
            sp_fail_at(err, SP_ERR_INPUT, path, errno, "%s", strerror(errno));
            goto out;
        }
        rc = walk_check_file(&w, dfd, slash + 1, path);
        close(dfd);
    } else if (S_ISDIR(st.st_mode)) {
        int dfd = open(host, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
        if (dfd < 0) {
            sp_fail_at(err, SP_ERR_INPUT, path, errno, "%s", strerror(errno));
            goto out;
        }
        rc = walk_dir(&w, dfd, path, 0);
    } else {
        sp_fail_at(err, SP_ERR_INPUT, path, 0, "not a regular file or directory");
        goto out;
    }
    if (rc < 0)
        sp_fail(err, ENOMEM, "out of memory");
    else if (found->len - before > 1) /* qsort wants a valid pointer even for no items */
        qsort(found->items + before, found->len - before, sizeof(char *), sp_strcmp_ptr);
out:
    free(canon);
    free(host);
    return rc;
}
