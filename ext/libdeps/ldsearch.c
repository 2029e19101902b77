/* The glibc loader's search, done without loading anything (glibc elf/dl-load.c
 * _dl_map_object, elf/dl-deps.c _dl_map_object_deps). For each DT_NEEDED name of object L:
 *   1. a name with a slash is a path (after $ORIGIN/$LIB/$PLATFORM expansion);
 *   2. if L has no DT_RUNPATH: DT_RPATH of L, then of the object that loaded L, up the chain;
 *   3. LD_LIBRARY_PATH, only when the caller gives one;
 *   4. DT_RUNPATH of L (not inherited);
 *   5. ld.so.cache entries of L's ABI (or, with no cache, the ld.so.conf directories);
 *   6. the default directories. 5 and 6 are skipped when L has DF_1_NODEFLIB.
 * A candidate of another ELF class or machine is skipped; one that is not ELF, truncated or not
 * a shared object stops the search with an error, as it makes the real loader fail. A name that
 * an object of the tree already answers to (path, soname, or a name it was loaded under) is not
 * searched again, and a file found twice is one object. The tree is built breadth-first, like
 * the loader's, so "the object that loaded L" is the first one that needed it.
 *
 * Cost. Each search directory is listed once (struct sp_dirlist) and a candidate is opened only
 * when its name is in the listing, so an object with thousands of DT_NEEDED names and a
 * thousand-entry RPATH costs one directory read per directory, not one probe per pair. Each
 * node's RPATH/RUNPATH is expanded once, and a tree finds its loaded names through a map. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libdeps/dlnote.h"
#include "libdeps/hwcaps.h"
#include "libdeps/ldsearch.h"
#include "libdeps/pysrc.h"

const char *const sp_how_names[] = {
    "path",       "rpath",   "ld_library_path", "runpath",   "ld.so.cache",
    "ld.so.conf", "default", "loaded",          "not_found", "error",
};

enum match { MATCH, OTHER, BAD };

/* What is known of one search directory. */
struct sp_dirlist {
    int listed; /* 1: NAMES holds every entry; 0: it could not be listed, probe */
    int hw;     /* it may hold hardware subdirectories (sp_hw_dirname) */
    struct sp_map names;
};

int sp_ld_warn(struct sp_ld *ld, const char *text)
{
    if (text == NULL)
        return -1;
    intptr_t *slot = sp_map_get(&ld->warned, text);
    if (slot)
        return 0;
    if (sp_map_put(&ld->warned, text) == NULL)
        return -1;
    return sp_strs_push(&ld->warnings, text);
}

static int warnf(struct sp_ld *ld, char *text)
{
    int rc = sp_ld_warn(ld, text);
    free(text);
    return text == NULL ? -1 : rc;
}

int sp_ld_init(struct sp_ld *ld, const char *root, struct sp_err *err)
{
    memset(ld, 0, sizeof *ld);
    ld->dlopen = -1;
    sp_map_init(&ld->probes);
    sp_map_init(&ld->by_path);
    sp_map_init(&ld->listings);
    sp_map_init(&ld->warned);
    sp_vec_init(&ld->dirs, sizeof(struct sp_dirlist));
    sp_vec_init(&ld->files, sizeof(struct sp_file));
    sp_vec_init(&ld->trees, sizeof(struct sp_tree));
    sp_vec_init(&ld->cpusets, sizeof(struct sp_cpus));
    if (sp_root_init(&ld->root, root, err) < 0)
        return -1;
    struct sp_err cache_err = {0};
    if (sp_ldcache_load(&ld->cache, &ld->root, &cache_err) < 0) {
        if (cache_err.errnum == ENOMEM)
            return sp_fail(err, ENOMEM, "out of memory");
        if (warnf(ld, sp_aprintf("%s; using ld.so.conf instead", cache_err.msg)) < 0)
            return sp_fail(err, ENOMEM, "out of memory");
    }
    if (ld->cache.buf == NULL && sp_ldconf_dirs(&ld->root, &ld->conf_dirs, &ld->warnings, err) < 0)
        return -1;
    return 0;
}

void sp_ld_free(struct sp_ld *ld)
{
    for (size_t i = 0; i < ld->files.len; i++) {
        struct sp_file *f = &SP_VEC_AT(&ld->files, struct sp_file, i);
        free(f->path);
        free(f->error);
        sp_elf_free(&f->elf);
        sp_strs_free(&f->links);
    }
    sp_vec_free(&ld->files);
    for (size_t i = 0; i < ld->trees.len; i++) {
        struct sp_tree *t = &SP_VEC_AT(&ld->trees, struct sp_tree, i);
        for (size_t j = 0; j < t->nodes.len; j++) {
            struct sp_node *n = &SP_VEC_AT(&t->nodes, struct sp_node, j);
            free(n->opened);
            sp_strs_free(&n->dirs);
        }
        sp_map_free(&t->answers);
        for (size_t j = 0; j < t->edges.len; j++) {
            struct sp_edge *e = &SP_VEC_AT(&t->edges, struct sp_edge, j);
            free(e->name);
            free(e->error);
            free(e->feature);
            free(e->cpu);
        }
        sp_vec_free(&t->nodes);
        sp_vec_free(&t->edges);
        free(t->path);
    }
    sp_vec_free(&ld->trees);
    for (size_t i = 0; i < ld->dirs.len; i++)
        sp_map_free(&SP_VEC_AT(&ld->dirs, struct sp_dirlist, i).names);
    sp_vec_free(&ld->dirs);
    for (size_t i = 0; i < ld->cpusets.len; i++)
        sp_cpus_free(&SP_VEC_AT(&ld->cpusets, struct sp_cpus, i));
    sp_vec_free(&ld->cpusets);
    sp_map_free(&ld->listings);
    sp_map_free(&ld->probes);
    sp_map_free(&ld->by_path);
    sp_map_free(&ld->warned);
    sp_strs_free(&ld->ld_library_path);
    sp_strs_free(&ld->conf_dirs);
    sp_strs_free(&ld->warnings);
    sp_ldcache_free(&ld->cache);
    sp_root_free(&ld->root);
}

/* Opens and reads the file at canonical PATH once. Returns its index, -errno when it cannot be
 * opened (the loader then tries the next candidate), or -ENOMEM. A FIFO, socket or device is
 * never opened: it is a file the loader would fail on. */
static long load_file(struct sp_ld *ld, const char *path)
{
    intptr_t *slot = sp_map_get(&ld->by_path, path);
    if (slot)
        return (long)*slot - 1;
    struct sp_err err = {0};
    int fd = sp_root_open_canonical(&ld->root, path, SP_ERR_INPUT, &err);
    if (fd < 0 && err.errnum != 0)
        return -err.errnum; /* ENOMEM included */
    struct sp_file *f = sp_vec_push(&ld->files);
    if (f == NULL || (f->path = strdup(path)) == NULL) {
        if (fd >= 0)
            close(fd);
        return -ENOMEM;
    }
    long index = (long)ld->files.len - 1;
    if (fd < 0) {
        f->status = SP_ELF_BAD;
        f->error = strdup(err.msg);
    } else {
        unsigned what = (ld->dlopen >= 0 ? SP_ELF_NOTES : 0) |
                        (ld->versions ? SP_ELF_VERSIONS : 0) | (ld->symbols ? SP_ELF_SYMBOLS : 0);
        f->status = sp_elf_read(fd, path, what, &f->elf, &err);
        if (f->status == SP_ELF_BAD)
            f->error = strdup(err.errnum == ENOMEM ? "out of memory" : err.msg);
        else if (f->status == SP_ELF_NOT_ELF)
            f->error = sp_aprintf("%s: invalid ELF header", path);
        close(fd);
    }
    if (f->status != SP_ELF_OK && f->error == NULL)
        return -ENOMEM;
    if ((slot = sp_map_put(&ld->by_path, path)) == NULL)
        return -ENOMEM;
    *slot = index + 1;
    return index;
}

/* Returns the file the loader would open at OPENED (root-relative), or -errno. Also records
 * the canonical-directory spelling of OPENED on the file, for matching dpkg's lists. */
static long probe(struct sp_ld *ld, const char *opened)
{
    intptr_t *slot = sp_map_get(&ld->probes, opened);
    if (slot)
        return *slot > 0 ? (long)*slot - 1 : (long)*slot;
    char *real = NULL;
    long result;
    if (sp_root_resolve(&ld->root, opened, 1, &real) < 0)
        result = -errno;
    else
        result = load_file(ld, real);
    free(real);
    if (result == -ENOMEM)
        return result;
    if (result >= 0) {
        struct sp_file *f = &SP_VEC_AT(&ld->files, struct sp_file, result);
        char *link = sp_root_canon_link(&ld->root, opened);
        if (link == NULL)
            return errno == ENOMEM ? -ENOMEM : result;
        int known = 0;
        for (size_t i = 0; i < f->links.len && !known; i++)
            known = strcmp(f->links.items[i], link) == 0;
        int rc = known ? 0 : sp_strs_push(&f->links, link);
        free(link);
        if (rc < 0)
            return -ENOMEM;
    }
    if ((slot = sp_map_put(&ld->probes, opened)) == NULL)
        return -ENOMEM;
    *slot = result >= 0 ? result + 1 : result;
    return result;
}

/* What the loader makes of candidate F for an object of ABI (glibc open_verify). */
static enum match match(const struct sp_file *f, const struct sp_elf *want)
{
    if (f->status != SP_ELF_OK)
        return BAD;
    if (f->elf.elfclass != want->elfclass)
        return OTHER;
    if (f->elf.machine != want->machine || f->elf.data != want->data)
        return OTHER;
    if (f->elf.osabi != ELFOSABI_SYSV && f->elf.osabi != ELFOSABI_GNU)
        return BAD;
    if (f->elf.type != ET_DYN)
        return BAD;
    return MATCH;
}

static const char *match_error(const struct sp_file *f)
{
    if (f->error)
        return f->error;
    if (f->elf.type == ET_EXEC)
        return "cannot dynamically load executable";
    if (f->elf.type != ET_DYN)
        return "only ET_DYN and ET_EXEC can be loaded";
    return "ELF file OS ABI invalid";
}

/* Everything the search of one name needs to know. */
struct search {
    struct sp_ld *ld;
    struct sp_tree *tree;
    const struct sp_abi *abi;
    const struct sp_elf *want; /* the root's header: class, data, machine */
    const struct sp_cpu *cpu;  /* the kind of CPU searched for */
    int base;                  /* CPU is the abi's first platform: node dirs can be cached */
    int hw;                    /* set when another kind of CPU might search otherwise */
    long found;                /* file index once found */
    char *path;                /* path it was found under */
    char *error;               /* set when a candidate stopped the search */
};

/* Returns the $ORIGIN of node N: the directory of the path it was opened under; for a program
 * (the root, with PT_INTERP) the directory of its real path, which is what the kernel gives the
 * loader (glibc _dl_get_origin reads /proc/self/exe). */
static char *origin_of(struct sp_ld *ld, struct sp_tree *t, size_t n)
{
    struct sp_node *node = &SP_VEC_AT(&t->nodes, struct sp_node, n);
    struct sp_file *f = &SP_VEC_AT(&ld->files, struct sp_file, node->file);
    const char *path = (n == 0 && f->elf.interp) ? f->path : node->opened;
    const char *slash = strrchr(path, '/');
    return slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
}

/* Expands $ORIGIN, $LIB and $PLATFORM (also in ${} form) in S (glibc _dl_dst_substitute) for
 * the CPU of search SR; sets sr->hw when $PLATFORM is met and the machine has several. An
 * unknown $NAME is kept as written. Returns NULL when out of memory. */
static char *expand_dst(struct search *sr, const char *s, const char *origin)
{
    static const char *const tokens[] = {"ORIGIN", "LIB", "PLATFORM"};
    char lib[64];
    snprintf(lib, sizeof lib, "lib/%s", sr->abi->triplet);
    const char *values[] = {origin, lib, sr->cpu->platform};
    size_t cap = strlen(s) + 1, len = 0;
    for (const char *p = s; *p; p++)
        if (*p == '$')
            cap += strlen(origin) + strlen(lib) + strlen(sr->cpu->platform);
    char *out = malloc(cap);
    if (out == NULL)
        return NULL;
    for (const char *p = s; *p;) {
        if (*p == '$') {
            int braced = p[1] == '{';
            const char *name = p + 1 + braced;
            size_t i, tl = 0;
            for (i = 0; i < 3; i++) {
                tl = strlen(tokens[i]);
                if (strncmp(name, tokens[i], tl) != 0)
                    continue;
                char next = name[tl];
                if (braced ? next == '}'
                           : !(next == '_' || (next >= 'A' && next <= 'Z') ||
                               (next >= 'a' && next <= 'z') || (next >= '0' && next <= '9')))
                    break;
            }
            if (i < 3) {
                if (i == 2 && sr->abi->platforms[1])
                    sr->hw = 1;
                size_t vl = strlen(values[i]);
                memcpy(out + len, values[i], vl);
                len += vl;
                p = name + tl + braced;
                continue;
            }
        }
        out[len++] = *p++;
    }
    out[len] = '\0';
    return out;
}

/* Tries DIR/NAME. Returns 1 when the search is over (found, or stopped by a bad candidate), 0
 * to go on, -1 when out of memory. */
static int try_path(struct search *s, const char *path)
{
    long f = probe(s->ld, path);
    if (f == -ENOMEM)
        return -1;
    if (f < 0)
        return 0;
    const struct sp_file *file = &SP_VEC_AT(&s->ld->files, struct sp_file, f);
    switch (match(file, s->want)) {
    case OTHER:
        return 0;
    case BAD:
        s->error = sp_aprintf("%s: %s", path, match_error(file));
        return s->error ? 1 : -1;
    case MATCH:
        break;
    }
    s->found = f;
    s->path = strdup(path);
    return s->path ? 1 : -1;
}

/* Reads the names in the directory at canonical host path HOST into DL. */
static int list_dir(const char *host, struct sp_dirlist *dl)
{
    int fd = open(host, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    DIR *d = fd < 0 ? NULL : fdopendir(fd);
    if (d == NULL) {
        if (fd >= 0)
            close(fd);
        return errno == ENOMEM ? -1 : 0; /* not listable (EACCES...): probe each name */
    }
    struct dirent *de;
    int rc = 0;
    while (rc == 0 && (errno = 0, de = readdir(d)) != NULL) {
        rc = sp_map_put(&dl->names, de->d_name) ? 0 : -1;
        if (!dl->hw && (de->d_type == DT_DIR || de->d_type == DT_LNK || de->d_type == DT_UNKNOWN))
            dl->hw = sp_hw_dirname(de->d_name);
    }
    dl->listed = rc == 0 && errno == 0;
    dl->hw |= !dl->listed;
    closedir(d);
    return rc;
}

/* Finds the listing of search directory DIR (as written), reading it on first use. Sets *OUT
 * to NULL when DIR does not exist inside the root. Returns -1 when out of memory. */
static int listing(struct sp_ld *ld, const char *dir, struct sp_dirlist **out)
{
    *out = NULL;
    const char *canon = sp_root_canon_dir(&ld->root, dir);
    if (canon == NULL)
        return errno == ENOMEM ? -1 : 0;
    intptr_t *slot = sp_map_get(&ld->listings, canon);
    if (slot == NULL) {
        struct sp_dirlist *dl = sp_vec_push(&ld->dirs);
        char *host = sp_root_host(&ld->root, canon);
        if (dl == NULL || host == NULL || (slot = sp_map_put(&ld->listings, canon)) == NULL) {
            free(host);
            return -1;
        }
        *slot = (intptr_t)ld->dirs.len;
        sp_map_init(&dl->names);
        int rc = list_dir(host, dl);
        free(host);
        if (rc < 0)
            return -1;
    }
    *out = &SP_VEC_AT(&ld->dirs, struct sp_dirlist, *slot - 1);
    return 0;
}

/* Tries NAME in DIR itself; HW: in its hardware subdirectories for the CPU first. */
static int try_dir_as(struct search *s, const char *dir, const char *name, int hw)
{
    struct sp_dirlist *dl;
    if (listing(s->ld, dir, &dl) < 0)
        return -1;
    if (dl == NULL)
        return 0;
    if (hw && dl->hw) {
        s->hw = 1;
        for (size_t i = 0; i < s->cpu->subdirs.len; i++) {
            const char *sub = s->cpu->subdirs.items[i];
            char top[32]; /* its first component: glibc-hwcaps, tls, haswell... */
            snprintf(top, sizeof top, "%.*s", (int)strcspn(sub, "/"), sub);
            if (dl->listed && sp_map_get(&dl->names, top) == NULL)
                continue;
            char *subdir = sp_path_join(dir, sub);
            int rc = subdir ? try_dir_as(s, subdir, name, 0) : -1;
            free(subdir);
            /* listing the subdirectory may have moved ld->dirs */
            if (rc != 0 || listing(s->ld, dir, &dl) < 0)
                return rc != 0 ? rc : -1;
        }
    }
    if (dl->listed && sp_map_get(&dl->names, name) == NULL)
        return 0; /* nothing of that name there: no need to look closer */
    char *path = sp_path_join(dir, name);
    if (path == NULL)
        return -1;
    int rc = try_path(s, path);
    free(path);
    return rc;
}

static int try_dir(struct search *s, const char *dir, const char *name)
{
    return try_dir_as(s, dir, name, 1);
}

/* Expands the RPATH or RUNPATH (PATHS, named KIND) of node OWNER into OUT: DSTs substituted,
 * empty and relative elements dropped with a warning. Returns -1 when out of memory. */
static int expand_dirs(struct search *s, size_t owner, const char *paths, const char *kind,
                       struct sp_strs *out)
{
    struct sp_ld *ld = s->ld;
    struct sp_node *node = &SP_VEC_AT(&s->tree->nodes, struct sp_node, owner);
    const char *who = SP_VEC_AT(&ld->files, struct sp_file, node->file).path;
    char *origin = origin_of(ld, s->tree, owner);
    char *copy = strdup(paths);
    int rc = (origin && copy) ? 0 : -1;
    for (char *p = copy, *end; rc == 0 && p; p = end ? end + 1 : NULL) {
        end = strchr(p, ':');
        if (end)
            *end = '\0';
        if (*p == '\0') {
            /* ld.so reads an empty element as the working directory, which is unknowable. */
            rc = warnf(ld, sp_aprintf("%s: empty element in %s (the working directory at run "
                                      "time): ignored",
                                      who, kind));
            continue;
        }
        char *dir = expand_dst(s, p, origin);
        if (dir == NULL)
            rc = -1;
        else if (dir[0] != '/')
            rc = warnf(ld, sp_aprintf("%s: relative %s element '%s' depends on the working "
                                      "directory: ignored",
                                      who, kind, p));
        else {
            rc = sp_strs_take(out, dir);
            dir = NULL; /* taken, or freed on failure */
        }
        free(dir);
    }
    free(origin);
    free(copy);
    return rc;
}

/* Searches the directories of node OWNER's RPATH or RUNPATH (PATHS, named KIND). They are
 * expanded once per node; again for a CPU whose $PLATFORM is not the first one, when they
 * name $PLATFORM. */
static int try_dirlist(struct search *s, size_t owner, const char *paths, const char *kind,
                       const char *name)
{
    struct sp_node *node = &SP_VEC_AT(&s->tree->nodes, struct sp_node, owner);
    struct sp_strs scratch = {0};
    struct sp_strs *dirs = &node->dirs;
    if (!node->dirs_ready || (node->dirs_platform && !s->base)) {
        int hw = s->hw;
        s->hw = 0;
        dirs = s->base ? &node->dirs : &scratch;
        int rc = expand_dirs(s, owner, paths, kind, dirs);
        node = &SP_VEC_AT(&s->tree->nodes, struct sp_node, owner);
        if (s->base) {
            node->dirs_ready = rc == 0;
            node->dirs_platform = s->hw;
        }
        s->hw |= hw;
        if (rc < 0) {
            sp_strs_free(&scratch);
            return -1;
        }
    }
    s->hw |= node->dirs_platform;
    int rc = 0;
    for (size_t i = 0; i < dirs->len && rc == 0; i++)
        rc = try_dir(s, dirs->items[i], name);
    sp_strs_free(&scratch);
    return rc;
}

/* Tries what ld.so.cache gives for NAME: the entry of the best hardware subdirectory the CPU
 * searches (ldconfig records a library of D/SUB under D/SUB/file, so SUB is in its path), else
 * the plain entry (glibc elf/dl-cache.c _dl_load_cache_lookup). */
static int try_cache(struct search *s, const char *name)
{
    struct sp_ld *ld = s->ld;
    const char *hw[32];
    int enomem = 0;
    size_t n = sp_ldcache_hw_paths(&ld->cache, s->abi->cache_flags, name, hw, 32, &enomem);
    const char *cached = sp_ldcache_lookup(&ld->cache, s->abi->cache_flags, name, &enomem);
    if (enomem)
        return -1;
    s->hw |= n > 0;
    for (size_t i = 0; i < s->cpu->subdirs.len && n > 0; i++) {
        const char *sub = s->cpu->subdirs.items[i];
        for (size_t j = 0; j < n; j++) {
            const char *slash = strrchr(hw[j], '/');
            size_t sl = strlen(sub);
            if (slash && (size_t)(slash - hw[j]) > sl && slash[-(long)sl - 1] == '/' &&
                memcmp(slash - sl, sub, sl) == 0)
                return try_path(s, hw[j]); /* missing: the loader goes on to the directories */
        }
    }
    return cached && cached[0] == '/' ? try_path(s, cached) : 0;
}

/* Runs the search of NAME needed by node REQ. Sets s->found/s->path or s->error; returns the
 * enum sp_how that answered, or -1 when out of memory. */
static int search(struct search *s, size_t req, const char *name)
{
    struct sp_ld *ld = s->ld;
    struct sp_node *node = &SP_VEC_AT(&s->tree->nodes, struct sp_node, req);
    /* ld->files grows while candidates are read: keep what is needed, not a pointer into it. */
    const struct sp_elf *elf = &SP_VEC_AT(&ld->files, struct sp_file, node->file).elf;
    const char *runpath = elf->runpath;
    int nodeflib = elf->nodeflib;
    int rc;

    if (strchr(name, '/')) {
        char *origin = origin_of(ld, s->tree, req);
        char *path = origin ? expand_dst(s, name, origin) : NULL;
        free(origin);
        if (path == NULL)
            return -1;
        if (path[0] != '/') {
            s->error = sp_aprintf("relative path %s depends on the working directory", path);
            free(path);
            return s->error ? SP_HOW_NOT_FOUND : -1;
        }
        rc = try_path(s, path);
        free(path);
        return rc < 0 ? -1 : rc ? SP_HOW_PATH : SP_HOW_NOT_FOUND;
    }
    if (runpath == NULL) {
        for (long a = (long)req; a >= 0;) {
            struct sp_node *an = &SP_VEC_AT(&s->tree->nodes, struct sp_node, a);
            const char *rpath = SP_VEC_AT(&ld->files, struct sp_file, an->file).elf.rpath;
            if (rpath && (rc = try_dirlist(s, (size_t)a, rpath, "RPATH", name)) != 0)
                return rc < 0 ? -1 : SP_HOW_RPATH;
            a = an->loader;
        }
    }
    for (size_t i = 0; i < ld->ld_library_path.len; i++) {
        if ((rc = try_dir(s, ld->ld_library_path.items[i], name)) != 0)
            return rc < 0 ? -1 : SP_HOW_LD_LIBRARY_PATH;
    }
    if (runpath && (rc = try_dirlist(s, req, runpath, "RUNPATH", name)) != 0)
        return rc < 0 ? -1 : SP_HOW_RUNPATH;
    if (nodeflib)
        return SP_HOW_NOT_FOUND;
    if ((rc = try_cache(s, name)) != 0)
        return rc < 0 ? -1 : SP_HOW_LDCACHE;
    for (size_t i = 0; i < ld->conf_dirs.len; i++) {
        if ((rc = try_dir(s, ld->conf_dirs.items[i], name)) != 0)
            return rc < 0 ? -1 : SP_HOW_LDCONF;
    }
    /* Debian's ld.so system directories: multiarch first, then the plain ones; a biarch libc's
     * loader (x32 on amd64) has its own instead. */
    char multi[64], usrmulti[64], usrbiarch[64];
    snprintf(multi, sizeof multi, "/lib/%s", s->abi->triplet);
    snprintf(usrmulti, sizeof usrmulti, "/usr/lib/%s", s->abi->triplet);
    snprintf(usrbiarch, sizeof usrbiarch, "/usr%s", s->abi->biarch ? s->abi->biarch : "");
    const char *defaults[] = {multi, usrmulti, "/lib", "/usr/lib", s->abi->biarch, usrbiarch};
    for (size_t i = 0; i < (s->abi->biarch ? 6 : 4); i++) {
        if ((rc = try_dir(s, defaults[i], name)) != 0)
            return rc < 0 ? -1 : SP_HOW_DEFAULT;
    }
    return SP_HOW_NOT_FOUND;
}

/* Records that node N of tree T answers to NAME, unless an earlier node already does. */
static int answers_to(struct sp_tree *t, size_t n, const char *name)
{
    intptr_t *slot = sp_map_put(&t->answers, name);
    if (slot == NULL)
        return -1;
    if (*slot == 0)
        *slot = (intptr_t)n + 1;
    return 0;
}

/* Appends a node for file F, opened as OPENED (taken), loaded by LOADER; it answers to its path
 * and its soname (glibc _dl_name_match_p plus the DT_SONAME comparison of _dl_map_object).
 * Returns its index, or -1 when out of memory. */
static long add_node(struct sp_ld *ld, struct sp_tree *t, size_t f, char *opened, long loader)
{
    struct sp_node *n = sp_vec_push(&t->nodes);
    if (n == NULL || opened == NULL) {
        free(opened);
        return -1;
    }
    n->file = f;
    n->opened = opened;
    n->loader = loader;
    long index = (long)t->nodes.len - 1;
    struct sp_file *file = &SP_VEC_AT(&ld->files, struct sp_file, f);
    file->tree_mark = t->mark;
    file->tree_node = index;
    if (answers_to(t, (size_t)index, opened) < 0 ||
        (file->elf.soname && answers_to(t, (size_t)index, file->elf.soname) < 0))
        return -1;
    return index;
}

/* The kinds of CPU the loader of the root's glibc tells apart for ABI, found on first use.
 * NULL when out of memory. */
static const struct sp_cpus *cpus_of(struct sp_ld *ld, const struct sp_abi *abi)
{
    for (size_t i = 0; i < ld->cpusets.len; i++) {
        if (SP_VEC_AT(&ld->cpusets, struct sp_cpus, i).abi == abi)
            return &SP_VEC_AT(&ld->cpusets, struct sp_cpus, i);
    }
    int glibc = sp_glibc_version(&ld->root, abi);
    struct sp_cpus *c = glibc < 0 ? NULL : sp_vec_push(&ld->cpusets);
    if (c == NULL)
        return NULL;
    if (sp_cpus_init(c, abi, glibc) < 0) {
        sp_cpus_free(c);
        ld->cpusets.len--;
        return NULL;
    }
    return c;
}

/* One answer of a search, and the first (least capable) kind of CPU that gets it. */
struct outcome {
    int how;
    long found;
    char *path, *error;
    const struct sp_cpu *cpu;
};

/* Appends the edge of NAME needed by node REQ that outcome O answers (taking its strings), and
 * a node when it loads a new object. LABEL names the kinds of CPU it holds for, or NULL for
 * all. Returns -1 when out of memory. */
static int add_edge(struct sp_ld *ld, struct sp_tree *t, size_t req, const char *name,
                    struct outcome *o, const char *label)
{
    struct sp_edge *e = sp_vec_push(&t->edges);
    if (e == NULL || (e->name = strdup(name)) == NULL || (label && !(e->cpu = strdup(label))))
        return -1;
    e->requester = req;
    e->node = -1;
    e->how = o->how;
    if (o->error || o->found < 0) {
        e->how = o->how == SP_HOW_NOT_FOUND || !o->error ? SP_HOW_NOT_FOUND : SP_HOW_ERROR;
        e->error = o->error;
        o->error = NULL;
        return 0;
    }
    /* The same file under another name is the object already loaded (_dl_file_id_match_p). */
    struct sp_file *file = &SP_VEC_AT(&ld->files, struct sp_file, o->found);
    if (file->tree_mark == t->mark) {
        e->node = file->tree_node;
    } else {
        e->node = add_node(ld, t, (size_t)o->found, o->path, (long)req); /* grows nodes only */
        o->path = NULL;                                                  /* taken */
        if (e->node < 0)
            return -1;
    }
    return answers_to(t, (size_t)e->node, name);
}

/* Resolves NAME needed by node REQ and appends its edge (and a node when a new object is
 * loaded). Where the answer depends on the CPU (hardware subdirectories, $PLATFORM), the search
 * is made for each kind of CPU and each different answer is an edge, labelled with the first
 * kind that gets it; a kind that finds nothing where others find the library is a warning.
 * Returns -1 when out of memory. */
static int resolve_edge(struct sp_ld *ld, struct sp_tree *t, const struct sp_abi *abi,
                        const struct sp_elf *want, size_t req, const char *name)
{
    intptr_t *loaded = sp_map_get(&t->answers, name);
    if (loaded) {
        struct sp_edge *e = sp_vec_push(&t->edges);
        if (e == NULL || (e->name = strdup(name)) == NULL)
            return -1;
        e->requester = req;
        e->node = (long)*loaded - 1;
        e->how = SP_HOW_LOADED;
        return 0;
    }
    const struct sp_cpus *cpus = cpus_of(ld, abi);
    struct outcome *out = cpus ? calloc(cpus->cpus.len, sizeof *out) : NULL;
    if (out == NULL)
        return -1;
    size_t n = 0, c;
    int rc = 0, found_some = 0;
    for (c = 0; c < cpus->cpus.len; c++) {
        const struct sp_cpu *cpu = &SP_VEC_AT(&cpus->cpus, struct sp_cpu, c);
        struct search s = {ld, t,  abi,  want, cpu, strcmp(cpu->platform, abi->platforms[0]) == 0,
                           0,  -1, NULL, NULL};
        int how = search(&s, req, name); /* grows ld->files, never t->nodes or t->edges */
        size_t k = 0;
        while (how >= 0 && k < n &&
               !(s.error ? out[k].error && strcmp(out[k].error, s.error) == 0
                         : !out[k].error && out[k].found == s.found))
            k++;
        if (how < 0 || k < n) {
            free(s.path);
            free(s.error);
            if (how < 0) {
                rc = -1;
                break;
            }
        } else {
            out[n++] = (struct outcome){how, s.found, s.path, s.error, cpu};
            found_some |= s.found >= 0 && !s.error;
        }
        if (c == 0 && !s.hw)
            break; /* no kind of CPU searches otherwise */
    }
    for (size_t k = 0; k < n && rc == 0; k++) {
        if (n > 1 && found_some && out[k].found < 0 && !out[k].error) {
            size_t fi = SP_VEC_AT(&t->nodes, struct sp_node, req).file, f = 0;
            while (out[f].found < 0 || out[f].error)
                f++;
            const struct outcome *some = &out[f];
            rc = warnf(ld, sp_aprintf("%s: %s is not found on a CPU such as %s (it is on %s)",
                                      SP_VEC_AT(&ld->files, struct sp_file, fi).path, name,
                                      out[k].cpu->label, some->cpu->label));
            continue;
        }
        rc = add_edge(ld, t, req, name, &out[k], n > 1 ? out[k].cpu->label : NULL);
    }
    for (size_t k = 0; k < n; k++) {
        free(out[k].path);
        free(out[k].error);
    }
    free(out);
    return rc;
}

/* Forgets the edges of T from FIRST on (a failed search adds no node). */
static void drop_edges(struct sp_tree *t, size_t first)
{
    for (size_t i = first; i < t->edges.len; i++) {
        struct sp_edge *e = &SP_VEC_AT(&t->edges, struct sp_edge, i);
        free(e->name);
        free(e->error);
        free(e->feature);
        free(e->cpu);
    }
    t->edges.len = first;
}

/* Resolves the DT_NEEDED names of node N. Returns -1 when out of memory. */
static int resolve_needed(struct sp_ld *ld, struct sp_tree *t, const struct sp_abi *abi,
                          const struct sp_elf *want, size_t n)
{
    size_t fi = SP_VEC_AT(&t->nodes, struct sp_node, n).file;
    /* ld->files moves when a new file is read: index it afresh each time. */
    for (size_t j = 0; j < SP_VEC_AT(&ld->files, struct sp_file, fi).elf.needed.len; j++) {
        char *name = strdup(SP_VEC_AT(&ld->files, struct sp_file, fi).elf.needed.items[j]);
        int rc = name ? resolve_edge(ld, t, abi, want, n, name) : -1;
        free(name);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Resolves the libraries the dlopen notes of node N name, up to priority ld->dlopen, as if N
 * called dlopen(): its search paths, then the system's. The sonames of one note entry are
 * alternatives: the first that resolves is taken; when none does, the edge of the first one
 * says so. Returns -1 when out of memory. */
static int resolve_dlopen(struct sp_ld *ld, struct sp_tree *t, const struct sp_abi *abi,
                          const struct sp_elf *want, size_t n)
{
    size_t fi = SP_VEC_AT(&t->nodes, struct sp_node, n).file;
    for (size_t k = 0; k < SP_VEC_AT(&ld->files, struct sp_file, fi).elf.dlopen.len; k++) {
        const struct sp_dlopen *d =
            &SP_VEC_AT(&SP_VEC_AT(&ld->files, struct sp_file, fi).elf.dlopen, struct sp_dlopen, k);
        if (d->priority > ld->dlopen || d->sonames.len == 0)
            continue;
        struct sp_strs names = {0};
        char *feature = strdup(d->feature ? d->feature : "");
        for (size_t a = 0; a < d->sonames.len; a++) {
            if (sp_strs_push(&names, d->sonames.items[a]) < 0)
                break;
        }
        if (feature == NULL || names.len < d->sonames.len) {
            free(feature);
            sp_strs_free(&names);
            return -1;
        }
        size_t first = t->edges.len;
        int rc = 0;
        for (size_t a = 0; a < names.len && rc == 0; a++) {
            if ((rc = resolve_edge(ld, t, abi, want, n, names.items[a])) < 0)
                break;
            struct sp_edge *e = &SP_VEC_AT(&t->edges, struct sp_edge, first);
            if (e->node >= 0 || a + 1 == names.len) {
                if (e->node < 0 && names.len > 1) { /* report it on the first name */
                    drop_edges(t, first + 1);
                    free(e->name);
                    free(e->error);
                    free(e->cpu);
                    e->cpu = NULL;
                    e->name = strdup(names.items[0]);
                    e->error = sp_aprintf("none of the %zu alternatives found", names.len);
                    rc = e->name && e->error ? 0 : -1;
                }
                for (size_t i = first; i < t->edges.len && rc == 0; i++) {
                    e = &SP_VEC_AT(&t->edges, struct sp_edge, i);
                    rc = (e->feature = strdup(feature)) ? 0 : -1;
                }
                break;
            }
            drop_edges(t, first); /* not this alternative */
        }
        free(feature);
        sp_strs_free(&names);
        if (rc < 0)
            return -1;
    }
    return 0;
}

/* Appends the tree of file F, found at PATH, with its root node. NULL when out of memory. */
static struct sp_tree *new_tree(struct sp_ld *ld, const char *path, size_t f)
{
    struct sp_tree *t = sp_vec_push(&ld->trees);
    if (t == NULL)
        return NULL;
    t->mark = ld->trees.len;
    sp_vec_init(&t->nodes, sizeof(struct sp_node));
    sp_vec_init(&t->edges, sizeof(struct sp_edge));
    sp_map_init(&t->answers);
    if ((t->path = strdup(path)) == NULL || add_node(ld, t, f, strdup(path), -1) < 0)
        return NULL;
    return t;
}

/* Loads what the nodes of T from *NEEDED_NEXT on need: every DT_NEEDED object, breadth first,
 * as before a program runs and can call dlopen(); an object dlopen() loads (a note's) brings
 * its own DT_NEEDED ones before the next call. Returns -1 when out of memory. */
static int load_all(struct sp_ld *ld, struct sp_tree *t, const struct sp_abi *abi,
                    const struct sp_elf *want, size_t *needed_next, size_t *dlopen_next)
{
    while (*needed_next < t->nodes.len || (ld->dlopen >= 0 && *dlopen_next < t->nodes.len)) {
        int rc = *needed_next < t->nodes.len ? resolve_needed(ld, t, abi, want, (*needed_next)++)
                                             : resolve_dlopen(ld, t, abi, want, (*dlopen_next)++);
        if (rc < 0)
            return -1;
    }
    return 0;
}

int sp_ld_resolve_root(struct sp_ld *ld, const char *path, struct sp_err *err)
{
    long f = probe(ld, path);
    if (f == -ENOMEM)
        return sp_fail(err, ENOMEM, "out of memory");
    if (f < 0)
        return warnf(ld, sp_aprintf("%s: %s: skipped", path, strerror((int)-f))) < 0
                   ? sp_fail(err, ENOMEM, "out of memory")
                   : 0;
    struct sp_file *file = &SP_VEC_AT(&ld->files, struct sp_file, f);
    if (file->status != SP_ELF_OK)
        return warnf(ld, sp_aprintf("%s: skipped", file->error)) < 0
                   ? sp_fail(err, ENOMEM, "out of memory")
                   : 0;
    if (file->elf.type != ET_DYN && file->elf.type != ET_EXEC)
        return 0; /* object files and core dumps are never loaded */
    const struct sp_abi *abi = sp_abi_of(&file->elf);
    if (abi == NULL)
        return warnf(ld, sp_aprintf("%s: ELF class %d machine %d is not a known Debian "
                                    "architecture: skipped",
                                    path, file->elf.elfclass, file->elf.machine)) < 0
                   ? sp_fail(err, ENOMEM, "out of memory")
                   : 0;
    struct sp_elf want = {0};
    want.elfclass = file->elf.elfclass;
    want.data = file->elf.data;
    want.machine = file->elf.machine;
    const char *interp = file->elf.interp;
    if (ld->abi == NULL) {
        ld->abi = abi;
        ld->want = want;
    }

    struct sp_tree *t = new_tree(ld, path, (size_t)f);
    if (t == NULL)
        return sp_fail(err, ENOMEM, "out of memory");

    /* The program interpreter is loaded by the kernel, by path. */
    if (interp && resolve_edge(ld, t, abi, &want, 0, interp) < 0)
        return sp_fail(err, ENOMEM, "out of memory");
    size_t needed_next = 0, dlopen_next = 0;
    return load_all(ld, t, abi, &want, &needed_next, &dlopen_next) < 0
               ? sp_fail(err, ENOMEM, "out of memory")
               : 0;
}

/* ---- trees of Python sources ---- */

enum { AS_GIVEN, FIND_LIBRARY };

/* Loads NAME from the root of source tree T as dlopen(NAME) would (AS_GIVEN), or dlopen() of
 * what find_library(NAME) answers. Returns 1 when it loads (its edge appended, *SONAME the
 * name searched), 0 when not (no edge), -1 when out of memory. */
static int try_name(struct sp_ld *ld, struct sp_tree *t, const char *name, int way,
                    const char **soname)
{
    if (way == FIND_LIBRARY &&
        (name = sp_ldcache_find_library(&ld->cache, ld->abi->cache_flags, name)) == NULL)
        return 0;
    size_t first = t->edges.len;
    if (resolve_edge(ld, t, ld->abi, &ld->want, 0, name) < 0)
        return -1;
    if (SP_VEC_AT(&t->edges, struct sp_edge, first).node >= 0) {
        *soname = name;
        return 1;
    }
    drop_edges(t, first);
    return 0;
}

/* What another platform's spelling of a library stands for on this one: "gobject-2.0-0" or
 * "libgobject-2.0-0" (MinGW's libgobject-2.0-0.dll) is libgobject-2.0.so.0 (*SONAME) and
 * find_library("gobject-2.0") (returned); "magic" or "libmagic" is find_library("magic"). NULL
 * for names of other platforms' files. */
static char *variant(const char *name, char **soname)
{
    const char *b = strncmp(name, "lib", 3) == 0 ? name + 3 : name;
    const char *dash = strrchr(b, '-');
    *soname = NULL;
    if (*b == '\0' || strchr(b, '/') || strstr(b, ".dll") || strstr(b, ".dylib") ||
        strstr(b, ".so"))
        return NULL;
    if (dash && dash > b && dash[1] && strspn(dash + 1, "0123456789") == strlen(dash + 1)) {
        *soname = sp_aprintf("lib%.*s.so.%s", (int)(dash - b), b, dash + 1);
        return *soname ? strndup(b, (size_t)(dash - b)) : NULL;
    }
    return strdup(b);
}

/* Appends the edge of call C from the root of T: the first of its names that loads by the
 * call's own rule; else, by a name variant; else a not-found edge on its first name. Returns
 * -1 when out of memory. */
static int load_call(struct sp_ld *ld, struct sp_tree *t, const struct sp_pycall *c)
{
    const char *soname = NULL, *literal = NULL;
    char *vsoname = NULL, *base = NULL;
    int found = 0, rc = 0;
    size_t first = t->edges.len; /* the call's edges: one, or one per answer a CPU gets */
    for (size_t a = 0; a < c->names.len && !found && rc >= 0; a++) {
        literal = c->names.items[a];
        if (c->kind == SP_PYCALL_LOAD || (c->kind == SP_PYCALL_DLOPEN && strpbrk(literal, "./")))
            rc = found = try_name(ld, t, literal, AS_GIVEN, &soname);
        if (!found && rc >= 0 && c->kind != SP_PYCALL_LOAD)
            rc = found = try_name(ld, t, literal, FIND_LIBRARY, &soname);
    }
    int varied = !found;
    for (size_t a = 0; a < c->names.len && !found && rc >= 0; a++) {
        literal = c->names.items[a];
        free(vsoname);
        free(base);
        base = variant(literal, &vsoname);
        if (vsoname)
            rc = found = try_name(ld, t, vsoname, AS_GIVEN, &soname);
        if (!found && rc >= 0 && base)
            rc = found = try_name(ld, t, base, FIND_LIBRARY, &soname);
    }
    if (rc >= 0 && !found) { /* reported on the first name */
        literal = c->names.items[0];
        struct sp_edge *e = sp_vec_push(&t->edges);
        if (e != NULL) {
            e->node = -1;
            e->how = SP_HOW_NOT_FOUND;
            e->error = c->names.len > 1 ? sp_aprintf("none of its %zu names loads", c->names.len)
                                        : strdup("not found");
        }
        rc = e && e->error ? 0 : -1;
    }
    for (size_t i = first; i < t->edges.len && rc >= 0; i++) {
        struct sp_edge *e = &SP_VEC_AT(&t->edges, struct sp_edge, i);
        free(e->name);
        e->name = strdup(literal);
        e->line = c->line;
        e->feature =
            found && strcmp(soname, literal) != 0
                ? sp_aprintf("%s(), as %s%s", c->func, soname, varied ? " (a name variant)" : "")
                : sp_aprintf("%s()", c->func);
        if (e->name == NULL || e->feature == NULL)
            rc = -1;
    }
    free(vsoname);
    free(base);
    return rc < 0 ? -1 : 0;
}

int sp_ld_resolve_source(struct sp_ld *ld, const char *path, const struct sp_vec *calls,
                         struct sp_err *err)
{
    if (ld->abi == NULL) { /* no ELF file to go by: the machine's own */
        if ((ld->abi = sp_abi_native()) == NULL)
            return sp_ld_warn(ld, "Python sources: the machine's ABI is unknown: not resolved") < 0
                       ? sp_fail(err, ENOMEM, "out of memory")
                       : 0;
        ld->want.elfclass = ld->abi->elfclass;
        ld->want.machine = ld->abi->machine;
        ld->want.data = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ ? ELFDATA2LSB : ELFDATA2MSB;
    }
    /* The source is the root of its tree: a file with no needs of its own. */
    struct sp_file *f = sp_vec_push(&ld->files);
    if (f == NULL || (f->path = strdup(path)) == NULL)
        return sp_fail(err, ENOMEM, "out of memory");
    f->status = SP_ELF_NOT_ELF;
    struct sp_tree *t = new_tree(ld, path, ld->files.len - 1);
    if (t == NULL)
        return sp_fail(err, ENOMEM, "out of memory");
    size_t needed_next = 1, dlopen_next = 1;
    for (size_t i = 0; i < calls->len; i++) {
        if (load_call(ld, t, &SP_VEC_AT(calls, struct sp_pycall, i)) < 0 ||
            load_all(ld, t, ld->abi, &ld->want, &needed_next, &dlopen_next) < 0)
            return sp_fail(err, ENOMEM, "out of memory");
    }
    return 0;
}
