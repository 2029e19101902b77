"""Exceptions raised by snakepack's public API."""


class SnakepackError(Exception):
    """Base class of snakepack's errors."""


class UsageError(SnakepackError, ValueError):
    """Bad input from the caller: a path that does not exist, a malformed endpoint, ..."""


class LibdepsError(SnakepackError):
    """find-libdeps could not analyse a tree (unreadable root, path or dpkg database)."""
