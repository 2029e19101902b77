/* Reading what the dynamic loader reads from an ELF file: its header, PT_INTERP, the dynamic
 * section with its symbol version requirements and definitions, and the FDO dlopen notes, all
 * found through the program headers (not the section headers, which a stripped file may lack
 * and the loader never uses); and, when asked, the undefined dynamic symbols (dynsym.c). Every
 * file is treated as hostile: each libelf call is checked and every offset is range-checked
 * before use. */
#define _GNU_SOURCE
#include <errno.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "libdeps/dlnote.h"
#include "libdeps/dynsym.h"
#include "libdeps/elf.h"

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
    sp_strs_free(&e->verneed);
    sp_strs_free(&e->verdef);
    free(e->versions_error);
    sp_strs_free(&e->undefined);
    free(e->symbols_error);
    sp_dlopen_free(&e->dlopen);
    free(e->dlopen_error);
    memset(e, 0, sizeof *e);
}

/* The Debian ABIs snakepack knows. cache_flags are ldconfig's FLAG_ELF_LIBC6 | FLAG_<arch>
 * (glibc sysdeps/generic/ldconfig.h). x32 (ELFCLASS32 on x86-64) is Debian's x32 port, and
 * libc6-x32 on amd64 (in /libx32). The hardware fields say what the loader may search on some
 * CPU of the machine: the AT_PLATFORM values $PLATFORM expands to (the kernel's first, then
 * those glibc sets itself: sysdeps/x86/cpu-features.c), the glibc-hwcaps subdirectories of
 * glibc 2.33 and later (elf/dl-hwcaps-subdirs.c of each machine, best first) and the legacy
 * hardware-capability names of glibc up to 2.36 (HWCAP_IMPORTANT of dl-hwcap.h: one that every
 * CPU of the machine has, one that only some have). */
static const char *const x86_64_platforms[] = {"x86_64", "haswell", "xeon_phi", NULL};
static const char *const x86_64_levels[] = {"x86-64-v4", "x86-64-v3", "x86-64-v2", NULL};
static const char *const i386_platforms[] = {"i686", "i586", NULL};
static const char *const ppc64el_platforms[] = {"power8", "power9", "power10", NULL};
static const char *const ppc64el_levels[] = {"power10", "power9", NULL};
static const char *const s390x_platforms[] = {"z196", "zEC12", "z13", "z14", "z15", "z16", NULL};
static const char *const s390x_levels[] = {"z16", "z15", "z14", "z13", NULL};
static const char *const aarch64_platforms[] = {"aarch64", NULL};
static const char *const armhf_platforms[] = {"v7l", "v8l", NULL};
static const char *const riscv64_platforms[] = {"riscv64", NULL};
static const char *const none[] = {NULL};

static const struct sp_abi abis[] = {
    {ELFCLASS64, EM_X86_64, "x86_64-linux-gnu", "amd64", 0x0303, NULL,
     "/lib64/ld-linux-x86-64.so.2", x86_64_platforms, x86_64_levels, "x86_64", "avx512_1"},
    {ELFCLASS32, EM_X86_64, "x86_64-linux-gnux32", "x32", 0x0803, "/libx32",
     "/libx32/ld-linux-x32.so.2", x86_64_platforms, x86_64_levels, "x86_64", "avx512_1"},
    {ELFCLASS32, EM_386, "i386-linux-gnu", "i386", 0x0003, NULL, "/lib/ld-linux.so.2",
     i386_platforms, none, NULL, "sse2"},
    {ELFCLASS64, EM_AARCH64, "aarch64-linux-gnu", "arm64", 0x0a03, NULL,
     "/lib/ld-linux-aarch64.so.1", aarch64_platforms, none, NULL, NULL},
    {ELFCLASS32, EM_ARM, "arm-linux-gnueabihf", "armhf", 0x0903, NULL, "/lib/ld-linux-armhf.so.3",
     armhf_platforms, none, NULL, NULL},
    {ELFCLASS64, EM_PPC64, "powerpc64le-linux-gnu", "ppc64el", 0x0503, NULL, "/lib64/ld64.so.2",
     ppc64el_platforms, ppc64el_levels, NULL, NULL},
    {ELFCLASS64, EM_S390, "s390x-linux-gnu", "s390x", 0x0403, NULL, "/lib/ld64.so.1",
     s390x_platforms, s390x_levels, NULL, NULL},
    {ELFCLASS64, EM_RISCV, "riscv64-linux-gnu", "riscv64", 0x1003, NULL,
     "/lib/ld-linux-riscv64-lp64d.so.1", riscv64_platforms, none, NULL, NULL},
};

const struct sp_abi *sp_abi_of(const struct sp_elf *e)
{
    for (size_t i = 0; i < sizeof abis / sizeof abis[0]; i++) {
        if (abis[i].elfclass == e->elfclass && abis[i].machine == e->machine)
            return &abis[i];
    }
    return NULL;
}

const struct sp_abi *sp_abi_each(size_t i)
{
    return i < sizeof abis / sizeof abis[0] ? &abis[i] : NULL;
}

const struct sp_abi *sp_abi_native(void)
{
    struct sp_elf self = {.elfclass = sizeof(void *) == 8 ? ELFCLASS64 : ELFCLASS32};
#if defined(__x86_64__)
    self.machine = EM_X86_64;
#elif defined(__i386__)
    self.machine = EM_386;
#elif defined(__aarch64__)
    self.machine = EM_AARCH64;
#elif defined(__arm__)
    self.machine = EM_ARM;
#elif defined(__powerpc64__)
    self.machine = EM_PPC64;
#elif defined(__s390x__)
    self.machine = EM_S390;
#elif defined(__riscv)
    self.machine = EM_RISCV;
#endif
    return sp_abi_of(&self);
}

struct load {
    GElf_Addr vaddr;
    GElf_Off offset;
    GElf_Xword filesz;
};

/* Maps a virtual address to a file offset through the PT_LOAD segments, as the loader sees
 * them. Returns 0 and sets *OFF (and *AVAIL, the bytes of the segment from there, when not
 * NULL), or -1 when no segment holds ADDR. */
static int vaddr_to_offset(const struct load *loads, size_t n, GElf_Addr addr, GElf_Off *off,
                           GElf_Xword *avail)
{
    for (size_t i = 0; i < n; i++) {
        if (addr >= loads[i].vaddr && addr - loads[i].vaddr < loads[i].filesz) {
            *off = loads[i].offset + (addr - loads[i].vaddr);
            if (avail)
                *avail = loads[i].filesz - (addr - loads[i].vaddr);
            return *off < loads[i].offset ? -1 : 0; /* overflow */
        }
    }
    return -1;
}

static uint32_t get32(const unsigned char *p, int msb)
{
    return msb ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
               : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint16_t get16(const unsigned char *p, int msb)
{
    return (uint16_t)(msb ? p[0] << 8 | p[1] : p[1] << 8 | p[0]);
}

/* Moves *POS by NEXT within SIZE bytes, leaving room for an entry of ENTSIZE there. */
static int version_step(size_t *pos, uint32_t next, size_t entsize, size_t size)
{
    if (next > size - *pos)
        return -1;
    *pos += next;
    return size - *pos >= entsize ? 0 : -1;
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

/* Where the version sections lie: the address and count the dynamic section gives. */
struct versions {
    GElf_Addr need, def;
    GElf_Xword neednum, defnum;
    int has_need, has_def;
};

/* Reads the DT_VERNEED chain (Elf32_Verneed and Elf64_Verneed share one layout: 16 bytes, then
 * 16-byte Vernaux entries) and the DT_VERDEF chain (20-byte Verdef, 8-byte Verdaux) at P (SIZE
 * bytes, to the end of their segment). Entries never overlap in a real file, so at most
 * SIZE / 8 of them are read: a hostile chain that loops costs no more. */
static const char *read_versions(const unsigned char *need, size_t needsize,
                                 const unsigned char *def, size_t defsize, const struct versions *v,
                                 const Elf_Data *strtab, int msb, struct sp_elf *out)
{
    int bad = 0;
    size_t budget = needsize / 8 + defsize / 8;
    size_t pos = 0;
    for (GElf_Xword i = 0; need && i < v->neednum; i++) {
        if ((i == 0 && needsize < 16) || budget-- == 0)
            return "DT_VERNEED runs past its segment";
        const unsigned char *vn = need + pos;
        uint16_t cnt = get16(vn + 2, msb);
        char *file = table_str(strtab, get32(vn + 4, msb), &bad);
        size_t apos = pos;
        if (file == NULL || version_step(&apos, get32(vn + 8, msb), 16, needsize) < 0) {
            free(file);
            return "DT_VERNEED entry outside its segment or DT_STRTAB";
        }
        for (uint16_t j = 0; j < cnt; j++) {
            const unsigned char *aux = need + apos;
            if (budget-- == 0) {
                free(file);
                return "DT_VERNEED runs past its segment";
            }
            if (!(get16(aux + 4, msb) & VER_FLG_WEAK)) {
                char *version = table_str(strtab, get32(aux + 8, msb), &bad);
                if (version == NULL || sp_strs_push(&out->verneed, file) < 0 ||
                    sp_strs_take(&out->verneed, version) < 0) {
                    free(file);
                    return "DT_VERNEED name outside DT_STRTAB";
                }
            }
            uint32_t next = get32(aux + 12, msb);
            if (next == 0)
                break;
            if (version_step(&apos, next, 16, needsize) < 0) {
                free(file);
                return "DT_VERNEED entry outside its segment";
            }
        }
        free(file);
        uint32_t next = get32(vn + 12, msb);
        if (next == 0)
            break;
        if (version_step(&pos, next, 16, needsize) < 0)
            return "DT_VERNEED entry outside its segment";
    }
    pos = 0;
    for (GElf_Xword i = 0; def && i < v->defnum; i++) {
        if ((i == 0 && defsize < 20) || budget-- == 0)
            return "DT_VERDEF runs past its segment";
        const unsigned char *vd = def + pos;
        size_t apos = pos;
        if (get16(vd + 6, msb) > 0 && !(get16(vd + 2, msb) & VER_FLG_BASE)) {
            char *version = NULL;
            if (version_step(&apos, get32(vd + 12, msb), 8, defsize) < 0 ||
                (version = table_str(strtab, get32(def + apos, msb), &bad)) == NULL ||
                sp_strs_take(&out->verdef, version) < 0)
                return "DT_VERDEF entry outside its segment or DT_STRTAB";
        }
        uint32_t next = get32(vd + 16, msb);
        if (next == 0)
            break;
        if (version_step(&pos, next, 20, defsize) < 0)
            return "DT_VERDEF entry outside its segment";
    }
    return NULL;
}

#define NOTE_FDO_DLOPEN 0x407c0c0a

/* Reads the FDO dlopen notes of one PT_NOTE segment (SIZE bytes at P, notes aligned to
 * ALIGN: 4, or 8 for segments aligned so). Returns NULL or why a note is malformed. */
static const char *read_notes(const unsigned char *p, size_t size, size_t align, int msb,
                              struct sp_elf *out)
{
    size_t pos = 0;
    while (size - pos >= 12) {
        uint32_t namesz = get32(p + pos, msb), descsz = get32(p + pos + 4, msb);
        uint32_t type = get32(p + pos + 8, msb);
        size_t name = pos + 12;
        if (namesz > size - name)
            return "a note runs past its segment";
        size_t desc = name + namesz;
        desc += (align - desc % align) % align;
        if (desc > size || descsz > size - desc)
            return "a note runs past its segment";
        if (type == NOTE_FDO_DLOPEN && namesz == 4 && memcmp(p + name, "FDO", 4) == 0 &&
            sp_dlopen_parse((const char *)p + desc, descsz, &out->dlopen) < 0)
            return "its FDO dlopen note is not a JSON array of {soname: [...]} objects";
        pos = desc + descsz;
        pos += (align - pos % align) % align;
        if (pos > size)
            break;
    }
    return NULL;
}

/* One sp_elf_read: the file open in libelf, what is asked of it, and where the answer goes. */
struct elf_reader {
    Elf *elf;
    const char *name; /* for messages */
    unsigned what;    /* SP_ELF_NOTES, SP_ELF_VERSIONS, SP_ELF_SYMBOLS */
    struct sp_elf *out;
    struct sp_err *err;
    struct load *loads; /* the PT_LOAD segments, to map addresses to file offsets */
    size_t nloads;
};

/* Records in r->err that libelf's CALL failed, with libelf's reason. Returns -1. */
static int elf_fail_libelf(struct elf_reader *r, const char *call)
{
    /* elf_errno() clears the error: read it once. 0 would print as "no error". */
    int libelf_errno = elf_errno();
    sp_fail(r->err, 0, "%s: %s: %s", r->name, call,
            libelf_errno ? elf_errmsg(libelf_errno) : "invalid or truncated data");
    return -1;
}

/* Reads the ELF header into r->out. Returns 0, or -1 with r->err set. */
static int elf_read_header(struct elf_reader *r)
{
    GElf_Ehdr eh;
    if (elf_kind(r->elf) != ELF_K_ELF) /* libelf records no error for this: say it ourselves */
        return sp_fail(r->err, 0, "%s: ELF magic, but no valid ELF header behind it", r->name);
    if (gelf_getehdr(r->elf, &eh) == NULL)
        return elf_fail_libelf(r, "gelf_getehdr");
    r->out->elfclass = eh.e_ident[EI_CLASS];
    r->out->data = eh.e_ident[EI_DATA];
    r->out->osabi = eh.e_ident[EI_OSABI];
    r->out->type = eh.e_type;
    r->out->machine = eh.e_machine;
    r->out->e_flags = eh.e_flags;
    return 0;
}

/* Reads the program headers: the PT_LOAD segments into r->loads, PT_DYNAMIC into *DYN,
 * PT_INTERP into *INTERP (p_type PT_NULL when absent), and, when asked, the FDO dlopen notes of
 * each PT_NOTE (a damaged one sets r->out->dlopen_error, and is no failure). Returns 0, or -1
 * with r->err set. */
static int elf_read_segments(struct elf_reader *r, GElf_Phdr *dyn, GElf_Phdr *interp)
{
    size_t phnum;
    if (elf_getphdrnum(r->elf, &phnum) != 0)
        return elf_fail_libelf(r, "elf_getphdrnum");
    if (phnum > 0xffff) /* PN_XNUM files are legal but never loadable objects */
        return sp_fail(r->err, 0, "%s: %zu program headers", r->name, phnum);
    if ((r->loads = calloc(phnum + 1, sizeof *r->loads)) == NULL)
        return sp_fail(r->err, ENOMEM, "out of memory");
    for (size_t i = 0; i < phnum; i++) {
        GElf_Phdr ph;
        if (gelf_getphdr(r->elf, (int)i, &ph) == NULL)
            return elf_fail_libelf(r, "gelf_getphdr");
        if (ph.p_type == PT_LOAD)
            r->loads[r->nloads++] = (struct load){ph.p_vaddr, ph.p_offset, ph.p_filesz};
        else if (ph.p_type == PT_DYNAMIC)
            *dyn = ph;
        else if (ph.p_type == PT_INTERP)
            *interp = ph;
        else if (ph.p_type == PT_NOTE && (r->what & SP_ELF_NOTES) && !r->out->dlopen_error) {
            Elf_Data *d =
                elf_getdata_rawchunk(r->elf, (int64_t)ph.p_offset, ph.p_filesz, ELF_T_BYTE);
            const char *why = d ? read_notes(d->d_buf, d->d_size, ph.p_align == 8 ? 8 : 4,
                                             r->out->data == ELFDATA2MSB, r->out)
                                : "a PT_NOTE segment lies outside the file";
            if (why && (r->out->dlopen_error = sp_aprintf("%s: %s", r->name, why)) == NULL)
                return sp_fail(r->err, ENOMEM, "out of memory");
        }
    }
    return 0;
}

/* Reads the program interpreter named by segment INTERP into r->out->interp. Returns 0, or -1
 * with r->err set. */
static int elf_read_interp(struct elf_reader *r, const GElf_Phdr *interp)
{
    Elf_Data *d =
        elf_getdata_rawchunk(r->elf, (int64_t)interp->p_offset, interp->p_filesz, ELF_T_BYTE);
    if (d == NULL || d->d_size == 0 || memchr(d->d_buf, '\0', d->d_size) == NULL)
        return sp_fail(r->err, 0, "%s: PT_INTERP lies outside the file or is not a string",
                       r->name);
    if ((r->out->interp = strdup(d->d_buf)) == NULL)
        return sp_fail(r->err, ENOMEM, "out of memory");
    return 0;
}

/* What the dynamic section says, before its strings are looked up. */
struct dynamic {
    GElf_Xword *needed; /* DT_NEEDED string offsets */
    size_t nneeded;
    GElf_Addr strtab_addr;
    GElf_Xword strsz, soname, rpath, runpath;
    int has_strtab, has_soname, has_rpath, has_runpath;
    struct versions v;
};

/* Reads the entries of the dynamic section D (COUNT of them) into DY. Returns 0, or -1 with
 * r->err set. */
static int elf_read_entries(struct elf_reader *r, Elf_Data *d, size_t count, struct dynamic *dy)
{
    int versions = (r->what & SP_ELF_VERSIONS) != 0;
    if ((dy->needed = calloc(count + 1, sizeof *dy->needed)) == NULL)
        return sp_fail(r->err, ENOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        GElf_Dyn entry;
        if (gelf_getdyn(d, (int)i, &entry) == NULL)
            return elf_fail_libelf(r, "gelf_getdyn");
        switch (entry.d_tag) {
        case DT_NULL:
            return 0;
        case DT_NEEDED:
            dy->needed[dy->nneeded++] = entry.d_un.d_val;
            break;
        case DT_STRTAB:
            dy->strtab_addr = entry.d_un.d_ptr;
            dy->has_strtab = 1;
            break;
        case DT_STRSZ:
            dy->strsz = entry.d_un.d_val;
            break;
        case DT_SONAME:
            dy->soname = entry.d_un.d_val;
            dy->has_soname = 1;
            break;
        case DT_RPATH:
            dy->rpath = entry.d_un.d_val;
            dy->has_rpath = 1;
            break;
        case DT_RUNPATH:
            dy->runpath = entry.d_un.d_val;
            dy->has_runpath = 1;
            break;
        case DT_VERNEED:
            dy->v.need = entry.d_un.d_ptr;
            dy->v.has_need = versions;
            break;
        case DT_VERNEEDNUM:
            dy->v.neednum = entry.d_un.d_val;
            break;
        case DT_VERDEF:
            dy->v.def = entry.d_un.d_ptr;
            dy->v.has_def = versions;
            break;
        case DT_VERDEFNUM:
            dy->v.defnum = entry.d_un.d_val;
            break;
        case DT_FLAGS_1:
            r->out->nodeflib = (entry.d_un.d_val & DF_1_NODEFLIB) != 0;
            break;
        }
    }
    return 0;
}

/* Looks up the names DY points at in STRTAB: needed names, soname, RUNPATH or else RPATH.
 * Returns 0, or -1 with r->err set. */
static int elf_read_strings(struct elf_reader *r, const Elf_Data *strtab, const struct dynamic *dy)
{
    struct sp_elf *out = r->out;
    int bad = 0;
    for (size_t i = 0; i < dy->nneeded && !bad; i++) {
        char *s = table_str(strtab, dy->needed[i], &bad);
        if (s && sp_strs_push(&out->needed, s) < 0)
            bad = 1;
        free(s);
    }
    if (dy->has_soname && !bad)
        out->soname = table_str(strtab, dy->soname, &bad);
    /* Both present: ld.so ignores DT_RPATH (glibc elf/get-dynamic-info.h). */
    if (dy->has_runpath && !bad)
        out->runpath = table_str(strtab, dy->runpath, &bad);
    else if (dy->has_rpath && !bad)
        out->rpath = table_str(strtab, dy->rpath, &bad);
    return bad ? sp_fail(r->err, 0, "%s: a dynamic string lies outside DT_STRTAB", r->name) : 0;
}

/* Reads the version sections DY points at. They matter to --check only: damaged ones set
 * r->out->versions_error (and leave no half list) but the file is still resolved. Returns 0,
 * or -1 with r->err set (out of memory). */
static int elf_read_version_sections(struct elf_reader *r, const Elf_Data *strtab,
                                     const struct dynamic *dy)
{
    const unsigned char *chunk[2] = {NULL, NULL};
    size_t size[2] = {0, 0};
    GElf_Addr addr[2] = {dy->v.need, dy->v.def};
    int has[2] = {dy->v.has_need, dy->v.has_def};
    const char *why = NULL;
    for (int k = 0; k < 2 && why == NULL; k++) {
        GElf_Off off;
        GElf_Xword avail;
        Elf_Data *d;
        if (!has[k])
            continue;
        if (vaddr_to_offset(r->loads, r->nloads, addr[k], &off, &avail) < 0 ||
            (d = elf_getdata_rawchunk(r->elf, (int64_t)off, avail, ELF_T_BYTE)) == NULL)
            why = k ? "DT_VERDEF lies outside the file" : "DT_VERNEED lies outside the file";
        else
            chunk[k] = d->d_buf, size[k] = d->d_size;
    }
    if (why == NULL)
        why = read_versions(chunk[0], size[0], chunk[1], size[1], &dy->v, strtab,
                            r->out->data == ELFDATA2MSB, r->out);
    if (why) { /* half a list would mislead: none */
        sp_strs_free(&r->out->verneed);
        sp_strs_free(&r->out->verdef);
    }
    if (why && (r->out->versions_error = sp_aprintf("%s: %s", r->name, why)) == NULL)
        return sp_fail(r->err, ENOMEM, "out of memory");
    return 0;
}

/* Reads the undefined dynamic symbols (dynsym.c). Damaged sections set r->out->symbols_error:
 * the file still resolves. Returns 0, or -1 with r->err set (out of memory). */
static int elf_read_symbols(struct elf_reader *r)
{
    int nomem = 0;
    const char *why = sp_dynsym_undefined(r->elf, &r->out->undefined, &nomem);
    if (nomem)
        return sp_fail(r->err, ENOMEM, "out of memory");
    if (why && (r->out->symbols_error = sp_aprintf("%s: %s", r->name, why)) == NULL)
        return sp_fail(r->err, ENOMEM, "out of memory");
    return 0;
}

/* Reads the dynamic section of segment DYN: its entries, the strings they name, and, when
 * asked, the version sections. Returns 0, or -1 with r->err set. */
static int elf_read_dynamic(struct elf_reader *r, const GElf_Phdr *dyn)
{
    r->out->dynamic = 1;
    Elf_Data *d = elf_getdata_rawchunk(r->elf, (int64_t)dyn->p_offset, dyn->p_filesz, ELF_T_DYN);
    if (d == NULL)
        return elf_fail_libelf(r, "elf_getdata_rawchunk(PT_DYNAMIC)");
    size_t entsize = gelf_fsize(r->elf, ELF_T_DYN, 1, EV_CURRENT);
    struct dynamic dy = {0};
    int rc = elf_read_entries(r, d, entsize ? dyn->p_filesz / entsize : 0, &dy);
    if (rc == 0 && (dy.nneeded || dy.has_soname || dy.has_rpath || dy.has_runpath ||
                    dy.v.has_need || dy.v.has_def)) {
        GElf_Off stroff;
        Elf_Data *strtab = NULL;
        if (!dy.has_strtab ||
            vaddr_to_offset(r->loads, r->nloads, dy.strtab_addr, &stroff, NULL) < 0)
            rc = sp_fail(r->err, 0, "%s: DT_STRTAB is missing or outside every PT_LOAD segment",
                         r->name);
        else if ((strtab = elf_getdata_rawchunk(r->elf, (int64_t)stroff, dy.strsz, ELF_T_BYTE)) ==
                 NULL)
            rc = elf_fail_libelf(r, "elf_getdata_rawchunk(DT_STRTAB)");
        if (rc == 0)
            rc = elf_read_strings(r, strtab, &dy);
        if (rc == 0)
            rc = elf_read_version_sections(r, strtab, &dy);
    }
    free(dy.needed);
    return rc;
}

int sp_elf_read(int fd, const char *name, unsigned what, struct sp_elf *out, struct sp_err *err)
{
    unsigned char ident[EI_NIDENT];
    struct elf_reader r = {NULL, name, what, out, err, NULL, 0};

    memset(out, 0, sizeof *out);
    sp_vec_init(&out->dlopen, sizeof(struct sp_dlopen));
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
        elf_fail_libelf(&r, "elf_version");
        return SP_ELF_BAD;
    }
    if ((r.elf = elf_begin(fd, ELF_C_READ_MMAP, NULL)) == NULL) {
        elf_fail_libelf(&r, "elf_begin");
        return SP_ELF_BAD;
    }
    GElf_Phdr dyn = {0}, interp = {0};
    int rc = elf_read_header(&r);
    if (rc == 0)
        rc = elf_read_segments(&r, &dyn, &interp);
    if (rc == 0 && interp.p_type == PT_INTERP)
        rc = elf_read_interp(&r, &interp);
    if (rc == 0 && dyn.p_type == PT_DYNAMIC)
        rc = elf_read_dynamic(&r, &dyn);
    if (rc == 0 && dyn.p_type == PT_DYNAMIC && (what & SP_ELF_SYMBOLS))
        rc = elf_read_symbols(&r);
    free(r.loads);
    elf_end(r.elf);
    return rc == 0 ? SP_ELF_OK : SP_ELF_BAD;
}
