/* ELF files (elf.c) and the Debian ABIs they are built for. */
#ifndef SNAKEPACK_LIBDEPS_ELF_H
#define SNAKEPACK_LIBDEPS_ELF_H

#include <stddef.h>

#include "common/util.h"

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
    struct sp_strs verdef;    /* DT_VERDEF: the versions this object defines, its own name not */
    char *versions_error;     /* why the version sections could not be read, or NULL */
    struct sp_strs undefined; /* undefined dynamic symbols, NAME@VERSION or NAME@Base (dynsym.c) */
    char *symbols_error;      /* why they could not be read, or NULL */
    struct sp_vec dlopen;     /* struct sp_dlopen, from its FDO dlopen notes (PT_NOTE) */
    char *dlopen_error;       /* why a dlopen note could not be read, or NULL */
};

/* Reads the ELF file open on FD: its header and dynamic section, and what WHAT asks for beyond
 * them (work no option asks for is not done). NAME is used in messages only. Returns an
 * sp_elf_status; on SP_ELF_BAD, ERR says why (naming the file and the libelf call). OUT is
 * always initialised and must be released with sp_elf_free. */
/* dlopen notes; DT_VERNEED and DT_VERDEF; the undefined dynamic symbols */
enum { SP_ELF_NOTES = 1, SP_ELF_VERSIONS = 2, SP_ELF_SYMBOLS = 4 };
int sp_elf_read(int fd, const char *name, unsigned what, struct sp_elf *out, struct sp_err *err);
void sp_elf_free(struct sp_elf *e);
/* Returns 1 when the first bytes in BUF (LEN of them) carry the ELF magic. */
int sp_elf_magic(const unsigned char *buf, size_t len);

/* What the loader needs to know about one ABI (ELF class + machine) on a Debian system. */
struct sp_abi {
    int elfclass, machine;
    const char *triplet; /* multiarch directory name, e.g. x86_64-linux-gnu */
    const char *debarch; /* dpkg architecture, e.g. amd64 */
    int cache_flags;     /* ld.so.cache entry flags the loader accepts */
    const char *biarch;  /* the system directory of its biarch libc on another architecture's
                            Debian (x32 on amd64: /libx32, and /usr/libx32), or NULL */
    const char *loader;  /* the dynamic loader's path (PT_INTERP of its programs) */
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

#endif
