/* Reading what the dynamic loader reads from an ELF file: its header, PT_INTERP and the dynamic
 * section found through the program headers (not the section headers, which a stripped file may
 * lack and the loader never uses). Every file is treated as hostile: each libelf call is checked
 * and every offset is range-checked before use. */
#define _GNU_SOURCE
#include <errno.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "snakepack.h"

int sp_elf_magic(const unsigned char *buf, size_t len)
{
    return len >= SELFMAG && memcmp(buf, ELFMAG, SELFMAG) == 0;
}

void sp_elf_free(struct sp_elf *e)
{
    free(e->interp);
    free(e->soname);
    free(e->rpath);
    free(e->runpath);
    sp_strs_free(&e->needed);
    memset(e, 0, sizeof *e);
}

/* The Debian ABIs snakepack knows. cache_flags are ldconfig's FLAG_ELF_LIBC6 | FLAG_<arch>
 * (glibc sysdeps/generic/ldconfig.h); platform is the AT_PLATFORM string $PLATFORM expands to. */
static const struct sp_abi abis[] = {
    {ELFCLASS64, EM_X86_64, "x86_64-linux-gnu", "amd64", "x86_64", 0x0303},
    {ELFCLASS32, EM_386, "i386-linux-gnu", "i386", "i686", 0x0003},
    {ELFCLASS64, EM_AARCH64, "aarch64-linux-gnu", "arm64", "aarch64", 0x0a03},
    {ELFCLASS32, EM_ARM, "arm-linux-gnueabihf", "armhf", "v7l", 0x0903},
    {ELFCLASS64, EM_PPC64, "powerpc64le-linux-gnu", "ppc64el", "ppc64le", 0x0503},
    {ELFCLASS64, EM_S390, "s390x-linux-gnu", "s390x", "z196", 0x0403},
    {ELFCLASS64, EM_RISCV, "riscv64-linux-gnu", "riscv64", "riscv64", 0x1003},
};

const struct sp_abi *sp_abi_of(const struct sp_elf *e)
{
    for (size_t i = 0; i < sizeof abis / sizeof abis[0]; i++) {
        if (abis[i].elfclass == e->elfclass && abis[i].machine == e->machine)
            return &abis[i];
    }
    return NULL;
}

struct load {
    GElf_Addr vaddr;
    GElf_Off offset;
    GElf_Xword filesz;
};

/* Maps a virtual address to a file offset through the PT_LOAD segments, as the loader sees
 * them. Returns 0 and sets *OFF, or -1 when no segment holds ADDR. */
static int vaddr_to_offset(const struct load *loads, size_t n, GElf_Addr addr, GElf_Off *off)
{
    for (size_t i = 0; i < n; i++) {
        if (addr >= loads[i].vaddr && addr - loads[i].vaddr < loads[i].filesz) {
            *off = loads[i].offset + (addr - loads[i].vaddr);
            return *off < loads[i].offset ? -1 : 0; /* overflow */
        }
    }
    return -1;
}

/* Returns a copy of the NUL-terminated string at OFF in the string table, or NULL (with *bad
 * set) when it does not lie inside it. */
static char *table_str(const Elf_Data *strtab, GElf_Xword off, int *bad)
{
    const char *base = strtab->d_buf;
    if (off >= strtab->d_size || memchr(base + off, '\0', strtab->d_size - off) == NULL) {
        *bad = 1;
        return NULL;
    }
    char *s = strdup(base + off);
    if (s == NULL)
        *bad = 1;
    return s;
}

int sp_elf_read(int fd, const char *name, struct sp_elf *out, struct sp_err *err)
{
    unsigned char ident[EI_NIDENT];
    struct load *loads = NULL;
    GElf_Xword *needed = NULL;
    Elf *elf = NULL;
    const char *call = NULL;
    int status = SP_ELF_BAD;

    memset(out, 0, sizeof *out);
    ssize_t n = pread(fd, ident, sizeof ident, 0);
    if (n < 0) {
        sp_fail(err, errno, "%s: read: %s", name, strerror(errno));
        return SP_ELF_BAD;
    }
    if (!sp_elf_magic(ident, (size_t)n))
        return SP_ELF_NOT_ELF;
    if ((size_t)n < sizeof ident) {
        sp_fail(err, 0, "%s: file too short for an ELF header", name);
        return SP_ELF_BAD;
    }
    if (elf_version(EV_CURRENT) == EV_NONE) {
        call = "elf_version";
        goto libelf_error;
    }
    if ((elf = elf_begin(fd, ELF_C_READ_MMAP, NULL)) == NULL) {
        call = "elf_begin";
        goto libelf_error;
    }
    GElf_Ehdr eh;
    if (elf_kind(elf) != ELF_K_ELF) { /* libelf records no error for this: say it ourselves */
        sp_fail(err, 0, "%s: ELF magic, but no valid ELF header behind it", name);
        goto done;
    }
    if (gelf_getehdr(elf, &eh) == NULL) {
        call = "gelf_getehdr";
        goto libelf_error;
    }
    out->elfclass = eh.e_ident[EI_CLASS];
    out->data = eh.e_ident[EI_DATA];
    out->osabi = eh.e_ident[EI_OSABI];
    out->type = eh.e_type;
    out->machine = eh.e_machine;
    out->e_flags = eh.e_flags;

    size_t phnum;
    if (elf_getphdrnum(elf, &phnum) != 0) {
        call = "elf_getphdrnum";
        goto libelf_error;
    }
    if (phnum > 0xffff) { /* PN_XNUM files are legal but never loadable objects */
        sp_fail(err, 0, "%s: %zu program headers", name, phnum);
        goto done;
    }
    if ((loads = calloc(phnum + 1, sizeof *loads)) == NULL) {
        sp_fail(err, ENOMEM, "out of memory");
        goto done;
    }
    size_t nloads = 0;
    GElf_Phdr dyn = {0}, interp = {0};
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(elf, (int)i, &ph) == NULL) {
            call = "gelf_getphdr";
            goto libelf_error;
        }
        if (ph.p_type == PT_LOAD)
            loads[nloads++] = (struct load){ph.p_vaddr, ph.p_offset, ph.p_filesz};
        else if (ph.p_type == PT_DYNAMIC)
            dyn = ph;
        else if (ph.p_type == PT_INTERP)
            interp = ph;
    }

    if (interp.p_type == PT_INTERP) {
        Elf_Data *d = elf_getdata_rawchunk(elf, (int64_t)interp.p_offset, interp.p_filesz,
                                           ELF_T_BYTE);
        if (d == NULL || d->d_size == 0 || memchr(d->d_buf, '\0', d->d_size) == NULL) {
            sp_fail(err, 0, "%s: PT_INTERP lies outside the file or is not a string", name);
            goto done;
        }
        if ((out->interp = strdup(d->d_buf)) == NULL) {
            sp_fail(err, ENOMEM, "out of memory");
            goto done;
        }
    }

    if (dyn.p_type == PT_DYNAMIC) {
        out->dynamic = 1;
        Elf_Data *d = elf_getdata_rawchunk(elf, (int64_t)dyn.p_offset, dyn.p_filesz, ELF_T_DYN);
        if (d == NULL) {
            call = "elf_getdata_rawchunk(PT_DYNAMIC)";
            goto libelf_error;
        }
        size_t entsize = gelf_fsize(elf, ELF_T_DYN, 1, EV_CURRENT);
        size_t count = entsize ? dyn.p_filesz / entsize : 0;
        GElf_Addr strtab_addr = 0;
        GElf_Xword strsz = 0, soname = 0, rpath = 0, runpath = 0;
        int has_strtab = 0, has_soname = 0, has_rpath = 0, has_runpath = 0;
        size_t nneeded = 0;
        if ((needed = calloc(count + 1, sizeof *needed)) == NULL) {
            sp_fail(err, ENOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < count; i++) {
            GElf_Dyn entry;
            if (gelf_getdyn(d, (int)i, &entry) == NULL) {
                call = "gelf_getdyn";
                goto libelf_error;
            }
            if (entry.d_tag == DT_NULL)
                break;
            switch (entry.d_tag) {
            case DT_NEEDED:
                needed[nneeded++] = entry.d_un.d_val;
                break;
            case DT_STRTAB:
                strtab_addr = entry.d_un.d_ptr;
                has_strtab = 1;
                break;
            case DT_STRSZ:
                strsz = entry.d_un.d_val;
                break;
            case DT_SONAME:
                soname = entry.d_un.d_val;
                has_soname = 1;
                break;
            case DT_RPATH:
                rpath = entry.d_un.d_val;
                has_rpath = 1;
                break;
            case DT_RUNPATH:
                runpath = entry.d_un.d_val;
                has_runpath = 1;
                break;
            case DT_FLAGS_1:
                out->nodeflib = (entry.d_un.d_val & DF_1_NODEFLIB) != 0;
                break;
            }
        }
        if (nneeded || has_soname || has_rpath || has_runpath) {
            GElf_Off stroff;
            if (!has_strtab || vaddr_to_offset(loads, nloads, strtab_addr, &stroff) < 0) {
                sp_fail(err, 0, "%s: DT_STRTAB is missing or outside every PT_LOAD segment",
                        name);
                goto done;
            }
            Elf_Data *strtab = elf_getdata_rawchunk(elf, (int64_t)stroff, strsz, ELF_T_BYTE);
            if (strtab == NULL) {
                call = "elf_getdata_rawchunk(DT_STRTAB)";
                goto libelf_error;
            }
            int bad = 0;
            for (size_t i = 0; i < nneeded && !bad; i++) {
                char *s = table_str(strtab, needed[i], &bad);
                if (s && sp_strs_push(&out->needed, s) < 0)
                    bad = 1;
                free(s);
            }
            if (has_soname && !bad)
                out->soname = table_str(strtab, soname, &bad);
            /* Both present: ld.so ignores DT_RPATH (glibc elf/get-dynamic-info.h). */
            if (has_runpath && !bad)
                out->runpath = table_str(strtab, runpath, &bad);
            else if (has_rpath && !bad)
                out->rpath = table_str(strtab, rpath, &bad);
            if (bad) {
                sp_fail(err, 0, "%s: a dynamic string lies outside DT_STRTAB", name);
                goto done;
            }
        }
    }
    status = SP_ELF_OK;
    goto done;

libelf_error: {
    /* elf_errno() clears the error: read it once. 0 would print as "no error". */
    int libelf_errno = elf_errno();
    sp_fail(err, 0, "%s: %s: %s", name, call,
            libelf_errno ? elf_errmsg(libelf_errno) : "invalid or truncated data");
}
done:
    free(loads);
    free(needed);
    if (elf)
        elf_end(elf);
    return status;
}
