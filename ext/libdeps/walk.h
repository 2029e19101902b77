/* Walking the scanned trees (walk.c). */
#ifndef SNAKEPACK_LIBDEPS_WALK_H
#define SNAKEPACK_LIBDEPS_WALK_H

#include "common/util.h"
#include "libdeps/rootfs.h"

/* Appends to FOUND (sorted) the root-relative paths of the ELF files under PATH, found by their
 * magic whatever their names, and to SOURCES (unless NULL) those of the Python sources (*.py);
 * symlinks are not followed below PATH. Files named like shared libraries that are not ELF,
 * unreadable files and directories produce warnings. Returns -1 with ERR when PATH itself
 * cannot be opened. */
int sp_walk(const struct sp_root *r, const char *path, struct sp_strs *found,
            struct sp_strs *sources, struct sp_strs *warnings, struct sp_err *err);

#endif
