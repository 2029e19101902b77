/* Endpoints as users write them (endpoint.c), and the start of an HTTP answer. */
#ifndef SNAKEPACK_WAIT_ENDPOINT_H
#define SNAKEPACK_WAIT_ENDPOINT_H

#include <stddef.h>

enum sp_ep_kind {
    SP_EP_TCP = 0,
    SP_EP_UNIX,
    SP_EP_HTTP,
    SP_EP_FILE,
    SP_EP_REDIS,
    SP_EP_POSTGRES,
    SP_EP_MYSQL,
    SP_EP_AMQP,
    SP_EP_HTTPS,
    SP_EP_TLS
};

/* The kinds' names, indexed by enum sp_ep_kind: what Python sees of a kind. */
extern const char *const sp_ep_kind_names[];

struct sp_ep_spec {
    int kind;
    char *host; /* all but UNIX and FILE: name or address, without brackets */
    char *port; /* all but UNIX and FILE: decimal port */
    char *path; /* UNIX: socket path; HTTP(S): request target, e.g. "/health"; FILE: the file */
};

#define SP_UNIX_PATH_MAX 107  /* sizeof sockaddr_un.sun_path, less its NUL */
#define SP_FILE_PATH_MAX 4095 /* PATH_MAX, less its NUL */

/* Parses one endpoint as a user writes it: HOST:PORT, [IPv6]:PORT, http://HOST[:PORT][/PATH],
 * https://HOST[:PORT][/PATH], tls://HOST:PORT, unix:/PATH, file:/PATH (also file:///PATH),
 * redis://HOST[:PORT][/DB], postgres://HOST[:PORT][/DATABASE] (postgresql:// too),
 * mysql://HOST[:PORT][/DATABASE] (mariadb:// too) or amqp://HOST[:PORT][/VHOST]; these servers'
 * URLs take no user or password. Surrounding blanks are ignored. Fills SPEC with malloc'd strings
 * (free them with sp_ep_spec_free). Returns 0, or -1 with WHY (one line; not naming the endpoint)
 * when TEXT is not an endpoint, or when out of memory (WHY says so). */
int sp_ep_parse(const char *text, struct sp_ep_spec *spec, char *why, size_t whylen);
void sp_ep_spec_free(struct sp_ep_spec *spec);

/* What the start of an HTTP answer says: the status code (100 to 599) once the status line
 * shows it, SP_HTTP_MORE while it does not yet (more bytes may come), SP_HTTP_BAD when the
 * LEN bytes at BUF cannot begin an HTTP status line (or END says no more will come). */
enum { SP_HTTP_MORE = -1, SP_HTTP_BAD = -2 };
int sp_http_status(const char *buf, size_t len, int end);

#endif
