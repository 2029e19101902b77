/* libFuzzer harness: ld.so.conf with its includes (ext/ldconfig.c), inside a scratch root.
 * Input parts: etc/ld.so.conf, etc/ld.so.conf.d/a.conf, etc/ld.so.conf.d/b.conf,
 * opt/other.conf. The root also holds a symlink loop and links that point up and out, to a
 * directory outside the root. The oracle is the kernel's: inotify reports any open of that
 * directory or the file in it, and there must be none. */
#include "harness.h"
#include "libdeps/ldconfig.h"
#include "libdeps/rootfs.h"

#include <sys/inotify.h>

static int watch = -1;

static const char *setup(void)
{
    const char *root = scratch_root();
    if (watch < 0) {
        char outside[128];
        snprintf(outside, sizeof outside, "%s-outside", root);
        make_dirs("", outside);
        write_file(outside, "x.conf", "/usr/lib\n", 9);
        make_dirs(root, "etc/ld.so.conf.d");
        make_dirs(root, "opt");
        write_link(root, "etc/ld.so.conf.d/loop.conf", "/etc/ld.so.conf");
        write_link(root, "etc/ld.so.conf.d/outside", outside);
        write_link(root, "etc/up", "../../../../../../..");
        write_link(root, "opt/tmp", "/tmp");
        if ((watch = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 ||
            inotify_add_watch(watch, outside, IN_OPEN) < 0)
            abort();
    }
    return root;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const files[] = {"etc/ld.so.conf", "etc/ld.so.conf.d/a.conf",
                                        "etc/ld.so.conf.d/b.conf", "opt/other.conf"};
    const char *root = setup();
    struct part parts[4];
    size_t n = split_parts(data, size, parts, 4);
    for (size_t i = 0; i < 4; i++)
        write_file(root, files[i], i < n ? parts[i].text : "", i < n ? parts[i].len : 0);
    free_parts(parts, n);

    struct sp_root r;
    struct sp_err err = {0};
    struct sp_strs dirs = {0}, warnings = {0};
    if (sp_root_init(&r, root, &err) < 0)
        abort();
    if (sp_ldconf_dirs(&r, &dirs, &warnings, &err) == 0) {
        for (size_t i = 0; i < dirs.len; i++) {
            if (dirs.items[i][0] != '/')
                abort();
        }
    }
    char event[4096];
    if (read(watch, event, sizeof event) > 0)
        abort(); /* something outside the root was opened */
    sp_strs_free(&dirs);
    sp_strs_free(&warnings);
    sp_root_free(&r);
    return 0;
}
