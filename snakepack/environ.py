"""Settings read from the environment, where a command's flag is not given: one reader for
every variable, so a malformed value says the same thing wherever it is read."""

from __future__ import annotations

import os
from collections.abc import Callable

from .errors import UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (10 ms a command)
if TYPE_CHECKING:
    from typing import TypeVar

    N = TypeVar("N", int, float)


def number(name: str, default: N, kind: Callable[[str], N]) -> N:
    """The number in environment variable NAME, or DEFAULT when it is unset or empty; raises
    UsageError naming the variable when it holds something else."""
    value = os.environ.get(name)
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        raise UsageError(f"{name}={value!r} is not a number") from None


def split(text: str) -> list[str]:
    """The words of TEXT, separated by commas or blanks, as lists of endpoints are written."""
    return text.replace(",", " ").split()


def words(name: str) -> list[str]:
    """The words of environment variable NAME, as split() reads them ([] when unset)."""
    return split(os.environ.get(name, ""))
