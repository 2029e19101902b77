#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "wait/resolver.h"

struct sp_resolve_job {
    pthread_mutex_t lock;
    int refs; /* the thread's and the waiter's; the last one out frees */
    int fd;   /* eventfd written when the answer is in */
    char *host, *port;
    int rc, err; /* getaddrinfo's answer, and errno for EAI_SYSTEM */
    struct addrinfo *res;
};

/* Drops one hold on J; the last frees it. */
static void resolve_unref(struct sp_resolve_job *j)
{
    pthread_mutex_lock(&j->lock);
    int left = --j->refs;
    pthread_mutex_unlock(&j->lock);
    if (left > 0)
        return;
    if (j->res)
        freeaddrinfo(j->res);
    close(j->fd);
    free(j->host);
    free(j->port);
    pthread_mutex_destroy(&j->lock);
    free(j);
}

/* The thread: resolves, stores the answer, signals the eventfd, drops its hold. */
static void *resolve_thread(void *arg)
{
    struct sp_resolve_job *j = arg;
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(j->host, j->port, &hints, &res);
    int err = errno;
    pthread_mutex_lock(&j->lock);
    j->rc = rc;
    j->err = err;
    j->res = res;
    pthread_mutex_unlock(&j->lock);
    uint64_t one = 1;
    (void)!write(j->fd, &one, sizeof one);
    resolve_unref(j);
    return NULL;
}

struct sp_resolve_job *sp_resolve_start(const char *host, const char *port)
{
    struct sp_resolve_job *j = calloc(1, sizeof *j);
    if (j == NULL)
        return NULL;
    j->refs = 2;
    j->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    j->host = strdup(host);
    j->port = strdup(port);
    if (j->fd < 0 || j->host == NULL || j->port == NULL) {
        int saved = j->fd < 0 ? errno : ENOMEM;
        if (j->fd >= 0)
            close(j->fd);
        free(j->host);
        free(j->port);
        free(j);
        errno = saved;
        return NULL;
    }
    pthread_mutex_init(&j->lock, NULL);
    pthread_attr_t attr;
    pthread_attr_init(&attr);
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&attr, 256 * 1024);
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, resolve_thread, j);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    pthread_attr_destroy(&attr);
    if (rc != 0) {
        j->refs = 1;
        resolve_unref(j);
        errno = rc;
        return NULL;
    }
    return j;
}

int sp_resolve_fd(const struct sp_resolve_job *j)
{
    return j->fd;
}

int sp_resolve_take(struct sp_resolve_job *j, int *err, struct addrinfo **res)
{
    uint64_t count;
    (void)!read(j->fd, &count, sizeof count);
    pthread_mutex_lock(&j->lock);
    int rc = j->rc;
    *err = j->err;
    *res = j->res;
    j->res = NULL;
    pthread_mutex_unlock(&j->lock);
    resolve_unref(j);
    return rc;
}

void sp_resolve_drop(struct sp_resolve_job *j)
{
    resolve_unref(j);
}
