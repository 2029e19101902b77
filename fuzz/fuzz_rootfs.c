/* libFuzzer harness: path resolution inside a root (ext/rootfs.c) with an escape oracle.
 * Input parts: symlinks to make, one "NAME TARGET" per line (NAME a single component, made in
 * the root or in a/b; at most eight), then the path to resolve; its first byte also picks
 * whether a symlink in the last component is followed. The oracle: the answer is a clean
 * absolute path whose directory, looked up by the kernel, is that directory inside the root;
 * nothing ever leads out. sp_root_open must also come back at once, even for the FIFO that
 * the root holds. */
#include "harness.h"
#include "libdeps/rootfs.h"

#include <limits.h>

static char made[8][256];
static size_t nmade;

static int clean_name(const char *s)
{
    if (*s == '\0' || strcmp(s, ".") == 0 || strcmp(s, "..") == 0 || strlen(s) > 32)
        return 0;
    return strchr(s, '/') == NULL;
}

static void make_links(const char *root, char *text)
{
    for (char *line = text, *nl; line && nmade < 8; line = nl ? nl + 1 : NULL) {
        nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        char *space = strchr(line, ' ');
        if (space == NULL)
            continue;
        *space = '\0';
        if (!clean_name(line))
            continue;
        snprintf(made[nmade], sizeof made[nmade], "%s%s", nmade % 2 ? "a/b/" : "", line);
        write_link(root, made[nmade++], space + 1);
    }
}

static void check(const char *root, const char *canon)
{
    if (canon[0] != '/' || strstr(canon, "//") || strstr(canon, "/./") || strstr(canon, "/../"))
        abort();
    size_t n = strlen(canon);
    if (n > 1 && (canon[n - 1] == '/' || strcmp(canon + n - 2, "/.") == 0 ||
                  (n >= 3 && strcmp(canon + n - 3, "/..") == 0)))
        abort();
    /* The directory of the answer, resolved by the kernel, must be that directory of the root. */
    char dir[PATH_MAX], real[PATH_MAX], want[PATH_MAX], rootreal[PATH_MAX];
    const char *slash = strrchr(canon, '/');
    snprintf(dir, sizeof dir, "%s%.*s", root, (int)(slash - canon), canon);
    if (realpath(root, rootreal) == NULL)
        abort();
    if (realpath(dir, real) == NULL)
        return; /* it does not exist: nothing to compare */
    snprintf(want, sizeof want, "%s%.*s", rootreal, (int)(slash - canon), canon);
    if (strcmp(real, want) != 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    const char *root = scratch_root();
    if (!ready) {
        make_dirs(root, "a/b/c");
        char fifo[256];
        snprintf(fifo, sizeof fifo, "%s/a/fifo", root);
        if (mkfifo(fifo, 0600) < 0)
            abort();
        ready = 1;
    }
    struct part parts[2];
    size_t n = split_parts(data, size, parts, 2);
    if (n == 2) {
        make_links(root, parts[0].text);
        /* The kernel's resolution (openat2) and the user-space walk must give the same answer. */
        struct sp_root r, walked;
        struct sp_err err = {0};
        unsetenv("SNAKEPACK_NO_OPENAT2");
        if (sp_root_init(&r, root, &err) < 0)
            abort();
        setenv("SNAKEPACK_NO_OPENAT2", "1", 1);
        if (sp_root_init(&walked, root, &err) < 0 || walked.fd >= 0)
            abort();
        char *canon = NULL, *canon2 = NULL;
        int follow = parts[1].len && (parts[1].text[0] & 1);
        char path[PATH_MAX];
        snprintf(path, sizeof path, "/%s", parts[1].text);
        int rc = sp_root_resolve(&r, path, follow, &canon);
        int rc2 = sp_root_resolve(&walked, path, follow, &canon2);
        if (rc != rc2 || (rc == 0 && strcmp(canon, canon2) != 0))
            abort();
        if (rc == 0)
            check(root, canon);
        free(canon);
        free(canon2);
        for (int i = 0; i < 2; i++) {
            int fd = sp_root_open(i ? &walked : &r, path, 0, SP_ERR_INPUT, &err);
            if (fd >= 0)
                close(fd);
        }
        sp_root_free(&r);
        sp_root_free(&walked);
    }
    for (size_t i = 0; i < nmade; i++) {
        char p[512];
        snprintf(p, sizeof p, "%s/%s", root, made[i]);
        unlink(p);
    }
    nmade = 0;
    free_parts(parts, n);
    return 0;
}
