/* The loader's configuration: ld.so.cache and ld.so.conf (ldconfig.c). */
#ifndef SNAKEPACK_LIBDEPS_LDCONFIG_H
#define SNAKEPACK_LIBDEPS_LDCONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "common/util.h"
#include "libdeps/rootfs.h"

struct sp_ldcache {
    unsigned char *buf; /* the whole cache file, or NULL when there is none */
    size_t size;
    size_t base; /* offset of the new-format header; string offsets count from it */
    uint32_t nlibs;
    int swap;           /* the file's byte order differs from ours */
    struct sp_vec maps; /* per flags value: struct { int flags; struct sp_map m; } */
};

/* Loads ROOT/etc/ld.so.cache. A missing file is not an error (buf stays NULL); a malformed one
 * is (ERR names the file). */
int sp_ldcache_load(struct sp_ldcache *c, const struct sp_root *r, struct sp_err *err);
/* Parses the SIZE bytes of a cache file in BUF (malloc'd, taken: freed on failure). */
int sp_ldcache_parse(struct sp_ldcache *c, unsigned char *buf, size_t size, struct sp_err *err);
/* Returns the path the cache gives for NAME among entries of FLAGS, or NULL. Memory owned by C.
 * Sets *ENOMEM_OUT on allocation failure. */
const char *sp_ldcache_lookup(struct sp_ldcache *c, int flags, const char *name, int *enomem_out);
/* Stores in OUT (at most MAX) the paths the cache gives for NAME among entries of FLAGS tied to
 * a hardware subdirectory (glibc-hwcaps/x86-64-v3, haswell...), which a loader prefers to the
 * plain entry on a CPU that has it. Returns how many; memory owned by C. */
size_t sp_ldcache_hw_paths(struct sp_ldcache *c, int flags, const char *name, const char **out,
                           size_t max, int *enomem);
/* ctypes.util.find_library(NAME) on Linux: the first entry of FLAGS, in file order, named
 * libNAME.something (what it finds in `ldconfig -p`), or NULL. Memory owned by C. */
const char *sp_ldcache_find_library(const struct sp_ldcache *c, int flags, const char *name);
void sp_ldcache_free(struct sp_ldcache *c);

/* Appends to DIRS the directories named by ROOT/etc/ld.so.conf, following `include` globs
 * (relative to the including file, several per line) and ignoring include loops. */
int sp_ldconf_dirs(const struct sp_root *r, struct sp_strs *dirs, struct sp_strs *warnings,
                   struct sp_err *err);

#endif
