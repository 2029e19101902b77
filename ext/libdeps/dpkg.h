/* The dpkg database (dpkg.c). */
#ifndef SNAKEPACK_LIBDEPS_DPKG_H
#define SNAKEPACK_LIBDEPS_DPKG_H

#include <stddef.h>

#include "common/util.h"
#include "libdeps/rootfs.h"

struct sp_owner {
    char *package;
    char *arch;
};

struct sp_owners {
    struct sp_owner *items;
    size_t len;
};

struct sp_dpkg_list {
    char *pkg, *arch;
    char *buf; /* the list's text */
    size_t len;
};

/* Everything read from ROOT/var/lib/dpkg, so that the reading can overlap other work. */
struct sp_dpkg {
    struct sp_root root;
    char *status, *diversions;
    size_t status_len, diversions_len;
    struct sp_map full;      /* "pkg:arch" of installed packages -> 1 */
    struct sp_map byname;    /* "pkg" -> index + 1 into strings (its architecture) */
    struct sp_strs strings;  /* architectures and diverting packages, owned */
    struct sp_vec lists;     /* struct sp_dpkg_list of the installed packages */
    struct sp_strs warnings; /* files of the database skipped, one line each */
};

/* Reads status, diversions and the .list file of every installed package under ROOT. Touches
 * nothing but DB, so it may run on its own thread. DB must be freed even on failure. */
int sp_dpkg_load(struct sp_dpkg *db, const char *root, struct sp_err *err);
/* The steps of sp_dpkg_load that read nothing, for callers (the fuzz harness) that fill in the
 * texts themselves: sp_dpkg_init makes an empty database for ROOT, sp_dpkg_index parses
 * db->status (malloc'd, NUL-terminated, owned by DB) into the maps of installed packages. */
int sp_dpkg_init(struct sp_dpkg *db, const char *root, struct sp_err *err);
int sp_dpkg_index(struct sp_dpkg *db, struct sp_err *err);
/* Finds the installed packages owning each of the N canonical PATHS. OUT receives N lists. */
int sp_dpkg_lookup(struct sp_dpkg *db, const char *const *paths, size_t n, struct sp_owners *out,
                   struct sp_err *err);
void sp_dpkg_free(struct sp_dpkg *db);
/* sp_dpkg_load, sp_dpkg_lookup and sp_dpkg_free in one call. */
int sp_dpkg_owners(const char *root, const char *const *paths, size_t n, struct sp_owners *out,
                   struct sp_err *err);
void sp_owners_free(struct sp_owners *o, size_t n);

/* Calls FN for every package whose status in the dpkg status file at PATH (on the host) is
 * "installed"; FN returns -1 when out of memory, which stops the parse. */
int sp_dpkg_installed(const char *path, int (*fn)(const char *pkg, const char *arch, void *arg),
                      void *arg, struct sp_err *err);

#endif
