/* Each endpoint's attempts (the machine netwait.c drives).
 *
 * Retry policy. An attempt that gets an answer (a refusal: the host is up, nobody listens yet)
 * is retried soon, every 10 ms, so a listener is seen within milliseconds of opening; the total
 * rate of such retries stays under RETRY_BUDGET per second however many endpoints there are.
 * An attempt that gets no answer (dropped SYN, unreachable network, unresolved name, HTTP
 * error) is retried one period after it started. A connect still pending after one period is
 * abandoned and started again, so a new SYN goes out at once when a firewall opens. Every
 * attempt has its own bound of one period too: a connect, or an HTTP request, that gets no
 * answer by then is abandoned and started afresh on a new connection.
 *
 * A file: endpoint is one stat() per attempt, retried like a refusal: it is ready when the
 * file exists and, with a stable time, when its size and modification time stay the same for
 * that long. With probe, each endpoint gets one attempt: one that fails is done with. */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "common/util.h"
#include "wait/attempt.h"
#include "wait/netwait.h"
#include "wait/protocol.h"
#include "wait/resolver.h"
#include "wait/tls.h"

#define FAST_RETRY 0.010      /* seconds between attempts on an endpoint that refuses */
#define RETRY_BUDGET 2000.0   /* fast retries per second, all endpoints together */
#define NOT_READY_RETRY 0.050 /* seconds before asking again a server that says "not yet" */
#define MAX_RESOLVERS 32      /* resolver threads at once */

static int is_http(int kind)
{
    return kind == SP_EP_HTTP || kind == SP_EP_HTTPS;
}

static int is_tls(int kind)
{
    return kind == SP_EP_HTTPS || kind == SP_EP_TLS;
}

/* Gives EVENT of endpoint I (or of the whole wait: (size_t)-1) to the caller, under the
 * caller's signal mask: Ctrl-C must interrupt a slow callback, and a process the callback
 * starts must not inherit SIGINT and SIGTERM blocked. A signal that came meanwhile has been
 * delivered, not left pending, so its handler is run here rather than by the next ppoll(). */
void waiter_emit(struct waiter *w, size_t i, int event, double now, const char *detail)
{
    if (w->on_event == NULL || w->stopped)
        return;
    pthread_sigmask(SIG_SETMASK, &w->caller_mask, NULL);
    int rc = w->on_event(w->arg, i, event, now - w->start, detail);
    pthread_sigmask(SIG_SETMASK, &w->wait_mask, NULL);
    if (rc < 0 || (w->on_signal && w->on_signal(w->arg) < 0))
        w->stopped = 1;
}

/* Writes the numeric address of AI into HOST (LEN bytes); returns 0, or -1 with HOST "". */
static int numeric_host(const struct addrinfo *ai, char *host, size_t len)
{
    if (getnameinfo(ai->ai_addr, ai->ai_addrlen, host, (socklen_t)len, NULL, 0, NI_NUMERICHOST) ==
        0)
        return 0;
    host[0] = '\0';
    return -1;
}

/* Closes every socket of E's attempt (connects, the connected one and its TLS client). */
static void close_fds(struct ep *e)
{
    for (size_t i = 0; i < e->nfds; i++) {
        if (e->fds[i] >= 0)
            close(e->fds[i]);
        e->fds[i] = -1;
    }
    e->pending_fds = 0;
    sp_tls_free(e->tls);
    e->tls = NULL;
    if (e->http_fd >= 0)
        close(e->http_fd);
    e->http_fd = -1;
}

/* Records DETAIL (printf format) as what endpoint I met last, cut at a character boundary. */
static void set_detail(struct waiter *w, size_t i, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void set_detail(struct waiter *w, size_t i, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(w->out[i].detail, sizeof w->out[i].detail, fmt, ap);
    va_end(ap);
    sp_utf8_trim(w->out[i].detail);
}

/* Seconds until a refused endpoint is tried again: FAST_RETRY, stretched so that all pending
 * endpoints together stay under RETRY_BUDGET retries a second, never past one period. */
static double fast_interval(struct waiter *w)
{
    double budget = (double)w->pending / RETRY_BUDGET;
    double fast = budget > FAST_RETRY ? budget : FAST_RETRY;
    return fast < w->o->period ? fast : w->o->period;
}

/* Nothing more is tried on endpoint I: it is done, or (a probe's one attempt over) given up. */
static void retire(struct waiter *w, size_t i, double now)
{
    close_fds(&w->eps[i]);
    w->eps[i].state = DONE;
    w->pending--;
    w->out[i].elapsed = now - w->start;
}

/* Endpoint I is ready: retired, marked done, and said. */
static void finish(struct waiter *w, size_t i, double now)
{
    retire(w, i, now);
    w->out[i].done = 1;
    w->out[i].detail[0] = '\0';
    waiter_emit(w, i, SP_WAIT_DONE, now, NULL);
}

/* verbose: what the attempt that just ended on endpoint I met, and when the next one starts. */
static void say_attempt(struct waiter *w, size_t i, double now)
{
    if (!w->o->verbose)
        return;
    struct ep *e = &w->eps[i];
    char next[48] = "", line[320], peer[64] = "";
    struct addrinfo *ai = e->peer ? e->addrs : NULL;
    for (size_t k = 1; ai && k < e->peer; k++)
        ai = ai->ai_next;
    if (ai)
        numeric_host(ai, peer, sizeof peer);
    if (e->state == IDLE)
        snprintf(next, sizeof next, "; next attempt in %.0f ms", (e->next - now) * 1000);
    snprintf(line, sizeof line, "attempt %u%s%s: %s%s", w->out[i].attempts, peer[0] ? " to " : "",
             peer, w->out[i].detail, next);
    sp_utf8_trim(line);
    waiter_emit(w, i, SP_WAIT_ATTEMPT, now, line);
}

/* The endpoint accepted (a connection, or an HTTP status of 2xx/3xx). */
static void succeeded(struct waiter *w, size_t i, double now)
{
    struct ep *e = &w->eps[i];
    close_fds(e);
    if (w->o->invert) {
        set_detail(w, i, "still accepting");
        e->state = IDLE;
        e->next = now + fast_interval(w);
        if (w->o->probe)
            retire(w, i, now);
        say_attempt(w, i, now);
        return;
    }
    if (e->stable_since < 0)
        e->stable_since = now;
    if (now - e->stable_since >= w->o->stable) {
        finish(w, i, now);
        return;
    }
    set_detail(w, i, "accepting for %.3f s of %.3f s", now - e->stable_since, w->o->stable);
    double recheck = w->o->stable / 4 < w->o->period ? w->o->stable / 4 : w->o->period;
    e->state = IDLE;
    e->next = now + (recheck > FAST_RETRY ? recheck : FAST_RETRY);
    if (e->next > e->stable_since + w->o->stable)
        e->next = e->stable_since + w->o->stable;
    say_attempt(w, i, now);
}

/* When the next attempt comes after one that failed: soon after a refusal (an answer), a
 * little later after a server's "not yet" (each question costs it a connection: PostgreSQL
 * forks a process for it), else a period after the failed attempt started. */
enum { RETRY_LATER = 0, RETRY_SOON = 1, RETRY_NOT_READY = 2 };

/* The attempt failed; RETRY says when the next one comes. DETAIL says why, for the timeout
 * report. */
static void failed(struct waiter *w, size_t i, double now, int retry, const char *detail)
{
    struct ep *e = &w->eps[i];
    close_fds(e);
    e->stable_since = -1;
    e->failures++;
    set_detail(w, i, "%s", detail);
    if (w->o->invert) {
        finish(w, i, now);
        return;
    }
    if (w->o->probe) {
        retire(w, i, now);
        say_attempt(w, i, now);
        return;
    }
    e->state = IDLE;
    e->next = retry == RETRY_SOON ? now + fast_interval(w) : e->started + w->o->period;
    double not_ready = now + (NOT_READY_RETRY < w->o->period ? NOT_READY_RETRY : w->o->period);
    if (retry == RETRY_NOT_READY && e->next > not_ready)
        e->next = not_ready;
    if (e->next < now)
        e->next = now;
    say_attempt(w, i, now);
}

/* A step of endpoint I's TLS handshake; once it is over, tls:// is ready and https:// sends its
 * request. A certificate that does not verify is no refusal: the next attempt comes a period
 * after this one started. */
void attempt_tls_handshake(struct waiter *w, size_t i, double now)
{
    struct ep *e = &w->eps[i];
    char detail[sizeof w->out[i].detail];
    int rc = sp_tls_handshake(e->tls, detail, sizeof detail);
    if (rc == SP_TLS_WANT_READ || rc == SP_TLS_WANT_WRITE) {
        e->want = rc == SP_TLS_WANT_READ ? POLLIN : POLLOUT;
        return;
    }
    if (rc == SP_TLS_FAILED) {
        failed(w, i, now, RETRY_LATER, detail);
        return;
    }
    if (e->request == NULL) {
        succeeded(w, i, now);
        return;
    }
    e->state = HTTP_SEND;
    attempt_http_io(w, i, now);
}

/* Socket FD of endpoint I is connected. Every other address is dropped; FD leaves e->fds, so
 * that it is closed exactly once (a second close could hit a descriptor that another thread
 * of the process has opened since). */
static void connected(struct waiter *w, size_t i, int fd, double now)
{
    struct ep *e = &w->eps[i];
    for (size_t k = 0; k < e->nfds; k++) {
        if (e->fds[k] >= 0 && e->fds[k] != fd)
            close(e->fds[k]);
        e->fds[k] = -1;
    }
    e->pending_fds = 0;
    if (e->request == NULL && !is_tls(e->spec->kind)) { /* a connection is all it takes */
        close(fd);
        succeeded(w, i, now);
        return;
    }
    e->http_fd = fd;
    e->sent = e->got = 0; /* e->ends stays: the connect was part of the attempt */
    if (is_tls(e->spec->kind)) {
        if ((e->tls = sp_tls_start(w->tls, fd, e->spec->host)) == NULL) {
            failed(w, i, now, RETRY_LATER, "out of memory");
            return;
        }
        e->state = TLS_HANDSHAKE;
        attempt_tls_handshake(w, i, now);
        return;
    }
    e->state = e->request_len ? HTTP_SEND : HTTP_RECV; /* or the server speaks first */
}

/* Whether ERR from connect() is an answer from the host (retried soon), not silence. */
static int is_refusal(int err)
{
    return err == ECONNREFUSED || err == ENOENT || err == EAGAIN || err == ECONNRESET;
}

static void connect_all(struct waiter *w, size_t i, double now);

/* Counts the addresses of endpoint I, now resolved, against the open-files limit, and says once
 * when all of them no longer fit (the attempts then take the addresses that fit). */
static void count_addresses(struct waiter *w, size_t i, size_t naddr, double now)
{
    w->addresses += naddr ? naddr - 1 : 0;
    if (w->addresses <= w->fd_limit || w->said_crowded)
        return;
    w->said_crowded = 1;
    char detail[160];
    snprintf(detail, sizeof detail,
             "%zu endpoints resolve to more addresses than the open-files limit has sockets "
             "for (%zu): some addresses wait for a free descriptor",
             w->n, w->fd_limit);
    waiter_emit(w, i, SP_WAIT_CROWDED, now, detail);
}

/* verbose: the addresses endpoint I resolved to, when they are not those said last. */
static void say_addresses(struct waiter *w, size_t i, double now)
{
    struct ep *e = &w->eps[i];
    char text[512] = "";
    size_t at = 0;
    for (struct addrinfo *ai = e->addrs; ai && at < sizeof text; ai = ai->ai_next) {
        char host[64];
        if (numeric_host(ai, host, sizeof host) < 0)
            continue;
        snprintf(text + at, sizeof text - at, "%s%s (%s)", at ? ", " : "", host,
                 ai->ai_family == AF_INET6 ? "IPv6" : "IPv4");
        at = strlen(text);
    }
    if (e->said_addrs && strcmp(e->said_addrs, text) == 0)
        return;
    free(e->said_addrs);
    e->said_addrs = strdup(text); /* NULL: said again next time */
    waiter_emit(w, i, SP_WAIT_RESOLVED, now, text);
}

/* Endpoint I's addresses are in e->addrs: count them the first time, say them, connect. */
static void addresses_known(struct waiter *w, size_t i, double now)
{
    struct ep *e = &w->eps[i];
    if (e->resolved_at == 0) {
        size_t naddr = 0;
        for (struct addrinfo *ai = e->addrs; ai; ai = ai->ai_next)
            naddr++;
        count_addresses(w, i, naddr, now);
    }
    e->resolved_at = now;
    if (w->o->verbose)
        say_addresses(w, i, now);
    connect_all(w, i, now);
}

/* Connects to every resolved address at once. The attempt's bound starts now, and covers the
 * connect and whatever follows it on the connection (a TLS handshake, a request). */
static void connect_all(struct waiter *w, size_t i, double now)
{
    struct ep *e = &w->eps[i];
    e->ends = now + w->o->period;
    size_t n = 0;
    for (struct addrinfo *ai = e->addrs; ai; ai = ai->ai_next)
        n++;
    if (n > e->nfds) {
        int *fds = realloc(e->fds, n * sizeof *fds);
        if (fds == NULL) {
            failed(w, i, now, RETRY_LATER, "out of memory");
            return;
        }
        e->fds = fds;
    }
    e->nfds = n;
    e->pending_fds = 0;
    for (size_t k = 0; k < n; k++)
        e->fds[k] = -1;
    int last = 0, refused = 1;
    size_t k = 0;
    for (struct addrinfo *ai = e->addrs; ai; ai = ai->ai_next, k++) {
        int fd =
            socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            last = errno;
            refused = 0;
            if (last == EMFILE || last == ENFILE)
                break; /* the rest wait for the next attempt, when others have closed */
            continue;
        }
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
            e->peer = k + 1;
            connected(w, i, fd, now);
            return;
        }
        int err = errno;
        if (err == EINPROGRESS) {
            e->fds[k] = fd;
            e->pending_fds++;
            continue;
        }
        close(fd);
        e->peer = k + 1;
        last = err;
        refused &= is_refusal(err);
    }
    if (e->pending_fds == 0) {
        failed(w, i, now, refused && last != 0 ? RETRY_SOON : RETRY_LATER,
               last ? strerror(last) : "no address");
        return;
    }
    e->state = CONNECTING;
}

/* Starts endpoint I's attempt on its unix: socket; the outcome arrives as for TCP. */
static void connect_unix(struct waiter *w, size_t i, double now)
{
    struct ep *e = &w->eps[i];
    e->ends = now + w->o->period;
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    if (strlen(e->spec->path) >= sizeof sun.sun_path) {
        failed(w, i, now, RETRY_LATER, "socket path too long");
        return;
    }
    strcpy(sun.sun_path, e->spec->path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        failed(w, i, now, RETRY_LATER, strerror(errno));
        return;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0) {
        connected(w, i, fd, now);
        return;
    }
    int err = errno;
    close(fd);
    failed(w, i, now, is_refusal(err) ? RETRY_SOON : RETRY_LATER, strerror(err));
}

/* One attempt on a file: endpoint. A change of size or modification time starts the run of
 * successes afresh. */
static void ep_check_file(struct waiter *w, size_t i, double now)
{
    struct ep *e = &w->eps[i];
    struct stat st;
    if (stat(e->spec->path, &st) < 0) {
        failed(w, i, now, RETRY_SOON, errno == ENOENT ? "no such file" : strerror(errno));
        return;
    }
    if (e->stable_since >= 0 &&
        (st.st_size != e->seen.st_size || st.st_mtim.tv_sec != e->seen.st_mtim.tv_sec ||
         st.st_mtim.tv_nsec != e->seen.st_mtim.tv_nsec))
        e->stable_since = -1;
    e->seen = st;
    succeeded(w, i, now);
}

void attempt_start(struct waiter *w, size_t i, double now)
{
    struct ep *e = &w->eps[i];
    e->started = now;
    e->peer = 0;
    w->out[i].attempts++;
    if (e->spec->kind == SP_EP_FILE) {
        ep_check_file(w, i, now);
        return;
    }
    if (e->spec->kind == SP_EP_UNIX) {
        connect_unix(w, i, now);
        return;
    }
    if (e->addrs && now - e->resolved_at < w->o->period) {
        connect_all(w, i, now);
        return;
    }
    if (e->addrs)
        freeaddrinfo(e->addrs);
    e->addrs = NULL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV};
    if (getaddrinfo(e->spec->host, e->spec->port, &hints, &e->addrs) == 0) {
        addresses_known(w, i, now);
        return;
    }
    e->addrs = NULL;
    if (w->resolvers >= MAX_RESOLVERS) {
        e->next = now + 0.005; /* wait for a resolver to come free: no attempt yet */
        w->out[i].attempts--;
        return;
    }
    if ((e->job = sp_resolve_start(e->spec->host, e->spec->port)) == NULL) {
        failed(w, i, now, RETRY_LATER, "cannot start a resolver thread");
        return;
    }
    w->resolvers++;
    set_detail(w, i, "resolving %s", e->spec->host);
    e->state = RESOLVING;
    e->ends = w->deadline;
}

void attempt_resolved(struct waiter *w, size_t i, double now)
{
    struct ep *e = &w->eps[i];
    int syserr;
    int rc = sp_resolve_take(e->job, &syserr, &e->addrs);
    e->job = NULL;
    w->resolvers--;
    if (rc != 0) {
        char detail[160];
        /* the endpoint is named wherever this is shown: the host need not be repeated */
        snprintf(detail, sizeof detail, "does not resolve (yet): %s",
                 rc == EAI_SYSTEM ? strerror(syserr) : gai_strerror(rc));
        if (!e->said_unresolved)
            waiter_emit(w, i, SP_WAIT_UNRESOLVED, now, detail);
        e->said_unresolved = 1;
        failed(w, i, now, RETRY_LATER, detail);
        return;
    }
    addresses_known(w, i, now);
}

/* A socket of a pending connect is writable or in error. */
void attempt_connect_done(struct waiter *w, size_t i, size_t k, double now)
{
    struct ep *e = &w->eps[i];
    int fd = e->fds[k], err = 0;
    socklen_t len = sizeof err;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
        err = errno;
    e->peer = k + 1;
    if (err == 0) {
        connected(w, i, fd, now);
        return;
    }
    close(fd);
    e->fds[k] = -1;
    e->pending_fds--;
    if (e->pending_fds == 0)
        failed(w, i, now, is_refusal(err) ? RETRY_SOON : RETRY_LATER, strerror(err));
}

enum { IO_WAIT = -1, IO_FAILED = -2 };

/* Sends or receives LEN bytes at BUF on endpoint I's connection, through TLS when it has it.
 * Returns the bytes moved (0: the server closed), IO_WAIT (the socket is not ready), or
 * IO_FAILED with DETAIL, and *REFUSED when the failure was an answer (a reset). */
static long transfer(struct ep *e, int sending, char *buf, size_t len, char *detail, size_t dlen,
                     int *refused)
{
    *refused = 0;
    if (e->tls) {
        long n = sending ? sp_tls_write(e->tls, buf, len, detail, dlen)
                         : sp_tls_read(e->tls, buf, len, detail, dlen);
        if (n == SP_TLS_WANT_READ || n == SP_TLS_WANT_WRITE) {
            e->want = n == SP_TLS_WANT_READ ? POLLIN : POLLOUT;
            return IO_WAIT;
        }
        return n == SP_TLS_FAILED ? IO_FAILED : n;
    }
    ssize_t n = sending ? send(e->http_fd, buf, len, MSG_NOSIGNAL) : recv(e->http_fd, buf, len, 0);
    if (n >= 0)
        return n;
    if (errno == EAGAIN || errno == EINTR)
        return IO_WAIT;
    *refused = is_refusal(errno);
    snprintf(detail, dlen, "%s", strerror(errno));
    return IO_FAILED;
}

/* What the answer so far says; returns 1 when it settled the attempt. */
static int read_answer(struct waiter *w, size_t i, int end, double now)
{
    struct ep *e = &w->eps[i];
    if (!is_http(e->spec->kind)) {
        char detail[sizeof w->out[i].detail];
        int (*reader)(const char *, size_t, int, char *, size_t) =
            e->spec->kind == SP_EP_REDIS      ? sp_redis_answer
            : e->spec->kind == SP_EP_POSTGRES ? sp_pg_answer
            : e->spec->kind == SP_EP_MYSQL    ? sp_mysql_answer
                                              : sp_amqp_answer;
        int answer = reader(e->reply, e->got, end, detail, sizeof detail);
        if (answer == SP_ANSWER_READY) {
            succeeded(w, i, now);
        } else if (answer == SP_ANSWER_NOT_READY) {
            failed(w, i, now, RETRY_NOT_READY, detail);
        }
        return answer != SP_ANSWER_MORE;
    }
    int status = sp_http_status(e->reply, e->got, end);
    if (status == SP_HTTP_MORE)
        return 0; /* the status line is not complete yet */
    if (status >= 200 && status < 400) {
        succeeded(w, i, now);
        return 1;
    }
    char detail[64];
    if (status > 0)
        snprintf(detail, sizeof detail, "HTTP status %d", status);
    else if (e->got == 0)
        snprintf(detail, sizeof detail, "connected, closed without an answer");
    else
        snprintf(detail, sizeof detail, "no HTTP status line in the answer");
    failed(w, i, now, RETRY_LATER, detail);
    return 1;
}

void attempt_http_io(struct waiter *w, size_t i, double now)
{
    struct ep *e = &w->eps[i];
    char detail[sizeof w->out[i].detail];
    int refused;
    if (e->state == HTTP_SEND) {
        long n = transfer(e, 1, e->request + e->sent, e->request_len - e->sent, detail,
                          sizeof detail, &refused);
        if (n == IO_FAILED)
            failed(w, i, now, refused ? RETRY_SOON : RETRY_LATER, detail);
        if (n > 0 && (e->sent += (size_t)n) == e->request_len) {
            e->state = HTTP_RECV;
            e->want = POLLIN;
        }
        return;
    }
    /* TLS may hold decrypted bytes that the socket no longer signals: read until it has none. */
    do {
        long n = transfer(e, 0, e->reply + e->got, sizeof e->reply - 1 - e->got, detail,
                          sizeof detail, &refused);
        if (n == IO_WAIT)
            return;
        if (n == IO_FAILED) {
            failed(w, i, now, refused ? RETRY_SOON : RETRY_LATER, detail);
            return;
        }
        e->got += (size_t)n;
        if (read_answer(w, i, n == 0 || e->got == sizeof e->reply - 1, now))
            return;
    } while (e->tls && sp_tls_pending(e->tls));
}

/* The attempt in flight on endpoint I got no answer within its bound: say what was seen, and
 * let a new attempt start on a new connection. */
void attempt_expired(struct waiter *w, size_t i, double now)
{
    struct ep *e = &w->eps[i];
    char detail[96];
    if (e->state == CONNECTING)
        snprintf(detail, sizeof detail, "connect timed out");
    else if (e->state == TLS_HANDSHAKE)
        snprintf(detail, sizeof detail, "connected, TLS handshake not done in %g s", w->o->period);
    else if (e->state == HTTP_SEND)
        snprintf(detail, sizeof detail, "connected, request not taken in %g s", w->o->period);
    else if (!is_http(e->spec->kind))
        snprintf(detail, sizeof detail, "connected, no answer in %g s", w->o->period);
    else if (e->got == 0)
        snprintf(detail, sizeof detail, "connected, no HTTP status in %g s", w->o->period);
    else
        snprintf(detail, sizeof detail, "connected, HTTP status line incomplete after %g s",
                 w->o->period);
    failed(w, i, now, RETRY_LATER, detail);
}

int waiter_setup(struct waiter *w, const struct sp_ep_spec *eps, struct sp_err *err)
{
    for (size_t i = 0; i < w->n; i++) {
        struct ep *e = &w->eps[i];
        e->spec = &eps[i];
        e->state = IDLE;
        e->next = w->start;
        e->http_fd = -1;
        e->stable_since = -1;
        snprintf(w->out[i].detail, sizeof w->out[i].detail, "not tried yet");
        if (is_http(e->spec->kind)) {
            /* An IPv6 literal goes in brackets in the Host header (RFC 9110, 7.2). */
            int v6 = strchr(e->spec->host, ':') != NULL;
            e->request = sp_aprintf("GET %s HTTP/1.0\r\nHost: %s%s%s:%s\r\nUser-Agent: "
                                    "wait-for-port\r\nConnection: close\r\n\r\n",
                                    e->spec->path, v6 ? "[" : "", e->spec->host, v6 ? "]" : "",
                                    e->spec->port);
            if (e->request == NULL)
                return sp_fail(err, ENOMEM, "out of memory");
            e->request_len = strlen(e->request);
        } else if (e->spec->kind >= SP_EP_REDIS && e->spec->kind <= SP_EP_AMQP) {
            if ((e->request = sp_proto_request(e->spec->kind, &e->request_len)) == NULL)
                return sp_fail(err, ENOMEM, "out of memory");
        }
        if (is_tls(e->spec->kind) && w->tls == NULL &&
            (w->tls = sp_tls_ctx_new(w->o->cacert, w->o->insecure, err)) == NULL)
            return -1;
    }
    return 0;
}

void waiter_teardown(struct waiter *w)
{
    for (size_t i = 0; i < w->n; i++) {
        struct ep *e = &w->eps[i];
        close_fds(e);
        free(e->fds);
        free(e->request);
        if (e->addrs)
            freeaddrinfo(e->addrs);
        if (e->job)
            sp_resolve_drop(e->job);
        free(e->said_addrs);
    }
    free(w->eps);
    sp_tls_ctx_free(w->tls);
}

/* Says, for each endpoint whose first attempt is still in flight at the deadline, what that
 * attempt has met (the others keep what their last failure met). */
void attempt_describe_pending(struct waiter *w, double now)
{
    for (size_t i = 0; i < w->n; i++) {
        struct ep *e = &w->eps[i];
        if (e->failures > 0)
            continue;
        if (e->state == CONNECTING)
            set_detail(w, i, "connecting, no answer in %.3g s", now - e->started);
        else if (e->state == TLS_HANDSHAKE)
            set_detail(w, i, "connected, TLS handshake not done in %.3g s", now - e->started);
        else if (e->state == HTTP_SEND || e->state == HTTP_RECV)
            set_detail(w, i, "connected, no %s in %.3g s",
                       is_http(e->spec->kind) ? "HTTP status" : "answer", now - e->started);
    }
}
