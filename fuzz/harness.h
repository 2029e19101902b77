/* Helpers shared by the libFuzzer harnesses: splitting one input into several files, and a
 * scratch root filesystem made once per process. Harnesses only; never linked into snakepack. */
#ifndef SNAKEPACK_FUZZ_HARNESS_H
#define SNAKEPACK_FUZZ_HARNESS_H

#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/util.h"

/* Inputs made of several texts separate them with this line; scripts/fuzz writes seeds so. */
#define PART_SEPARATOR "\n@@\n"

struct part {
    char *text; /* NUL-terminated copy (the input may hold NULs too: LEN counts them) */
    size_t len;
};

/* Splits DATA into at most MAX parts; returns how many. Free with free_parts. */
static size_t split_parts(const uint8_t *data, size_t size, struct part *parts, size_t max)
{
    size_t n = 0, sep = strlen(PART_SEPARATOR);
    const uint8_t *p = data, *end = data + size;
    while (n < max) {
        const uint8_t *at = n + 1 < max ? memmem(p, (size_t)(end - p), PART_SEPARATOR, sep) : NULL;
        size_t len = (size_t)((at ? at : end) - p);
        parts[n].text = malloc(len + 1);
        if (parts[n].text == NULL)
            abort();
        if (len)
            memcpy(parts[n].text, p, len);
        parts[n].text[len] = '\0';
        parts[n].len = len;
        n++;
        if (at == NULL)
            break;
        p = at + sep;
    }
    return n;
}

static void free_parts(struct part *parts, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(parts[i].text);
}

/* A scratch directory for this process, made on first use. */
static const char *scratch_root(void)
{
    static char root[64];
    if (root[0] == '\0') {
        snprintf(root, sizeof root, "/tmp/snakepack-fuzz-XXXXXX");
        if (mkdtemp(root) == NULL)
            abort();
    }
    return root;
}

/* Makes the directories of ROOT/REL. */
static void make_dirs(const char *root, const char *rel)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    for (char *p = path + strlen(root) + 1; *p; p++) {
        if (*p == '/') {
            *p = '\0';
            mkdir(path, 0755);
            *p = '/';
        }
    }
    mkdir(path, 0755);
}

/* Writes LEN bytes of TEXT to ROOT/REL, replacing what was there. */
static void write_file(const char *root, const char *rel, const void *text, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        abort();
    for (size_t done = 0; done < len;) {
        ssize_t n = write(fd, (const char *)text + done, len - done);
        if (n <= 0)
            abort();
        done += (size_t)n;
    }
    close(fd);
}

/* Makes ROOT/REL a symlink to TARGET, replacing what was there (an empty TARGET cannot be). */
static void write_link(const char *root, const char *rel, const char *target)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    unlink(path);
    (void)!symlink(target, path);
}

#endif
