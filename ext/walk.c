/* Finding the ELF files under a scanned path: by their magic bytes, whatever their names
 * (libfoo.so.1, auditwheel's libfoo-1a2b3c4d.so.1.2, executables), without following symlinks
 * below the path, so a tree is scanned once and never left.
 *
 * Opening a file costs three system calls where listing it costs a fraction of one, and in a
 * Python tree nine files in ten are sources, byte-code and headers. Files whose extension names
 * such a text or data format are therefore not opened: neither Python's import system nor the
 * loader ever maps them as code, whatever their bytes. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "snakepack.h"

#define MAX_DEPTH 256

struct walk {
    struct sp_strs *found, *warnings;
};

/* A name a user expects to be a shared library: *.so or *.so.N... */
static int looks_like_library(const char *name)
{
    const char *so = strstr(name, ".so");
    while (so) {
        if (so[3] == '\0' || so[3] == '.')
            return 1;
        so = strstr(so + 3, ".so");
    }
    return 0;
}

/* Extensions of files that are never loaded as ELF objects (see the top of this file). */
static const char *const skipped_extensions[] = {
    "py", "pyc", "pyo", "pyi", "pyx", "pxd", "pxi", "h", "hh", "hpp", "c", "cc", "cpp", "cxx",
    "f", "f90", "txt", "rst", "md", "json", "toml", "cfg", "ini", "csv", "html", "js", "css",
    "svg", "png", "jpg", "gif",
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

static int check_file(struct walk *w, int dfd, const char *name, const char *path)
{
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
                                   O_NOATIME);
    if (fd < 0 && errno == EPERM) /* O_NOATIME needs ownership or CAP_FOWNER */
        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return sp_strs_pushf(w->warnings, "%s: %s: skipped", path, strerror(errno));
    unsigned char magic[4];
    ssize_t n = read(fd, magic, sizeof magic);
    int saved = errno;
    close(fd);
    if (n < 0)
        return sp_strs_pushf(w->warnings, "%s: %s: skipped", path, strerror(saved));
    if (sp_elf_magic(magic, (size_t)n))
        return sp_strs_push(w->found, path);
    if (looks_like_library(name))
        return sp_strs_pushf(w->warnings, "%s: not an ELF file: skipped", path);
    return 0;
}

/* Walks the directory open on DFD (taking ownership of it) whose root-relative path is REL. */
static int walk_dir(struct walk *w, int dfd, const char *rel, int depth)
{
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        return sp_strs_pushf(w->warnings, "%s: %s: skipped", rel, strerror(errno));
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        const char *name = de->d_name;
        if (name[0] == '.' && (name[1] == '\0' || (name[1] == '.' && name[2] == '\0')))
            continue;
        unsigned char type = de->d_type;
        if (type == DT_UNKNOWN) { /* some filesystems do not fill d_type */
            struct stat st;
            if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue;
            type = S_ISDIR(st.st_mode) ? DT_DIR : S_ISREG(st.st_mode) ? DT_REG : DT_LNK;
        }
        if ((type != DT_DIR && type != DT_REG) || (type == DT_REG && never_elf(name)))
            continue;
        char *path = sp_path_join(rel, name);
        if (path == NULL) {
            rc = -1;
            break;
        }
        if (type == DT_REG) {
            rc = check_file(w, dirfd(d), name, path);
        } else if (depth >= MAX_DEPTH) {
            rc = sp_strs_pushf(w->warnings, "%s: nested deeper than %d: skipped", path,
                               MAX_DEPTH);
        } else {
            int cfd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd < 0)
                rc = sp_strs_pushf(w->warnings, "%s: %s: skipped", path, strerror(errno));
            else
                rc = walk_dir(w, cfd, path, depth + 1);
        }
        free(path);
    }
    if (rc == 0 && errno != 0)
        rc = sp_strs_pushf(w->warnings, "%s: %s: listing stopped", rel, strerror(errno));
    closedir(d);
    return rc;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

int sp_walk(const struct sp_root *r, const char *path, struct sp_strs *found,
            struct sp_strs *warnings, struct sp_err *err)
{
    struct walk w = {found, warnings};
    char *canon = NULL, *host = NULL;
    size_t before = found->len;
    int rc = -1;

    if (sp_root_resolve(r, path, 1, &canon) < 0) {
        sp_fail(err, errno, "%s: %s", path, strerror(errno));
        goto out;
    }
    if ((host = sp_root_host(r, canon)) == NULL) {
        sp_fail(err, ENOMEM, "out of memory");
        goto out;
    }
    struct stat st;
    if (stat(host, &st) < 0) {
        sp_fail(err, errno, "%s: %s", path, strerror(errno));
        goto out;
    }
    if (S_ISREG(st.st_mode)) {
        char *slash = strrchr(host, '/');
        *slash = '\0';
        int dfd = open(*host ? host : "/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            sp_fail(err, errno, "%s: %s", path, strerror(errno));
            goto out;
        }
        rc = check_file(&w, dfd, slash + 1, path);
        close(dfd);
    } else if (S_ISDIR(st.st_mode)) {
        int dfd = open(host, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            sp_fail(err, errno, "%s: %s", path, strerror(errno));
            goto out;
        }
        rc = walk_dir(&w, dfd, path, 0);
    } else {
        sp_fail(err, EINVAL, "%s: not a file or directory", path);
        goto out;
    }
    if (rc < 0)
        sp_fail(err, ENOMEM, "out of memory");
    else
        qsort(found->items + before, found->len - before, sizeof(char *), by_name);
out:
    free(canon);
    free(host);
    return rc;
}
