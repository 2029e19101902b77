"""pytest plugin: wait for the services the tests need before they run.

Session-wide endpoints come from ``--wait-for HOST:PORT`` (repeatable), else the environment
variable ``WAIT_FOR_PORTS``, else the ini key ``wait_for``; they are waited for once, before the
first test (on the controller when running under pytest-xdist). A test marked
``@pytest.mark.wait_for("db:5432", timeout=30)`` waits for its own endpoints before its
fixtures are set up (``cacert=`` and ``insecure=`` apply to its https:// and tls:// endpoints;
session-wide ones trust ``$SSL_CERT_FILE`` or the system's store). The ``wait_for_port``
fixture waits on demand.

Timeouts: the marker's, else ``--wait-for-timeout``, else ``WAIT_FOR_PORT_TIMEOUT``, else the
ini key ``wait_for_timeout``, else 60 seconds. A timeout fails the affected tests (or ends the
session, for session-wide endpoints) with the endpoints still down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:  # imported when used: loading the plugin must not load the C extension
    from .ports import EndpointResult

DEFAULT_TIMEOUT = 60.0


# ---- options ------------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("wait-for", "waiting for services (snakepack)")
    group.addoption(
        "--wait-for",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="wait until HOST:PORT accepts connections before the first test (repeatable)",
    )
    group.addoption(
        "--wait-for-timeout", type=float, default=None, metavar="SECONDS", help="how long to wait for services"
    )
    parser.addini("wait_for", "endpoints to wait for before the first test", type="linelist", default=[])
    parser.addini("wait_for_timeout", "how long to wait for services, in seconds", default="")


# ---- configuration ------------------------------------------------------------------------------


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "wait_for(*endpoints, timeout=None, cacert=None, insecure=False): wait until the "
        "endpoints accept connections before this test's fixtures are set up",
    )


# ---- hooks --------------------------------------------------------------------------------------


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session: pytest.Session) -> None:
    config = session.config
    if hasattr(config, "workerinput"):
        return  # an xdist worker: the controller has waited already
    endpoints = _session_endpoints(config)
    if not endpoints:
        return
    failure = _wait(endpoints, _timeout(config))
    if failure:
        pytest.exit(f"wait-for: {failure}", returncode=pytest.ExitCode.TESTS_FAILED)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for marker in item.iter_markers(name="wait_for"):
        timeout = marker.kwargs.get("timeout")
        unknown = set(marker.kwargs) - {"timeout", "cacert", "insecure"}
        if unknown:
            raise pytest.UsageError(
                f"wait_for: unknown argument {', '.join(sorted(unknown))} (timeout, cacert, insecure are understood)"
            )
        failure = _wait(
            marker.args,
            _timeout(item.config) if timeout is None else float(timeout),
            cacert=marker.kwargs.get("cacert"),
            insecure=bool(marker.kwargs.get("insecure", False)),
        )
        if failure:
            pytest.fail(f"wait_for: {failure}", pytrace=False)


# ---- fixtures -----------------------------------------------------------------------------------


@pytest.fixture
def wait_for_port(request: pytest.FixtureRequest) -> Callable[..., list[EndpointResult]]:
    """A function: wait_for_port(*endpoints, timeout=None, period=0.5) returns the results, or
    fails the test with the endpoints still down."""
    from .ports import WaitTimeout
    from .ports import wait_for_port as wait

    def waiter(*endpoints: str, timeout: float | None = None, **kwargs: Any) -> list[EndpointResult]:
        try:
            return wait(*endpoints, timeout=_timeout(request.config) if timeout is None else timeout, **kwargs)
        except WaitTimeout as err:
            pytest.fail(f"wait_for_port: {err}", pytrace=False)

    return waiter


# ---- helpers ------------------------------------------------------------------------------------


def _session_endpoints(config: pytest.Config) -> list[str]:
    cli: list[str] = config.getoption("wait_for")
    if cli:
        return cli
    from .environ import split
    from .ports import endpoints_from_env

    return endpoints_from_env() or [e for line in config.getini("wait_for") for e in split(line)]


def _timeout(config: pytest.Config) -> float:
    cli: float | None = config.getoption("wait_for_timeout")
    if cli is not None:
        return cli
    from .errors import UsageError
    from .ports import timeout_from_env

    ini: str = config.getini("wait_for_timeout")
    try:
        default = float(ini) if ini else DEFAULT_TIMEOUT
    except ValueError:
        raise pytest.UsageError(f"wait_for_timeout={ini!r} is not a number of seconds") from None
    try:
        return timeout_from_env(default)
    except UsageError as err:
        raise pytest.UsageError(str(err)) from None


def _wait(endpoints: Iterable[str], timeout: float, cacert: str | None = None, insecure: bool = False) -> str | None:
    """Waits; returns None when every endpoint is ready, else what to report."""
    from .errors import UsageError
    from .ports import WaitTimeout, wait_for_port

    try:
        wait_for_port(*endpoints, timeout=timeout, cacert=cacert, insecure=insecure)
    except WaitTimeout as err:
        return str(err)
    except UsageError as err:
        raise pytest.UsageError(f"wait-for: {err}") from None
    return None
