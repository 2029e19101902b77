/* TLS clients on nonblocking sockets (tls.c, OpenSSL). */
#ifndef SNAKEPACK_WAIT_TLS_H
#define SNAKEPACK_WAIT_TLS_H

#include <stddef.h>

#include "common/util.h"

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

#endif
