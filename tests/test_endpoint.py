"""Endpoint parsing (snakepack.ports.parse_endpoint, ext/endpoint.c): every form the command
takes, and one line naming the problem for every form it refuses."""

import pytest
from snakepack import UsageError
from snakepack.ports import parse_endpoint

TCP, UNIX, HTTP, FILE, HTTPS, TLS = "tcp", "unix", "http", "file", "https", "tls"


@pytest.mark.parametrize(
    "text, parsed",
    [
        ("db:5432", (TCP, "db", "5432", None)),
        ("127.0.0.1:80", (TCP, "127.0.0.1", "80", None)),
        ("[::1]:5432", (TCP, "::1", "5432", None)),
        ("http://web:8080/health", (HTTP, "web", "8080", "/health")),
        ("http://web", (HTTP, "web", "80", "/")),
        ("http://[::1]:81", (HTTP, "::1", "81", "/")),
        ("unix:/run/app.sock", (UNIX, None, None, "/run/app.sock")),
        ("file:/run/app/ready", (FILE, None, None, "/run/app/ready")),
        ("file:///run/app/ready", (FILE, None, None, "/run/app/ready")),
        ("file://localhost/run/app/ready", (FILE, None, None, "/run/app/ready")),  # RFC 8089
        ("file://LocalHost/run/app/ready", (FILE, None, None, "/run/app/ready")),
        ("https://api/health", (HTTPS, "api", "443", "/health")),
        ("https://[::1]:8443", (HTTPS, "::1", "8443", "/")),
        ("tls://mq:5671", (TLS, "mq", "5671", None)),
        ("tls://[::1]:443/", (TLS, "::1", "443", None)),
    ],
)
def test_parse_endpoint(text, parsed):
    assert tuple(parse_endpoint(text))[1:] == parsed


@pytest.mark.parametrize(
    "text, message",
    [
        ("db", "missing port"),
        ("db:", "port must be a number"),
        ("db:99999", "port must be a number"),
        ("db:0", "port must be a number"),
        (":5432", "missing host"),
        ("::1:5432", "bare IPv6 address"),
        ("[::1]5432", "expected [IPv6]:PORT"),
        ("ftp://x:21", "unknown scheme"),
        ("redis://user:secret@cache:6379", "never sends credentials"),
        ("postgres://db:5432/a b", "must not hold spaces"),
        ("redis://", "missing host"),
        ("unix:relative.sock", "absolute socket path"),
        ("db:²", "port must be a number"),  # int() would take it: another script's digit
        ("db:٣٣", "port must be a number"),
        ("db:+80", "port must be a number"),
        ("db: 80", "port must be a number"),
        ("d b:80", "must not hold spaces"),
        ("http://web/a b", "must not hold spaces"),
        ("http://web/a\r\nX: y", "must not hold spaces or control characters"),
        ("unix:/" + "x" * 200, "longer than a socket address holds"),
        ("file:ready", "file: needs an absolute path"),
        ("file:", "file: needs an absolute path"),
        ("file://", "file: needs an absolute path"),
        ("file://localhost", "file: needs an absolute path"),
        ("file://otherhost/run/app/ready", "a file: URL names no other host than localhost"),
        ("file://localhost.example/x", "a file: URL names no other host than localhost"),
        ("file:/" + "x" * 4096, "longer than a path can be"),
        ("db\udcff:80", "not valid UTF-8"),
        ("tls://mq", "missing port"),
        ("tls://mq:5671/vhost", "tls:// takes no path"),
        ("tls://user@mq:5671", "never sends credentials"),
        ("https://api/a b", "must not hold spaces"),
        ("ftps://x:21", "unknown scheme: http://, https://, tls://"),
    ],
)
def test_parse_endpoint_rejects(text, message):
    with pytest.raises(UsageError, match=message.replace("[", r"\[").replace("]", r"\]")):
        parse_endpoint(text)
