/* TLS for wait-for-port's https:// and tls:// endpoints, with OpenSSL, on the waiter's
 * nonblocking sockets: every call returns at once and says which way the socket must become
 * ready before the next. The server's certificate is checked as a browser or curl checks it
 * (a trusted chain, and the endpoint's host name or IP address in it) unless the user said
 * --insecure; SNI carries the host name (never an address: RFC 6066, 3). Fuzzed by
 * fuzz/fuzz_tls.c, which answers a real handshake with arbitrary bytes. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "wait/tls.h"

/* OpenSSL writes to a socket with write(), not send(MSG_NOSIGNAL): a server that has gone
 * raises SIGPIPE. The waiting thread blocks it (sp_wait_run), so such a SIGPIPE is pending on
 * the thread after the call: it is taken back, unless one was pending already. */
static int sigpipe_pending(void)
{
    sigset_t pending;
    return sigpending(&pending) == 0 && sigismember(&pending, SIGPIPE) == 1;
}

static void drop_new_sigpipe(int was_pending)
{
    if (was_pending || !sigpipe_pending())
        return;
    sigset_t pipe;
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    struct timespec now = {0, 0};
    sigtimedwait(&pipe, NULL, &now);
}

struct sp_tls_ctx {
    SSL_CTX *ctx;
};

struct sp_tls {
    SSL *ssl;
    int broken; /* a fatal error: no close_notify may follow (SSL_shutdown(3)) */
};

/* The reason of the oldest error in this thread's OpenSSL queue, or FALLBACK; empties it. */
static const char *queued_reason(const char *fallback)
{
    unsigned long e = ERR_get_error();
    const char *reason = e ? ERR_reason_error_string(e) : NULL;
    ERR_clear_error();
    return reason ? reason : fallback;
}

/* Trusts only the CA certificates of the PEM file PATH (as curl's --cacert). It is opened here
 * first, without blocking, to say why it cannot be read and to refuse what is not a regular
 * file: OpenSSL would wait forever on a FIFO, and signals are blocked while the waiter sets up. */
static int load_cacert(SSL_CTX *ctx, const char *path, struct sp_err *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return sp_fail_at(err, SP_ERR_INPUT, NULL, errno, "CA certificate file %s: %s", path,
                          strerror(errno));
    struct stat st;
    int regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    close(fd);
    if (!regular)
        return sp_fail_at(err, SP_ERR_INPUT, NULL, 0, "CA certificate file %s: not a regular file",
                          path);
    if (!SSL_CTX_load_verify_locations(ctx, path, NULL))
        return sp_fail_at(err, SP_ERR_INPUT, NULL, 0,
                          "CA certificate file %s: no certificate in it (%s)", path,
                          queued_reason("not PEM"));
    return 0;
}

struct sp_tls_ctx *sp_tls_ctx_new(const char *cacert, int insecure, struct sp_err *err)
{
    ERR_clear_error();
    struct sp_tls_ctx *t = calloc(1, sizeof *t);
    if (t == NULL || (t->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
        free(t);
        sp_fail(err, ENOMEM, "cannot set up TLS: %s", queued_reason("out of memory"));
        return NULL;
    }
    /* Servers that close an HTTP/1.0 answer without a close_notify are common, and harmless
     * here: the status line is all that is read. */
    SSL_CTX_set_options(t->ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
    SSL_CTX_set_verify(t->ctx, insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    int ok = 0;
    if (insecure)
        ; /* nothing is checked, so nothing is loaded */
    else if (cacert)
        ok = load_cacert(t->ctx, cacert, err);
    else if (!SSL_CTX_set_default_verify_paths(t->ctx)) /* SSL_CERT_FILE, SSL_CERT_DIR */
        ok = sp_fail(err, 0, "cannot read the system's CA certificates: %s",
                     queued_reason("unknown reason"));
    if (ok < 0) {
        sp_tls_ctx_free(t);
        return NULL;
    }
    return t;
}

void sp_tls_ctx_free(struct sp_tls_ctx *t)
{
    if (t == NULL)
        return;
    SSL_CTX_free(t->ctx);
    free(t);
}

struct sp_tls *sp_tls_start(struct sp_tls_ctx *t, int fd, const char *host)
{
    ERR_clear_error();
    struct sp_tls *s = calloc(1, sizeof *s);
    if (s == NULL || (s->ssl = SSL_new(t->ctx)) == NULL || !SSL_set_fd(s->ssl, fd))
        goto fail;
    SSL_set_connect_state(s->ssl);
    X509_VERIFY_PARAM *param = SSL_get0_param(s->ssl);
    if (X509_VERIFY_PARAM_set1_ip_asc(param, host)) /* an address: checked against IP SANs */
        return s;
    ERR_clear_error();
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (!SSL_set_tlsext_host_name(s->ssl, host) || !SSL_set1_host(s->ssl, host))
        goto fail;
    return s;
fail:
    ERR_clear_error();
    sp_tls_free(s);
    return NULL;
}

/* What the last call on S means, when it failed (SAVED_ERRNO: errno after it):
 * SP_TLS_WANT_READ or _WRITE, 0 for the end of the stream, or SP_TLS_FAILED with DETAIL. */
static int outcome(struct sp_tls *s, int saved_errno, char *detail, size_t dlen)
{
    int e = SSL_get_error(s->ssl, 0); /* any return of 0 or less says the same */
    switch (e) {
    case SSL_ERROR_WANT_READ:
        return SP_TLS_WANT_READ;
    case SSL_ERROR_WANT_WRITE:
        return SP_TLS_WANT_WRITE;
    case SSL_ERROR_ZERO_RETURN:
        return 0;
    case SSL_ERROR_SYSCALL:
        ERR_clear_error();
        s->broken = 1;
        if (saved_errno == 0 || saved_errno == EPIPE) /* the peer closed: no more will come */
            return 0;
        snprintf(detail, dlen, "%s", strerror(saved_errno));
        return SP_TLS_FAILED;
    default: {
        s->broken = 1;
        /* OpenSSL records the verification's result also when told not to enforce it
         * (--insecure): only an enforced one can be the reason. */
        long verify = SSL_get_verify_result(s->ssl);
        const char *reason = queued_reason("TLS failure");
        if (verify != X509_V_OK && (SSL_get_verify_mode(s->ssl) & SSL_VERIFY_PEER))
            snprintf(detail, dlen, "TLS: certificate not trusted: %s",
                     X509_verify_cert_error_string(verify));
        else
            snprintf(detail, dlen, "TLS: %s", reason);
        return SP_TLS_FAILED;
    }
    }
}

enum step { HANDSHAKE, READ, WRITE };

/* One step of S, bracketed as every call into OpenSSL is here: its error queue emptied first,
 * and a SIGPIPE it raised taken back after. Returns what the step did (handshake: 1 when done;
 * read and write: bytes) or an outcome(); CLOSED, if not NULL, makes the end of the stream a
 * failure with that detail. */
static long tls_step(struct sp_tls *s, enum step op, void *buf, size_t len, const char *closed,
                     char *detail, size_t dlen)
{
    ERR_clear_error();
    errno = 0;
    size_t done = 0;
    int piped = sigpipe_pending(); /* a read may write too: a key update, an alert */
    int ok = op == HANDSHAKE ? SSL_do_handshake(s->ssl) == 1
             : op == READ    ? SSL_read_ex(s->ssl, buf, len, &done)
                             : SSL_write_ex(s->ssl, buf, len, &done);
    int saved = errno;
    drop_new_sigpipe(piped);
    if (ok)
        return op == HANDSHAKE ? 1 : (long)done;
    int o = outcome(s, saved, detail, dlen);
    if (o == 0 && closed) {
        snprintf(detail, dlen, "%s", closed);
        return SP_TLS_FAILED;
    }
    return o;
}

int sp_tls_handshake(struct sp_tls *s, char *detail, size_t dlen)
{
    return (int)tls_step(s, HANDSHAKE, NULL, 0,
                         "TLS: the server closed the connection during the handshake", detail,
                         dlen);
}

long sp_tls_write(struct sp_tls *s, const void *buf, size_t len, char *detail, size_t dlen)
{
    return tls_step(s, WRITE, (void *)buf, len, "TLS: the server closed the connection", detail,
                    dlen);
}

long sp_tls_read(struct sp_tls *s, void *buf, size_t len, char *detail, size_t dlen)
{
    return tls_step(s, READ, buf, len, NULL, detail, dlen);
}

int sp_tls_pending(struct sp_tls *s)
{
    return SSL_pending(s->ssl) > 0;
}

void sp_tls_free(struct sp_tls *s)
{
    if (s == NULL)
        return;
    if (s->ssl) {
        /* A close_notify, if the socket takes it at once; the waiter never waits for one. */
        if (SSL_is_init_finished(s->ssl) && !s->broken) {
            int piped = sigpipe_pending();
            SSL_shutdown(s->ssl);
            drop_new_sigpipe(piped);
        }
        SSL_free(s->ssl);
    }
    ERR_clear_error();
    free(s);
}
