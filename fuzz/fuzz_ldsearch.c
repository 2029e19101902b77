/* libFuzzer harness: the loader search (ext/ldsearch.c) over ELF files made from the input,
 * inside a scratch root. Input parts: app/x.so (the scanned object), app/lib/liba.so.1,
 * usr/lib/x86_64-linux-gnu/libb.so.1, and etc/ld.so.conf (there is no ld.so.cache). The oracle:
 * every edge names a node of its tree, every loaded file has a canonical path. */
#include "harness.h"
#include "libdeps/dlnote.h"
#include "libdeps/ldsearch.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const files[] = {"app/x.so", "app/lib/liba.so.1",
                                        "usr/lib/x86_64-linux-gnu/libb.so.1", "etc/ld.so.conf"};
    static int ready;
    const char *root = scratch_root();
    if (!ready) {
        make_dirs(root, "app/lib");
        make_dirs(root, "usr/lib/x86_64-linux-gnu");
        make_dirs(root, "etc");
        write_link(root, "lib", "usr/lib");
        ready = 1;
    }
    struct part parts[4];
    size_t n = split_parts(data, size, parts, 4);
    for (size_t i = 0; i < 4; i++)
        write_file(root, files[i], i < n ? parts[i].text : "", i < n ? parts[i].len : 0);
    free_parts(parts, n);

    struct sp_ld ld;
    struct sp_err err = {0};
    int ok = sp_ld_init(&ld, root, &err) == 0;
    ld.versions = 1; /* every reader: versions and dlopen notes too */
    ld.dlopen = SP_DLOPEN_SUGGESTED;
    if (ok && sp_ld_resolve_root(&ld, "/app/x.so", &err) == 0) {
        for (size_t t = 0; t < ld.trees.len; t++) {
            struct sp_tree *tree = &SP_VEC_AT(&ld.trees, struct sp_tree, t);
            for (size_t e = 0; e < tree->edges.len; e++) {
                long node = SP_VEC_AT(&tree->edges, struct sp_edge, e).node;
                if (node >= (long)tree->nodes.len)
                    abort();
            }
        }
        for (size_t f = 0; f < ld.files.len; f++) {
            if (SP_VEC_AT(&ld.files, struct sp_file, f).path[0] != '/')
                abort();
        }
    }
    sp_ld_free(&ld);
    return 0;
}
