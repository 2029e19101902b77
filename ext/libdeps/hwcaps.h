/* The kinds of CPU an image may meet (hwcaps.c). */
#ifndef SNAKEPACK_LIBDEPS_HWCAPS_H
#define SNAKEPACK_LIBDEPS_HWCAPS_H

#include "common/util.h"
#include "libdeps/elf.h"
#include "libdeps/rootfs.h"

/* One kind of CPU, as the loader tells them apart. */
struct sp_cpu {
    char *label;            /* "x86-64-v3, AT_PLATFORM haswell": its level and platform */
    const char *platform;   /* what $PLATFORM expands to */
    struct sp_strs subdirs; /* tried in each search directory before it, best first */
};

struct sp_cpus {
    const struct sp_abi *abi;
    int glibc;          /* the root's glibc for ABI, 100 * major + minor (236); 0: unknown */
    struct sp_vec cpus; /* struct sp_cpu, least capable first; never empty */
};

/* Returns the version of glibc of ABI in root R as 100 * major + minor, read from the banner
 * of its dynamic loader ("release version 2.36"); 0 when the root has no such loader or it
 * names no version; -1 when out of memory. */
int sp_glibc_version(const struct sp_root *r, const struct sp_abi *abi);
/* Lists the kinds of CPU of ABI that the loader of GLIBC (0: unknown, taken as current) tells
 * apart. Returns -1 when out of memory. */
int sp_cpus_init(struct sp_cpus *c, const struct sp_abi *abi, int glibc);
void sp_cpus_free(struct sp_cpus *c);
/* Returns 1 when a directory entry NAME may begin a hardware subdirectory of some kind of CPU
 * of some ABI: a search directory without one searches the same for every CPU. */
int sp_hw_dirname(const char *name);

#endif
