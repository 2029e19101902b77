/* Waiting until endpoints accept connections (netwait.c): all of them at once, with nonblocking
 * sockets, one monotonic deadline, and name resolution on helper threads so that a slow DNS
 * server never holds up the other endpoints or the deadline. */
#ifndef SNAKEPACK_WAIT_NETWAIT_H
#define SNAKEPACK_WAIT_NETWAIT_H

#include <stddef.h>

#include "common/util.h"
#include "wait/endpoint.h"

struct sp_ep_result {
    int done;          /* ready (or, with invert, no longer accepting) */
    double elapsed;    /* seconds from the start until done */
    char detail[160];  /* the last failure, for endpoints still pending (never cut inside a
                          UTF-8 character) */
    unsigned attempts; /* attempts started */
};

#define SP_MIN_PERIOD 0.001 /* shorter periods would only spin */

struct sp_wait_opts {
    double timeout;     /* seconds; 0 (or infinity) waits forever */
    double period;      /* seconds between attempts that did not get an answer, and the bound of
                           each attempt; at least SP_MIN_PERIOD */
    double stable;      /* seconds an endpoint must keep accepting; 0: once is enough */
    int invert;         /* wait until nothing accepts any more */
    int cancel_fd;      /* readable means: stop now; -1 for none */
    int probe;          /* one attempt per endpoint: one that fails is done with, not ready */
    const char *cacert; /* https:// and tls://: trust the CA certificates of this PEM file */
    int insecure;       /* https:// and tls://: check no certificate */
    int verbose;        /* also give the RESOLVED, ATTEMPT and DEADLINE events */
};

enum sp_wait_event {
    SP_WAIT_DONE = 0,   /* an endpoint is ready (or, with invert, closed) */
    SP_WAIT_UNRESOLVED, /* its name does not resolve (yet); given once per endpoint */
    SP_WAIT_CROWDED,    /* its addresses do not all fit in the open-files limit; given once */
    /* verbose only: */
    SP_WAIT_RESOLVED, /* its name resolved to other addresses than last said (DETAIL) */
    SP_WAIT_ATTEMPT,  /* an attempt ended without making it done: DETAIL says what it met
                         and when the next one starts */
    SP_WAIT_DEADLINE, /* the deadline passed (INDEX is (size_t)-1) */
};

/* Called (from the waiting thread) when an endpoint changes state, with the signal mask the
 * caller had (a signal may interrupt it; a process it starts inherits that mask); returns -1
 * to stop. */
typedef int (*sp_wait_event_fn)(void *arg, size_t index, int event, double elapsed,
                                const char *detail);
/* Called when a signal interrupted the wait; returns -1 to stop (e.g. a handler raised). */
typedef int (*sp_wait_signal_fn)(void *arg);

enum sp_wait_outcome {
    SP_WAIT_ALL_DONE = 0,
    SP_WAIT_TIMEOUT = 1,
    SP_WAIT_CANCELLED = 2, /* cancel_fd became readable */
    SP_WAIT_STOPPED = 3,   /* a callback returned -1 */
    SP_WAIT_NOT_READY = 4, /* probe: every attempt is over, some endpoint was not ready */
};

/* Waits for the N endpoints. Fills OUT (N results, also when the wait stopped or was
 * cancelled: what each endpoint met so far). Returns an sp_wait_outcome, or -1 with
 * ERR: bad options or more endpoints than the open-files limit can hold (kind SP_ERR_INPUT),
 * or a system failure (out of memory).
 *
 * Signals: while it waits, the calling thread blocks every asynchronous signal except inside
 * ppoll(), whose mask unblocks them, and after each turn when one is pending, so a signal that
 * arrives at any moment is delivered by the next turn at the latest and ON_SIGNAL runs; one
 * that arrived just before the wait is seen by a first ON_SIGNAL call, and one that arrived
 * while ON_EVENT ran (with the caller's mask) by an ON_SIGNAL call right after it. */
int sp_wait_run(const struct sp_ep_spec *eps, size_t n, const struct sp_wait_opts *opts,
                struct sp_ep_result *out, sp_wait_event_fn on_event, sp_wait_signal_fn on_signal,
                void *arg, struct sp_err *err);

#endif
