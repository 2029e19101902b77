"""https:// and tls:// endpoints (ext/tls.c, the TLS steps of ext/netwait.c), against a real TLS
server on loopback (Python's ssl module, OpenSSL underneath) whose certificates come from a CA
made here with the openssl command: trusted with --cacert or $SSL_CERT_FILE, refused without,
accepted unchecked with --insecure; SNI and the Host header as the server saw them."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from snakepack import UsageError, async_wait_for_port, probe, wait_for_port

from conftest import run, tool
from loopback import StreamServer, TlsServer

WAIT = tool("wait-for-port")
OPENSSL = shutil.which("openssl")
pytestmark = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is missing (scripts/test installs it)")


def openssl(*args: str | Path) -> None:
    r = run([OPENSSL, *args])
    assert r.returncode == 0, r.stderr


@pytest.fixture(scope="module")
def pki(tmp_path_factory) -> Path:
    """A CA, a server certificate it signed for localhost, 127.0.0.1 and ::1, and one for
    other.test only."""
    d = tmp_path_factory.mktemp("pki")
    ec = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2")
    openssl("req", "-x509", *ec, "-subj", "/CN=snakepack test CA", "-keyout", d / "ca.key", "-out", d / "ca.pem")
    for name, names in (("server", "DNS:localhost,IP:127.0.0.1,IP:::1"), ("other", "DNS:other.test")):
        openssl(
            "req", "-x509", *ec, "-subj", f"/CN={name}", "-CA", d / "ca.pem", "-CAkey", d / "ca.key",
            "-addext", f"subjectAltName={names}", "-addext", "basicConstraints=critical,CA:FALSE",
            "-keyout", d / f"{name}.key", "-out", d / f"{name}.pem",
        )  # fmt: skip
    return d


def server(pki: Path, name: str = "server", **kwargs) -> TlsServer:
    return TlsServer(pki / f"{name}.pem", pki / f"{name}.key", **kwargs)


def wait(*args: str | Path, env=None) -> subprocess.CompletedProcess:
    return run([WAIT, *args], env=env)


def test_tls_ready_with_cacert_not_trusted_without_ready_insecure(pki):
    with server(pki) as s:
        endpoint = f"tls://localhost:{s.port}"
        trusted = wait("-t", "10", "--cacert", pki / "ca.pem", endpoint)
        assert trusted.returncode == 0, trusted.stderr
        assert f"{endpoint} is ready after" in trusted.stderr
        # one attempt, ended by the handshake's verdict, whatever the time start-up took
        untrusted = wait("--probe", endpoint)
        assert untrusted.returncode == 1
        assert untrusted.stderr.splitlines() == [
            f"wait-for-port: {endpoint} not ready: TLS: certificate not trusted: unable to get local issuer certificate"
        ]
        insecure = wait("-t", "10", "--insecure", endpoint)
        assert insecure.returncode == 0, insecure.stderr
        assert s.requests == []  # tls:// only shakes hands
        assert set(s.names) == {"localhost"}


def test_https_sends_sni_and_the_host_header_of_the_endpoint(pki):
    with server(pki) as s:
        r = wait("-t", "10", "--cacert", pki / "ca.pem", f"https://localhost:{s.port}/health?full=1")
        assert r.returncode == 0, r.stderr
        assert s.names == ["localhost"]
        assert s.requests[0][0] == b"GET /health?full=1 HTTP/1.0"
        assert f"Host: localhost:{s.port}".encode() in s.requests[0]


def test_an_address_is_checked_against_the_certificate_and_sent_no_sni(pki):
    with server(pki) as s:
        r = wait("-t", "10", "--cacert", pki / "ca.pem", f"https://127.0.0.1:{s.port}/")
        assert r.returncode == 0, r.stderr
        assert s.names == [None]  # RFC 6066: no IP literal in SNI
        assert f"Host: 127.0.0.1:{s.port}".encode() in s.requests[0]
    with server(pki, family=socket.AF_INET6) as s:
        r = wait("-t", "10", "--cacert", pki / "ca.pem", f"https://[::1]:{s.port}/")
        assert r.returncode == 0, r.stderr
        assert f"Host: [::1]:{s.port}".encode() in s.requests[0]


def test_a_certificate_for_another_name_is_not_trusted(pki):
    with server(pki, "other") as s:
        for host, why in (("localhost", "hostname mismatch"), ("127.0.0.1", "IP address mismatch")):
            r = wait("--probe", "--cacert", pki / "ca.pem", f"tls://{host}:{s.port}")
            assert r.returncode == 1
            assert r.stderr.strip().endswith(f"TLS: certificate not trusted: {why}"), r.stderr
        # the same name, trusted, is ready: the mismatch was the only thing wrong
        assert wait("--probe", "--insecure", f"tls://localhost:{s.port}").returncode == 0


def test_ssl_cert_file_is_trusted_when_no_cacert_is_given(pki):
    with server(pki) as s:
        r = wait("-t", "10", f"https://localhost:{s.port}/", env={**os.environ, "SSL_CERT_FILE": str(pki / "ca.pem")})
        assert r.returncode == 0, r.stderr


def test_https_status_decides_and_probe_and_json_say_why(pki):
    with server(pki, answer=b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n") as s:
        endpoint = f"https://localhost:{s.port}/ready"
        r = wait("--probe", "--json", "--cacert", pki / "ca.pem", endpoint)
        assert r.returncode == 1
        assert r.stderr.splitlines() == [f"wait-for-port: {endpoint} not ready: HTTP status 503"]
        doc = json.loads(r.stdout)
        assert doc["endpoints"][0]["last_error"] == "HTTP status 503" and doc["endpoints"][0]["attempts"] == 1
    with server(pki, answer=b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n") as s:
        assert wait("--probe", "--cacert", pki / "ca.pem", f"https://localhost:{s.port}/").returncode == 0


def test_a_server_that_does_not_speak_tls_is_a_tls_failure():
    def answer_plainly(conn):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\n")

    with StreamServer(answer_plainly) as s:
        endpoint = f"tls://127.0.0.1:{s.port}"
        r = wait("--probe", "--insecure", endpoint)
    assert r.returncode == 1
    assert r.stderr.splitlines() == [f"wait-for-port: {endpoint} not ready: TLS: wrong version number"]


def test_a_handshake_that_never_ends_is_bounded_by_the_period():
    with socket.socket() as ls:  # accepts (the backlog does) and never answers
        ls.bind(("127.0.0.1", 0))
        ls.listen(64)
        endpoint = f"tls://127.0.0.1:{ls.getsockname()[1]}"
        # three periods of attempts fit in the deadline even after a slow start-up
        r = wait("-t", "3", "--period", "0.2", "--insecure", "--json", endpoint)
        assert r.returncode == 10
        assert r.stderr.strip().endswith("TLS handshake not done in 0.2 s"), r.stderr
        assert json.loads(r.stdout)["endpoints"][0]["attempts"] >= 3  # a new attempt every period


def test_a_server_that_closes_during_the_handshake():
    with StreamServer(lambda conn: None) as s:  # closes each connection at once
        r = wait("--probe", "--insecure", f"tls://127.0.0.1:{s.port}")
    assert r.returncode == 1
    assert r.stderr.strip().endswith(
        ("TLS: the server closed the connection during the handshake", "Connection reset by peer")
    ), r.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--cacert", "/nonexistent/ca.pem"], "CA certificate file /nonexistent/ca.pem: No such file or directory"),
        (
            ["--cacert", "/etc/hostname"],
            "CA certificate file /etc/hostname: no certificate in it (no certificate or crl found)",
        ),
        (["--cacert", "CA", "--insecure"], "cacert and insecure contradict each other: choose one"),
        (["--cacert", "/dev/null"], "CA certificate file /dev/null: not a regular file"),
        (["--cacert", "FIFO"], "CA certificate file FIFO: not a regular file"),  # read, it would never end
    ],
)
def test_bad_tls_options_are_one_line_and_exit_2(args, message, tmp_path):
    fifo = tmp_path / "ca.pem"
    os.mkfifo(fifo)
    args = [str(fifo) if a == "FIFO" else a for a in args]
    message = message.replace("FIFO", str(fifo))
    r = run([WAIT, "-t", "1", *args, "tls://127.0.0.1:9"], timeout=30)
    assert r.returncode == 2
    assert r.stderr.splitlines() == [f"wait-for-port: {message}"]
    assert r.stdout == ""


def test_the_python_api_and_its_asyncio_twin_take_tls_options(pki):
    with server(pki) as s:
        https, tls = f"https://localhost:{s.port}/", f"tls://localhost:{s.port}"
        (result,) = wait_for_port(https, timeout=10, cacert=pki / "ca.pem")
        assert result.ready
        assert [r.ready for r in probe(https, tls, insecure=True)] == [True, True]
        (untrusted,) = probe(tls)
        assert not untrusted.ready and "unable to get local issuer certificate" in untrusted.detail
        results = asyncio.run(async_wait_for_port(https, tls, timeout=10, cacert=str(pki / "ca.pem")))
        assert all(r.ready for r in results)
        with pytest.raises(UsageError, match="no certificate in it"):
            probe(tls, cacert="/etc/hostname")


def test_the_pytest_marker_takes_cacert(pki, pytester):
    with server(pki) as s:
        pytester.makepyfile(
            f"""
            import pytest

            @pytest.mark.wait_for("https://localhost:{s.port}/", timeout=10, cacert={str(pki / "ca.pem")!r})
            def test_trusted():
                pass

            @pytest.mark.wait_for("tls://localhost:{s.port}", timeout=2)
            def test_untrusted():
                pass
            """
        )
        result = pytester.runpytest()
        result.assert_outcomes(passed=1, errors=1)  # the marker fails the test's setup
        result.stdout.fnmatch_lines(
            ["*wait_for: timed out after 2 s waiting for tls://localhost:*certificate not trusted*"]
        )


def test_insecure_names_the_failure_not_the_certificate(pki):
    # The handshake succeeds unchecked; then the server writes bytes that are no TLS record.
    # OpenSSL recorded that the certificate has no trusted issuer, though it was told not to
    # enforce it: that is not why the attempt failed.
    def garble(conn):
        with TlsServer.context(pki / "server.pem", pki / "server.key").wrap_socket(conn, server_side=True) as tls:
            tls.recv(4096)
            os.write(tls.fileno(), b"no TLS record at all\r\n" * 4)

    with StreamServer(garble) as s:
        (r,) = probe(f"https://localhost:{s.port}/", insecure=True)
    assert not r.ready
    assert r.detail.startswith("TLS: ") and "not trusted" not in r.detail, r.detail


@pytest.mark.parametrize("scheme", ["https", "tls"])
def test_verbose_says_why_the_certificate_is_not_trusted(pki, scheme):
    with server(pki) as s:
        endpoint = f"{scheme}://127.0.0.1:{s.port}" + ("/" if scheme == "https" else "")
        r = wait("-v", "-t", "1.5", "--period", "0.5", endpoint)
    assert r.returncode == 10
    lines = [line.split(" ", 1)[1] for line in r.stderr.splitlines() if line.startswith("+")]
    assert lines[0] == f"{endpoint} resolved: 127.0.0.1 (IPv4)"
    # not a refusal: the next attempt comes a period after this one started
    assert re.fullmatch(
        rf"{re.escape(endpoint)} attempt 1 to 127\.0\.0\.1: TLS: certificate not trusted: [^;]+; next attempt in \d+ ms",
        lines[1],
    ), lines
    assert lines[-1] == "deadline reached"
