/* Dependency resolution as the glibc loader does it (ldsearch.c). */
#ifndef SNAKEPACK_LIBDEPS_LDSEARCH_H
#define SNAKEPACK_LIBDEPS_LDSEARCH_H

#include <stddef.h>

#include "common/util.h"
#include "libdeps/elf.h"
#include "libdeps/ldconfig.h"
#include "libdeps/rootfs.h"

enum sp_how {
    SP_HOW_PATH = 0, /* the name contains a slash */
    SP_HOW_RPATH,
    SP_HOW_LD_LIBRARY_PATH,
    SP_HOW_RUNPATH,
    SP_HOW_LDCACHE,
    SP_HOW_LDCONF,
    SP_HOW_DEFAULT,
    SP_HOW_LOADED,    /* an object of the tree already answers to the name */
    SP_HOW_NOT_FOUND, /* no candidate anywhere */
    SP_HOW_ERROR,     /* a candidate stopped the loader (not ELF, truncated, ...) */
};
extern const char *const sp_how_names[];

/* One file that the search opened (deduplicated by canonical path). */
struct sp_file {
    char *path;  /* canonical path inside the root */
    int status;  /* enum sp_elf_status */
    char *error; /* why it is SP_ELF_BAD, or NULL */
    struct sp_elf elf;
    struct sp_strs links; /* canonical-directory spellings it was opened under */
    size_t tree_mark;     /* sp_tree.mark of the last tree that loaded it */
    long tree_node;       /* its node in that tree */
};

/* One DT_NEEDED entry of one object of one load tree, and how it was answered. */
struct sp_edge {
    size_t requester; /* index into the tree's nodes */
    char *name;
    int how;       /* enum sp_how */
    long node;     /* index of the node that answers, or -1 */
    char *error;   /* for SP_HOW_ERROR and SP_HOW_NOT_FOUND with a reason, else NULL */
    char *feature; /* for a name from a dlopen note: the note's feature ("" if none); for
                    * one from a Python call: the callee, and the name it was found under */
    size_t line;   /* for a name from a Python call: its line, else 0 */
    char *cpu;     /* when which file loads depends on the CPU: the first kind of CPU that
                    * loads this one ("x86-64-v3, AT_PLATFORM haswell"); else NULL */
};

struct sp_node {
    size_t file;         /* index into the context's files */
    char *opened;        /* path the loader opened it under */
    long loader;         /* node that caused it to be loaded, -1 for the root */
    struct sp_strs dirs; /* its RPATH or RUNPATH, expanded, once dirs_ready */
    int dirs_ready;
    int dirs_platform; /* they name $PLATFORM: another CPU may search others */
};

/* The load tree of one ELF file found under a scanned path. */
struct sp_tree {
    char *path;            /* the root object as found */
    size_t mark;           /* its index in the context's trees + 1 */
    struct sp_vec nodes;   /* struct sp_node */
    struct sp_vec edges;   /* struct sp_edge */
    struct sp_map answers; /* every name a node answers to -> node index + 1 */
};

struct sp_ld {
    struct sp_root root;
    struct sp_strs ld_library_path;
    struct sp_ldcache cache;
    struct sp_strs conf_dirs; /* used when there is no ld.so.cache */
    struct sp_map probes;     /* opened path -> file index + 1, or -errno */
    struct sp_map by_path;    /* canonical path -> file index + 1 */
    struct sp_map listings;   /* canonical directory -> index + 1 into dirs */
    struct sp_vec dirs;       /* struct sp_dirlist: each search directory, listed once */
    struct sp_vec files;      /* struct sp_file */
    struct sp_vec trees;      /* struct sp_tree */
    struct sp_vec cpusets;    /* struct sp_cpus: per ABI met, the kinds of CPU it tells apart */
    struct sp_strs warnings;
    struct sp_map warned;     /* warnings already given */
    int dlopen;               /* follow dlopen notes up to this enum sp_dlopen_priority; -1: no */
    int versions;             /* read each object's symbol versions (for --check) */
    int symbols;              /* read each object's undefined symbols (for --versions) */
    const struct sp_abi *abi; /* of the first ELF file resolved: Python sources load for it */
    struct sp_elf want;       /* its class, byte order and machine */
};

int sp_ld_init(struct sp_ld *ld, const char *root, struct sp_err *err);
void sp_ld_free(struct sp_ld *ld);
/* Builds the load tree of the ELF file at PATH (inside the root) and appends it to ld->trees.
 * Files that are not loadable ELF objects get a warning and no tree. Returns -1 only on
 * allocation failure. */
int sp_ld_resolve_root(struct sp_ld *ld, const char *path, struct sp_err *err);
/* Builds the load tree of the Python source at PATH, whose CALLS (struct sp_pycall) load
 * libraries at run time, for the ABI of the ELF files resolved before (or snakepack's own). The
 * names of one call are alternatives: the first that loads counts, as its own rule (dlopen,
 * find_library) finds it; when none does, name variants (gobject-2.0-0: libgobject-2.0.so.0,
 * then find_library("gobject-2.0")) are tried. Returns -1 only on allocation failure. */
int sp_ld_resolve_source(struct sp_ld *ld, const char *path, const struct sp_vec *calls,
                         struct sp_err *err);
/* Adds the warning TEXT unless it was given already. Returns -1 when out of memory. */
int sp_ld_warn(struct sp_ld *ld, const char *text);

#endif
