/* What wait-for-port reads from users and from servers: endpoints as written on the command
 * line, and the status line of an HTTP answer. Both are fuzzed (fuzz/fuzz_endpoint.c,
 * fuzz/fuzz_httpstatus.c); neither touches the network. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/util.h"
#include "wait/endpoint.h"

const char *const sp_ep_kind_names[] = {"tcp",      "unix",  "http", "file",  "redis",
                                        "postgres", "mysql", "amqp", "https", "tls"};

void sp_ep_spec_free(struct sp_ep_spec *spec)
{
    free(spec->host);
    free(spec->port);
    free(spec->path);
    spec->host = spec->port = spec->path = NULL;
}

static int fail(char *why, size_t whylen, const char *text)
{
    snprintf(why, whylen, "%s", text);
    return -1;
}

/* Returns 1 when the N bytes at S are valid UTF-8 (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF). */
static int valid_utf8(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t len = c < 0x80             ? 1
                     : (c & 0xE0) == 0xC0 ? 2
                     : (c & 0xF0) == 0xE0 ? 3
                     : (c & 0xF8) == 0xF0 ? 4
                                          : 0;
        if (len == 0 || i + len > n || (len == 2 && c < 0xC2))
            return 0;
        for (size_t k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80)
                return 0;
        }
        if ((len == 3 && c == 0xE0 && s[i + 1] < 0xA0) ||
            (len == 3 && c == 0xED && s[i + 1] >= 0xA0) ||
            (len == 4 && c == 0xF0 && s[i + 1] < 0x90) ||
            (len == 4 && (c > 0xF4 || (c == 0xF4 && s[i + 1] >= 0x90))))
            return 0;
        i += len;
    }
    return 1;
}

/* Spaces and control characters have no place in a host, port or request target: in an HTTP
 * request they would start a new header. */
static int has_blank_or_control(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c <= ' ' || c == 0x7F)
            return 1;
    }
    return 0;
}

/* Checks the decimal PORT (N bytes: ASCII digits only, 1 to 65535) and stores it without
 * leading zeros in SPEC. */
static int parse_port(const char *port, size_t n, struct sp_ep_spec *spec, char *why, size_t whylen)
{
    unsigned long value = 0;
    if (n == 0)
        return fail(why, whylen, "port must be a number from 1 to 65535");
    for (size_t i = 0; i < n; i++) {
        if (port[i] < '0' || port[i] > '9' || value > 65535)
            return fail(why, whylen, "port must be a number from 1 to 65535");
        value = value * 10 + (unsigned long)(port[i] - '0');
    }
    if (value < 1 || value > 65535)
        return fail(why, whylen, "port must be a number from 1 to 65535");
    if ((spec->port = sp_aprintf("%lu", value)) == NULL)
        return fail(why, whylen, "out of memory");
    return 0;
}

/* HOST[:PORT] or [IPv6][:PORT] (the N bytes at S); DEFPORT, if not NULL, stands in for a
 * missing port. */
static int parse_authority(const char *s, size_t n, const char *defport, struct sp_ep_spec *spec,
                           char *why, size_t whylen)
{
    const char *host = s, *port = NULL;
    size_t hostlen = 0, portlen = 0;
    if (n && s[0] == '[') {
        const char *close = memchr(s, ']', n);
        if (close == NULL)
            return fail(why, whylen, "expected [IPv6]:PORT");
        host = s + 1;
        hostlen = (size_t)(close - host);
        const char *after = close + 1, *end = s + n;
        if (after < end && *after != ':')
            return fail(why, whylen, "expected [IPv6]:PORT");
        if (after < end) {
            port = after + 1;
            portlen = (size_t)(end - port);
        }
        if (memchr(host, ':', hostlen) == NULL)
            return fail(why, whylen, "brackets are for IPv6 addresses");
    } else {
        const char *colon = memrchr(s, ':', n);
        if (colon) {
            hostlen = (size_t)(colon - s);
            port = colon + 1;
            portlen = (size_t)(s + n - port);
        } else {
            hostlen = n;
        }
        if (has_blank_or_control(s, hostlen))
            return fail(why, whylen, "the host must not hold spaces or control characters");
        if (port && has_blank_or_control(port, portlen))
            return fail(why, whylen, "port must be a number from 1 to 65535");
        if (colon && memchr(s, ':', hostlen)) {
            snprintf(why, whylen, "bare IPv6 address: write it as [%.*s]:%.*s", (int)hostlen, s,
                     (int)portlen, port);
            return -1;
        }
    }
    if (port == NULL && defport == NULL)
        return fail(why, whylen, "missing port (expected HOST:PORT)");
    if (hostlen == 0)
        return fail(why, whylen, "missing host (expected HOST:PORT)");
    if (has_blank_or_control(host, hostlen))
        return fail(why, whylen, "the host must not hold spaces or control characters");
    if ((spec->host = strndup(host, hostlen)) == NULL)
        return fail(why, whylen, "out of memory");
    return port ? parse_port(port, portlen, spec, why, whylen)
                : parse_port(defport, strlen(defport), spec, why, whylen);
}

#define NO_CREDENTIALS "no user or password: wait-for-port never sends credentials"

/* The servers asked whether they are ready (protocol.c), by URL scheme: the path of the URL (a
 * database name or number, a virtual host) is allowed and not used. */
static const struct scheme {
    const char *prefix, *port;
    int kind;
} schemes[] = {
    {"redis://", "6379", SP_EP_REDIS},         {"postgres://", "5432", SP_EP_POSTGRES},
    {"postgresql://", "5432", SP_EP_POSTGRES}, {"mysql://", "3306", SP_EP_MYSQL},
    {"mariadb://", "3306", SP_EP_MYSQL},       {"amqp://", "5672", SP_EP_AMQP},
};

static const struct scheme *database_scheme(const char *text, size_t n, struct sp_ep_spec *spec)
{
    for (size_t i = 0; i < sizeof schemes / sizeof schemes[0]; i++) {
        size_t len = strlen(schemes[i].prefix);
        if (n >= len && memcmp(text, schemes[i].prefix, len) == 0) {
            spec->kind = schemes[i].kind;
            return &schemes[i];
        }
    }
    return NULL;
}

int sp_ep_parse(const char *text, struct sp_ep_spec *spec, char *why, size_t whylen)
{
    const struct scheme *scheme;
    memset(spec, 0, sizeof *spec);
    size_t n = strlen(text);
    while (n && (text[n - 1] == ' ' || text[n - 1] == '\t' || text[n - 1] == '\n'))
        n--;
    while (n && (*text == ' ' || *text == '\t' || *text == '\n'))
        text++, n--;
    int rc;
    if (!valid_utf8((const unsigned char *)text, n)) {
        rc = fail(why, whylen, "not valid UTF-8");
    } else if (n >= 5 && memcmp(text, "unix:", 5) == 0) {
        spec->kind = SP_EP_UNIX;
        if (n == 5 || text[5] != '/')
            rc = fail(why, whylen, "unix: needs an absolute socket path");
        else if (n - 5 > SP_UNIX_PATH_MAX)
            rc = fail(why, whylen, "the socket path is longer than a socket address holds");
        else if ((spec->path = strndup(text + 5, n - 5)) == NULL)
            rc = fail(why, whylen, "out of memory");
        else
            rc = 0;
    } else if (n >= 5 && memcmp(text, "file:", 5) == 0) {
        spec->kind = SP_EP_FILE;
        size_t skip = 5, host = 0;
        if (n >= 7 && memcmp(text, "file://", 7) == 0) { /* the URL form: file://[localhost]/PATH */
            const char *slash = memchr(text + 7, '/', n - 7);
            host = (slash ? (size_t)(slash - text) : n) - 7;
            skip = 7 + host;
        }
        if (host != 0 && !(host == 9 && strncasecmp(text + 7, "localhost", 9) == 0))
            rc = fail(why, whylen, "a file: URL names no other host than localhost (RFC 8089)");
        else if (n == skip || text[skip] != '/')
            rc = fail(why, whylen, "file: needs an absolute path");
        else if (n - skip > SP_FILE_PATH_MAX)
            rc = fail(why, whylen, "the path is longer than a path can be");
        else if ((spec->path = strndup(text + skip, n - skip)) == NULL)
            rc = fail(why, whylen, "out of memory");
        else
            rc = 0;
    } else if ((scheme = database_scheme(text, n, spec)) != NULL) {
        const char *rest = text + strlen(scheme->prefix), *end = text + n;
        const char *slash = memchr(rest, '/', (size_t)(end - rest));
        const char *auth_end = slash ? slash : end;
        if (memchr(rest, '@', (size_t)(auth_end - rest)))
            rc = fail(why, whylen, NO_CREDENTIALS);
        else if (slash && has_blank_or_control(slash, (size_t)(end - slash)))
            rc = fail(why, whylen, "the path must not hold spaces or control characters");
        else
            rc = parse_authority(rest, (size_t)(auth_end - rest), scheme->port, spec, why, whylen);
    } else if ((n >= 7 && memcmp(text, "http://", 7) == 0) ||
               (n >= 8 && memcmp(text, "https://", 8) == 0)) {
        int tls = text[4] == 's';
        spec->kind = tls ? SP_EP_HTTPS : SP_EP_HTTP;
        const char *rest = text + (tls ? 8 : 7), *end = text + n;
        const char *slash = memchr(rest, '/', (size_t)(end - rest));
        const char *target = slash ? slash : "/";
        size_t targetlen = slash ? (size_t)(end - slash) : 1;
        if (has_blank_or_control(target, targetlen))
            rc = fail(why, whylen, "the path must not hold spaces or control characters");
        else if ((spec->path = strndup(target, targetlen)) == NULL)
            rc = fail(why, whylen, "out of memory");
        else
            rc = parse_authority(rest, (size_t)((slash ? slash : end) - rest), tls ? "443" : "80",
                                 spec, why, whylen);
    } else if (n >= 6 && memcmp(text, "tls://", 6) == 0) {
        spec->kind = SP_EP_TLS;
        const char *rest = text + 6;
        size_t len = n - 6;
        if (len && rest[len - 1] == '/')
            len--; /* tls://host:port/ */
        if (memchr(rest, '/', len))
            rc = fail(why, whylen, "tls:// takes no path: only the handshake is tried");
        else if (memchr(rest, '@', len))
            rc = fail(why, whylen, NO_CREDENTIALS);
        else
            rc = parse_authority(rest, len, NULL, spec, why, whylen);
    } else if (memmem(text, n, "://", 3)) {
        rc = fail(why, whylen,
                  "unknown scheme: http://, https://, tls://, redis://, postgres://, mysql://, "
                  "amqp://, unix: and file: are understood");
    } else {
        spec->kind = SP_EP_TCP;
        rc = parse_authority(text, n, NULL, spec, why, whylen);
    }
    if (rc < 0)
        sp_ep_spec_free(spec);
    return rc;
}

int sp_http_status(const char *buf, size_t len, int end)
{
    /* HTTP/1.1 (RFC 9112): "HTTP/" DIGIT "." DIGIT SP 3DIGIT SP [reason] CRLF; HTTP/1.0 and 0.9
     * servers and sloppy ones vary the version and what follows the code, so: "HTTP/", a
     * version of digits and dots, one or more spaces, three digits, then a space, CR, LF or
     * the end of the answer. */
    static const char prefix[] = "HTTP/";
    size_t i = 0;
    for (; i < 5; i++) {
        if (i == len)
            return end ? SP_HTTP_BAD : SP_HTTP_MORE;
        if (buf[i] != prefix[i])
            return SP_HTTP_BAD;
    }
    size_t version = i;
    while (i < len && ((buf[i] >= '0' && buf[i] <= '9') || buf[i] == '.') && i - version < 8)
        i++;
    if (i == len)
        return end ? SP_HTTP_BAD : SP_HTTP_MORE;
    if (i == version || buf[i] != ' ')
        return SP_HTTP_BAD;
    while (i < len && buf[i] == ' ' && i - version < 16)
        i++;
    int status = 0;
    for (int k = 0; k < 3; k++, i++) {
        if (i == len)
            return end ? SP_HTTP_BAD : SP_HTTP_MORE;
        if (buf[i] < '0' || buf[i] > '9')
            return SP_HTTP_BAD;
        status = status * 10 + (buf[i] - '0');
    }
    if (i < len && buf[i] != ' ' && buf[i] != '\r' && buf[i] != '\n')
        return SP_HTTP_BAD;
    if (i == len && !end)
        return SP_HTTP_MORE; /* "HTTP/1.1 2000" is no status line: wait for the next byte */
    return status >= 100 && status <= 599 ? status : SP_HTTP_BAD;
}
