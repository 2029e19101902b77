"""Waiting until network endpoints accept connections.

The waiting itself happens in C (snakepack._core.wait) with the GIL released: every endpoint in
flight at once on nonblocking sockets, one monotonic deadline, names resolved on helper threads.
This module parses endpoints and shapes the results.
"""

from __future__ import annotations

import math
import os
from collections import namedtuple
from collections.abc import Callable, Iterable

from . import environ
from ._native import _core
from .errors import SnakepackError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (10 ms a command)
if TYPE_CHECKING:
    import asyncio

__all__ = [
    "Endpoint",
    "EndpointResult",
    "WaitTimeout",
    "WaitCancelled",
    "parse_endpoint",
    "wait_for_port",
    "async_wait_for_port",
    "probe",
]


class Endpoint(namedtuple("Endpoint", "text kind host port path")):
    """A parsed endpoint: HOST:PORT, [IPv6]:PORT, http(s)://HOST[:PORT]/PATH (ready on a
    2xx/3xx answer), tls://HOST:PORT (ready once a TLS handshake with a trusted certificate
    succeeds), unix:/PATH, file:/PATH (ready when the file exists), redis://, postgres://,
    mysql:// or amqp://HOST[:PORT] (ready when the server says it serves, asked without
    credentials). kind is its name as the C core's parser gives it: tcp, unix, http, file,
    redis, postgres, mysql, amqp, https or tls."""

    __slots__ = ()

    def __str__(self) -> str:
        return str(self.text)


class EndpointResult(namedtuple("EndpointResult", "endpoint ready elapsed detail attempts", defaults=(0,))):
    """ready: it accepted (with invert: it stopped accepting) after ELAPSED seconds; otherwise
    DETAIL says what the last attempt met. attempts: how many were started."""

    __slots__ = ()


class WaitTimeout(TimeoutError, SnakepackError):
    """The deadline passed before every endpoint was ready; .pending lists those still down."""

    def __init__(self, timeout: float, results: list[EndpointResult]):
        self.timeout = timeout
        self.results = results
        self.pending = [r for r in results if not r.ready]
        down = ", ".join(f"{r.endpoint} ({r.detail})" for r in self.pending)
        super().__init__(f"timed out after {timeout:g} s waiting for {down}")


class WaitCancelled(SnakepackError):
    """cancel_fd became readable before every endpoint was ready; .results says what each one
    met so far, .pending lists those still down."""

    def __init__(self, results: list[EndpointResult]):
        self.results = results
        self.pending = [r for r in results if not r.ready]
        super().__init__(f"cancelled while waiting for {', '.join(str(r.endpoint) for r in self.pending)}")


def parse_endpoint(text: str) -> Endpoint:
    """Parses one endpoint (HOST:PORT, [IPv6]:PORT, http(s)://HOST[:PORT][/PATH],
    tls://HOST:PORT, unix:/PATH, file:/PATH, redis://, postgres://, mysql:// or
    amqp://HOST[:PORT]);
    raises UsageError naming what is wrong with it. The parser is the C core's."""
    try:
        kind, host, port, path = _core.parse_endpoint(text)
    except ValueError as err:
        raise UsageError(f"{text.strip()}: {err}") from None
    return Endpoint(text.strip(), kind, host, port, path)


# on_event(endpoint, event, elapsed seconds, detail): event "done", "unresolved" or "crowded";
# with verbose also "resolved", "attempt" and "deadline" (whose endpoint is None)
OnEvent = Callable[["Endpoint | None", str, float, "str | None"], object]


def _endpoints(endpoints: Iterable[str | Endpoint]) -> list[Endpoint]:
    parsed = [e if isinstance(e, Endpoint) else parse_endpoint(str(e)) for e in endpoints]
    if not parsed:
        raise UsageError("no endpoint to wait for")
    return parsed


MIN_PERIOD = 0.001  # seconds: a shorter period would only spin
DEFAULT_TIMEOUT = 600.0  # seconds
DEFAULT_PERIOD = 0.5  # seconds


class TLSOptions(namedtuple("TLSOptions", "cacert insecure", defaults=(None, False))):
    """How https:// and tls:// endpoints check certificates: against the CA certificates of
    the PEM file cacert, else OpenSSL's defaults ($SSL_CERT_FILE, $SSL_CERT_DIR, else the
    system's store); insecure checks nothing."""

    __slots__ = ()


def _tls(cacert: str | os.PathLike[str] | None, insecure: bool) -> TLSOptions:
    if cacert is not None and insecure:
        raise UsageError("cacert and insecure contradict each other: choose one")
    return TLSOptions(None if cacert is None else os.fspath(cacert), bool(insecure))


def _check(timeout: float, period: float, stable: float) -> None:
    """Durations are numbers: nan is none, and a negative one means nothing. A timeout of 0 or
    infinity waits forever; a period must be finite and at least MIN_PERIOD; stable finite."""
    if not (isinstance(timeout, (int, float)) and timeout >= 0):
        raise UsageError(f"timeout must be a number of seconds, 0 or more (0 or inf: forever), not {timeout}")
    if not (isinstance(period, (int, float)) and MIN_PERIOD <= period < math.inf):
        raise UsageError(f"period must be a number of seconds from {MIN_PERIOD:g} up, not {period}")
    if not (isinstance(stable, (int, float)) and 0 <= stable < math.inf):
        raise UsageError(f"stable must be a number of seconds, 0 or more, not {stable}")


def _run(
    eps: list[Endpoint],
    timeout: float,
    period: float,
    stable: float,
    invert: bool,
    cancel_fd: int,
    on_event: OnEvent | None,
    tls: TLSOptions,
    probe: bool = False,
    verbose: bool = False,
) -> tuple[int, list[EndpointResult]]:
    def event(index: int | None, kind: str, elapsed: float, detail: str | None) -> None:
        if on_event is not None:
            on_event(None if index is None else eps[index], kind, elapsed, detail)

    try:
        outcome, raw = _core.wait(
            [e.text for e in eps],  # parsed again by the C core, the one owner of the grammar
            timeout,
            period,
            stable,
            invert,
            cancel_fd,
            event if on_event is not None else None,
            probe,
            tls.cacert,
            tls.insecure,
            verbose,
        )
    except OSError as err:
        if getattr(err, "kind", None) == "input":  # e.g. more endpoints than descriptors
            raise UsageError(err.strerror or str(err)) from err
        raise
    results = [
        EndpointResult(e, done, elapsed if done else None, detail, attempts)
        for e, (done, elapsed, detail, attempts) in zip(eps, raw, strict=True)
    ]
    return outcome, results


def wait_for_port(
    *endpoints: str | Endpoint,
    timeout: float = DEFAULT_TIMEOUT,
    period: float = DEFAULT_PERIOD,
    stable: float = 0.0,
    invert: bool = False,
    on_event: OnEvent | None = None,
    cacert: str | os.PathLike[str] | None = None,
    insecure: bool = False,
    verbose: bool = False,
    cancel_fd: int = -1,
) -> list[EndpointResult]:
    """Waits until every endpoint accepts connections (with invert: until none does).

    timeout is in seconds, 0 meaning forever; period is the time between attempts that get no
    answer, and the bound of each attempt; stable asks that an endpoint keeps accepting for
    that many seconds. on_event, if given, is called as on_event(endpoint, "done" |
    "unresolved" | "crowded", elapsed, detail) as things happen; with verbose it is also
    told each "resolved" (detail: the addresses), each "attempt" that did not make an
    endpoint done (detail: what it met, and when the next one starts) and the "deadline"
    (endpoint None). It runs with the signal mask the caller had. https:// and tls://
    endpoints check the server's certificate against the CA certificates of the PEM file
    cacert, else OpenSSL's defaults; insecure checks nothing. cancel_fd, a descriptor, ends
    the wait once it is readable. Returns one EndpointResult per endpoint; raises WaitTimeout
    when the deadline passes first, WaitCancelled when cancel_fd ends it, UsageError for a
    malformed endpoint or an unreadable cacert. Ctrl-C and other signals interrupt it at once.
    """
    eps = _endpoints(endpoints)
    _check(timeout, period, stable)
    outcome, results = _run(
        eps, timeout, period, stable, invert, cancel_fd, on_event, _tls(cacert, insecure), verbose=verbose
    )
    if outcome == 1:
        raise WaitTimeout(timeout, results)
    if outcome == 2:
        raise WaitCancelled(results)
    return results


# ---- the command's settings, its deadline and its document ---------------------------------------


def endpoints_from_env() -> list[str]:
    """The endpoints of $WAIT_FOR_PORTS, separated by commas or blanks: what wait-for-port and
    the pytest plugin wait for when given none."""
    return environ.words("WAIT_FOR_PORTS")


def timeout_from_env(default: float = DEFAULT_TIMEOUT) -> float:
    """$WAIT_FOR_PORT_TIMEOUT in seconds, else DEFAULT; UsageError when it is not a number."""
    return environ.number("WAIT_FOR_PORT_TIMEOUT", default, float)


def period_from_env() -> float:
    """$WAIT_FOR_PORT_PERIOD in seconds, else DEFAULT_PERIOD; UsageError when not a number."""
    return environ.number("WAIT_FOR_PORT_PERIOD", DEFAULT_PERIOD, float)


def process_age() -> float:
    """Seconds since this process started (10 ms resolution; 0 when /proc cannot say): a
    command's deadline counts from when it was started, interpreter start-up included."""
    try:
        with open("/proc/self/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        import time

        return max(0.0, time.clock_gettime(time.CLOCK_BOOTTIME) - started)
    except (OSError, ValueError, IndexError):
        return 0.0


def left_since_start(timeout: float) -> float:
    """What is left of TIMEOUT counted from the start of the process, at least a moment. 0 and
    inf wait forever; nan and negative numbers go as they are, for wait_for_port to refuse."""
    return max(timeout - process_age(), 0.001) if 0 < timeout < math.inf else timeout


def raise_open_files_limit() -> None:
    """Every endpoint needs a socket: the soft limit on open files goes up to the hard one. It
    changes the whole process, so the command calls it, not wait_for_port."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # an unlimited hard limit is more than the kernel allows
            pass


def results_document(results: list[EndpointResult], error: str | None = None) -> dict[str, object]:
    """wait-for-port --json: ready, ERROR (why the wait did not go to its end, or None), and per
    endpoint whether it became ready, after how long, in how many attempts, and what the last
    attempt met."""
    return {
        "ready": bool(results) and error is None and all(r.ready for r in results),
        "error": error,
        "endpoints": [
            {
                "endpoint": str(r.endpoint),
                "ready": r.ready,
                "elapsed_ms": None if r.elapsed is None else round(r.elapsed * 1000, 3),
                "attempts": r.attempts,
                "last_error": None if r.ready else r.detail,
            }
            for r in results
        ],
    }


PROBE_TIMEOUT = 5.0  # seconds: the bound of a probe's one attempt when none is given


def probe(
    *endpoints: str | Endpoint,
    timeout: float = PROBE_TIMEOUT,
    invert: bool = False,
    cacert: str | os.PathLike[str] | None = None,
    insecure: bool = False,
    on_event: OnEvent | None = None,
    verbose: bool = False,
    cancel_fd: int = -1,
) -> list[EndpointResult]:
    """One attempt per endpoint, all at once, each bounded by timeout seconds: the health-check
    mode. Returns one EndpointResult per endpoint, ready or not (DETAIL says why not); raises
    WaitCancelled when cancel_fd ends it, else only UsageError, for a malformed endpoint,
    timeout or cacert. on_event and verbose as for wait_for_port."""
    eps = _endpoints(endpoints)
    if not (isinstance(timeout, (int, float)) and MIN_PERIOD <= timeout < math.inf):
        raise UsageError(f"a probe's timeout must be a number of seconds from {MIN_PERIOD:g} up, not {timeout}")
    outcome, results = _run(
        eps, timeout, timeout, 0.0, invert, cancel_fd, on_event, _tls(cacert, insecure), probe=True, verbose=verbose
    )
    if outcome == 2:
        raise WaitCancelled(results)
    return results


async def async_wait_for_port(
    *endpoints: str | Endpoint,
    timeout: float = DEFAULT_TIMEOUT,
    period: float = DEFAULT_PERIOD,
    stable: float = 0.0,
    invert: bool = False,
    on_event: OnEvent | None = None,
    cacert: str | os.PathLike[str] | None = None,
    insecure: bool = False,
    verbose: bool = False,
) -> list[EndpointResult]:
    """wait_for_port for asyncio: the wait runs on a thread (without the GIL) and the event
    loop keeps running; cancelling the task stops the wait at once. on_event is called on the
    event loop; an exception it raises ends the wait and is raised here."""
    import asyncio
    import threading

    eps = _endpoints(endpoints)
    _check(timeout, period, stable)
    tls = _tls(cacert, insecure)
    loop = asyncio.get_running_loop()
    future: asyncio.Future[tuple[int, list[EndpointResult]]] = loop.create_future()
    cancel_r, cancel_w = os.pipe()
    failures: list[BaseException] = []

    def event_on_loop(endpoint: Endpoint | None, kind: str, elapsed: float, detail: str | None) -> None:
        if on_event is None or failures or future.done():  # after the end, cancel_w is closed
            return
        try:
            on_event(endpoint, kind, elapsed, detail)
        except BaseException as err:  # ends the wait; raised to the awaiting task
            failures.append(err)
            os.write(cancel_w, b"\0")

    def event(endpoint: Endpoint | None, kind: str, elapsed: float, detail: str | None) -> None:
        loop.call_soon_threadsafe(event_on_loop, endpoint, kind, elapsed, detail)

    def deliver(result: tuple[int, list[EndpointResult]] | None, error: BaseException | None) -> None:
        if not future.done():
            if error is not None:
                future.set_exception(error)
            elif result is not None:
                future.set_result(result)

    def work() -> None:
        result: tuple[int, list[EndpointResult]] | None = None
        error: BaseException | None = None
        try:
            result = _run(
                eps, timeout, period, stable, invert, cancel_r, event if on_event else None, tls, verbose=verbose
            )
        except BaseException as err:  # handed to the awaiting task
            error = err
        finally:
            os.close(cancel_r)
        try:
            loop.call_soon_threadsafe(deliver, result, error)
        except RuntimeError:  # the loop is gone: nobody is waiting any more
            pass

    try:
        threading.Thread(target=work, name="wait-for-port", daemon=True).start()
    except BaseException:  # e.g. RuntimeError: can't start new thread
        os.close(cancel_r)
        os.close(cancel_w)
        raise
    try:
        outcome, results = await future
    finally:
        os.close(cancel_w)  # wakes the waiting thread if it is still waiting (cancellation)
    if failures:
        raise failures[0]
    if outcome == 1:
        raise WaitTimeout(timeout, results)
    return results
