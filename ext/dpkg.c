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

#include "snakepack.h"

/* Reads the whole file at HOST into *BUF (NUL-terminated). Returns 0 or -1 with errno. */
static int slurp(const char *host, char **buf, size_t *len)
{
    int fd = open(host, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat st;
    if (fstat(fd, &st) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    size_t cap = (size_t)st.st_size + 1, n = 0;
    char *data = malloc(cap);
    for (ssize_t got = 1; data && got > 0;) {
        if (n + 1 >= cap) {
            char *bigger = realloc(data, cap *= 2);
            if (bigger == NULL) {
                free(data);
                data = NULL;
                break;
            }
            data = bigger;
        }
        got = read(fd, data + n, cap - n - 1);
        if (got < 0) {
            int saved = errno;
            free(data);
            close(fd);
            errno = saved;
            return -1;
        }
        n += (size_t)got;
    }
    close(fd);
    if (data == NULL) {
        errno = ENOMEM;
        return -1;
    }
    data[n] = '\0';
    *buf = data;
    *len = n;
    return 0;
}

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

struct installed_cb {
    void (*fn)(const char *, const char *, void *);
    void *arg;
};

static int call_installed(const char *pkg, const char *arch, void *arg)
{
    struct installed_cb *cb = arg;
    cb->fn(pkg, arch, cb->arg);
    return 0;
}

int sp_dpkg_installed(const char *path, void (*fn)(const char *, const char *, void *), void *arg,
                      struct sp_err *err)
{
    char *buf;
    size_t len;
    if (slurp(path, &buf, &len) < 0)
        return sp_fail(err, errno, "%s: %s", path, strerror(errno));
    struct installed_cb cb = {fn, arg};
    parse_status(buf, call_installed, &cb);
    free(buf);
    return 0;
}

/* ---- ownership ---- */

struct target {
    struct sp_vec owners; /* struct sp_owner, borrowed strings from db.arches/db.names */
};

struct db {
    struct sp_root *root;
    struct sp_map full;   /* "pkg:arch" of installed packages -> 1 */
    struct sp_map byname; /* "pkg" -> index + 1 into arches, for lists named without arch */
    struct sp_strs strings; /* owned package and architecture names */
    struct sp_map wanted; /* canonical path -> index + 1 into targets */
    struct sp_map bases;  /* file names of wanted paths -> 1 */
    struct sp_vec targets;
};

static int add_installed(const char *pkg, const char *arch, void *arg)
{
    struct db *db = arg;
    char *key = sp_aprintf("%s:%s", pkg, arch);
    intptr_t *slot = key ? sp_map_put(&db->full, key) : NULL;
    free(key);
    if (slot == NULL)
        return -1;
    *slot = 1;
    if (sp_strs_push(&db->strings, arch) < 0 || (slot = sp_map_put(&db->byname, pkg)) == NULL)
        return -1;
    *slot = (intptr_t)db->strings.len;
    return 0;
}

/* Registers PATH (canonical) as wanted. Returns its target index or -1 when out of memory. */
static long want(struct db *db, const char *path)
{
    intptr_t *slot = sp_map_get(&db->wanted, path);
    if (slot)
        return (long)*slot - 1;
    struct target *t = sp_vec_push(&db->targets);
    if (t == NULL || (slot = sp_map_put(&db->wanted, path)) == NULL)
        return -1;
    sp_vec_init(&t->owners, sizeof(struct sp_owner));
    *slot = (intptr_t)db->targets.len;
    const char *base = strrchr(path, '/');
    if ((slot = sp_map_put(&db->bases, base ? base + 1 : path)) == NULL)
        return -1;
    *slot = 1;
    return (long)db->targets.len - 1;
}

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

/* Scans one .list file's text for wanted paths owned by PKG/ARCH. */
static int scan_list(struct db *db, char *buf, size_t len, const char *pkg, const char *arch)
{
    char *end = buf + len;
    for (char *line = buf; line < end;) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        char *stop = nl ? nl : end;
        char *slash = memrchr(line, '/', (size_t)(stop - line));
        if (slash && slash + 1 < stop && sp_map_getn(&db->bases, slash + 1,
                                                     (size_t)(stop - slash - 1))) {
            *stop = '\0';
            char *canon = sp_root_canon_link(db->root, line);
            if (canon == NULL && errno == ENOMEM)
                return -1;
            intptr_t *slot = canon ? sp_map_get(&db->wanted, canon) : NULL;
            free(canon);
            if (slot) {
                struct target *t = &SP_VEC_AT(&db->targets, struct target, *slot - 1);
                if (add_owner(&t->owners, pkg, arch) < 0)
                    return -1;
            }
        }
        line = stop + 1;
    }
    return 0;
}

/* Reads every installed package's .list once. */
static int scan_lists(struct db *db, struct sp_err *err)
{
    char *dir = sp_root_host(db->root, "/var/lib/dpkg/info");
    if (dir == NULL)
        return sp_fail(err, ENOMEM, "out of memory");
    DIR *d = opendir(dir);
    if (d == NULL) {
        int saved = errno;
        free(dir);
        return sp_fail(err, saved, "/var/lib/dpkg/info: %s", strerror(saved));
    }
    int rc = 0;
    struct dirent *de;
    char *buf = NULL;
    size_t len;
    while (rc == 0 && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (n <= 5 || strcmp(de->d_name + n - 5, ".list") != 0)
            continue;
        /* <pkg>.list, or <pkg>:<arch>.list for Multi-Arch: same packages. */
        char *name = strndup(de->d_name, n - 5);
        if (name == NULL) {
            rc = sp_fail(err, ENOMEM, "out of memory");
            break;
        }
        char *colon = strchr(name, ':');
        const char *arch = NULL;
        intptr_t *slot;
        if (colon) {
            if (sp_map_get(&db->full, name))
                arch = colon + 1;
        } else if ((slot = sp_map_get(&db->byname, name)) != NULL) {
            arch = db->strings.items[*slot - 1];
        }
        if (arch) {
            if (colon)
                *colon = '\0';
            /* owners borrow these strings until the database is freed */
            if (sp_strs_push(&db->strings, name) < 0 || sp_strs_push(&db->strings, arch) < 0) {
                rc = sp_fail(err, ENOMEM, "out of memory");
            } else {
                const char *pkg = db->strings.items[db->strings.len - 2];
                arch = db->strings.items[db->strings.len - 1];
                char *path = sp_path_join(dir, de->d_name);
                if (path == NULL) {
                    rc = sp_fail(err, ENOMEM, "out of memory");
                } else if (slurp(path, &buf, &len) < 0) {
                    rc = errno == ENOMEM ? sp_fail(err, ENOMEM, "out of memory") : 0;
                } else {
                    if (scan_list(db, buf, len, pkg, arch) < 0)
                        rc = sp_fail(err, ENOMEM, "out of memory");
                    free(buf);
                }
                free(path);
            }
        }
        free(name);
    }
    closedir(d);
    free(dir);
    return rc;
}

struct diversion {
    char *from, *to; /* canonical spellings, or NULL when their directory does not exist */
    const char *by;  /* diverting package, or ":" for a local diversion */
    long from_target;
};

/* Reads var/lib/dpkg/diversions: records of three lines (from, to, package). */
static int read_diversions(struct db *db, struct sp_vec *divs, struct sp_err *err)
{
    char *host = sp_root_host(db->root, "/var/lib/dpkg/diversions");
    char *buf = NULL;
    size_t len;
    if (host == NULL)
        return sp_fail(err, ENOMEM, "out of memory");
    int rc = slurp(host, &buf, &len);
    free(host);
    if (rc < 0)
        return errno == ENOENT ? 0 : sp_fail(err, errno, "/var/lib/dpkg/diversions: %s",
                                             strerror(errno));
    char *lines[3];
    int k = 0;
    for (char *save = NULL, *line = strtok_r(buf, "\n", &save); line;
         line = strtok_r(NULL, "\n", &save)) {
        lines[k++] = line;
        if (k < 3)
            continue;
        k = 0;
        struct diversion *dv = sp_vec_push(divs);
        if (dv == NULL || sp_strs_push(&db->strings, lines[2]) < 0) {
            free(buf);
            return sp_fail(err, ENOMEM, "out of memory");
        }
        dv->by = db->strings.items[db->strings.len - 1];
        dv->from = sp_root_canon_link(db->root, lines[0]);
        dv->to = sp_root_canon_link(db->root, lines[1]);
        dv->from_target = -1;
    }
    free(buf);
    return 0;
}

int sp_dpkg_owners(struct sp_root *r, const char *const *paths, size_t n, struct sp_owners *out,
                   struct sp_err *err)
{
    struct db db = {.root = r};
    struct sp_vec divs;
    long *index = calloc(n + 1, sizeof *index);
    char *status = NULL, *host = NULL;
    size_t len;
    int rc = -1;

    sp_map_init(&db.full);
    sp_map_init(&db.byname);
    sp_map_init(&db.wanted);
    sp_map_init(&db.bases);
    sp_vec_init(&db.targets, sizeof(struct target));
    sp_vec_init(&divs, sizeof(struct diversion));
    memset(out, 0, n * sizeof *out);
    if (index == NULL || (host = sp_root_host(r, "/var/lib/dpkg/status")) == NULL) {
        sp_fail(err, ENOMEM, "out of memory");
        goto out;
    }
    if (slurp(host, &status, &len) < 0) {
        sp_fail(err, errno, "/var/lib/dpkg/status: %s", strerror(errno));
        goto out;
    }
    if (parse_status(status, add_installed, &db) < 0 || read_diversions(&db, &divs, err) < 0)
        goto enomem_or_err;
    for (size_t i = 0; i < n; i++) {
        if ((index[i] = want(&db, paths[i])) < 0)
            goto enomem;
    }
    /* The diverted-away copy ("to") belongs to the packages that list the original path. */
    for (size_t i = 0; i < divs.len; i++) {
        struct diversion *dv = &SP_VEC_AT(&divs, struct diversion, i);
        if (dv->from && dv->to && sp_map_get(&db.wanted, dv->to) &&
            (dv->from_target = want(&db, dv->from)) < 0)
            goto enomem;
    }
    if (scan_lists(&db, err) < 0)
        goto out;
    for (size_t i = 0; i < n; i++) {
        const struct sp_vec *owners = &SP_VEC_AT(&db.targets, struct target, index[i]).owners;
        const struct sp_vec *from = NULL;
        const char *by = NULL;
        int diverted_here = 0;
        for (size_t j = 0; j < divs.len; j++) {
            struct diversion *dv = &SP_VEC_AT(&divs, struct diversion, j);
            if (dv->from && strcmp(dv->from, paths[i]) == 0) {
                diverted_here = 1; /* the file there is the diverting package's */
                by = strcmp(dv->by, ":") == 0 ? NULL : dv->by;
            } else if (dv->to && dv->from_target >= 0 && strcmp(dv->to, paths[i]) == 0) {
                from = &SP_VEC_AT(&db.targets, struct target, dv->from_target).owners;
                by = dv->by;
            }
        }
        struct sp_vec result;
        sp_vec_init(&result, sizeof(struct sp_owner));
        const struct sp_vec *src = diverted_here ? NULL : from ? from : owners;
        for (size_t j = 0; src && j < src->len; j++) {
            struct sp_owner *o = &SP_VEC_AT(src, struct sp_owner, j);
            if (from && by && strcmp(o->package, by) == 0)
                continue;
            if (add_owner(&result, o->package, o->arch) < 0)
                goto enomem;
        }
        if (diverted_here && by) {
            /* the diverting package's architecture: look it up among the installed */
            intptr_t *slot = sp_map_get(&db.byname, by);
            if (add_owner(&result, by, slot ? db.strings.items[*slot - 1] : "") < 0)
                goto enomem;
        }
        out[i].items = calloc(result.len + 1, sizeof(struct sp_owner));
        if (out[i].items == NULL) {
            sp_vec_free(&result);
            goto enomem;
        }
        for (size_t j = 0; j < result.len; j++) {
            struct sp_owner *o = &SP_VEC_AT(&result, struct sp_owner, j);
            out[i].items[j].package = strdup(o->package);
            out[i].items[j].arch = strdup(o->arch);
            out[i].len++;
            if (!out[i].items[j].package || !out[i].items[j].arch) {
                sp_vec_free(&result);
                goto enomem;
            }
        }
        sp_vec_free(&result);
    }
    rc = 0;
    goto out;
enomem:
    sp_fail(err, ENOMEM, "out of memory");
enomem_or_err:
    if (err->msg[0] == '\0')
        sp_fail(err, ENOMEM, "out of memory");
out:
    if (rc < 0)
        sp_owners_free(out, n);
    for (size_t i = 0; i < divs.len; i++) {
        free(SP_VEC_AT(&divs, struct diversion, i).from);
        free(SP_VEC_AT(&divs, struct diversion, i).to);
    }
    sp_vec_free(&divs);
    for (size_t i = 0; i < db.targets.len; i++)
        sp_vec_free(&SP_VEC_AT(&db.targets, struct target, i).owners);
    sp_vec_free(&db.targets);
    sp_map_free(&db.full);
    sp_map_free(&db.byname);
    sp_map_free(&db.wanted);
    sp_map_free(&db.bases);
    sp_strs_free(&db.strings);
    free(status);
    free(host);
    free(index);
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
