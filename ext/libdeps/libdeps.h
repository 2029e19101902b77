/* The whole find-libdeps job (libdeps.c): walk, resolve, read the dpkg database. */
#ifndef SNAKEPACK_LIBDEPS_LIBDEPS_H
#define SNAKEPACK_LIBDEPS_LIBDEPS_H

#include "common/util.h"
#include "libdeps/dpkg.h"
#include "libdeps/ldsearch.h"
#include "libdeps/srcscan.h"

struct sp_libdeps {
    /* input, owned by the job */
    const char *root;
    struct sp_strs scan;            /* paths inside the root */
    struct sp_strs ld_library_path; /* given explicitly, never taken from the environment */
    int dpkg;                       /* look up owners in the dpkg database */
    int dlopen;                     /* follow dlopen notes up to this priority; -1: never */
    int versions;                   /* read symbol versions */
    int symbols;                    /* read undefined symbols */
    /* output */
    struct sp_ld ld;
    int ld_ready;
    struct sp_strs canonical; /* canonical form of each scanned path */
    unsigned char *loaded;    /* per file: loaded by some tree (not only a root) */
    unsigned char *inside;    /* per loaded file: it lies inside a scanned tree */
    struct sp_owners *owners; /* per loaded file: the installed packages owning it */
    /* the database thread's */
    struct sp_dpkg db;
    struct sp_err db_err;
    int db_rc;
    /* the Python sources, when dlopen >= 0 */
    int src_ready;
    struct sp_srcscan src;
};

/* Walks the scanned paths, builds every load tree and, with job->dpkg, finds the owners of
 * everything they load. Returns -1 with ERR when a path, the root or the dpkg database
 * cannot be read. The job must be freed with sp_libdeps_free either way. */
int sp_libdeps_run(struct sp_libdeps *job, struct sp_err *err);
void sp_libdeps_free(struct sp_libdeps *job);

#endif
