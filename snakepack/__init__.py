"""snakepack: the helper commands that pack Python applications into compact images."""

from .errors import LibdepsError, SnakepackError, UsageError
from .libdeps import LibdepsResult, Package, Resolution, find_libdeps

__version__ = "0.1.0"

__all__ = [
    "LibdepsError",
    "LibdepsResult",
    "Package",
    "Resolution",
    "SnakepackError",
    "UsageError",
    "find_libdeps",
]
