/* Shared declarations of snakepack's C cores.
 *
 * Nothing here includes Python.h: the cores (ELF reading, loader search, dpkg database, network
 * waits) are plain C so they can be unit-tested and fuzzed on their own. module.c binds them.
 *
 * Conventions: functions returning int return 0 on success and -1 on failure with a message in
 * a struct sp_err; pointers returned are malloc'd and owned by the caller unless said otherwise.
 */
#ifndef SNAKEPACK_H
#define SNAKEPACK_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* ---- errors ------------------------------------------------------------------------------ */

/* What a failure is about, so that callers route it without reading the message. */
enum sp_err_kind {
    SP_ERR_SYSTEM = 0, /* out of memory, no descriptors: the machine, not the input */
    SP_ERR_INPUT,      /* a path, root or file named by the caller */
    SP_ERR_DPKG,       /* the dpkg database under the root */
};

struct sp_err {
    int errnum;     /* errno value, 0 when the failure is not an OS error */
    int kind;       /* enum sp_err_kind */
    char path[4096]; /* the file concerned (inside the root), "" when none */
    char msg[512];  /* one line naming the problem, never cut inside a UTF-8 character */
};

/* Records a failure of kind SP_ERR_SYSTEM and returns -1, so callers can write
 * `return sp_fail(err, ...)`. */
int sp_fail(struct sp_err *err, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Records a failure about the file PATH; the message is "PATH: " followed by FMT's text. */
int sp_fail_at(struct sp_err *err, int kind, const char *path, int errnum, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* Cuts the NUL-terminated S so that it does not end inside a UTF-8 sequence. */
void sp_utf8_trim(char *s);

/* ---- growable arrays and string maps (util.c) -------------------------------------------- */

struct sp_vec {
    void *data;
    size_t len, cap, size; /* size: bytes per element */
};

void sp_vec_init(struct sp_vec *v, size_t elem_size);
/* Appends a zeroed element and returns it, or NULL when out of memory. */
void *sp_vec_push(struct sp_vec *v);
#define SP_VEC_AT(v, type, i) (((type *)(v)->data)[i])
void sp_vec_free(struct sp_vec *v);

/* Open-addressing map from NUL-terminated strings (copied) to a pointer-sized value. */
struct sp_map {
    struct sp_map_slot *slots;
    size_t len, cap;
};
void sp_map_init(struct sp_map *m);
/* Returns the value slot for KEY or NULL when absent. */
intptr_t *sp_map_get(const struct sp_map *m, const char *key);
intptr_t *sp_map_getn(const struct sp_map *m, const char *key, size_t keylen);
/* Inserts KEY (if absent) and returns its value slot (new slots hold 0); NULL when out of memory. */
intptr_t *sp_map_put(struct sp_map *m, const char *key);
/* Calls FN on every key; iteration order is unspecified. */
void sp_map_each(const struct sp_map *m, void (*fn)(const char *key, intptr_t *value, void *arg),
                 void *arg);
void sp_map_free(struct sp_map *m);

/* A growable list of owned strings. */
struct sp_strs {
    char **items;
    size_t len, cap;
};
int sp_strs_push(struct sp_strs *s, const char *str);
/* Appends STR, taking ownership (freed on failure; a NULL STR fails). */
int sp_strs_take(struct sp_strs *s, char *str);
int sp_strs_pushf(struct sp_strs *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void sp_strs_free(struct sp_strs *s);

/* strcmp for qsort over an array of char *. */
int sp_strcmp_ptr(const void *a, const void *b);
/* Returns "A/B" (one slash between them), or NULL when out of memory. */
char *sp_path_join(const char *a, const char *b);
/* Returns a malloc'd printf result, or NULL when out of memory. */
char *sp_aprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* ---- paths inside a root filesystem (rootfs.c) ------------------------------------------- */

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

/* ---- ELF files (elf.c) ------------------------------------------------------------------- */

enum sp_elf_status {
    SP_ELF_OK = 0,
    SP_ELF_NOT_ELF, /* no ELF magic: not an ELF file at all */
    SP_ELF_BAD,     /* ELF magic but truncated or corrupt */
};

struct sp_elf {
    int elfclass, data, osabi, type, machine;
    unsigned e_flags;
    char *interp;  /* PT_INTERP, or NULL */
    char *soname;  /* DT_SONAME, or NULL */
    char *rpath;   /* DT_RPATH, or NULL (dropped when DT_RUNPATH is present, as ld.so does) */
    char *runpath; /* DT_RUNPATH, or NULL */
    int nodeflib;  /* DF_1_NODEFLIB in DT_FLAGS_1 */
    int dynamic;   /* has PT_DYNAMIC */
    struct sp_strs needed;
    /* DT_VERNEED: symbol versions required, as pairs: verneed.items[2i] is the needed file's
     * name, [2i+1] the version (GLIBC_2.38); weak requirements are left out */
    struct sp_strs verneed;
    struct sp_strs verdef;  /* DT_VERDEF: the versions this object defines, its own name not */
    char *versions_error;   /* why the version sections could not be read, or NULL */
    struct sp_vec dlopen;   /* struct sp_dlopen, from its FDO dlopen notes (PT_NOTE) */
    char *dlopen_error;     /* why a dlopen note could not be read, or NULL */
};

/* ---- the FDO dlopen metadata note (dlnote.c) ---------------------------------------------- */

enum sp_dlopen_priority { SP_DLOPEN_REQUIRED = 0, SP_DLOPEN_RECOMMENDED, SP_DLOPEN_SUGGESTED };

/* One object of a .note.dlopen descriptor: libraries the program may dlopen() for a feature;
 * its sonames are alternatives (one of them is enough). */
struct sp_dlopen {
    char *feature;        /* or NULL */
    int priority;         /* enum sp_dlopen_priority */
    struct sp_strs sonames;
};

/* Parses the JSON descriptor TEXT (LEN bytes, up to a NUL) of one note, appending its objects
 * to ENTRIES (struct sp_dlopen). Returns 0, or -1 when it is not such an array (and appends
 * nothing). */
int sp_dlopen_parse(const char *text, size_t len, struct sp_vec *entries);
void sp_dlopen_free(struct sp_vec *entries);

/* ---- library names in Python sources (pysrc.c) ------------------------------------------ */

/* How a call loads the library it names. */
enum sp_pycall_kind {
    SP_PYCALL_LOAD = 0, /* ctypes.CDLL, cdll.LoadLibrary: dlopen() of the name as given */
    SP_PYCALL_DLOPEN,   /* cffi's ffi.dlopen and wrappers: as given, then find_library */
    SP_PYCALL_FIND,     /* ctypes.util.find_library: ld.so.cache entries named libNAME.* */
};

/* One call of a Python source that names libraries with string literals. */
struct sp_pycall {
    char *func;           /* the callee as Python reads it: "ctypes.util.find_library" */
    int kind;             /* enum sp_pycall_kind */
    size_t line;          /* of the callee, from 1 */
    struct sp_strs names; /* its arguments that are string literals: alternatives, in order */
};

/* Returns 1 when the LEN bytes at BUF may contain dlopen, CDLL, LoadLibrary or find_library
 * (spelt in ASCII, or with a character that NFKC makes ASCII): the only files worth lexing. */
int sp_pysrc_maybe(const char *buf, size_t len);
/* Appends to CALLS (struct sp_pycall) the calls of the Python source BUF (any bytes) whose
 * callee contains one of those names and that have string-literal arguments. Returns 0, or
 * SP_PYSRC_TRUNCATED when the source nests brackets or f-strings deeper than Python allows (what
 * lies deeper was not read as code), or -1 when out of memory. */
enum { SP_PYSRC_TRUNCATED = 1 };
int sp_pysrc_calls(const char *buf, size_t len, struct sp_vec *calls);
void sp_pycalls_free(struct sp_vec *calls);

/* Reads the ELF file open on FD: its header and dynamic section, and what WHAT asks for beyond
 * them (work no option asks for is not done). NAME is used in messages only. Returns an
 * sp_elf_status; on SP_ELF_BAD, ERR says why (naming the file and the libelf call). OUT is
 * always initialised and must be released with sp_elf_free. */
enum { SP_ELF_NOTES = 1, SP_ELF_VERSIONS = 2 }; /* dlopen notes; DT_VERNEED and DT_VERDEF */
int sp_elf_read(int fd, const char *name, unsigned what, struct sp_elf *out, struct sp_err *err);
void sp_elf_free(struct sp_elf *e);
/* Returns 1 when the first bytes in BUF (LEN of them) carry the ELF magic. */
int sp_elf_magic(const unsigned char *buf, size_t len);

/* What the loader needs to know about one ABI (ELF class + machine) on a Debian system. */
struct sp_abi {
    int elfclass, machine;
    const char *triplet;  /* multiarch directory name, e.g. x86_64-linux-gnu */
    const char *debarch;  /* dpkg architecture, e.g. amd64 */
    int cache_flags;      /* ld.so.cache entry flags the loader accepts */
    const char *biarch;   /* the system directory of its biarch libc on another architecture's
                             Debian (x32 on amd64: /libx32, and /usr/libx32), or NULL */
    const char *loader;   /* the dynamic loader's path (PT_INTERP of its programs) */
    /* What differs between CPUs of the machine (see hwcaps.c): */
    const char *const *platforms; /* AT_PLATFORM values ($PLATFORM), the kernel's first */
    const char *const *levels;    /* glibc-hwcaps subdirectory names, best first */
    const char *legacy_all;       /* legacy hwcap name every CPU has (glibc <= 2.36), or NULL */
    const char *legacy_some;      /* legacy hwcap name some CPUs have, or NULL */
};
/* Returns the ABI of an ELF header, or NULL when snakepack does not know it. */
const struct sp_abi *sp_abi_of(const struct sp_elf *e);

/* The ABI snakepack itself was built for, or NULL. */
const struct sp_abi *sp_abi_native(void);
/* The I-th ABI snakepack knows, or NULL past the last. */
const struct sp_abi *sp_abi_each(size_t i);

/* ---- the CPUs an image may meet (hwcaps.c) ----------------------------------------------- */

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

/* ---- the loader's configuration: ld.so.cache and ld.so.conf (ldconfig.c) ----------------- */

struct sp_ldcache {
    unsigned char *buf; /* the whole cache file, or NULL when there is none */
    size_t size;
    size_t base;       /* offset of the new-format header; string offsets count from it */
    uint32_t nlibs;
    int swap;          /* the file's byte order differs from ours */
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

/* ---- dependency resolution (ldsearch.c) -------------------------------------------------- */

enum sp_how {
    SP_HOW_PATH = 0,  /* the name contains a slash */
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
    int how;          /* enum sp_how */
    long node;        /* index of the node that answers, or -1 */
    char *error;      /* for SP_HOW_ERROR and SP_HOW_NOT_FOUND with a reason, else NULL */
    char *feature;    /* for a name from a dlopen note: the note's feature ("" if none); for
                       * one from a Python call: the callee, and the name it was found under */
    size_t line;      /* for a name from a Python call: its line, else 0 */
    char *cpu;        /* when which file loads depends on the CPU: the first kind of CPU that
                       * loads this one ("x86-64-v3, AT_PLATFORM haswell"); else NULL */
};

struct sp_node {
    size_t file;  /* index into the context's files */
    char *opened; /* path the loader opened it under */
    long loader;  /* node that caused it to be loaded, -1 for the root */
    struct sp_strs dirs;  /* its RPATH or RUNPATH, expanded, once dirs_ready */
    int dirs_ready;
    int dirs_platform;    /* they name $PLATFORM: another CPU may search others */
};

/* The load tree of one ELF file found under a scanned path. */
struct sp_tree {
    char *path;       /* the root object as found */
    size_t mark;      /* its index in the context's trees + 1 */
    struct sp_vec nodes; /* struct sp_node */
    struct sp_vec edges; /* struct sp_edge */
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

/* ---- walking the scanned trees (walk.c) -------------------------------------------------- */

/* Appends to FOUND (sorted) the root-relative paths of the ELF files under PATH, found by their
 * magic whatever their names, and to SOURCES (unless NULL) those of the Python sources (*.py);
 * symlinks are not followed below PATH. Files named like shared libraries that are not ELF,
 * unreadable files and directories produce warnings. Returns -1 with ERR when PATH itself
 * cannot be opened. */
int sp_walk(const struct sp_root *r, const char *path, struct sp_strs *found,
            struct sp_strs *sources, struct sp_strs *warnings, struct sp_err *err);

/* ---- reading the Python sources on every thread that has time (srcscan.c) ----------------- */

/* A Python source under a scanned path that names libraries (struct sp_pycall). */
struct sp_pysource {
    char *path;
    struct sp_vec calls;
};

/* The scanned directory that the sources paths[previous end .. END) lie below, open on FD;
 * SKIP: the length of the prefix of their paths that names it. */
struct sp_srcbase {
    int fd;
    size_t skip, end;
};

struct sp_srcscan {
    struct sp_strs paths;   /* the Python sources sp_walk found, root-relative */
    struct sp_vec bases;    /* struct sp_srcbase, one per scanned path */
    size_t next;            /* the next path to claim (atomic) */
    int no_openat2;         /* the kernel refused openat2 (atomic) */
    pthread_mutex_t lock;   /* guards what follows */
    struct sp_vec sources;  /* struct sp_pysource: the sources that name libraries */
    struct sp_strs warnings;
    int enomem;
};

void sp_srcscan_init(struct sp_srcscan *s);
/* Records that the paths added since the previous call were found under the scanned PATH, and
 * opens the directory they lie below. */
int sp_srcscan_base(struct sp_srcscan *s, const struct sp_root *r, const char *path,
                    struct sp_err *err);
/* Reads sources until none is left to claim; any number of threads may call it at once. */
void sp_srcscan_work(struct sp_srcscan *s);
/* Once every thread is done: sorts the sources and warnings. */
void sp_srcscan_done(struct sp_srcscan *s);
void sp_srcscan_free(struct sp_srcscan *s);

/* ---- the dpkg database (dpkg.c) ---------------------------------------------------------- */

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
    struct sp_map full;     /* "pkg:arch" of installed packages -> 1 */
    struct sp_map byname;   /* "pkg" -> index + 1 into strings (its architecture) */
    struct sp_strs strings; /* architectures and diverting packages, owned */
    struct sp_vec lists;    /* struct sp_dpkg_list of the installed packages */
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

/* ---- waiting for endpoints (netwait.c) --------------------------------------------------- */

#include "netwait.h"

/* ---- the whole find-libdeps job (libdeps.c) ---------------------------------------------- */

struct sp_libdeps {
    /* input, owned by the job */
    const char *root;
    struct sp_strs scan;            /* paths inside the root */
    struct sp_strs ld_library_path; /* given explicitly, never taken from the environment */
    int dpkg;                       /* look up owners in the dpkg database */
    int dlopen;                     /* follow dlopen notes up to this priority; -1: never */
    int versions;                   /* read symbol versions */
    /* output */
    struct sp_ld ld;
    int ld_ready;
    struct sp_strs canonical;   /* canonical form of each scanned path */
    unsigned char *loaded;      /* per file: loaded by some tree (not only a root) */
    unsigned char *inside;      /* per loaded file: it lies inside a scanned tree */
    struct sp_owners *owners;   /* per loaded file: the installed packages owning it */
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
