/* libFuzzer harness: what a server answers to the TLS client of wait-for-port's https:// and
 * tls:// endpoints (ext/tls.c), over a real socket. The input is the server's whole side of the
 * connection, followed by its end. The oracle: the handshake never completes (the server's
 * Finished is keyed to secrets the client draws at random, which no fixed answer can know),
 * every step returns one of its documented values, the end of the answer is a failure and not
 * a wait, and a failure says why in one line of printable ASCII. Certificates are not trusted
 * (--insecure), so that they are parsed whatever signs them. */
#include "harness.h" /* first: it defines _GNU_SOURCE */
#include "wait/tls.h"

#include <signal.h>
#include <sys/socket.h>

static struct sp_tls_ctx *ctx;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    sigset_t pipe; /* as the waiting thread has it */
    sigemptyset(&pipe);
    sigaddset(&pipe, SIGPIPE);
    pthread_sigmask(SIG_BLOCK, &pipe, NULL);
    struct sp_err err;
    if ((ctx = sp_tls_ctx_new(NULL, 1, &err)) == NULL)
        abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 65536) /* more than a socket holds before it is read */
        return 0;
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) < 0)
        abort();
    if (size && write(sv[1], data, size) != (ssize_t)size)
        abort();
    shutdown(sv[1], SHUT_WR);
    struct sp_tls *s = sp_tls_start(ctx, sv[0], "fuzz.test");
    if (s == NULL)
        abort();
    char detail[160];
    int rc = SP_TLS_WANT_READ;
    for (int step = 0; step < 64 && (rc == SP_TLS_WANT_READ || rc == SP_TLS_WANT_WRITE); step++) {
        memset(detail, 'x', sizeof detail);
        rc = sp_tls_handshake(s, detail, sizeof detail);
    }
    if (rc != SP_TLS_FAILED)
        abort(); /* a handshake done with a fixed answer, or a wait for bytes that never come */
    if (memchr(detail, '\0', sizeof detail) == NULL)
        abort();
    for (const char *p = detail; *p; p++)
        if ((unsigned char)*p < ' ' || (unsigned char)*p >= 0x7F)
            abort();
    sp_tls_free(s);
    close(sv[0]);
    close(sv[1]);
    return 0;
}
