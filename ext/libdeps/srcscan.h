/* Reading the Python sources on every thread that has time (srcscan.c). */
#ifndef SNAKEPACK_LIBDEPS_SRCSCAN_H
#define SNAKEPACK_LIBDEPS_SRCSCAN_H

#include <pthread.h>
#include <stddef.h>

#include "common/util.h"
#include "libdeps/rootfs.h"

/* A Python source under a scanned path that names libraries (struct sp_pycall). */
struct sp_pysource {
    char *path;
    struct sp_vec calls;
};

/* The scanned directory that the sources paths[previous end .. END) lie below, open on FD;
 * SKIP: the length of the prefix of their paths that names it. */
struct sp_srcbase {
    int fd;
    size_t skip, end;
};

struct sp_srcscan {
    struct sp_strs paths;  /* the Python sources sp_walk found, root-relative */
    struct sp_vec bases;   /* struct sp_srcbase, one per scanned path */
    size_t next;           /* the next path to claim (atomic) */
    int no_openat2;        /* the kernel refused openat2, or the switch is set (atomic) */
    pthread_mutex_t lock;  /* guards what follows */
    struct sp_vec sources; /* struct sp_pysource: the sources that name libraries */
    struct sp_strs warnings;
    int enomem;
};

void sp_srcscan_init(struct sp_srcscan *s);
/* Records that the paths added since the previous call were found under the scanned PATH, and
 * opens the directory they lie below. */
int sp_srcscan_base(struct sp_srcscan *s, const struct sp_root *r, const char *path,
                    struct sp_err *err);
/* Reads sources until none is left to claim; any number of threads may call it at once. */
void sp_srcscan_work(struct sp_srcscan *s);
/* Once every thread is done: sorts the sources and warnings. */
void sp_srcscan_done(struct sp_srcscan *s);
void sp_srcscan_free(struct sp_srcscan *s);

#endif
