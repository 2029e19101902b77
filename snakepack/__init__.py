"""snakepack: the helper commands that pack Python applications into compact images."""

from .errors import LibdepsError, SnakepackError, UsageError
from .libdeps import LibdepsResult, Package, Resolution, find_libdeps
from .ports import EndpointResult, WaitTimeout, async_wait_for_port, wait_for_port

__version__ = "0.1.0"

__all__ = [
    "EndpointResult",
    "WaitTimeout",
    "async_wait_for_port",
    "wait_for_port",
    "LibdepsError",
    "LibdepsResult",
    "Package",
    "Resolution",
    "SnakepackError",
    "UsageError",
    "find_libdeps",
]
