/* Waiting until endpoints accept connections (netwait.c): all of them at once, with nonblocking
 * sockets, one monotonic deadline, and name resolution on helper threads so that a slow DNS
 * server never holds up the other endpoints or the deadline. */
#ifndef SNAKEPACK_NETWAIT_H
#define SNAKEPACK_NETWAIT_H

#include <stddef.h>

enum sp_ep_kind { SP_EP_TCP = 0, SP_EP_UNIX, SP_EP_HTTP, SP_EP_FILE, SP_EP_REDIS, SP_EP_POSTGRES,
                   SP_EP_MYSQL, SP_EP_AMQP, SP_EP_HTTPS, SP_EP_TLS };

struct sp_ep_spec {
    int kind;
    char *host; /* all but UNIX and FILE: name or address, without brackets */
    char *port; /* all but UNIX and FILE: decimal port */
    char *path; /* UNIX: socket path; HTTP(S): request target, e.g. "/health"; FILE: the file */
};

struct sp_ep_result {
    int done;        /* ready (or, with invert, no longer accepting) */
    double elapsed;  /* seconds from the start until done */
    char detail[160]; /* the last failure, for endpoints still pending (never cut inside a
                         UTF-8 character) */
    unsigned attempts; /* attempts started */
};

/* Parses one endpoint as a user writes it: HOST:PORT, [IPv6]:PORT, http://HOST[:PORT][/PATH],
 * https://HOST[:PORT][/PATH], tls://HOST:PORT, unix:/PATH, file:/PATH (also file:///PATH), redis://HOST[:PORT][/DB],
 * postgres://HOST[:PORT][/DATABASE] (postgresql:// too), mysql://HOST[:PORT][/DATABASE]
 * (mariadb:// too) or amqp://HOST[:PORT][/VHOST]; these servers' URLs take no user or
 * password. Surrounding blanks are
 * ignored. Fills SPEC with malloc'd strings (free them with
 * sp_ep_spec_free). Returns 0, or -1 with WHY (one line; not naming the endpoint) when TEXT is
 * not an endpoint, or when out of memory (WHY says so). */
int sp_ep_parse(const char *text, struct sp_ep_spec *spec, char *why, size_t whylen);
void sp_ep_spec_free(struct sp_ep_spec *spec);

/* What the start of an HTTP answer says: the status code (100 to 599) once the status line
 * shows it, SP_HTTP_MORE while it does not yet (more bytes may come), SP_HTTP_BAD when the
 * LEN bytes at BUF cannot begin an HTTP status line (or END says no more will come). */
enum { SP_HTTP_MORE = -1, SP_HTTP_BAD = -2 };
int sp_http_status(const char *buf, size_t len, int end);

/* Readiness protocols (protocol.c): the request that asks a server of KIND (SP_EP_REDIS,
 * SP_EP_POSTGRES, SP_EP_MYSQL, SP_EP_AMQP) whether it is ready, malloc'd, its length in *LEN (it may hold
 * NULs; 0 when the server speaks first); NULL for other kinds or when out of memory. */
char *sp_proto_request(int kind, size_t *len);
/* What the LEN bytes a server answered say; END: no more will come. For SP_ANSWER_NOT_READY,
 * DETAIL (DLEN bytes) says why, in one line of printable ASCII. */
enum { SP_ANSWER_MORE = 0, SP_ANSWER_READY, SP_ANSWER_NOT_READY };
int sp_redis_answer(const char *buf, size_t len, int end, char *detail, size_t dlen);
int sp_pg_answer(const char *buf, size_t len, int end, char *detail, size_t dlen);
int sp_mysql_answer(const char *buf, size_t len, int end, char *detail, size_t dlen);
int sp_amqp_answer(const char *buf, size_t len, int end, char *detail, size_t dlen);

/* TLS (tls.c, OpenSSL). A context checks servers' certificates against the CA certificates in
 * the PEM file CACERT, or OpenSSL's defaults when NULL (SSL_CERT_FILE, SSL_CERT_DIR, else the
 * system's store); INSECURE checks nothing. NULL with ERR (kind SP_ERR_INPUT for a CACERT
 * that holds no certificate). */
struct sp_tls_ctx;
struct sp_tls;
struct sp_tls_ctx *sp_tls_ctx_new(const char *cacert, int insecure, struct sp_err *err);
void sp_tls_ctx_free(struct sp_tls_ctx *t);
/* A client on the connected nonblocking socket FD (not taken over: close it after
 * sp_tls_free) for HOST, a name (sent as SNI, checked against the certificate) or an address
 * (checked only); NULL when out of memory. The calling thread must block SIGPIPE. */
struct sp_tls *sp_tls_start(struct sp_tls_ctx *t, int fd, const char *host);
/* Each returns what it did (handshake: 1 when done; read and write: bytes, read 0 at the end
 * of the stream), or SP_TLS_WANT_READ / SP_TLS_WANT_WRITE (call again once FD is readable or
 * writable), or SP_TLS_FAILED with DETAIL (one line). */
enum { SP_TLS_WANT_READ = -1, SP_TLS_WANT_WRITE = -2, SP_TLS_FAILED = -3 };
int sp_tls_handshake(struct sp_tls *s, char *detail, size_t dlen);
long sp_tls_write(struct sp_tls *s, const void *buf, size_t len, char *detail, size_t dlen);
long sp_tls_read(struct sp_tls *s, void *buf, size_t len, char *detail, size_t dlen);
/* 1 when decrypted bytes wait to be read (the socket need not become readable for them). */
int sp_tls_pending(struct sp_tls *s);
void sp_tls_free(struct sp_tls *s);

struct sp_wait_opts {
    double timeout; /* seconds; 0 (or infinity) waits forever */
    double period;  /* seconds between attempts that did not get an answer, and the bound of
                       each attempt; at least SP_MIN_PERIOD */
    double stable;  /* seconds an endpoint must keep accepting; 0: once is enough */
    int invert;     /* wait until nothing accepts any more */
    int cancel_fd;  /* readable means: stop now; -1 for none */
    int probe;      /* one attempt per endpoint: one that fails is done with, not ready */
    const char *cacert; /* https:// and tls://: trust the CA certificates of this PEM file */
    int insecure;       /* https:// and tls://: check no certificate */
    int verbose;        /* also give the RESOLVED, ATTEMPT and DEADLINE events */
};

#define SP_MIN_PERIOD 0.001 /* shorter periods would only spin */
#define SP_UNIX_PATH_MAX 107 /* sizeof sockaddr_un.sun_path, less its NUL */
#define SP_FILE_PATH_MAX 4095 /* PATH_MAX, less its NUL */

enum sp_wait_event {
    SP_WAIT_DONE = 0,    /* an endpoint is ready (or, with invert, closed) */
    SP_WAIT_UNRESOLVED,  /* its name does not resolve (yet); given once per endpoint */
    SP_WAIT_CROWDED,     /* its addresses do not all fit in the open-files limit; given once */
    /* verbose only: */
    SP_WAIT_RESOLVED,    /* its name resolved to other addresses than last said (DETAIL) */
    SP_WAIT_ATTEMPT,     /* an attempt ended without making it done: DETAIL says what it met
                            and when the next one starts */
    SP_WAIT_DEADLINE,    /* the deadline passed (INDEX is (size_t)-1) */
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
