"""snakepack: the helper commands that pack Python applications into compact images.

The public names load their modules on first use, so that apt-install (pure Python) runs in an
image before the libraries of the C extension are installed there.
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (10 ms a command)
if TYPE_CHECKING:
    from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "EndpointResult": ".ports",
    "WaitTimeout": ".ports",
    "WaitCancelled": ".ports",
    "async_wait_for_port": ".ports",
    "wait_for_port": ".ports",
    "probe": ".ports",
    "LibdepsResult": ".libdeps",
    "Package": ".libdeps",
    "Resolution": ".libdeps",
    "find_libdeps": ".libdeps",
    "minimum_versions": ".shlibs",
    "LibdepsError": ".errors",
    "SnakepackError": ".errors",
    "UsageError": ".errors",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_EXPORTS[name], __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
