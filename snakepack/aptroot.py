"""apt-install --root DIR: Debian packages installed into another root filesystem, without dpkg.

apt computes what DIR lacks (its Depends closure, against DIR's own dpkg status) and downloads
it into a temporary directory; each package is then unpacked into DIR with dpkg-deb and tar,
and recorded in DIR's dpkg database as dpkg records it (a status stanza, NAME[:ARCH].list,
.md5sums and the other control files: symbols and shlibs too, which find-libdeps --versions
reads), so that find-libdeps --root, dpkg-query --admindir and scanners see it. dpkg --root
--unpack is not used: it runs preinst inside DIR, which may have no shell.

Maintainer scripts are not run. A first install runs two of them, preinst and postinst (prerm
and postrm run on removal and upgrade, which apt-install --root never does): a package that
has either is refused by name, before anything is unpacked, unless SCRIPTS_NOT_NEEDED names it
with the reason its scripts do nothing a root needs, or EFFECTS names what of theirs
apt-install does itself once the packages are unpacked (snakepack/effects.py: accounts, time
zone, certificates, the byte-code of the standard library ...). Both name a Debian-packaged
Python's packages by python3.X. What the packages' triggers would do that matters here, the
loader's cache, is done once at the end: ldconfig -r DIR.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile

from . import dpkgstatus, effects, pathfilter
from .errors import AptError, SnakepackError, UsageError

__all__ = ["AUX_CACHE", "EFFECTS", "SCRIPTS_NOT_NEEDED", "Refused", "prepare", "unpack"]

# ldconfig's record of the libraries it read (inodes, times): not kept in a layer
AUX_CACHE = "var/cache/ldconfig/aux-cache"

# Packages whose maintainer scripts need not run in a root assembled for an image, and why.
SCRIPTS_NOT_NEEDED = {
    "libc6": "preinst and postinst check the running kernel and restart services on upgrade",
    "libgssapi-krb5-2": "postinst copies /usr/etc/gss/mech on upgrade from before 1.12.1",
    "debconf": "postinst only loads debconf's shell module and exits",
    "openssl": "postinst links /usr/lib/ssl to /etc/ssl where there is none, and the package ships one",
    "libselinux1": "postinst recompiles the file contexts of an installed SELinux policy, and a new root has none",
    "libpython3.X-minimal": "postinst writes a comment to its own output, nothing else",
    "libgcrypt20": "postinst removes stale copies of its library left by an upgrade, and only on one",
    "fonts-dejavu-core": "preinst and postinst remove conffiles of versions before 2.37-7, on an upgrade from one",
}
# Packages whose maintainer scripts do something a new root needs, which apt-install does itself
# (snakepack/effects.py), and what that is.
EFFECTS = effects.REASONS
# the scripts a first install runs
SCRIPTS = ("preinst", "postinst")


class Refused(AptError):
    """A package apt-install --root does not install (maintainer scripts it cannot run, or an
    upgrade); nothing was installed."""

    def __init__(self, reason: str):
        super().__init__("install", 100, reason, False)
        SnakepackError.__init__(self, reason)


def status_file(root: str) -> str:
    """The dpkg status file apt should weigh for ROOT, changing nothing: ROOT's own, or an empty
    one when ROOT has no database yet."""
    if not os.path.isdir(root):
        raise UsageError(f"--root {root}: not a directory")
    status = os.path.join(root, "var/lib/dpkg/status")
    return status if os.path.exists(status) else os.devnull


def prepare(root: str) -> str:
    """Checks ROOT and makes its dpkg database if it has none; returns its status file."""
    if not os.path.isdir(root):
        raise UsageError(f"--root {root}: not a directory")
    admin = os.path.join(root, "var/lib/dpkg")
    os.makedirs(os.path.join(admin, "info"), exist_ok=True)
    status = os.path.join(admin, "status")
    if not os.path.exists(status):
        with open(status, "w"):
            pass
    # a new database has the multiarch layout of info/ (NAME:ARCH.list for Multi-Arch: same),
    # which dpkg assumes only when info/format says so
    fmt = os.path.join(admin, "info/format")
    if not os.path.exists(fmt) and not any(n.endswith(".list") for n in os.listdir(os.path.join(admin, "info"))):
        with open(fmt, "w") as f:
            f.write("1\n")
    return status


def _run(argv: list[str], data: bytes | None = None) -> bytes:
    """Runs ARGV (DATA on its stdin); its stdout, or SnakepackError with its last error line."""
    r = subprocess.run(argv, input=data, capture_output=True)
    if r.returncode != 0:
        message = r.stderr.decode(errors="replace").strip().splitlines()
        raise SnakepackError(f"{' '.join(argv[:2])}: {message[-1] if message else f'exit {r.returncode}'}")
    return r.stdout


class _Deb:
    """One downloaded package: its control fields and control files."""

    def __init__(self, path: str, work: str):
        self.path = path
        self.control = os.path.join(work, os.path.basename(path) + ".control")
        _run(["dpkg-deb", "--control", path, self.control])
        with open(os.path.join(self.control, "control"), encoding="utf-8") as f:
            self.fields = f.read().rstrip("\n")
        found = dpkgstatus.fields(self.fields)
        self.name, self.arch = found["Package"], found.get("Architecture", "all")
        self.same = found.get("Multi-Arch") == "same"
        self.scripts = [s for s in SCRIPTS if os.path.exists(os.path.join(self.control, s))]
        self.data = _run(["dpkg-deb", "--fsys-tarfile", path])
        self.md5: dict[str, str] = {}  # of each regular file, where the package ships no md5sums
        with tarfile.open(fileobj=io.BytesIO(self.data)) as tar:
            self.members = tar.getmembers()
            if not os.path.exists(os.path.join(self.control, "md5sums")):
                for m in self.members:
                    if m.isfile():
                        data = tar.extractfile(m)
                        assert data is not None
                        self.md5[os.path.normpath(m.name)] = hashlib.md5(data.read()).hexdigest()
        self.paths = {os.path.normpath(m.name) for m in self.members} - {"."}
        triggers = os.path.join(self.control, "triggers")
        self.ldconfig = False
        if os.path.exists(triggers):
            with open(triggers, encoding="utf-8", errors="replace") as f:
                self.ldconfig = bool(re.search(r"^activate(-noawait)?\s+ldconfig\s*$", f.read(), re.M))
        self.ldconfig |= self.name == "libc-bin"  # its postinst runs ldconfig

    @property
    def key(self) -> str:
        """The name of its files in info/: NAME:ARCH for Multi-Arch: same, else NAME."""
        return f"{self.name}:{self.arch}" if self.same else self.name


def unpack(root: str, debs: list[str]) -> list[str]:
    """Unpacks DEBS into ROOT and records them in its dpkg database; returns their names.
    Raises Refused naming the first package with a preinst or postinst that neither
    SCRIPTS_NOT_NEEDED nor EFFECTS names, or one ROOT already has (an upgrade, which this does
    not do), and UsageError for a directory of ROOT that a symlink leads out of, before
    anything is unpacked."""
    status = prepare(root)
    with tempfile.TemporaryDirectory(prefix="apt-install-root-") as work:
        packages = sorted((_Deb(d, work) for d in debs), key=lambda p: p.name)
        have = set(dpkgstatus.read(status))
        for p in packages:
            if p.scripts and effects.generic(p.name) not in SCRIPTS_NOT_NEEDED.keys() | EFFECTS.keys():
                raise Refused(
                    f"{p.name}: has {', '.join(p.scripts)}, which apt-install --root does not run "
                    f"(nothing was installed into {root})"
                )
            if (p.name, p.arch) in have:
                raise Refused(f"{p.name}: {root} has it already; apt-install --root installs, it does not upgrade")
            _inside(root, {os.path.dirname(n) for n in p.paths})
        if not have:
            _merged_usr(root, set().union(*(p.paths for p in packages)))
        filters = pathfilter.read(root)
        for p in packages:
            _unpack_one(root, p, filters)
        names = [p.name for p in packages if effects.generic(p.name) in EFFECTS]
        # fontconfig's trigger: fonts installed into a root that has fontconfig already
        fonts = any(n.startswith("usr/share/fonts/") for p in packages for n in p.paths)
        if fonts and "fontconfig" not in names and "fontconfig" in {n for n, _ in have}:
            names.append("fontconfig")
        # caches last, as dpkg configures a package after those it depends on (fc-cache
        # after the directories fontconfig-config makes)
        for name in sorted(names, key=lambda n: (n in effects.CACHES, n)):
            effects.apply(root, name)
        # the loader's cache, which the packages' ldconfig triggers would have rebuilt
        if any(p.ldconfig for p in packages):
            os.makedirs(os.path.join(root, "etc"), exist_ok=True)
            _run(["ldconfig", "-r", root])
            # and not its aux-cache, which apt-install's cleanup removes too (apt.cleanup)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(root, AUX_CACHE))
    return [p.name for p in packages]


# The directories of a merged /usr that are links into it: always bin, sbin and lib; the
# others where the architecture has them (amd64's lib64, which holds its dynamic loader).
MERGED = ("bin", "sbin", "lib")
MERGED_WHERE_SHIPPED = ("lib32", "lib64", "libo32", "libx32")


def _merged_usr(root: str, paths: set[str]) -> None:
    """Lays out a new ROOT with a merged /usr, as debootstrap does before it unpacks anything
    (Debian 12 and later are merged; base-files ships the links from Debian 13 on, but its
    scripts lay out a whole system): /bin -> usr/bin and so on, for MERGED and for those of
    MERGED_WHERE_SHIPPED that PATHS use, where ROOT has no such entry yet. Packages that ship
    /lib/... then write into /usr/lib, as on any Debian system."""
    for d in MERGED + MERGED_WHERE_SHIPPED:
        shipped = any(p == d or p.startswith((d + "/", f"usr/{d}/")) for p in paths)
        if (d in MERGED or shipped) and not os.path.lexists(os.path.join(root, d)):
            os.makedirs(os.path.join(root, "usr", d), exist_ok=True)
            os.symlink(f"usr/{d}", os.path.join(root, d))


def _inside(root: str, directories: set[str]) -> None:
    """Raises UsageError when one of DIRECTORIES (relative to ROOT) that exists leads out of
    ROOT through a symlink: tar, keeping ROOT's directory symlinks (usrmerge's /lib), would
    write through it onto the host."""
    top = os.path.realpath(root)
    for d in sorted(directories):
        real = os.path.realpath(os.path.join(root, d))
        if real != top and not real.startswith(top + os.sep):
            raise UsageError(f"--root {root}: /{d} leads out of it (to {real}) through a symlink")


def _md5(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.md5(f.read()).hexdigest()


def _unpack_one(root: str, p: _Deb, filters: pathfilter.Filters) -> None:
    """Extracts P's files into ROOT (keeping ROOT's directory symlinks, as usrmerge needs, and
    leaving out what ROOT's dpkg path filters exclude), then writes its list (every path of
    the package, as dpkg lists those it filtered out too), its control files and its status
    stanza."""
    skipped = [m.name for m in p.members if filters.skip("/" + os.path.normpath(m.name), m.isdir() or m.issym())]
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", prefix="apt-install-skip-") as skip:
        skip.write("".join(name + "\n" for name in skipped))
        skip.flush()
        tar = ["tar", "-x", "--keep-directory-symlink", "--numeric-owner", "-p", "-C", root]
        _run([*tar, "--anchored", "--no-wildcards", "--exclude-from", skip.name], p.data)
    info = os.path.join(root, "var/lib/dpkg/info")
    listed = ["/."] + sorted("/" + n for n in p.paths)
    with open(os.path.join(info, f"{p.key}.list"), "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in listed))
    for name in sorted(os.listdir(p.control)):
        if name != "control":
            shutil.copy(os.path.join(p.control, name), os.path.join(info, f"{p.key}.{name}"))
    if not os.path.exists(os.path.join(p.control, "md5sums")):  # as dpkg does for such a package
        with open(os.path.join(info, f"{p.key}.md5sums"), "w", encoding="utf-8") as f:
            for name, digest in sorted(p.md5.items()):
                f.write(f"{digest}  {name}\n")
    stanza = p.fields.split("\n")
    stanza.insert(1, "Status: install ok installed")
    conffiles = os.path.join(p.control, "conffiles")
    if os.path.exists(conffiles):
        with open(conffiles, encoding="utf-8") as f:
            names = [c.strip() for c in f if c.strip().startswith("/")]
        stanza.append("Conffiles:")
        for c in names:
            target = os.path.join(root, c.lstrip("/"))
            stanza.append(f" {c} {_md5(target) if os.path.isfile(target) else 'newconffile'}")
    with open(os.path.join(root, "var/lib/dpkg/status"), "a", encoding="utf-8") as f:
        if f.tell():
            f.write("\n")
        f.write("\n".join(stanza) + "\n")
