/* find-libdeps as one C job: the dpkg database is read on a second thread while the trees are
 * walked and every ELF file's load tree is built; then every library the trees load is looked
 * up in it. A library an installed package owns maps to that package wherever it lies, also
 * inside a scanned tree (scanning /usr lists libc6); only one that no package owns and that lies
 * inside a scanned tree is bundled. So a scan of a tree lists a superset of what a scan of any
 * part of it lists.
 *
 * With dlopen notes followed, the Python sources the walk finds are read too, for the library
 * names they pass to ctypes and cffi: by a third thread while the ELF files resolve, then by
 * this one (srcscan.c). */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "libdeps/libdeps.h"
#include "libdeps/pysrc.h"
#include "libdeps/walk.h"

/* The database thread: loads the dpkg database of the job ARG (db, db_rc, db_err). */
static void *load_db(void *arg)
{
    struct sp_libdeps *job = arg;
    job->db_rc = sp_dpkg_load(&job->db, job->root, &job->db_err);
    return NULL;
}

/* A helper thread: reads Python sources of the scan ARG until none is left to claim. */
static void *read_sources(void *arg)
{
    sp_srcscan_work(arg);
    return NULL;
}

/* Builds the trees of the Python sources that name libraries, once every thread read them. */
static int resolve_sources(struct sp_libdeps *job, struct sp_err *err)
{
    struct sp_srcscan *s = &job->src;
    sp_srcscan_done(s);
    if (s->enomem)
        return sp_fail(err, ENOMEM, "out of memory");
    for (size_t i = 0; i < s->warnings.len; i++) {
        if (sp_ld_warn(&job->ld, s->warnings.items[i]) < 0)
            return sp_fail(err, ENOMEM, "out of memory");
    }
    for (size_t i = 0; i < s->sources.len; i++) {
        struct sp_pysource *src = &SP_VEC_AT(&s->sources, struct sp_pysource, i);
        if (sp_ld_resolve_source(&job->ld, src->path, &src->calls, err) < 0)
            return -1;
    }
    return 0;
}

/* Returns 1 when canonical PATH lies inside one of the scanned trees. */
static int inside(const struct sp_strs *trees, const char *path)
{
    for (size_t i = 0; i < trees->len; i++) {
        const char *t = trees->items[i];
        size_t n = strlen(t);
        if (strcmp(t, "/") == 0 ||
            (strncmp(path, t, n) == 0 && (path[n] == '\0' || path[n] == '/')))
            return 1;
    }
    return 0;
}

/* Looks up the owners of every file the trees load: by the canonical-directory spellings it
 * was opened under, else by its real path (alternatives and ldconfig-made links belong to
 * nobody, their targets to a package). */
static int find_owners(struct sp_libdeps *job, struct sp_err *err)
{
    struct sp_ld *ld = &job->ld;
    size_t nfiles = ld->files.len;
    struct sp_strs queries = {0};
    struct sp_owners *answers = NULL;
    size_t *first = calloc(nfiles + 1, sizeof *first);
    int rc = -1;

    job->owners = calloc(nfiles + 1, sizeof *job->owners);
    job->loaded = calloc(nfiles + 1, 1);
    job->inside = calloc(nfiles + 1, 1);
    if (first == NULL || job->owners == NULL || job->loaded == NULL || job->inside == NULL)
        goto enomem;
    for (size_t t = 0; t < ld->trees.len; t++) {
        struct sp_tree *tree = &SP_VEC_AT(&ld->trees, struct sp_tree, t);
        for (size_t i = 1; i < tree->nodes.len; i++)
            job->loaded[SP_VEC_AT(&tree->nodes, struct sp_node, i).file] = 1;
    }
    for (size_t f = 0; f < nfiles; f++) {
        if (!job->loaded[f])
            continue;
        struct sp_file *file = &SP_VEC_AT(&ld->files, struct sp_file, f);
        job->inside[f] = (unsigned char)inside(&job->canonical, file->path);
        first[f] = queries.len;
        for (size_t i = 0; i < file->links.len; i++) {
            if (sp_strs_push(&queries, file->links.items[i]) < 0)
                goto enomem;
        }
        if (sp_strs_push(&queries, file->path) < 0)
            goto enomem;
    }
    if ((answers = calloc(queries.len + 1, sizeof *answers)) == NULL)
        goto enomem;
    if (sp_dpkg_lookup(&job->db, (const char *const *)queries.items, queries.len, answers, err) < 0)
        goto out;
    for (size_t f = 0; f < nfiles; f++) {
        if (!job->loaded[f])
            continue;
        size_t nlinks = SP_VEC_AT(&ld->files, struct sp_file, f).links.len;
        size_t pick = first[f] + nlinks; /* the real path, unless a spelling has owners */
        for (size_t i = first[f]; i < first[f] + nlinks; i++) {
            if (answers[i].len) {
                pick = i;
                break;
            }
        }
        job->owners[f] = answers[pick];
        answers[pick] = (struct sp_owners){0};
    }
    rc = 0;
    goto out;
enomem:
    sp_fail(err, ENOMEM, "out of memory");
out:
    if (answers)
        sp_owners_free(answers, queries.len);
    free(answers);
    free(first);
    sp_strs_free(&queries);
    return rc;
}

int sp_libdeps_run(struct sp_libdeps *job, struct sp_err *err)
{
    pthread_t thread, src_thread;
    int threaded = 0, src_threaded = 0, rc;

    if (job->dpkg) {
        threaded = pthread_create(&thread, NULL, load_db, job) == 0;
        if (!threaded)
            load_db(job);
    }
    rc = sp_ld_init(&job->ld, job->root, err);
    job->ld_ready = 1;
    if (rc == 0) {
        job->ld.dlopen = job->dlopen;
        job->ld.versions = job->versions;
        job->ld.symbols = job->symbols;
        sp_strs_free(&job->ld.ld_library_path);
        job->ld.ld_library_path = job->ld_library_path;
        job->ld_library_path = (struct sp_strs){0};
        if ((job->src_ready = job->dlopen >= 0))
            sp_srcscan_init(&job->src);
    }
    struct sp_strs found = {0};
    for (size_t i = 0; rc == 0 && i < job->scan.len; i++) {
        char *canon = NULL;
        rc = sp_walk(&job->ld.root, job->scan.items[i], &found,
                     job->src_ready ? &job->src.paths : NULL, &job->ld.warnings, err);
        if (rc == 0 && job->src_ready)
            rc = sp_srcscan_base(&job->src, &job->ld.root, job->scan.items[i], err);
        if (rc == 0 && sp_root_resolve(&job->ld.root, job->scan.items[i], 1, &canon) < 0)
            rc = sp_fail_at(err, SP_ERR_INPUT, job->scan.items[i], errno, "%s", strerror(errno));
        if (rc == 0 && sp_strs_take(&job->canonical, canon) < 0)
            rc = sp_fail(err, ENOMEM, "out of memory");
    }
    if (rc == 0 && job->src_ready && job->src.paths.len)
        src_threaded = pthread_create(&src_thread, NULL, read_sources, &job->src) == 0;
    for (size_t i = 0; rc == 0 && i < found.len; i++)
        rc = sp_ld_resolve_root(&job->ld, found.items[i], err);
    sp_strs_free(&found);
    if (job->src_ready) {
        if (rc == 0)
            sp_srcscan_work(&job->src); /* what is left to read, beside the other thread */
        else
            __atomic_store_n(&job->src.next, job->src.paths.len, __ATOMIC_RELAXED); /* stop */
        if (src_threaded)
            pthread_join(src_thread, NULL);
        if (rc == 0)
            rc = resolve_sources(job, err);
    }
    if (threaded)
        pthread_join(thread, NULL);
    if (rc == 0 && job->dpkg && job->db_rc < 0) {
        *err = job->db_err;
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && job->dpkg && i < job->db.warnings.len; i++) {
        if (sp_strs_push(&job->ld.warnings, job->db.warnings.items[i]) < 0)
            rc = sp_fail(err, ENOMEM, "out of memory");
    }
    if (rc == 0 && job->dpkg)
        rc = find_owners(job, err);
    return rc;
}

void sp_libdeps_free(struct sp_libdeps *job)
{
    if (job->owners)
        sp_owners_free(job->owners, job->ld.files.len);
    free(job->owners);
    free(job->loaded);
    free(job->inside);
    if (job->src_ready)
        sp_srcscan_free(&job->src);
    if (job->ld_ready)
        sp_ld_free(&job->ld);
    if (job->dpkg)
        sp_dpkg_free(&job->db);
    sp_strs_free(&job->scan);
    sp_strs_free(&job->ld_library_path);
    sp_strs_free(&job->canonical);
}
