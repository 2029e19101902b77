"""dpkg's path filters (path-exclude, path-include), as dpkg installing into a root reads them
from its configuration and applies them to each file of a package: apt-install --root leaves
out what they exclude (a slim image's documentation, manual pages and translations) and lists
it all the same, as dpkg does.

The rules, from dpkg's own (src/main/filters.c): each pattern is matched against the whole
path, /usr/share/doc/x/README, by fnmatch without FNM_PATHNAME (a * also matches a /); the
last rule that matches wins; a directory or symlink that is left out is kept all the same when
it begins with the literal part of an include pattern (up to its first wildcard), so that
what the include brings back has a place to go.
"""

from __future__ import annotations

import fnmatch
import re

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cli.py)
if TYPE_CHECKING:
    from .confined import Root

__all__ = ["Filters", "read"]

OPTION = re.compile(r"^\s*(path-exclude|path-include)(?:\s*=\s*|\s+)(\S.*?)\s*$")


class Filters:
    def __init__(self, rules: list[tuple[str, bool]]):
        self.rules = rules  # (pattern, include), in the order dpkg reads them

    def skip(self, path: str, directory_or_link: bool) -> bool:
        """Whether dpkg leaves PATH (absolute, /usr/...) out."""
        skip = False
        for pattern, include in self.rules:
            if fnmatch.fnmatchcase(path, pattern):
                skip = not include
        if skip and directory_or_link:
            for pattern, include in self.rules:
                literal = re.split(r"[*?\[\\]", pattern, maxsplit=1)[0].rstrip("/")
                if include and path.startswith(literal):
                    return False
        return skip


def read(root: Root) -> Filters:
    """The filters of ROOT's dpkg configuration: the files of /etc/dpkg/dpkg.cfg.d in the order
    of their names, then /etc/dpkg/dpkg.cfg, as dpkg reads them (inside ROOT)."""
    parts = "/etc/dpkg/dpkg.cfg.d"
    names = sorted(root.listdir(parts)) if root.isdir(parts) else []
    files = [f"{parts}/{n}" for n in names if re.fullmatch(r"[A-Za-z0-9_.-]+", n) and not n.startswith(".")]
    rules = []
    for path in [*files, "/etc/dpkg/dpkg.cfg"]:
        if root.isfile(path):
            for line in root.read_text(path).splitlines():
                m = OPTION.match(line)
                if m:
                    rules.append((m[2], m[1] == "path-include"))
    return Filters(rules)
