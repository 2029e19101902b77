/* The symbols an ELF object takes from the libraries it needs, with the version each reference
 * asks for. They are found through the section headers (SHT_DYNSYM, SHT_GNU_versym,
 * SHT_GNU_verneed and SHT_GNU_verdef), as objdump -T finds them for dpkg-shlibdeps: a file
 * stripped of its section headers has none, for both. The loader's view (elf.c) needs no
 * sections; this is only for the minimum package versions (--versions). Every offset comes from
 * a possibly hostile file: libelf range-checks the gelf_get* calls, and the version chains are
 * walked at most as many steps as their section has room for, so a looping chain costs no more. */
#define _GNU_SOURCE
#include <errno.h>
#include <gelf.h>
#include <stdlib.h>
#include <string.h>

#include "libdeps/dynsym.h"

/* The sections this reads: the first of each type, as objdump takes them. */
struct sections {
    Elf_Scn *dynsym, *versym, *verneed, *verdef;
    GElf_Shdr dynsym_sh, verneed_sh, verdef_sh;
};

/* Version names by index (vna_other of SHT_GNU_verneed, vd_ndx of SHT_GNU_verdef). */
struct names {
    const char **at;
    size_t len;
};

static int names_set(struct names *n, size_t index, const char *name)
{
    if (index >= n->len) {
        size_t len = index + 16;
        const char **at = realloc(n->at, len * sizeof *at);
        if (at == NULL)
            return -1;
        memset(at + n->len, 0, (len - n->len) * sizeof *at);
        n->at = at, n->len = len;
    }
    n->at[index] = name;
    return 0;
}

static const char *find_sections(Elf *elf, struct sections *s)
{
    Elf_Scn *scn = NULL;
    while ((scn = elf_nextscn(elf, scn)) != NULL) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == NULL)
            return "a section header cannot be read";
        if (sh.sh_type == SHT_DYNSYM && s->dynsym == NULL)
            s->dynsym = scn, s->dynsym_sh = sh;
        else if (sh.sh_type == SHT_GNU_versym && s->versym == NULL)
            s->versym = scn;
        else if (sh.sh_type == SHT_GNU_verneed && s->verneed == NULL)
            s->verneed = scn, s->verneed_sh = sh;
        else if (sh.sh_type == SHT_GNU_verdef && s->verdef == NULL)
            s->verdef = scn, s->verdef_sh = sh;
    }
    return NULL;
}

/* Records the names of the versions SHT_GNU_verneed requires. */
static const char *read_verneed(Elf *elf, const struct sections *s, struct names *n, int *nomem)
{
    Elf_Data *d = elf_getdata(s->verneed, NULL);
    if (d == NULL)
        return "SHT_GNU_verneed cannot be read";
    size_t budget = d->d_size / 8, off = 0;
    for (;;) {
        GElf_Verneed vn;
        if (budget-- == 0 || gelf_getverneed(d, (int)off, &vn) == NULL)
            return "SHT_GNU_verneed runs past its section";
        size_t aux = off + vn.vn_aux;
        for (unsigned j = 0; j < vn.vn_cnt; j++) {
            GElf_Vernaux va;
            if (budget-- == 0 || aux > INT32_MAX || gelf_getvernaux(d, (int)aux, &va) == NULL)
                return "SHT_GNU_verneed runs past its section";
            const char *name = elf_strptr(elf, s->verneed_sh.sh_link, va.vna_name);
            if (name == NULL)
                return "a SHT_GNU_verneed name lies outside its string table";
            if (names_set(n, va.vna_other & 0x7fff, name) < 0)
                return *nomem = 1, "out of memory";
            if (va.vna_next == 0)
                break;
            aux += va.vna_next;
        }
        if (vn.vn_next == 0)
            return NULL;
        off += vn.vn_next;
        if (off > INT32_MAX)
            return "SHT_GNU_verneed runs past its section";
    }
}

/* Records the names of the versions SHT_GNU_verdef defines (a reference may name one). */
static const char *read_verdef(Elf *elf, const struct sections *s, struct names *n, int *nomem)
{
    Elf_Data *d = elf_getdata(s->verdef, NULL);
    if (d == NULL)
        return "SHT_GNU_verdef cannot be read";
    size_t budget = d->d_size / 8, off = 0;
    for (;;) {
        GElf_Verdef vd;
        GElf_Verdaux va;
        if (budget-- == 0 || gelf_getverdef(d, (int)off, &vd) == NULL)
            return "SHT_GNU_verdef runs past its section";
        if (vd.vd_cnt > 0) {
            size_t aux = off + vd.vd_aux;
            if (aux > INT32_MAX || gelf_getverdaux(d, (int)aux, &va) == NULL)
                return "SHT_GNU_verdef runs past its section";
            const char *name = elf_strptr(elf, s->verdef_sh.sh_link, va.vda_name);
            if (name == NULL)
                return "a SHT_GNU_verdef name lies outside its string table";
            if (names_set(n, vd.vd_ndx & 0x7fff, name) < 0)
                return *nomem = 1, "out of memory";
        }
        if (vd.vd_next == 0)
            return NULL;
        off += vd.vd_next;
        if (off > INT32_MAX)
            return "SHT_GNU_verdef runs past its section";
    }
}

static const char *read_symbols(Elf *elf, const struct sections *s, const struct names *n,
                                struct sp_strs *out, int *nomem)
{
    Elf_Data *syms = elf_getdata(s->dynsym, NULL);
    Elf_Data *vers = s->versym ? elf_getdata(s->versym, NULL) : NULL;
    if (syms == NULL || (s->versym && vers == NULL))
        return "SHT_DYNSYM or SHT_GNU_versym cannot be read";
    size_t entsize = gelf_fsize(elf, ELF_T_SYM, 1, EV_CURRENT);
    size_t count = entsize ? syms->d_size / entsize : 0;
    for (size_t i = 1; i < count && i <= INT32_MAX; i++) { /* 0 is the null symbol */
        GElf_Sym sym;
        if (gelf_getsym(syms, (int)i, &sym) == NULL)
            return "SHT_DYNSYM cannot be read";
        if (sym.st_shndx != SHN_UNDEF || sym.st_name == 0)
            continue;
        const char *name = elf_strptr(elf, s->dynsym_sh.sh_link, sym.st_name);
        if (name == NULL)
            return "a symbol name lies outside its string table";
        GElf_Versym v = 0;
        if (vers && gelf_getversym(vers, (int)i, &v) == NULL)
            return "SHT_GNU_versym is shorter than SHT_DYNSYM";
        size_t index = v & 0x7fff;
        const char *version = "Base"; /* 0 local, 1 global: no version asked for */
        if (index > 1) {
            if (index >= n->len || n->at[index] == NULL)
                return "a symbol's version index names no version";
            version = n->at[index];
        }
        if (sp_strs_pushf(out, "%s@%s", name, version) < 0)
            return *nomem = 1, "out of memory";
    }
    return NULL;
}

const char *sp_dynsym_undefined(Elf *elf, struct sp_strs *out, int *nomem)
{
    struct sections s = {0};
    struct names n = {NULL, 0};
    const char *why = find_sections(elf, &s);
    if (why == NULL && s.dynsym != NULL) {
        if (s.verneed)
            why = read_verneed(elf, &s, &n, nomem);
        if (why == NULL && s.verdef)
            why = read_verdef(elf, &s, &n, nomem);
        if (why == NULL)
            why = read_symbols(elf, &s, &n, out, nomem);
    }
    free(n.at);
    if (why)
        sp_strs_free(out);
    return why;
}
