/* The kinds of CPU an image may meet, as the loader of the root's glibc tells them apart: the
 * hardware subdirectories it tries in each search directory before the directory itself, and
 * what $PLATFORM expands to (glibc elf/dl-hwcaps.c _dl_important_hwcaps, elf/dl-load.c).
 *
 * From glibc 2.33 a CPU of level L (x86-64-v3, power9...) tries glibc-hwcaps/L and the same for
 * each lower level, best first. Up to glibc 2.36 it then tries the legacy subdirectories: every
 * combination of "tls", its AT_PLATFORM and its hardware-capability names, in that order in the
 * path, the longest first (tls/haswell/avx512_1/x86_64, tls/haswell/avx512_1, ..., x86_64);
 * glibc 2.37 dropped them. The answer must not depend on the CPU the analysis runs on, so every
 * kind is listed (level x platform x optional capability), least capable first. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <elf.h>

#include "libdeps/hwcaps.h"

#define GLIBC_HWCAPS 233 /* first glibc with glibc-hwcaps subdirectories */
#define GLIBC_LEGACY 236 /* last glibc with the legacy ones */

int sp_glibc_version(const struct sp_root *r, const struct sp_abi *abi)
{
    static const char banner[] = "release version ";
    char *buf = NULL;
    size_t len = 0;
    struct sp_err err = {0};
    /* The loader prints this line for --version; it is a literal in every glibc since 2.0. */
    if (sp_root_slurp(r, abi->loader, SP_MAX_LOADER_FILE, SP_ERR_INPUT, &buf, &len, &err) < 0)
        return err.errnum == ENOMEM ? -1 : 0;
    const char *at = memmem(buf, len, banner, sizeof banner - 1);
    unsigned major = 0, minor = 0;
    int version = 0;
    if (at && sscanf(at + sizeof banner - 1, "%3u.%3u", &major, &minor) == 2 && major >= 2)
        version = (int)(major * 100 + minor);
    free(buf);
    return version;
}

static int names_hw(const struct sp_abi *abi, const char *name)
{
    for (const char *const *p = abi->platforms; *p; p++) {
        if (strcmp(name, *p) == 0)
            return 1;
    }
    return (abi->legacy_all && strcmp(name, abi->legacy_all) == 0) ||
           (abi->legacy_some && strcmp(name, abi->legacy_some) == 0);
}

int sp_hw_dirname(const char *name)
{
    if (strcmp(name, "glibc-hwcaps") == 0 || strcmp(name, "tls") == 0)
        return 1;
    for (size_t i = 0; sp_abi_each(i); i++) {
        if (names_hw(sp_abi_each(i), name))
            return 1;
    }
    return 0;
}

/* Appends S to L unless it is there already (a platform and a capability may share a name:
 * x86_64). Takes S. */
static int add_unique(struct sp_strs *l, char *s)
{
    for (size_t i = 0; s && i < l->len; i++) {
        if (strcmp(l->items[i], s) == 0) {
            free(s);
            return 0;
        }
    }
    return sp_strs_take(l, s);
}

/* Fills CPU's subdirectories: the glibc-hwcaps ones from LEVEL (an index into abi->levels, or
 * the count of them for none) down, then the legacy combinations. */
static int fill(struct sp_cpu *cpu, const struct sp_abi *abi, int glibc, size_t level, int some)
{
    size_t nlevels = 0;
    while (abi->levels[nlevels])
        nlevels++;
    for (size_t i = level; glibc >= GLIBC_HWCAPS && i < nlevels; i++) {
        if (add_unique(&cpu->subdirs, sp_path_join("glibc-hwcaps", abi->levels[i])) < 0)
            return -1;
    }
    if (glibc > GLIBC_LEGACY)
        return 0;
    const char *parts[4];
    size_t n = 0;
    parts[n++] = "tls";
    parts[n++] = cpu->platform;
    if (some && abi->legacy_some)
        parts[n++] = abi->legacy_some;
    if (abi->legacy_all)
        parts[n++] = abi->legacy_all;
    for (unsigned mask = (1u << n) - 1; mask > 0; mask--) {
        char path[256] = "";
        for (size_t i = 0; i < n; i++) {
            if (mask & (1u << (n - 1 - i))) {
                strcat(path, path[0] ? "/" : "");
                strcat(path, parts[i]);
            }
        }
        if (add_unique(&cpu->subdirs, strdup(path)) < 0)
            return -1;
    }
    return 0;
}

static int same(const struct sp_cpu *a, const struct sp_cpu *b)
{
    if (strcmp(a->platform, b->platform) != 0 || a->subdirs.len != b->subdirs.len)
        return 0;
    for (size_t i = 0; i < a->subdirs.len; i++) {
        if (strcmp(a->subdirs.items[i], b->subdirs.items[i]) != 0)
            return 0;
    }
    return 1;
}

/* The kinds of x86-64 CPU (sysdeps/x86/cpu-features.c): glibc sets AT_PLATFORM haswell on
 * Intel CPUs with the x86-64-v3 features, xeon_phi on Knights Landing (which has them too),
 * and the avx512_1 capability on Intel CPUs with AVX-512 BW, DQ and VL (x86-64-v4); AMD's keep
 * the kernel's x86_64. */
static const struct kind {
    const char *level; /* NULL: baseline */
    const char *platform;
    int some; /* has abi->legacy_some */
} x86_64_kinds[] = {
    {NULL, "x86_64", 0},         {"x86-64-v2", "x86_64", 0},   {"x86-64-v3", "x86_64", 0},
    {"x86-64-v3", "haswell", 0}, {"x86-64-v3", "xeon_phi", 0}, {"x86-64-v4", "x86_64", 0},
    {"x86-64-v4", "haswell", 1},
};

/* Appends the kind of CPU K to C, unless one that searches the same is there. */
static int add_kind(struct sp_cpus *c, int rules, struct kind k)
{
    const struct sp_abi *abi = c->abi;
    size_t level = 0;
    while (abi->levels[level] && (k.level == NULL || strcmp(abi->levels[level], k.level) != 0))
        level++;
    int some = k.some && abi->legacy_some && rules <= GLIBC_LEGACY;
    struct sp_cpu cpu = {0};
    cpu.platform = k.platform;
    cpu.label = sp_aprintf("%s, AT_PLATFORM %s%s%s", k.level ? k.level : "baseline", k.platform,
                           some ? ", " : "", some ? abi->legacy_some : "");
    int rc = cpu.label ? fill(&cpu, abi, rules, level, some) : -1;
    for (size_t i = 0; rc == 0 && i < c->cpus.len; i++)
        rc = same(&cpu, &SP_VEC_AT(&c->cpus, struct sp_cpu, i)) ? 1 : 0;
    struct sp_cpu *slot = rc == 0 ? sp_vec_push(&c->cpus) : NULL;
    if (slot) {
        *slot = cpu;
        return 0;
    }
    free(cpu.label);
    sp_strs_free(&cpu.subdirs);
    return rc > 0 ? 0 : -1;
}

int sp_cpus_init(struct sp_cpus *c, const struct sp_abi *abi, int glibc)
{
    memset(c, 0, sizeof *c);
    c->abi = abi;
    c->glibc = glibc;
    sp_vec_init(&c->cpus, sizeof(struct sp_cpu));
    /* An unknown version (no loader in the root) is taken as a current one. */
    int rules = glibc ? glibc : 9999;
    if (abi->machine == EM_X86_64) {
        for (size_t i = 0; i < sizeof x86_64_kinds / sizeof x86_64_kinds[0]; i++) {
            if (add_kind(c, rules, x86_64_kinds[i]) < 0)
                return -1;
        }
        return 0;
    }
    /* Elsewhere every level with every platform, least capable first. */
    size_t nlevels = 0;
    while (abi->levels[nlevels])
        nlevels++;
    for (size_t level = nlevels + 1; level-- > 0;) {
        for (const char *const *p = abi->platforms; *p; p++) {
            for (int some = 0; some < 2; some++) {
                struct kind k = {level < nlevels ? abi->levels[level] : NULL, *p, some};
                if (add_kind(c, rules, k) < 0)
                    return -1;
            }
        }
    }
    return 0;
}

void sp_cpus_free(struct sp_cpus *c)
{
    for (size_t i = 0; i < c->cpus.len; i++) {
        struct sp_cpu *cpu = &SP_VEC_AT(&c->cpus, struct sp_cpu, i);
        free(cpu->label);
        sp_strs_free(&cpu->subdirs);
    }
    sp_vec_free(&c->cpus);
}
