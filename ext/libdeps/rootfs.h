/* Paths inside a root filesystem (rootfs.c). */
#ifndef SNAKEPACK_LIBDEPS_ROOTFS_H
#define SNAKEPACK_LIBDEPS_ROOTFS_H

#include "common/util.h"

/* A root filesystem: ROOT is the host directory ("" for the real root). Canonical directories
 * are cached because the loader search and the dpkg index ask for the same few many times.
 * Paths are resolved by the kernel, openat2(RESOLVE_IN_ROOT) on FD, where it can; else (an older
 * kernel, no /proc, or SNAKEPACK_NO_OPENAT2 set in the environment) component by component in
 * user space, with the same answers. */
struct sp_root {
    char *root;
    struct sp_map canon; /* directory as written -> malloc'd canonical path, or 0 if missing */
    int fd;              /* the root directory (O_PATH) while openat2 serves, else -1 */
    char *real;          /* the root's real host path, as /proc/self/fd names what is in it */
};

int sp_root_init(struct sp_root *r, const char *root, struct sp_err *err);
/* Returns 1 when SNAKEPACK_NO_OPENAT2 is set (not empty): every path is then resolved in user
 * space, here and wherever else openat2 would serve (the switch that tests the fallbacks). */
int sp_root_openat2_off(void);
void sp_root_free(struct sp_root *r);
/* Resolves the absolute PATH as the kernel would after chroot(root): symlinks (absolute ones
 * restart at the root), "." and ".." (never above the root). FOLLOW_LAST resolves a symlink in
 * the last component too. Stores the malloc'd canonical path in *OUT. Returns 0, or -1 with
 * errno set (ENOENT, ENOTDIR, ELOOP, ENAMETOOLONG, EACCES, ENOMEM). */
int sp_root_resolve(const struct sp_root *r, const char *path, int follow_last, char **out);
/* Returns the cached canonical form of directory DIR, or NULL with errno set. */
const char *sp_root_canon_dir(struct sp_root *r, const char *dir);
/* Returns the canonical directory of PATH joined with its last component: the spelling in which
 * two names of the same file differ only by the file's own name (usrmerge: /lib/x/libc.so.6 and
 * /usr/lib/x/libc.so.6 give the same). NULL with errno set when the directory does not exist. */
char *sp_root_canon_link(struct sp_root *r, const char *path);
/* Returns the host path of the root-relative absolute PATH (malloc'd). */
char *sp_root_host(const struct sp_root *r, const char *path);
/* Bounds on what is read into memory: far above any real file, far below a machine's memory. */
#define SP_MAX_LOADER_FILE ((size_t)64 << 20) /* ld.so.cache, ld.so.conf and its includes */
#define SP_MAX_DPKG_FILE ((size_t)256 << 20)  /* dpkg status, diversions, a package's list */

/* Opens PATH inside the root for reading: resolved as sp_root_resolve does (symlinks and ".."
 * never leave the root), then opened without following anything further and without blocking.
 * With DIRECTORY a directory is opened; otherwise only a regular file is (a FIFO, socket or
 * device never is). Returns the descriptor, or -1 with ERR of KIND naming PATH: errnum ENOENT
 * when it does not exist, 0 when it is not a regular file. */
int sp_root_open(const struct sp_root *r, const char *path, int directory, int kind,
                 struct sp_err *err);
/* sp_root_open of a regular file for CANON, a path sp_root_resolve has made canonical (the
 * loader search resolves each candidate once, then opens it: twice would cost one lstat per
 * component of every file). */
int sp_root_open_canonical(const struct sp_root *r, const char *canon, int kind,
                           struct sp_err *err);
/* Reads what is left of the regular file open on FD, at most MAX bytes (a larger file is an
 * error), into *BUF (malloc'd, NUL-terminated) and *LEN. NAME is for messages. */
int sp_read_fd(int fd, const char *name, size_t max, int kind, char **buf, size_t *len,
               struct sp_err *err);
/* sp_root_open and sp_read_fd in one call. */
int sp_root_slurp(const struct sp_root *r, const char *path, size_t max, int kind, char **buf,
                  size_t *len, struct sp_err *err);

#endif
