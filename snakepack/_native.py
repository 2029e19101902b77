"""The C extension, imported here once for every module that needs it.

When the dynamic loader cannot load it (in a slim image, before its run-time libraries are
installed), the error says which Debian package provides what is missing.
"""

from __future__ import annotations

from .errors import SnakepackError

__all__ = ["ExtensionError", "_core"]

# What the extension links, and the Debian package that ships it.
_PROVIDERS = {
    "libelf.so.1": "libelf1 (libelf1t64 on Debian 13 and later)",
    "libssl.so.3": "libssl3 (libssl3t64 on Debian 13 and later)",
    "libcrypto.so.3": "libssl3 (libssl3t64 on Debian 13 and later)",
}


class ExtensionError(SnakepackError, ImportError):
    """snakepack's C extension cannot be loaded."""


try:
    from . import _core
except ImportError as err:
    # The loader's message is the only account of what is missing: it names the library.
    hint = "".join(f": install the Debian package {pkg}" for lib, pkg in _PROVIDERS.items() if lib in str(err))
    raise ExtensionError(f"cannot load snakepack's C extension: {err}{hint}") from err
