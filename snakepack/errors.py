"""Exceptions raised by snakepack's public API."""


class SnakepackError(Exception):
    """Base class of snakepack's errors."""


class UsageError(SnakepackError, ValueError):
    """Bad input from the caller: a path that does not exist, a malformed endpoint, ..."""


class LibdepsError(SnakepackError):
    """find-libdeps could not analyse a tree (unreadable root, path or dpkg database)."""


class AptError(SnakepackError):
    """apt-get failed; .returncode is its exit status, .transient whether retrying might help."""

    def __init__(self, step: str, returncode: int, reason: str, transient: bool):
        self.step, self.returncode, self.reason, self.transient = step, returncode, reason, transient
        super().__init__(f"apt-get {step} failed (exit {returncode}): {reason}")
