/* libFuzzer harness: the dpkg database parsers and the owner lookup (ext/dpkg.c), in memory.
 * Input parts: status, diversions, one .list text (given to every installed package, at most
 * four), and query paths one per line (at most sixteen). Paths are matched inside a scratch
 * root that has the usrmerge layout (lib -> usr/lib). */
#include "harness.h"
#include "libdeps/dpkg.h"

struct fill {
    struct sp_dpkg *db;
    const struct part *list;
};

static void add_list(const char *key, intptr_t *value, void *arg)
{
    (void)value;
    struct fill *f = arg;
    if (f->db->lists.len >= 4)
        return;
    struct sp_dpkg_list *l = sp_vec_push(&f->db->lists);
    const char *colon = strrchr(key, ':');
    if (l == NULL || colon == NULL)
        abort();
    l->pkg = strndup(key, (size_t)(colon - key));
    l->arch = strdup(colon + 1);
    l->buf = malloc(f->list->len + 1);
    if (l->pkg == NULL || l->arch == NULL || l->buf == NULL)
        abort();
    memcpy(l->buf, f->list->text, f->list->len + 1);
    l->len = f->list->len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    const char *root = scratch_root();
    if (!ready) {
        make_dirs(root, "usr/lib/x86_64-linux-gnu");
        write_link(root, "lib", "usr/lib");
        ready = 1;
    }
    struct part parts[4] = {{0}};
    size_t n = split_parts(data, size, parts, 4);
    for (size_t i = n; i < 4; i++)
        parts[i] = (struct part){strdup(""), 0};

    struct sp_dpkg db;
    struct sp_err err = {0};
    if (sp_dpkg_init(&db, root, &err) < 0)
        abort();
    db.status = parts[0].text;
    db.status_len = parts[0].len;
    db.diversions = parts[1].text;
    db.diversions_len = parts[1].len;
    parts[0].text = parts[1].text = NULL; /* the database owns them now */
    if (sp_dpkg_index(&db, &err) == 0) {
        struct fill f = {&db, &parts[2]};
        sp_map_each(&db.full, add_list, &f);
        const char *queries[16];
        size_t nq = 0;
        for (char *line = parts[3].text, *nl; line && nq < 16; line = nl ? nl + 1 : NULL) {
            nl = strchr(line, '\n');
            if (nl)
                *nl = '\0';
            queries[nq++] = line;
        }
        struct sp_owners owners[16];
        if (sp_dpkg_lookup(&db, queries, nq, owners, &err) == 0)
            sp_owners_free(owners, nq);
    }
    sp_dpkg_free(&db);
    free_parts(parts, 4);
    return 0;
}
