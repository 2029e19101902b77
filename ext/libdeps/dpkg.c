/* File ownership from the dpkg database under a root, read directly (never through
 * dpkg-query): status for what is installed, info/<pkg>[:<arch>].list for the files each package
 * shipped, diversions for files another package took over.
 *
 * dpkg records paths as the package shipped them (/lib/x86_64-linux-gnu/libc.so.6 on Debian 12,
 * /usr/lib/... on Debian 13) while the loader may open the other spelling through the root's
 * /lib -> usr/lib symlink. Paths are therefore compared by canonical directory plus file name,
 * resolved through the root's own symlinks. Only lines whose file name is wanted are resolved,
 * so one pass over every list costs little more than reading it. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "libdeps/dpkg.h"

#define INFO_DIR "/var/lib/dpkg/info"

/* Returns the value of a "Field: value" line starting at LINE if its field is NAME. */
static const char *field(const char *line, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(line, name, n) != 0 || line[n] != ':')
        return NULL;
    line += n + 1;
    while (*line == ' ' || *line == '\t')
        line++;
    return line;
}

/* The third word of "Status: want flag status". Half-configured or removed packages do not
 * count; packages awaiting triggers have every file in place, so they do. */
static int installed(const char *status, size_t len)
{
    const char *p = status, *end = status + len;
    for (int words = 0; words < 2; words++) {
        while (p < end && *p != ' ')
            p++;
        while (p < end && *p == ' ')
            p++;
    }
    size_t n = (size_t)(end - p);
    return (n == 9 && memcmp(p, "installed", 9) == 0) ||
           (n == 16 && memcmp(p, "triggers-pending", 16) == 0) ||
           (n == 16 && memcmp(p, "triggers-awaited", 16) == 0);
}

/* Calls FN(package, arch) for each installed stanza of the status file text BUF. */
static int parse_status(char *buf, int (*fn)(const char *, const char *, void *), void *arg)
{
    char *pkg = NULL, *arch = NULL;
    int ok = 0;
    for (char *line = buf; line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t len = strlen(line);
        if (len && line[len - 1] == '\r')
            line[--len] = '\0';
        const char *v;
        if (len == 0) {
            if (pkg && ok && fn(pkg, arch ? arch : "", arg) < 0)
                return -1;
            pkg = arch = NULL;
            ok = 0;
        } else if ((v = field(line, "Package"))) {
            pkg = (char *)v;
        } else if ((v = field(line, "Architecture"))) {
            arch = (char *)v;
        } else if ((v = field(line, "Status"))) {
            ok = installed(v, strlen(v));
        }
        line = nl ? nl + 1 : NULL;
    }
    if (pkg && ok && fn(pkg, arch ? arch : "", arg) < 0)
        return -1;
    return 0;
}

int sp_dpkg_installed(const char *path, int (*fn)(const char *, const char *, void *), void *arg,
                      struct sp_err *err)
{
    struct sp_root host;
    char *buf = NULL;
    size_t len;
    if (sp_root_init(&host, "", err) < 0)
        return -1;
    int rc = sp_root_slurp(&host, path, SP_MAX_DPKG_FILE, SP_ERR_INPUT, &buf, &len, err);
    sp_root_free(&host);
    if (rc < 0)
        return -1;
    rc = parse_status(buf, fn, arg);
    free(buf);
    return rc < 0 ? sp_fail(err, ENOMEM, "out of memory") : 0;
}

/* ---- loading: every read of the database, done once, possibly on another thread ---- */

/* sp_dpkg_installed's callback: records PKG:ARCH as installed in the database ARG (its maps
 * full and byname). Returns -1 when out of memory. */
static int add_installed(const char *pkg, const char *arch, void *arg)
{
    struct sp_dpkg *db = arg;
    char *key = sp_aprintf("%s:%s", pkg, arch);
    intptr_t *slot = key ? sp_map_put(&db->full, key) : NULL;
    free(key);
    if (slot == NULL)
        return -1;
    *slot = 1;
    if (sp_strs_push(&db->strings, arch) < 0 || (slot = sp_map_put(&db->byname, pkg)) == NULL)
        return -1;
    *slot = (intptr_t)db->strings.len; /* index + 1 of the architecture */
    return 0;
}

int sp_dpkg_index(struct sp_dpkg *db, struct sp_err *err)
{
    if (parse_status(db->status, add_installed, db) < 0)
        return sp_fail(err, ENOMEM, "out of memory");
    return 0;
}

/* The architecture of package NAME ("pkg" or "pkg:arch", from a list's file name) if it is
 * installed, else NULL. */
static const char *installed_arch(struct sp_dpkg *db, char *name)
{
    char *colon = strchr(name, ':');
    if (colon)
        return sp_map_get(&db->full, name) ? colon + 1 : NULL;
    intptr_t *slot = sp_map_get(&db->byname, name);
    return slot ? db->strings.items[*slot - 1] : NULL;
}

/* Reads one list, the entry DE of the info directory open on DFD. Regular files are opened
 * right there; a symlink is followed inside the root; anything else is skipped. */
static int read_list(struct sp_dpkg *db, int dfd, const struct dirent *de, struct sp_dpkg_list *l,
                     struct sp_err *err)
{
    char *path = sp_path_join(INFO_DIR, de->d_name);
    if (path == NULL)
        return sp_fail(err, ENOMEM, "out of memory");
    int rc;
    if (de->d_type == DT_REG) {
        int fd = openat(dfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
        rc = fd < 0 ? sp_fail_at(err, SP_ERR_DPKG, path, errno, "%s", strerror(errno))
                    : sp_read_fd(fd, path, SP_MAX_DPKG_FILE, SP_ERR_DPKG, &l->buf, &l->len, err);
        if (fd >= 0)
            close(fd);
    } else if (de->d_type == DT_LNK || de->d_type == DT_UNKNOWN) {
        rc = sp_root_slurp(&db->root, path, SP_MAX_DPKG_FILE, SP_ERR_DPKG, &l->buf, &l->len, err);
    } else {
        rc = sp_fail_at(err, SP_ERR_DPKG, path, 0, "not a regular file");
    }
    free(path);
    if (rc < 0 && err->errnum != ENOMEM) /* the package's files stay without an owner */
        return sp_strs_pushf(&db->warnings, "%s: skipped", err->msg);
    return rc;
}

/* Reads var/lib/dpkg/info/<pkg>[:<arch>].list of every installed package. */
static int read_lists(struct sp_dpkg *db, struct sp_err *err)
{
    int dfd = sp_root_open(&db->root, INFO_DIR, 1, SP_ERR_DPKG, err);
    if (dfd < 0)
        return -1;
    DIR *d = fdopendir(dfd);
    if (d == NULL) {
        close(dfd);
        return sp_fail_at(err, SP_ERR_DPKG, INFO_DIR, errno, "%s", strerror(errno));
    }
    int rc = 0;
    struct dirent *de;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n <= 5 || strcmp(de->d_name + n - 5, ".list") != 0)
            continue;
        /* <pkg>.list, or <pkg>:<arch>.list for Multi-Arch: same packages */
        char *name = strndup(de->d_name, n - 5);
        if (name == NULL) {
            rc = sp_fail(err, ENOMEM, "out of memory");
            break;
        }
        const char *arch = installed_arch(db, name);
        struct sp_dpkg_list *l = NULL;
        if (arch == NULL) {
            /* not installed: its files are not there, or are not its any more */
        } else if ((l = sp_vec_push(&db->lists)) == NULL || (l->arch = strdup(arch)) == NULL) {
            rc = sp_fail(err, ENOMEM, "out of memory");
        } else {
            char *colon = strchr(name, ':');
            if (colon)
                *colon = '\0';
            l->pkg = name;
            name = NULL;
            rc = read_list(db, dirfd(d), de, l, err);
        }
        free(name);
    }
    closedir(d);
    return rc;
}

int sp_dpkg_init(struct sp_dpkg *db, const char *root, struct sp_err *err)
{
    memset(db, 0, sizeof *db);
    sp_map_init(&db->full);
    sp_map_init(&db->byname);
    sp_vec_init(&db->lists, sizeof(struct sp_dpkg_list));
    return sp_root_init(&db->root, root, err);
}

int sp_dpkg_load(struct sp_dpkg *db, const char *root, struct sp_err *err)
{
    if (sp_dpkg_init(db, root, err) < 0)
        return -1;
    if (sp_root_slurp(&db->root, "/var/lib/dpkg/status", SP_MAX_DPKG_FILE, SP_ERR_DPKG, &db->status,
                      &db->status_len, err) < 0)
        return -1;
    if (sp_dpkg_index(db, err) < 0)
        return -1;
    if (sp_root_slurp(&db->root, "/var/lib/dpkg/diversions", SP_MAX_DPKG_FILE, SP_ERR_DPKG,
                      &db->diversions, &db->diversions_len, err) < 0) {
        if (err->errnum == ENOMEM)
            return -1;
        /* No diversions file: nothing is diverted. An unreadable one: say so, go on. */
        if (err->errnum != ENOENT &&
            sp_strs_pushf(&db->warnings, "%s: diversions ignored", err->msg) < 0)
            return sp_fail(err, ENOMEM, "out of memory");
    }
    return read_lists(db, err);
}

void sp_dpkg_free(struct sp_dpkg *db)
{
    for (size_t i = 0; i < db->lists.len; i++) {
        struct sp_dpkg_list *l = &SP_VEC_AT(&db->lists, struct sp_dpkg_list, i);
        free(l->pkg);
        free(l->arch);
        free(l->buf);
    }
    sp_vec_free(&db->lists);
    sp_map_free(&db->full);
    sp_map_free(&db->byname);
    sp_strs_free(&db->strings);
    sp_strs_free(&db->warnings);
    free(db->status);
    free(db->diversions);
    sp_root_free(&db->root);
    memset(db, 0, sizeof *db);
}

/* ---- lookup: which of the loaded lists name the wanted paths ---- */

struct target {
    struct sp_vec owners; /* struct sp_owner, strings borrowed from the database */
};

struct query {
    struct sp_dpkg *db;
    struct sp_map wanted; /* canonical path -> index + 1 into targets */
    struct sp_map bases;  /* file names of wanted paths -> 1 */
    struct sp_vec targets;
    /* One bit per (file name length, first byte) among the wanted names: most lines of the lists
     * are rejected by it without hashing their file name. */
    unsigned char filter[64 * 256 / 8];
};

/* The bit of the filter that a file name NAME (LEN bytes) sets. */
static size_t filter_bit(const char *name, size_t len)
{
    return (len < 63 ? len : 63) * 256 + (unsigned char)name[0];
}

/* Registers PATH (canonical) as wanted. Returns its target index or -1 when out of memory. */
static long want(struct query *q, const char *path)
{
    intptr_t *slot = sp_map_get(&q->wanted, path);
    if (slot)
        return (long)*slot - 1;
    struct target *t = sp_vec_push(&q->targets);
    if (t == NULL || (slot = sp_map_put(&q->wanted, path)) == NULL)
        return -1;
    sp_vec_init(&t->owners, sizeof(struct sp_owner));
    *slot = (intptr_t)q->targets.len;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    if (*base == '\0' || (slot = sp_map_put(&q->bases, base)) == NULL)
        return *base == '\0' ? (long)q->targets.len - 1 : -1;
    *slot = 1;
    size_t bit = filter_bit(base, strlen(base));
    q->filter[bit / 8] |= (unsigned char)(1u << (bit % 8));
    return (long)q->targets.len - 1;
}

/* Appends PKG (ARCH) to OWNERS (struct sp_owner) unless it is there. Returns -1 when out of
 * memory. */
static int add_owner(struct sp_vec *owners, const char *pkg, const char *arch)
{
    for (size_t i = 0; i < owners->len; i++) {
        struct sp_owner *o = &SP_VEC_AT(owners, struct sp_owner, i);
        if (strcmp(o->package, pkg) == 0 && strcmp(o->arch, arch) == 0)
            return 0;
    }
    struct sp_owner *o = sp_vec_push(owners);
    if (o == NULL)
        return -1;
    o->package = (char *)pkg;
    o->arch = (char *)arch;
    return 0;
}

/* Scans one package's list for wanted paths. */
static int scan_list(struct query *q, struct sp_dpkg_list *l)
{
    if (l->buf == NULL)
        return 0; /* the list could not be read (there is a warning) */
    char *end = l->buf + l->len;
    for (char *line = l->buf; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        char *stop = nl ? nl : end;
        char *slash = memrchr(line, '/', (size_t)(stop - line));
        size_t baselen = slash ? (size_t)(stop - slash - 1) : 0;
        size_t bit = baselen ? filter_bit(slash + 1, baselen) : 0;
        if (baselen && (q->filter[bit / 8] & (1u << (bit % 8))) &&
            sp_map_getn(&q->bases, slash + 1, baselen)) {
            char saved = *stop;
            *stop = '\0';
            char *canon = sp_root_canon_link(&q->db->root, line);
            *stop = saved;
            if (canon == NULL && errno == ENOMEM)
                return -1;
            intptr_t *slot = canon ? sp_map_get(&q->wanted, canon) : NULL;
            free(canon);
            if (slot) {
                struct target *t = &SP_VEC_AT(&q->targets, struct target, *slot - 1);
                if (add_owner(&t->owners, l->pkg, l->arch) < 0)
                    return -1;
            }
        }
        line = stop + 1;
    }
    return 0;
}

struct diversion {
    char *from, *to; /* canonical spellings, or NULL when their directory does not exist */
    const char *by;  /* diverting package, or ":" for a local diversion */
    long from_target;
};

/* Parses the diversions file: records of three lines (from, to, package). */
static int parse_diversions(struct query *q, struct sp_vec *divs)
{
    if (q->db->diversions == NULL)
        return 0; /* no diversions file */
    const char *p = q->db->diversions, *end = p + q->db->diversions_len;
    const char *line[3];
    size_t len[3];
    int k = 0;
    while (p && p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        line[k] = p;
        len[k] = (size_t)((nl ? nl : end) - p);
        p = nl ? nl + 1 : NULL;
        if (++k < 3)
            continue;
        k = 0;
        struct diversion *dv = sp_vec_push(divs);
        char *from = strndup(line[0], len[0]), *to = strndup(line[1], len[1]);
        if (dv == NULL || from == NULL || to == NULL ||
            sp_strs_take(&q->db->strings, strndup(line[2], len[2])) < 0) {
            free(from);
            free(to);
            return -1;
        }
        dv->by = q->db->strings.items[q->db->strings.len - 1];
        dv->from = sp_root_canon_link(&q->db->root, from);
        dv->to = sp_root_canon_link(&q->db->root, to);
        dv->from_target = -1;
        free(from);
        free(to);
    }
    return 0;
}

/* The owners of PATH given the diversions: a diverted path belongs to the diverting package
 * (to nobody for a local diversion), the diverted-away copy to the packages that list the
 * original path, less the diverting one. Appends to RESULT. */
static int owners_of(struct query *q, struct sp_vec *divs, const char *path, long target,
                     struct sp_vec *result)
{
    const struct sp_vec *src = &SP_VEC_AT(&q->targets, struct target, target).owners;
    const char *skip = NULL;
    for (size_t j = 0; j < divs->len; j++) {
        struct diversion *dv = &SP_VEC_AT(divs, struct diversion, j);
        if (dv->from && strcmp(dv->from, path) == 0) {
            if (strcmp(dv->by, ":") == 0)
                return 0;
            intptr_t *slot = sp_map_get(&q->db->byname, dv->by);
            return add_owner(result, dv->by, slot ? q->db->strings.items[*slot - 1] : "");
        }
        if (dv->to && dv->from_target >= 0 && strcmp(dv->to, path) == 0) {
            src = &SP_VEC_AT(&q->targets, struct target, dv->from_target).owners;
            skip = dv->by;
        }
    }
    for (size_t j = 0; j < src->len; j++) {
        struct sp_owner *o = &SP_VEC_AT(src, struct sp_owner, j);
        if ((skip == NULL || strcmp(o->package, skip) != 0) &&
            add_owner(result, o->package, o->arch) < 0)
            return -1;
    }
    return 0;
}

int sp_dpkg_lookup(struct sp_dpkg *db, const char *const *paths, size_t n, struct sp_owners *out,
                   struct sp_err *err)
{
    struct query q = {.db = db};
    struct sp_vec divs, result;
    long *index = calloc(n + 1, sizeof *index);
    int rc = -1;

    sp_map_init(&q.wanted);
    sp_map_init(&q.bases);
    sp_vec_init(&q.targets, sizeof(struct target));
    sp_vec_init(&divs, sizeof(struct diversion));
    sp_vec_init(&result, sizeof(struct sp_owner));
    memset(out, 0, n * sizeof *out);
    if (index == NULL || parse_diversions(&q, &divs) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        if ((index[i] = want(&q, paths[i])) < 0)
            goto out;
    }
    for (size_t i = 0; i < divs.len; i++) {
        struct diversion *dv = &SP_VEC_AT(&divs, struct diversion, i);
        if (dv->from && dv->to && sp_map_get(&q.wanted, dv->to) &&
            (dv->from_target = want(&q, dv->from)) < 0)
            goto out;
    }
    for (size_t i = 0; i < db->lists.len; i++) {
        if (scan_list(&q, &SP_VEC_AT(&db->lists, struct sp_dpkg_list, i)) < 0)
            goto out;
    }
    for (size_t i = 0; i < n; i++) {
        result.len = 0;
        if (owners_of(&q, &divs, paths[i], index[i], &result) < 0 ||
            (out[i].items = calloc(result.len + 1, sizeof(struct sp_owner))) == NULL)
            goto out;
        for (size_t j = 0; j < result.len; j++) {
            struct sp_owner *o = &SP_VEC_AT(&result, struct sp_owner, j);
            struct sp_owner *copy = &out[i].items[out[i].len];
            if ((copy->package = strdup(o->package)) == NULL)
                goto out;
            out[i].len++;
            if ((copy->arch = strdup(o->arch)) == NULL)
                goto out;
        }
    }
    rc = 0;
out:
    if (rc < 0) {
        sp_fail(err, ENOMEM, "out of memory");
        sp_owners_free(out, n);
    }
    for (size_t i = 0; i < divs.len; i++) {
        free(SP_VEC_AT(&divs, struct diversion, i).from);
        free(SP_VEC_AT(&divs, struct diversion, i).to);
    }
    sp_vec_free(&divs);
    sp_vec_free(&result);
    for (size_t i = 0; i < q.targets.len; i++)
        sp_vec_free(&SP_VEC_AT(&q.targets, struct target, i).owners);
    sp_vec_free(&q.targets);
    sp_map_free(&q.wanted);
    sp_map_free(&q.bases);
    free(index);
    return rc;
}

int sp_dpkg_owners(const char *root, const char *const *paths, size_t n, struct sp_owners *out,
                   struct sp_err *err)
{
    struct sp_dpkg db;
    int rc = sp_dpkg_load(&db, root, err);
    if (rc == 0)
        rc = sp_dpkg_lookup(&db, paths, n, out, err);
    sp_dpkg_free(&db);
    return rc;
}

void sp_owners_free(struct sp_owners *o, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < o[i].len; j++) {
            free(o[i].items[j].package);
            free(o[i].items[j].arch);
        }
        free(o[i].items);
        o[i].items = NULL;
        o[i].len = 0;
    }
}
