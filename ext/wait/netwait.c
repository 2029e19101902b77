/* Waiting for endpoints to accept connections: every endpoint is its own small state machine
 * (attempt.c), all driven by one ppoll() loop with one monotonic deadline, here.
 *
 * Nothing ever waits past the deadline: every ppoll() timeout is bounded by it. One turn of the
 * loop starts attempts for at most TURN_BUDGET seconds and never past the deadline, then goes
 * back to ppoll() (with no wait if attempts are still due): where each connect() is slow (a
 * crowded port space makes it take milliseconds) thousands of endpoints can neither push the
 * exit past the deadline nor keep a signal from being seen.
 *
 * Names are resolved on short-lived helper threads (resolver.c); numeric addresses are parsed
 * on the spot. */
#define _GNU_SOURCE
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "wait/attempt.h"
#include "wait/netwait.h"
#include "wait/resolver.h"

#define TURN_BUDGET 0.010 /* seconds of attempts started per turn of the loop */
#define FD_RESERVE 32     /* descriptors left to the rest of the process */

/* Checks the options and that N endpoints fit in the open-files limit; sets w->fd_limit. */
static int check(struct waiter *w, size_t n, struct sp_err *err)
{
    const struct sp_wait_opts *o = w->o;
    if (!(o->period >= SP_MIN_PERIOD) || !isfinite(o->period))
        return sp_fail_at(err, SP_ERR_INPUT, NULL, 0, "period must be from %g s up", SP_MIN_PERIOD);
    if (!(o->timeout >= 0) || !(o->stable >= 0) || !isfinite(o->stable))
        return sp_fail_at(err, SP_ERR_INPUT, NULL, 0,
                          "timeout and stable must be numbers of seconds, 0 or more");
    struct rlimit rl;
    size_t limit = (size_t)1 << 30;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        limit = rl.rlim_cur;
    w->fd_limit = limit > FD_RESERVE ? limit - FD_RESERVE : 0;
    if (n > w->fd_limit)
        return sp_fail_at(err, SP_ERR_INPUT, NULL, EMFILE,
                          "%zu endpoints need a socket each, but the open-files limit is %zu "
                          "(ulimit -n), %d of them kept for the rest of the process",
                          n, limit, FD_RESERVE);
    return 0;
}

/* Starts the attempts that are due and gives up those past their bound, for at most
 * TURN_BUDGET seconds and never past the deadline, round-robin from w->cursor. Returns 1 when
 * work was left for the next turn. */
static int run_timers(struct waiter *w)
{
    double now = wait_now(), turn_end = now + TURN_BUDGET;
    for (size_t k = 0; k < w->n && !w->stopped; k++) {
        size_t i = (w->cursor + k) % w->n;
        struct ep *e = &w->eps[i];
        int due = e->state == IDLE && now >= e->next;
        int expired = (e->state == CONNECTING || e->state == TLS_HANDSHAKE ||
                       e->state == HTTP_SEND || e->state == HTTP_RECV) &&
                      now >= e->ends;
        if (!due && !expired)
            continue;
        if (now >= turn_end || now >= w->deadline) {
            w->cursor = i;
            return 1;
        }
        if (due)
            attempt_start(w, i, now);
        else
            attempt_expired(w, i, now);
        now = wait_now();
    }
    return 0;
}

/* Fills PFDS (growing it) with what the loop waits for; returns how many, or -1 when out of
 * memory. *WAKE gets the earliest timer. */
static long gather(struct waiter *w, struct pollfd **pfds, size_t **owner, size_t **slot,
                   size_t *cap, double *wake)
{
    size_t np = 0, need = 1;
    for (size_t i = 0; i < w->n; i++)
        need += w->eps[i].state == CONNECTING ? w->eps[i].nfds : 1;
    if (need > *cap) {
        struct pollfd *p = realloc(*pfds, need * sizeof *p);
        if (p)
            *pfds = p;
        size_t *o = p ? realloc(*owner, need * sizeof *o) : NULL;
        if (o)
            *owner = o;
        size_t *s = o ? realloc(*slot, need * sizeof *s) : NULL;
        if (s == NULL)
            return -1;
        *slot = s;
        *cap = need;
    }
    for (size_t i = 0; i < w->n; i++) {
        struct ep *e = &w->eps[i];
        switch (e->state) {
        case IDLE:
            *wake = e->next < *wake ? e->next : *wake;
            break;
        case RESOLVING:
            (*pfds)[np] = (struct pollfd){sp_resolve_fd(e->job), POLLIN, 0};
            (*owner)[np++] = i;
            break;
        case CONNECTING:
            for (size_t k = 0; k < e->nfds; k++) {
                if (e->fds[k] < 0)
                    continue;
                (*pfds)[np] = (struct pollfd){e->fds[k], POLLOUT, 0};
                (*slot)[np] = k;
                (*owner)[np++] = i;
            }
            *wake = e->ends < *wake ? e->ends : *wake;
            break;
        case TLS_HANDSHAKE:
        case HTTP_SEND:
        case HTTP_RECV:
            (*pfds)[np] = (struct pollfd){e->http_fd,
                                          e->tls                  ? e->want
                                          : e->state == HTTP_SEND ? POLLOUT
                                                                  : POLLIN,
                                          0};
            (*owner)[np++] = i;
            *wake = e->ends < *wake ? e->ends : *wake;
            break;
        }
    }
    if (w->o->cancel_fd >= 0) {
        (*pfds)[np] = (struct pollfd){w->o->cancel_fd, POLLIN, 0};
        (*owner)[np++] = (size_t)-1;
    }
    return (long)np;
}

/* The signals that may interrupt the wait: all but those the process raises on itself for a
 * fault, which must stay deliverable. */
static void async_signals(sigset_t *set)
{
    static const int faults[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGABRT, SIGSYS};
    sigfillset(set);
    for (size_t i = 0; i < sizeof faults / sizeof faults[0]; i++)
        sigdelset(set, faults[i]);
}

/* ppoll() delivers a pending signal only when no descriptor is ready (Linux do_poll() looks at
 * signals only when it found nothing): in a busy wait it may never get the chance. Delivers
 * what is pending and deliverable under UNBLOCKED (the handlers run as the mask drops) and
 * returns 1 when there was something. */
static int deliver_pending(const sigset_t *unblocked)
{
    sigset_t pending, blocked;
    if (sigpending(&pending) < 0)
        return 0;
    int any = 0;
    for (int sig = 1; sig < NSIG && !any; sig++)
        any = sigismember(&pending, sig) == 1 && sigismember(unblocked, sig) == 0;
    if (any) {
        pthread_sigmask(SIG_SETMASK, unblocked, &blocked);
        pthread_sigmask(SIG_SETMASK, &blocked, NULL);
    }
    return any;
}

/* After a signal's handlers ran: the caller's on_signal may stop the wait, and a handler that
 * asks to stop by writing to cancel_fd must end it now, not after the next turn has started a
 * batch of attempts. Returns 1 when cancel_fd asks to stop. */
static int after_signal(struct waiter *w)
{
    if (w->on_signal && w->on_signal(w->arg) < 0) {
        w->stopped = 1;
        return 0;
    }
    struct pollfd cancel = {w->o->cancel_fd, POLLIN, 0};
    return w->o->cancel_fd >= 0 && poll(&cancel, 1, 0) > 0;
}

int sp_wait_run(const struct sp_ep_spec *eps, size_t n, const struct sp_wait_opts *opts,
                struct sp_ep_result *out, sp_wait_event_fn on_event, sp_wait_signal_fn on_signal,
                void *arg, struct sp_err *err)
{
    struct waiter w = {.o = opts,
                       .n = n,
                       .pending = n,
                       .out = out,
                       .on_event = on_event,
                       .on_signal = on_signal,
                       .arg = arg,
                       .addresses = n};
    struct pollfd *pfds = NULL;
    size_t *owner = NULL, *slot = NULL, cap = 0;
    sigset_t blocked, unblocked;
    int rc = -1;

    memset(out, 0, n * sizeof *out);
    if (check(&w, n, err) < 0)
        return -1;
    /* Race-free signals: blocked here, unblocked only inside ppoll() by its mask. */
    async_signals(&blocked);
    pthread_sigmask(SIG_BLOCK, &blocked, &unblocked);
    pthread_sigmask(SIG_SETMASK, NULL, &w.wait_mask);
    w.caller_mask = unblocked;
    if (on_signal && on_signal(arg) < 0) { /* one that came just before the block */
        pthread_sigmask(SIG_SETMASK, &unblocked, NULL);
        return SP_WAIT_STOPPED;
    }
    w.start = wait_now();
    w.deadline = opts->timeout > 0 && isfinite(opts->timeout) ? w.start + opts->timeout : 1e300;
    w.eps = calloc(n + 1, sizeof *w.eps);
    if (w.eps == NULL) {
        sp_fail(err, ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < n; i++) /* zero is a descriptor: teardown must not close it for an */
        w.eps[i].http_fd = -1;     /* endpoint a failed setup never reached */
    if (waiter_setup(&w, eps, err) < 0)
        goto out;

    for (;;) {
        if (w.stopped) {
            rc = SP_WAIT_STOPPED;
            break;
        }
        if (w.pending == 0) {
            rc = SP_WAIT_ALL_DONE;
            for (size_t i = 0; i < n; i++)
                rc = out[i].done ? rc : SP_WAIT_NOT_READY; /* a probe gave up on it */
            break;
        }
        if (wait_now() >= w.deadline) {
            attempt_describe_pending(&w, wait_now());
            if (opts->verbose)
                waiter_emit(&w, (size_t)-1, SP_WAIT_DEADLINE, wait_now(), NULL);
            rc = SP_WAIT_TIMEOUT;
            break;
        }
        int more = run_timers(&w);
        if (w.stopped || w.pending == 0)
            continue;

        double wake = w.deadline;
        long np = gather(&w, &pfds, &owner, &slot, &cap, &wake);
        if (np < 0) {
            sp_fail(err, ENOMEM, "out of memory");
            goto out;
        }
        double left = more ? 0 : wake - wait_now();
        if (left < 0)
            left = 0;
        if (left > 86400)
            left = 86400;
        struct timespec ts = {(time_t)left, (long)((left - (double)(time_t)left) * 1e9)};
        int ready = ppoll(pfds, (nfds_t)np, &ts, &unblocked);
        if (ready < 0) {
            if (errno != EINTR) {
                sp_fail(err, errno, "ppoll: %s", strerror(errno));
                goto out;
            }
            if (after_signal(&w)) {
                rc = SP_WAIT_CANCELLED;
                goto out;
            }
            continue;
        }
        double now = wait_now();
        for (long p = 0; p < np && ready > 0 && !w.stopped; p++) {
            if (pfds[p].revents == 0)
                continue;
            ready--;
            if (owner[p] == (size_t)-1) {
                rc = SP_WAIT_CANCELLED;
                goto out;
            }
            size_t i = owner[p];
            struct ep *e = &w.eps[i];
            if (e->state == RESOLVING)
                attempt_resolved(&w, i, now);
            else if (e->state == CONNECTING && e->fds[slot[p]] == pfds[p].fd)
                attempt_connect_done(&w, i, slot[p], now);
            else if (e->state == TLS_HANDSHAKE && e->http_fd == pfds[p].fd)
                attempt_tls_handshake(&w, i, now);
            else if ((e->state == HTTP_SEND || e->state == HTTP_RECV) && e->http_fd == pfds[p].fd)
                attempt_http_io(&w, i, now);
        }
        if (deliver_pending(&unblocked) && after_signal(&w)) {
            rc = SP_WAIT_CANCELLED;
            goto out;
        }
    }
out:
    if (w.eps)
        waiter_teardown(&w);
    free(pfds);
    free(owner);
    free(slot);
    pthread_sigmask(SIG_SETMASK, &unblocked, NULL);
    return rc;
}
