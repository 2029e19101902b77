/* One endpoint's attempts, the state machine the wait drives (attempt.c): resolve, connect to
 * every address at once, for https:// and tls:// shake hands (tls.c), for http(s):// and the
 * databases ask whether it is ready and read the answer (protocol.c). Internal to the wait
 * wing: netwait.c runs the loop that drives every endpoint's machine. */
#ifndef SNAKEPACK_WAIT_ATTEMPT_H
#define SNAKEPACK_WAIT_ATTEMPT_H

#include <signal.h>
#include <stddef.h>
#include <sys/stat.h>
#include <time.h>

#include "wait/endpoint.h"
#include "wait/netwait.h"

struct addrinfo;
struct sp_resolve_job;
struct sp_tls;
struct sp_tls_ctx;

#define HTTP_MAX 1024 /* bytes of an answer read */

enum state { IDLE, RESOLVING, CONNECTING, TLS_HANDSHAKE, HTTP_SEND, HTTP_RECV, DONE };

/* One endpoint and its current attempt. */
struct ep {
    const struct sp_ep_spec *spec;
    int state;
    double next;          /* IDLE: when the next attempt starts */
    double started, ends; /* the current attempt: start, and when it is given up */
    struct sp_resolve_job *job;
    struct addrinfo *addrs; /* owned */
    double resolved_at;
    int *fds; /* CONNECTING: one socket per address, -1 when done with */
    size_t nfds, pending_fds;
    int http_fd;
    struct sp_tls *tls; /* on http_fd, for https:// and tls:// */
    short want;         /* with tls: what http_fd must become for the next step */
    char *request;      /* what is sent once connected (HTTP, REDIS, POSTGRES), or NULL */
    size_t request_len, sent, got;
    char reply[HTTP_MAX];
    double stable_since; /* first success of the current run of successes, or -1 */
    struct stat seen;    /* FILE: what the last attempt found */
    int said_unresolved;
    unsigned failures; /* attempts that failed or were given up */
    size_t peer;       /* 1 + the index in addrs of the address the current attempt's outcome
                          came from, or 0: formatted only when verbose says it */
    char *said_addrs;  /* verbose: the addresses last said, malloc'd */
};

/* The whole wait: every endpoint, the options, what is reported. */
struct waiter {
    const struct sp_wait_opts *o;
    struct ep *eps;
    size_t n, pending, resolvers;
    size_t cursor;    /* where the next turn starts looking for attempts due */
    size_t fd_limit;  /* descriptors the sockets may use */
    size_t addresses; /* of the endpoints resolved so far, one for each of the others */
    int said_crowded;
    double start, deadline;
    struct sp_ep_result *out;
    struct sp_tls_ctx *tls; /* when some endpoint speaks TLS */
    sp_wait_event_fn on_event;
    sp_wait_signal_fn on_signal;
    void *arg;
    sigset_t caller_mask, wait_mask; /* the signal mask of the caller, and the one of the wait */
    int stopped;
};

static inline double wait_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Prepares W's N endpoints of EPS (W's eps, out, n, o and start set): each idle, its request
 * made, the TLS context made when one speaks TLS. Returns 0, or -1 with ERR. */
int waiter_setup(struct waiter *w, const struct sp_ep_spec *eps, struct sp_err *err);
/* Releases what the endpoints hold (sockets, requests, addresses, resolver jobs) and w->eps. */
void waiter_teardown(struct waiter *w);
/* Gives EVENT of endpoint I (or of the whole wait: (size_t)-1) to the caller; sets w->stopped
 * when the caller, or a signal handler run meanwhile, asks to stop. */
void waiter_emit(struct waiter *w, size_t i, int event, double now, const char *detail);

/* The machine's steps. Each changes endpoint I's state (and w->pending, w->out[I]) and emits
 * what happened: */
/* Starts an attempt on idle endpoint I: resolving, connecting, or for a file one stat(). */
void attempt_start(struct waiter *w, size_t i, double now);
/* Gives up endpoint I's attempt, past its bound, and sets when the next one starts. */
void attempt_expired(struct waiter *w, size_t i, double now);
/* Takes the answer of endpoint I's resolver (its fd is readable) and connects. */
void attempt_resolved(struct waiter *w, size_t i, double now);
/* Socket K of endpoint I's connects became writable: connected, or refused. */
void attempt_connect_done(struct waiter *w, size_t i, size_t k, double now);
/* Endpoint I's TLS socket is ready for the handshake's next step. */
void attempt_tls_handshake(struct waiter *w, size_t i, double now);
/* Endpoint I's connected socket is ready to send the request or read the answer. */
void attempt_http_io(struct waiter *w, size_t i, double now);
/* Says, for each endpoint whose first attempt is still in flight at the deadline, what that
 * attempt has met (the others keep what their last failure met). */
void attempt_describe_pending(struct waiter *w, double now);

#endif
