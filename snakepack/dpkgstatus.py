"""dpkg's control-file format, read in Python where the C core is not at hand (apt-install runs
before its libraries are installed) or where more fields than owners are wanted (the SBOM)."""

from __future__ import annotations

import re

__all__ = ["fields", "installed", "parse"]

_FIELD = re.compile(r"^([A-Za-z0-9][A-Za-z0-9-]*):[ \t]*(.*)$", re.M)


def fields(stanza: str) -> dict[str, str]:
    """The single-line fields of one stanza (a continuation line adds nothing to them)."""
    return dict(_FIELD.findall(stanza))


def installed(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """The stanzas of the dpkg status TEXT whose package is installed, by (Package,
    Architecture)."""
    return {key: f for key, f in parse(text).items() if f.get("Status", "").endswith(" installed")}


def parse(text: str) -> dict[tuple[str, str], dict[str, str]]:
    """Every stanza of the dpkg status TEXT, by (Package, Architecture)."""
    found = {}
    for stanza in text.split("\n\n"):
        found_fields = fields(stanza)
        if "Package" in found_fields:
            found[(found_fields["Package"], found_fields.get("Architecture", ""))] = found_fields
    return found
