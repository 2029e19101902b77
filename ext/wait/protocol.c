/* Asking a database server whether it is ready, without credentials, and reading its answer.
 * One rule for every protocol, the one pg_isready follows: a server that answers at all is
 * ready, unless its answer says it is starting, loading, recovering or shutting down; an error
 * that means "up, but not for you" (authentication required, too many connections, host not
 * allowed) counts as ready.
 *
 * Redis: the inline command PING. +PONG is ready, and so is any error but those of a server
 * that cannot serve yet: -LOADING (reading its dataset), -BUSY (a script runs),
 * -MASTERDOWN (a replica cut off from its primary). -NOAUTH is ready: Redis checks the
 * password before anything else, so with requirepass it answers -NOAUTH even while loading.
 *
 * MySQL and MariaDB: nothing is sent, the server speaks first. Its initial handshake (protocol
 * 10) is ready; so is an error packet that means "up, not for you" (1040 too many connections,
 * 1129 host blocked, 1130 host not allowed...); 1053 (shutdown in progress) and 3032 (offline
 * mode) are not.
 *
 * AMQP 0-9-1 (RabbitMQ): the protocol header. Connection.Start (class 10, method 10) on channel
 * 0 is ready, and so is the server's own protocol header (it speaks another version: up).
 *
 * PostgreSQL: a protocol 3.0 startup packet for the role "wait-for-port" (no password is ever
 * sent). An authentication request is ready; an ErrorResponse is ready unless its SQLSTATE is
 * 57P03 (cannot_connect_now: starting up, shutting down, in recovery with hot standby off).
 *
 * The readers take any bytes (they are fuzzed, fuzz/fuzz_protocol.c) and never read past LEN. */
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/util.h"
#include "wait/endpoint.h"
#include "wait/protocol.h"

#define PG_PROTOCOL_3 196608 /* 3 << 16 */
#define PG_ROLE "wait-for-port"

/* Copies the N bytes at S into DETAIL (after PREFIX) as printable ASCII, one line. */
static void describe(char *detail, size_t dlen, const char *prefix, const char *s, size_t n)
{
    size_t at = (size_t)snprintf(detail, dlen, "%s", prefix);
    for (size_t i = 0; i < n && at + 1 < dlen; i++) {
        unsigned char c = (unsigned char)s[i];
        detail[at++] = c >= ' ' && c < 0x7F ? (char)c : '?';
    }
    if (at < dlen)
        detail[at] = '\0';
}

char *sp_proto_request(int kind, size_t *len)
{
    if (kind == SP_EP_REDIS) {
        *len = 6;
        return strdup("PING\r\n");
    }
    if (kind == SP_EP_AMQP) {
        *len = 8;
        char *p = malloc(8);
        if (p)
            memcpy(p, "AMQP\0\0\x09\x01", 8);
        return p;
    }
    if (kind == SP_EP_MYSQL) {
        *len = 0; /* the server speaks first */
        return strdup("");
    }
    if (kind != SP_EP_POSTGRES)
        return NULL;
    static const char params[] = "user\0" PG_ROLE "\0application_name\0" PG_ROLE "\0";
    size_t n = 8 + sizeof params; /* length, version, the pairs, and the closing NUL */
    unsigned char *p = malloc(n);
    if (p == NULL)
        return NULL;
    uint32_t fields[2] = {(uint32_t)n, PG_PROTOCOL_3};
    for (int k = 0; k < 2; k++)
        for (int b = 0; b < 4; b++)
            p[4 * k + b] = (unsigned char)(fields[k] >> (24 - 8 * b));
    memcpy(p + 8, params, sizeof params); /* sizeof counts the final NUL: the list's end */
    *len = n;
    return (char *)p;
}

int sp_redis_answer(const char *buf, size_t len, int end, char *detail, size_t dlen)
{
    const char *eol = len ? memchr(buf, '\n', len) : NULL;
    if (eol == NULL) {
        if (!end)
            return SP_ANSWER_MORE;
        describe(detail, dlen, len ? "not a Redis answer: " : "connected, closed without an answer",
                 buf, len);
        return SP_ANSWER_NOT_READY;
    }
    size_t n = (size_t)(eol - buf);
    if (n && buf[n - 1] == '\r')
        n--;
    if (n && buf[0] == '+')
        return SP_ANSWER_READY;
    if (n && buf[0] == '-') {
        static const char *const not_yet[] = {"LOADING", "BUSY", "MASTERDOWN"};
        for (size_t k = 0; k < sizeof not_yet / sizeof not_yet[0]; k++) {
            size_t w = strlen(not_yet[k]);
            if (n - 1 >= w && memcmp(buf + 1, not_yet[k], w) == 0 &&
                (n - 1 == w || buf[1 + w] == ' ')) {
                describe(detail, dlen, "redis: ", buf + 1, n - 1);
                return SP_ANSWER_NOT_READY;
            }
        }
        return SP_ANSWER_READY; /* NOAUTH, DENIED, ERR max clients...: up, not for us */
    }
    describe(detail, dlen, "not a Redis answer: ", buf, n);
    return SP_ANSWER_NOT_READY;
}

int sp_mysql_answer(const char *buf, size_t len, int end, char *detail, size_t dlen)
{
    const unsigned char *p = (const unsigned char *)buf;
    if (len < 5) { /* a packet's 3-byte length and sequence number, and its first byte */
        if (!end)
            return SP_ANSWER_MORE;
        describe(detail, dlen, len ? "not a MySQL answer: " : "connected, closed without an answer",
                 buf, len);
        return SP_ANSWER_NOT_READY;
    }
    size_t size = (size_t)p[0] | (size_t)p[1] << 8 | (size_t)p[2] << 16;
    if (p[3] != 0 || size == 0) {
        describe(detail, dlen, "not a MySQL answer: ", buf, len < 16 ? len : 16);
        return SP_ANSWER_NOT_READY;
    }
    if (p[4] == 10) /* the initial handshake, protocol 10 */
        return SP_ANSWER_READY;
    if (p[4] != 0xFF || size < 3) {
        describe(detail, dlen, "not a MySQL answer: ", buf, len < 16 ? len : 16);
        return SP_ANSWER_NOT_READY;
    }
    if (len < 7) {
        if (!end)
            return SP_ANSWER_MORE;
        describe(detail, dlen, "mysql: an error cut short", "", 0);
        return SP_ANSWER_NOT_READY;
    }
    unsigned code = (unsigned)p[5] | (unsigned)p[6] << 8;
    if (code != 1053 && code != 3032)
        return SP_ANSWER_READY; /* 1040, 1129, 1130...: up, not for us */
    size_t have = 4 + size < len ? 4 + size : len, at = 7;
    if (at < have && p[at] == '#') /* a SQLSTATE marker and five characters */
        at = at + 6 < have ? at + 6 : have;
    char prefix[32];
    snprintf(prefix, sizeof prefix, "mysql: error %u ", code);
    describe(detail, dlen, prefix, buf + at, have - at);
    return SP_ANSWER_NOT_READY;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int sp_amqp_answer(const char *buf, size_t len, int end, char *detail, size_t dlen)
{
    const unsigned char *p = (const unsigned char *)buf;
    if (len >= 4 && memcmp(buf, "AMQP", 4) == 0)
        return SP_ANSWER_READY; /* its own protocol header: up, speaking another version */
    if (len < 11) { /* a frame header (type, channel, size) and a method's class and id */
        if (!end && (len == 0 || p[0] == 1))
            return SP_ANSWER_MORE;
        describe(detail, dlen, len ? "not an AMQP answer: " : "connected, closed without an answer",
                 buf, len);
        return SP_ANSWER_NOT_READY;
    }
    unsigned channel = (unsigned)p[1] << 8 | p[2];
    unsigned klass = (unsigned)p[7] << 8 | p[8], method = (unsigned)p[9] << 8 | p[10];
    if (p[0] == 1 && channel == 0 && klass == 10 && method == 10 && be32(p + 3) >= 4)
        return SP_ANSWER_READY; /* Connection.Start */
    describe(detail, dlen, "not an AMQP answer: ", buf, len < 16 ? len : 16);
    return SP_ANSWER_NOT_READY;
}

int sp_pg_answer(const char *buf, size_t len, int end, char *detail, size_t dlen)
{
    const unsigned char *p = (const unsigned char *)buf;
    if (len < 5) {
        if (!end)
            return SP_ANSWER_MORE;
        describe(detail, dlen,
                 len ? "not a PostgreSQL answer: " : "connected, closed without an answer", buf,
                 len);
        return SP_ANSWER_NOT_READY;
    }
    uint32_t size = be32(p + 1); /* counts itself, not the type byte */
    if (size < 4 || size > 1 << 20) {
        describe(detail, dlen, "not a PostgreSQL answer: ", buf, len < 16 ? len : 16);
        return SP_ANSWER_NOT_READY;
    }
    if (p[0] == 'R' || p[0] == 'v') /* authentication request, protocol negotiation */
        return SP_ANSWER_READY;
    if (p[0] != 'E') {
        describe(detail, dlen, "not a PostgreSQL answer: ", buf, len < 16 ? len : 16);
        return SP_ANSWER_NOT_READY;
    }
    /* ErrorResponse: fields of a type byte and a NUL-terminated value, then a NUL. */
    size_t stop = (size_t)size + 1 < len ? (size_t)size + 1 : len;
    const char *code = NULL, *message = NULL;
    size_t code_len = 0, message_len = 0;
    for (size_t at = 5; at < stop && p[at] != 0;) {
        const char *value = buf + at + 1;
        const char *nul = at + 1 < stop ? memchr(value, '\0', stop - at - 1) : NULL;
        if (nul == NULL)
            break; /* cut short */
        if (p[at] == 'C')
            code = value, code_len = (size_t)(nul - value);
        else if (p[at] == 'M')
            message = value, message_len = (size_t)(nul - value);
        at = (size_t)(nul - buf) + 1;
    }
    if (code == NULL) {
        if (!end && len < (size_t)size + 1)
            return SP_ANSWER_MORE;
        describe(detail, dlen, "postgres: an error without a SQLSTATE", "", 0);
        return SP_ANSWER_NOT_READY;
    }
    if (code_len == 5 && memcmp(code, "57P03", 5) == 0) {
        if (message == NULL && !end && len < (size_t)size + 1)
            return SP_ANSWER_MORE;
        describe(detail, dlen, "postgres: 57P03 ", message ? message : "", message_len);
        return SP_ANSWER_NOT_READY;
    }
    return SP_ANSWER_READY; /* 28000, 28P01, 53300, 3D000...: up, not for us */
}
