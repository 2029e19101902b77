"""What the maintainer scripts of a few packages do to a new root, done by apt-install --root
itself, which runs no maintainer script (a root assembled for an image may have no shell, and
its scripts would run as the host's). Each reproduces what the script does on a first install
with debconf's defaults, nothing on upgrades: apt-install --root does not upgrade.

    base-passwd      /etc/passwd and /etc/group from its master files, where there are none
    tzdata           /etc/localtime -> /usr/share/zoneinfo/ZONE (Etc/UTC unless one is set);
                     an /etc/timezone that exists says the same zone
    ca-certificates  /etc/ca-certificates.conf listing every certificate it ships, and what
                     update-ca-certificates makes of it: /etc/ssl/certs/NAME.pem links, their
                     hash links (as openssl rehash names them) and the bundle ca-certificates.crt,
                     the certificates of /usr/local/share/ca-certificates after those
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Callable

from .errors import SnakepackError

REASONS = {
    "base-passwd": "preinst writes /etc/passwd and /etc/group, from its master files, where there are none",
    "tzdata": "postinst points /etc/localtime at the time zone (Etc/UTC, or the one set) and rewrites an /etc/timezone",
    "ca-certificates": (
        "postinst lists every certificate it ships in /etc/ca-certificates.conf, and update-ca-certificates "
        "links each into /etc/ssl/certs, with its hash, and writes the bundle /etc/ssl/certs/ca-certificates.crt"
    ),
}


def apply(root: str, package: str) -> None:
    """Does in ROOT what PACKAGE's maintainer scripts would do on its first install."""
    EFFECTS[package](root)


def _path(root: str, name: str) -> str:
    return os.path.join(root, name.lstrip("/"))


def _accounts(root: str) -> None:
    for name in ("passwd", "group"):
        target = _path(root, f"/etc/{name}")
        if not os.path.lexists(target):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(_path(root, f"/usr/share/base-passwd/{name}.master"), target)
            os.chmod(target, 0o644)


def _time_zone(root: str) -> None:
    localtime = _path(root, "/etc/localtime")
    zone = "Etc/UTC"
    if os.path.islink(localtime):  # a zone set before: kept, as debconf would keep it
        target = os.path.normpath(os.path.join("/etc", os.readlink(localtime)))
        zone = target.removeprefix("/usr/share/zoneinfo/")
    else:
        os.makedirs(os.path.dirname(localtime), exist_ok=True)
        if os.path.lexists(localtime):
            os.unlink(localtime)
        os.symlink(f"/usr/share/zoneinfo/{zone}", localtime)
    timezone = _path(root, "/etc/timezone")
    if os.path.isfile(timezone):
        with open(timezone, "w", encoding="utf-8") as f:
            f.write(zone + "\n")


CERTS = "/usr/share/ca-certificates"
LOCAL_CERTS = "/usr/local/share/ca-certificates"
CONF_HEADER = """\
# The certificates of /usr/share/ca-certificates to trust (a name) or not (!name), as
# ca-certificates' postinst lists them on its first install: every one it ships, trusted.
# Written by apt-install --root; update-ca-certificates(8) reads it.
"""


def _pem_name(crt: str) -> str:
    """The name update-ca-certificates gives the link to certificate file CRT."""
    stem = os.path.basename(crt).removesuffix(".crt")
    return stem.replace(" ", "_").replace("(", "=").replace(")", "=").replace(",", "_") + ".pem"


def _crt_files(root: str, directory: str) -> list[str]:
    """The *.crt files under DIRECTORY of ROOT, relative to it, in the order of the scripts'
    find | sort (whole paths, byte order)."""
    top = _path(root, directory)
    found = []
    for where, _, files in os.walk(top):
        found += [os.path.relpath(os.path.join(where, f), top) for f in files if f.endswith(".crt")]
    return sorted(found)


def _certificates(root: str) -> None:
    conf = _path(root, "/etc/ca-certificates.conf")
    if not os.path.exists(conf) or os.path.getsize(conf) == 0:
        with open(conf, "w", encoding="utf-8") as f:
            f.write(CONF_HEADER + "".join(c + "\n" for c in _crt_files(root, CERTS)))
    with open(conf, encoding="utf-8") as f:
        trusted = [f"{CERTS}/{line.strip()}" for line in f if line.strip() and line[0] not in "#!"]
    # then the administrator's own, as update-ca-certificates adds them
    trusted += [f"{LOCAL_CERTS}/{c}" for c in _crt_files(root, LOCAL_CERTS)]
    certs = _path(root, "/etc/ssl/certs")
    os.makedirs(certs, exist_ok=True)
    bundle = b""
    with tempfile.TemporaryDirectory(prefix="apt-install-certs-") as scratch:
        for path in trusted:
            source = _path(root, path)
            if not os.path.isfile(source):
                continue  # update-ca-certificates warns and goes on
            pem = _pem_name(path)
            link = os.path.join(certs, pem)
            if os.path.lexists(link):
                os.unlink(link)
            os.symlink(path, link)
            with open(source, "rb") as crt:
                data = crt.read()
            bundle += data if data.endswith(b"\n") or not data else data + b"\n"
            shutil.copyfile(source, os.path.join(scratch, pem))
        _rehash(root, certs, scratch)
    with open(os.path.join(certs, "ca-certificates.crt"), "wb") as out:
        out.write(bundle)
    os.chmod(os.path.join(certs, "ca-certificates.crt"), 0o644)


def _rehash(root: str, certs: str, copies: str) -> None:
    """The hash links openssl rehash makes beside each certificate (HASH.0, HASH.1 ...): by
    this machine's openssl on COPIES of them (the links in ROOT point at ROOT's own absolute
    paths), or else by ROOT's, which ca-certificates depends on, run inside ROOT."""
    if shutil.which("openssl"):
        _run(["openssl", "rehash", copies])
        for name in sorted(os.listdir(copies)):
            path = os.path.join(copies, name)
            if os.path.islink(path):
                link = os.path.join(certs, name)
                if os.path.lexists(link):
                    os.unlink(link)
                os.symlink(os.readlink(path), link)
    else:
        _run(["chroot", root, "/usr/bin/openssl", "rehash", "/etc/ssl/certs"])


def _run(argv: list[str]) -> None:
    try:
        r = subprocess.run(argv, capture_output=True, text=True, errors="replace")
    except OSError as e:
        raise SnakepackError(f"{argv[0]}: {e.strerror}") from None
    if r.returncode != 0:
        raise SnakepackError(f"{' '.join(argv[:2])}: {(r.stderr.strip().splitlines() or ['failed'])[-1]}")


EFFECTS: dict[str, Callable[[str], None]] = {
    "base-passwd": _accounts,
    "tzdata": _time_zone,
    "ca-certificates": _certificates,
}
