/* Waiting until endpoints accept connections (netwait.c): all of them at once, with nonblocking
 * sockets, one monotonic deadline, and name resolution on helper threads so that a slow DNS
 * server never holds up the other endpoints or the deadline. */
#ifndef SNAKEPACK_NETWAIT_H
#define SNAKEPACK_NETWAIT_H

#include <stddef.h>

enum sp_ep_kind { SP_EP_TCP = 0, SP_EP_UNIX, SP_EP_HTTP };

struct sp_ep_spec {
    int kind;
    char *host; /* TCP/HTTP: name or address, without brackets */
    char *port; /* TCP/HTTP: decimal port */
    char *path; /* UNIX: socket path; HTTP: request target, e.g. "/health" */
};

struct sp_ep_result {
    int done;        /* ready (or, with invert, no longer accepting) */
    double elapsed;  /* seconds from the start until done */
    char detail[160]; /* the last failure, for endpoints still pending */
};

struct sp_wait_opts {
    double timeout; /* seconds; 0 waits forever */
    double period;  /* seconds between attempts that did not get an answer; > 0 */
    double stable;  /* seconds an endpoint must keep accepting; 0: once is enough */
    int invert;     /* wait until nothing accepts any more */
    int cancel_fd;  /* readable means: stop now; -1 for none */
};

enum sp_wait_event {
    SP_WAIT_DONE = 0,    /* an endpoint is ready (or, with invert, closed) */
    SP_WAIT_UNRESOLVED,  /* its name does not resolve (yet); given once per endpoint */
};

/* Called (from the waiting thread) when an endpoint changes state; returns -1 to stop. */
typedef int (*sp_wait_event_fn)(void *arg, size_t index, int event, double elapsed,
                                const char *detail);
/* Called when a signal interrupted the wait; returns -1 to stop (e.g. a handler raised). */
typedef int (*sp_wait_signal_fn)(void *arg);

enum sp_wait_outcome {
    SP_WAIT_ALL_DONE = 0,
    SP_WAIT_TIMEOUT = 1,
    SP_WAIT_CANCELLED = 2, /* cancel_fd became readable */
    SP_WAIT_STOPPED = 3,   /* a callback returned -1 */
};

/* Waits for the N endpoints. Fills OUT (N results). Returns an sp_wait_outcome, or -1 with
 * ERR on a system failure (out of memory, no file descriptors). */
int sp_wait_run(const struct sp_ep_spec *eps, size_t n, const struct sp_wait_opts *opts,
                struct sp_ep_result *out, sp_wait_event_fn on_event, sp_wait_signal_fn on_signal,
                void *arg, struct sp_err *err);

#endif
