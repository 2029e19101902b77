"""apt-install --root DIR: Debian packages installed into another root filesystem, without dpkg.

apt computes what DIR lacks (its Depends closure, against DIR's own dpkg status) and downloads
it into a temporary directory; each package's data.tar (from dpkg-deb) is then unpacked into DIR
member by member through the confined layer (snakepack/confined.py: every path resolved inside
DIR, nothing written through a link onto the host), and recorded in DIR's dpkg database as dpkg records it (a status stanza, NAME[:ARCH].list,
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
import stat
import subprocess
import tarfile
import tempfile

from . import confined, dpkgstatus, effects, pathfilter
from .errors import AptError, SnakepackError, UsageError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cli.py)
if TYPE_CHECKING:
    from collections.abc import Iterator

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


ADMIN = "/var/lib/dpkg"
STATUS = f"{ADMIN}/status"


def open_root(root: str) -> confined.Root:
    """ROOT opened through the confined layer, refused in one line before anything is
    written when it is no directory, is this system's own root, or its dpkg database is this
    system's (the same directory reached through a link or a mount)."""
    try:
        r = confined.Root(root)
    except OSError as err:
        raise UsageError(f"--root {root}: {err.strerror}") from None
    if r.same_file("/", "/"):
        r.close()
        raise UsageError(f"--root {root}: that is this system's own root; apt-install without --root installs there")
    if r.same_file(ADMIN, ADMIN):
        r.close()
        raise UsageError(f"--root {root}: its dpkg database {ADMIN} is this system's own")
    return r


@contextlib.contextmanager
def weighed_status(root: str, create: bool) -> Iterator[str]:
    """A host file apt can weigh ROOT's dpkg status from (Dir::State::status): a copy, read
    through the confined layer, since apt would follow ROOT's links on the host. With CREATE,
    ROOT's database is made first where it has none; without, an empty status stands in
    (a dry run changes nothing)."""
    with open_root(root) as r:
        try:
            if create:
                prepare(r)
            data = r.read_bytes(STATUS) if r.lexists(STATUS) else b""
        except OSError as err:
            raise UsageError(f"--root {root}: {err.filename}: {err.strerror}") from None
    with tempfile.TemporaryDirectory(prefix="apt-install-status-") as work:
        path = os.path.join(work, "status")
        with open(path, "wb") as f:
            f.write(data)
        yield path


def prepare(r: confined.Root) -> None:
    """Makes the dpkg database of the root R where it has none."""
    r.makedirs(f"{ADMIN}/info")
    if not r.lexists(STATUS):
        r.write_bytes(STATUS, b"")
    # a new database has the multiarch layout of info/ (NAME:ARCH.list for Multi-Arch: same),
    # which dpkg assumes only when info/format says so
    fmt = f"{ADMIN}/info/format"
    if not r.lexists(fmt) and not any(n.endswith(".list") for n in r.listdir(f"{ADMIN}/info")):
        r.write_text(fmt, "1\n")


def _run(argv: list[str], data: bytes | None = None) -> bytes:
    """Runs ARGV (DATA on its stdin); its stdout, or SnakepackError with its last error line."""
    r = subprocess.run(argv, input=data, capture_output=True)
    if r.returncode != 0:
        message = r.stderr.decode(errors="replace").strip().splitlines()
        raise SnakepackError(f"{' '.join(argv[:2])}: {message[-1] if message else f'exit {r.returncode}'}")
    return r.stdout


def _member_name(package: str, name: str) -> str:
    """NAME, a member of PACKAGE's data.tar, as a clean path relative to the root ("usr/x");
    Refused for what dpkg refuses, saying which: a newline (a .list holds a path a line), an
    absolute name, a ".." that climbs."""
    if "\n" in name:
        raise Refused(f"{package}: the member {name!r} holds a newline in its name (nothing was installed)")
    if name.startswith("/"):
        raise Refused(f"{package}: the member {name!r} is an absolute path (nothing was installed)")
    if ".." in name.split("/"):
        raise Refused(f"{package}: the member {name!r} holds '..' (nothing was installed)")
    return os.path.normpath(name)


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
            for m in self.members:
                m.name = _member_name(self.name, m.name)
                if m.islnk():
                    m.linkname = _member_name(self.name, m.linkname)
            if not os.path.exists(os.path.join(self.control, "md5sums")):
                for m in self.members:
                    if m.isfile():
                        data = tar.extractfile(m)
                        assert data is not None
                        self.md5[m.name] = hashlib.md5(data.read()).hexdigest()
        self.paths = {m.name for m in self.members} - {"."}
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
    Every path is resolved inside ROOT (snakepack/confined.py). Raises Refused, before anything
    is unpacked, naming the first package with a preinst or postinst that neither
    SCRIPTS_NOT_NEEDED nor EFFECTS names, one ROOT already has (an upgrade, which this does
    not do), one with a member dpkg refuses (_member_name), or one that would put a file or
    link where ROOT, or an earlier package, has a directory or a link to one (_clashes)."""
    with open_root(root) as r, tempfile.TemporaryDirectory(prefix="apt-install-root-") as work:
        try:
            return _unpack(r, root, debs, work)
        except OSError as err:
            where = f"{err.filename} -> {err.filename2}" if err.filename2 else err.filename
            raise SnakepackError(f"--root {root}: {where}: {err.strerror}") from None


def _unpack(r: confined.Root, root: str, debs: list[str], work: str) -> list[str]:
    packages = sorted((_Deb(d, work) for d in debs), key=lambda p: p.name)
    prepare(r)
    have = set(dpkgstatus.parse(r.read_text(STATUS)))
    for p in packages:
        if p.scripts and effects.generic(p.name) not in SCRIPTS_NOT_NEEDED.keys() | EFFECTS.keys():
            raise Refused(
                f"{p.name}: has {', '.join(p.scripts)}, which apt-install --root does not run "
                f"(nothing was installed into {root})"
            )
        if (p.name, p.arch) in have:
            raise Refused(f"{p.name}: {root} has it already; apt-install --root installs, it does not upgrade")
    links = _merged_links(r, set().union(*(p.paths for p in packages))) if not have else {}
    _clashes(r, root, packages, links)
    _merged_usr(r, links)
    filters = pathfilter.read(r)
    for p in packages:
        _unpack_one(r, p, filters)
    names = [p.name for p in packages if effects.generic(p.name) in EFFECTS]
    # fontconfig's trigger: fonts installed into a root that has fontconfig already
    fonts = any(n.startswith("usr/share/fonts/") for p in packages for n in p.paths)
    if fonts and "fontconfig" not in names and "fontconfig" in {n for n, _ in have}:
        names.append("fontconfig")
    # caches last, as dpkg configures a package after those it depends on (fc-cache
    # after the directories fontconfig-config makes)
    for name in sorted(names, key=lambda n: (n in effects.CACHES, n)):
        effects.apply(r, name)
    # the loader's cache, which the packages' ldconfig triggers would have rebuilt: ldconfig -r
    # chroots into ROOT before it reads or writes anything
    if any(p.ldconfig for p in packages):
        r.makedirs("/etc")
        _run(["ldconfig", "-r", root])
        # and not its aux-cache, which apt-install's cleanup removes too (apt.cleanup)
        if r.lexists(AUX_CACHE):
            r.unlink(AUX_CACHE)
    return [p.name for p in packages]


# The directories of a merged /usr that are links into it: always bin, sbin and lib; the
# others where the architecture has them (amd64's lib64, which holds its dynamic loader).
MERGED = ("bin", "sbin", "lib")
MERGED_WHERE_SHIPPED = ("lib32", "lib64", "libo32", "libx32")


def _merged_links(r: confined.Root, paths: set[str]) -> dict[str, str]:
    """The links _merged_usr lays out in a new root R that PATHS will be unpacked into:
    {/bin: usr/bin, ...}, for MERGED and for those of MERGED_WHERE_SHIPPED that PATHS use,
    where R has no such entry yet."""
    links = {}
    for d in MERGED + MERGED_WHERE_SHIPPED:
        shipped = any(p == d or p.startswith((d + "/", f"usr/{d}/")) for p in paths)
        if (d in MERGED or shipped) and not r.lexists(d):
            links["/" + d] = f"usr/{d}"
    return links


def _merged_usr(r: confined.Root, links: dict[str, str]) -> None:
    """Lays out a new root R with a merged /usr, as debootstrap does before it unpacks anything
    (Debian 12 and later are merged; base-files ships the links from Debian 13 on, but its
    scripts lay out a whole system): LINKS, /bin -> usr/bin and so on (_merged_links).
    Packages that ship /lib/... then write into /usr/lib, as on any Debian system."""
    for link, target in links.items():
        r.makedirs("/" + target)
        r.symlink(target, link)


def _kind(mode: int) -> str:
    return "a directory" if stat.S_ISDIR(mode) else "a symlink" if stat.S_ISLNK(mode) else "a file"


def _shipped(m: tarfile.TarInfo) -> str:
    return "a directory" if m.isdir() else "a symlink" if m.issym() else "a file"


def _clashes(r: confined.Root, root: str, packages: list[_Deb], links: dict[str, str]) -> None:
    """Refused, before anything is unpacked, for a member dpkg would refuse to put where it
    goes: a file or link over a directory or a directory symlink of R (LINKS: those a new
    root will have), a directory over a file; a file and a directory at one path in two
    packages of the batch. R's directory symlinks are kept: a directory member over one is
    fine (merged /usr), and so is a link saying what R's says. Where the batch ships a link,
    what lies below it is judged as it is unpacked, when the link's target is there to see."""
    laid: dict[str, tuple[str, str]] = {}  # what the batch lays, by path: (kind, package)
    for p in packages:
        for m in p.members:
            path = "/" + m.name
            if m.name == "." or any(laid.get(up, ("",))[0] == "a symlink" for up in _parents(path)):
                continue
            shipped = _shipped(m)
            if path in laid:
                kind, by = laid[path]
                if "a symlink" not in (kind, shipped) and (kind == "a directory") != m.isdir():
                    raise Refused(f"{p.name}: ships {shipped} {path} where {by} ships {kind} (nothing was installed)")
                continue
            laid[path] = (shipped, p.name)
            if path in links:
                if not m.isdir() and not (m.issym() and m.linkname == links[path]):
                    raise Refused(
                        f"{p.name}: ships {shipped} {path} where {root} has a directory symlink (nothing was installed)"
                    )
                continue
            try:
                mode = r.lstat(path).st_mode
            except OSError:
                continue
            directory = stat.S_ISDIR(mode) or (stat.S_ISLNK(mode) and r.isdir(path))
            if m.isdir() != directory and not _same_link(r, m, path):
                has = "a directory symlink" if stat.S_ISLNK(mode) and directory else _kind(mode)
                raise Refused(f"{p.name}: ships {shipped} {path} where {root} has {has} (nothing was installed)")


def _parents(path: str) -> list[str]:
    """The directories above PATH ("/a/b/c": /a/b, /a), not the root."""
    found = []
    while (path := os.path.dirname(path)) != "/":
        found.append(path)
    return found


def _same_link(r: confined.Root, m: tarfile.TarInfo, path: str) -> bool:
    """Whether M is a symlink saying what R's symlink at PATH says already."""
    return m.issym() and r.islink(path) and r.readlink(path) == m.linkname


def _unpack_one(r: confined.Root, p: _Deb, filters: pathfilter.Filters) -> None:
    """Unpacks P's files into R, member by member as dpkg does, through the confined layer
    (ROOT's directory symlinks kept, as usrmerge needs; an existing directory's owner and mode
    kept; a file or link written beside its place and renamed over it), leaving out what R's
    dpkg path filters exclude; then writes its list (every path of the package, as dpkg lists
    those it filtered out too), its control files and its status stanza."""
    with tarfile.open(fileobj=io.BytesIO(p.data)) as tar:
        for m in p.members:
            if m.name != "." and not filters.skip("/" + m.name, m.isdir() or m.issym()):
                _place(r, p, tar, m)
    info = f"{ADMIN}/info"
    listed = ["/."] + sorted("/" + n for n in p.paths)
    r.write_text(f"{info}/{p.key}.list", "".join(line + "\n" for line in listed))
    for name in sorted(os.listdir(p.control)):
        if name != "control":
            with open(os.path.join(p.control, name), "rb") as f:
                mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
                r.write_bytes(f"{info}/{p.key}.{name}", f.read(), mode)
    if not os.path.exists(os.path.join(p.control, "md5sums")):  # as dpkg does for such a package
        r.write_text(f"{info}/{p.key}.md5sums", "".join(f"{d}  {n}\n" for n, d in sorted(p.md5.items())))
    stanza = p.fields.split("\n")
    stanza.insert(1, "Status: install ok installed")
    conffiles = os.path.join(p.control, "conffiles")
    if os.path.exists(conffiles):
        with open(conffiles, encoding="utf-8") as f:
            names = [c.strip() for c in f if c.strip().startswith("/")]
        stanza.append("Conffiles:")
        for c in names:
            digest = hashlib.md5(r.read_bytes(c)).hexdigest() if r.isfile(c) else "newconffile"
            stanza.append(f" {c} {digest}")
    status = r.read_text(STATUS)
    r.write_text(STATUS, status + ("\n" if status else "") + "\n".join(stanza) + "\n")


def _place(r: confined.Root, p: _Deb, tar: tarfile.TarFile, m: tarfile.TarInfo) -> None:
    """Puts the member M of P's data.tar at its place in R."""
    path = "/" + m.name
    r.makedirs(os.path.dirname(path))  # where the archive lists no directory: as tar makes it
    try:
        old: int | None = r.lstat(path).st_mode
    except FileNotFoundError:
        old = None
    over_directory = old is not None and (stat.S_ISDIR(old) or (stat.S_ISLNK(old) and r.isdir(path)))
    if m.isdir():
        if old is None:
            r.mkdir(path, 0o700)
            r.chown(path, m.uid, m.gid)
            r.chmod(path, m.mode)
            r.utime(path, (int(m.mtime) * 10**9,) * 2)
        elif not over_directory:
            raise SnakepackError(f"{p.name}: ships the directory {path} where there is {_kind(old)}")
        return  # an existing directory, or a link to one, keeps its owner and mode
    if over_directory:
        if _same_link(r, m, path):
            return  # the link R has already (usrmerge's /bin -> usr/bin, which base-files ships)
        raise SnakepackError(f"{p.name}: ships {path} where there is a directory")
    new = path + ".dpkg-new"
    if r.lexists(new):
        r.unlink(new)
    if m.isfile():
        source = tar.extractfile(m)
        assert source is not None
        fd = r.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, follow=False)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(source, out)
            os.fchown(out.fileno(), m.uid, m.gid)
            os.fchmod(out.fileno(), m.mode)  # after the owner: chown drops set-id bits
    elif m.issym():
        r.symlink(m.linkname, new)
        r.chown(new, m.uid, m.gid)
    elif m.islnk():
        r.link("/" + m.linkname, new)
    elif m.ischr() or m.isblk() or m.isfifo():
        kind = stat.S_IFCHR if m.ischr() else stat.S_IFBLK if m.isblk() else stat.S_IFIFO
        r.mknod(new, kind | m.mode, os.makedev(m.devmajor, m.devminor))
        r.chown(new, m.uid, m.gid)
    else:
        raise SnakepackError(f"{p.name}: {path}: a member of a kind dpkg does not unpack")
    if not m.islnk():  # a hard link shares its inode's times
        r.utime(new, (int(m.mtime) * 10**9,) * 2)
    r.rename(new, path)
