"""strace -f -ttt logs, read: each line is a process id, the time in seconds since the epoch
(the clock time.time() reads, so a test can compare its own moments with the log's) and what
happened."""

from __future__ import annotations


def events(log: str) -> list[tuple[float, str]]:
    """(time, what) of every line of LOG."""
    out = []
    for line in log.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3:
            out.append((float(parts[1]), parts[2]))
    return out


def first(log: str, marker: str) -> float:
    """The time of the first line of LOG that starts with MARKER."""
    times = [when for when, what in events(log) if what.startswith(marker)]
    assert times, f"no {marker!r} in the strace log"
    return times[0]


def connects_after(log: str, when: float) -> int:
    """How many connect() calls LOG shows after the moment WHEN."""
    return sum(1 for t, what in events(log) if what.startswith("connect(") and t > when)


def turns_after(log: str, when: float) -> int:
    """In how many turns of a wait loop LOG shows connect() calls after the moment WHEN: runs
    of connect() that ppoll() calls separate."""
    turns, in_turn = 0, False
    for t, what in events(log):
        if t <= when:
            continue
        if what.startswith("ppoll("):
            in_turn = False
        elif what.startswith("connect(") and not in_turn:
            turns, in_turn = turns + 1, True
    return turns
