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
    libc-bin         /etc/nsswitch.conf from its default, where there is none (and ldconfig,
                     which apt-install --root runs once at the end)
    netbase          /etc/hosts and /etc/networks, where there are none
    readline-common  /etc/inputrc from its default, where there is none
    libreadline8t64  the diversions its preinst adds for the /lib paths of its libraries (DEP17)
    python3.X-minimal  /usr/local/lib/python3.X/dist-packages, and byte-code of the modules of
                     libpython3.X-minimal
    python3.X        byte-code of the modules of libpython3.X-stdlib
    fontconfig-config  the links of /etc/fonts/conf.d that debconf's defaults choose, and
                     /usr/local/share/fonts
    fontconfig       the font cache, by the root's fc-cache (also when fonts come later)
    libglib2.0-0t64  the compiled GSettings schemas and GIO module cache, by the root's tools

Every file is read and written through the confined layer (snakepack/confined.py): a link the
root holds, absolute or not, is followed inside the root, never onto the host. The byte-code,
font cache and schemas are made by the root's own programs, run inside ROOT
(chroot: the byte-code's cache tag and compiler are its interpreter's), the byte-code as checked-hash .pyc files where the scripts write timestamp ones: the layers
of an image need not keep mtimes, and a .pyc that no longer matches its source's mtime would be
written anew at run time, or not at all on a read-only root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile

from .errors import SnakepackError

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cli.py)
if TYPE_CHECKING:
    from collections.abc import Callable

    from .confined import Root

REASONS = {
    "base-passwd": "preinst writes /etc/passwd and /etc/group, from its master files, where there are none",
    "tzdata": "postinst points /etc/localtime at the time zone (Etc/UTC, or the one set) and rewrites an /etc/timezone",
    "ca-certificates": (
        "postinst lists every certificate it ships in /etc/ca-certificates.conf, and update-ca-certificates "
        "links each into /etc/ssl/certs, with its hash, and writes the bundle /etc/ssl/certs/ca-certificates.crt"
    ),
    "libc-bin": "postinst copies /usr/share/libc-bin/nsswitch.conf to /etc/nsswitch.conf where there is none, and runs ldconfig",
    "netbase": "postinst writes /etc/hosts and /etc/networks where there are none",
    "readline-common": "postinst copies /usr/share/readline/inputrc to /etc/inputrc where there is none",
    "libreadline8t64": (
        "preinst diverts the /lib paths of libhistory.so.8, libreadline.so.8 and their .8.2 names to "
        "NAME.usr-is-merged (DEP17), recorded in the root's dpkg diversions"
    ),
    "python3.X-minimal": (
        "preinst marks the runtime new in /var/lib/python; postinst makes /usr/local/lib/python3.X/dist-packages "
        "and byte-compiles the modules of libpython3.X-minimal"
    ),
    "python3.X": "postinst byte-compiles the modules of libpython3.X-stdlib",
    "fontconfig-config": (
        "postinst links the hinting and bitmap settings debconf chose (by default, when configured where "
        "apt-utils does not preconfigure: slight hinting, no bitmaps but emoji, the sub-pixel setting the "
        "package ships) into /etc/fonts/conf.d, and makes /usr/local/share/fonts"
    ),
    "fontconfig": "postinst builds the font cache with fc-cache, again when fonts are installed later (a trigger)",
    "libglib2.0-0t64": (
        "preinst removes the postrm of the libglib2.0-0 it replaces, which a new root does not have; postinst "
        "compiles the GSettings schemas and the GIO module cache"
    ),
}


def generic(package: str) -> str:
    """PACKAGE's name with the version of a Debian-packaged Python as X.Y spells it in REASONS
    (python3.13-minimal -> python3.X-minimal), else itself."""
    return re.sub(r"python3\.[0-9]+", "python3.X", package)


def apply(root: Root, package: str) -> None:
    """Does in ROOT what PACKAGE's maintainer scripts would do on its first install; a failure
    is SnakepackError naming the package and the path."""
    try:
        EFFECTS[generic(package)](root, package)
    except OSError as err:
        raise SnakepackError(f"{package}: what its scripts do: {err.filename}: {err.strerror}") from None


def _accounts(root: Root, package: str) -> None:
    for name in ("passwd", "group"):
        target = f"/etc/{name}"
        if not root.lexists(target):
            root.makedirs("/etc")
            root.copy(f"/usr/share/base-passwd/{name}.master", target, 0o644)


def _time_zone(root: Root, package: str) -> None:
    localtime = "/etc/localtime"
    zone = "Etc/UTC"
    if root.islink(localtime):  # a zone set before: kept, as debconf would keep it
        target = os.path.normpath(os.path.join("/etc", root.readlink(localtime)))
        zone = target.removeprefix("/usr/share/zoneinfo/")
    else:
        root.makedirs("/etc")
        if root.lexists(localtime):
            root.unlink(localtime)
        root.symlink(f"/usr/share/zoneinfo/{zone}", localtime)
    if root.isfile("/etc/timezone"):
        root.write_text("/etc/timezone", zone + "\n")


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


def _crt_files(root: Root, directory: str) -> list[str]:
    """The *.crt files under DIRECTORY of ROOT, relative to it, in the order of the scripts'
    find | sort (whole paths, byte order)."""
    try:
        top = root.resolve(directory)
    except OSError:
        return []
    found = []
    for where, _, files in root.walk(top):
        found += [os.path.relpath(os.path.join(where, f), top) for f in files if f.endswith(".crt")]
    return sorted(found)


def _certificates(root: Root, package: str) -> None:
    conf = "/etc/ca-certificates.conf"
    if not root.exists(conf) or root.stat(conf).st_size == 0:
        root.write_text(conf, CONF_HEADER + "".join(c + "\n" for c in _crt_files(root, CERTS)))
    trusted = [
        f"{CERTS}/{line.strip()}" for line in root.read_text(conf).splitlines() if line.strip() and line[0] not in "#!"
    ]
    # then the administrator's own, as update-ca-certificates adds them
    trusted += [f"{LOCAL_CERTS}/{c}" for c in _crt_files(root, LOCAL_CERTS)]
    certs = "/etc/ssl/certs"
    root.makedirs(certs)
    bundle = b""
    with tempfile.TemporaryDirectory(prefix="apt-install-certs-") as scratch:
        for path in trusted:
            if not root.isfile(path):
                continue  # update-ca-certificates warns and goes on
            pem = _pem_name(path)
            link = f"{certs}/{pem}"
            if root.lexists(link):
                root.unlink(link)
            root.symlink(path, link)
            data = root.read_bytes(path)
            bundle += data if data.endswith(b"\n") or not data else data + b"\n"
            with open(os.path.join(scratch, pem), "wb") as copy:  # scratch: the host's own
                copy.write(data)
        _rehash(root, certs, scratch)
    root.write_bytes(f"{certs}/ca-certificates.crt", bundle, 0o644)


def _rehash(root: Root, certs: str, copies: str) -> None:
    """The hash links openssl rehash makes beside each certificate (HASH.0, HASH.1 ...): by
    this machine's openssl on COPIES of them (the links in ROOT point at ROOT's own absolute
    paths), or else by ROOT's, which ca-certificates depends on, run inside ROOT."""
    if shutil.which("openssl"):
        _run(["openssl", "rehash", copies])
        for name in sorted(os.listdir(copies)):
            path = os.path.join(copies, name)
            if os.path.islink(path):
                link = f"{certs}/{name}"
                if root.lexists(link):
                    root.unlink(link)
                root.symlink(os.readlink(path), link)
    else:
        _run(["chroot", root.path, "/usr/bin/openssl", "rehash", "/etc/ssl/certs"])


def _run(argv: list[str], data: str | None = None, what: str = "") -> None:
    """Runs ARGV (DATA on its stdin); SnakepackError with its last error line, led by WHAT
    (else its first words), when it fails."""
    what = what or " ".join(argv[:2])
    try:
        r = subprocess.run(argv, input=data, capture_output=True, text=True, errors="replace")
    except OSError as e:
        raise SnakepackError(f"{what}: {argv[0]}: {e.strerror}") from None
    if r.returncode != 0:
        raise SnakepackError(f"{what}: {(r.stderr.strip().splitlines() or ['failed'])[-1]}")


def _default(root: Root, default: str, target: str) -> None:
    """The scripts' install_from_default: DEFAULT copied to TARGET, mode and times kept
    (cp -p), where TARGET is no file."""
    if not root.isfile(target):
        root.makedirs(os.path.dirname(target))
        root.copy(default, target)
        st = root.stat(default)
        root.utime(target, (st.st_atime_ns, st.st_mtime_ns))


def _write_new(root: Root, name: str, text: str) -> None:
    """NAME with TEXT, where nothing by that name exists."""
    if not root.lexists(name):
        root.makedirs(os.path.dirname(name))
        root.write_text(name, text)


def _nsswitch(root: Root, package: str) -> None:
    _default(root, "/usr/share/libc-bin/nsswitch.conf", "/etc/nsswitch.conf")


def _inputrc(root: Root, package: str) -> None:
    _default(root, "/usr/share/readline/inputrc", "/etc/inputrc")


# what netbase's postinst writes where there is none, byte for byte
HOSTS = (
    "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"
    "ff02::1\t\tip6-allnodes\nff02::2\t\tip6-allrouters\n\n"
)
NETWORKS = "default\t\t0.0.0.0\nloopback\t127.0.0.0\nlink-local\t169.254.0.0\n\n"


def _network(root: Root, package: str) -> None:
    _write_new(root, "/etc/hosts", HOSTS)
    _write_new(root, "/etc/networks", NETWORKS)


def _listed(root: Root, package: str) -> list[str]:
    """The paths dpkg lists for PACKAGE (NAME.list or, Multi-Arch: same, NAME:ARCH.list) in
    ROOT's database."""
    info = "/var/lib/dpkg/info"
    names = sorted(
        n for n in root.listdir(info) if n == f"{package}.list" or (n.startswith(f"{package}:") and n.endswith(".list"))
    )
    if not names:
        raise SnakepackError(f"{package}: not in the dpkg database of {root.path}")
    return root.read_text(f"{info}/{names[0]}").splitlines()


# the libraries libreadline8t64's preinst names: DEP17's mitigation against dpkg seeing
# /lib/TRIPLET/NAME and /usr/lib/TRIPLET/NAME of a merged /usr as two files
READLINE_DIVERTED = ("libhistory.so.8", "libhistory.so.8.2", "libreadline.so.8", "libreadline.so.8.2")


def _readline_diversions(root: Root, package: str) -> None:
    """dpkg-divert --package PACKAGE --no-rename --divert /lib/TRIPLET/NAME.usr-is-merged
    --add /lib/TRIPLET/NAME for each of READLINE_DIVERTED, TRIPLET that of the library it ships."""
    shipped = [p for p in _listed(root, package) if os.path.basename(p) == "libreadline.so.8"]
    if not shipped:
        raise SnakepackError(f"{package}: ships no libreadline.so.8")
    triplet = os.path.basename(os.path.dirname(shipped[0]))
    path = "/var/lib/dpkg/diversions"
    text = root.read_text(path) if root.lexists(path) else ""
    have = set(text.splitlines()[0::3])
    for name in READLINE_DIVERTED:
        diverted = f"/lib/{triplet}/{name}"
        if diverted not in have:
            text += f"{diverted}\n{diverted}.usr-is-merged\n{package}\n"
    root.write_text(path, text)


# Run by the root's interpreter: byte-code of the paths on its stdin that exist (the scripts
# leave out a sitecustomize.py whose symlink leads nowhere), each .pyc naming its module by the
# path the root sees.
COMPILE = """
import importlib.util, os, py_compile, sys
mode = py_compile.PycInvalidationMode.CHECKED_HASH
for path in sys.stdin.read().splitlines():
    if os.path.exists(path):
        py_compile.compile(path, importlib.util.cache_from_source(path), path, True, invalidation_mode=mode)
"""


def _byte_code(root: Root, version: str, package: str) -> None:
    """Byte-code of PACKAGE's modules under /usr/lib/python3.VERSION, as the postinst of
    python3.VERSION(-minimal) compiles them, by the root's own python3.VERSION (chroot: the
    kernel confines it)."""
    lib = f"/usr/lib/python{version}/"
    modules = [p for p in _listed(root, package) if p.startswith(lib) and p.endswith(".py")]
    argv = ["chroot", root.path, f"/usr/bin/python{version}", "-E", "-S", "-c", COMPILE]
    _run(argv, "".join(m + "\n" for m in modules), f"byte-code of {package}")


def _python_minimal(root: Root, package: str) -> None:
    version = package.removeprefix("python").removesuffix("-minimal")
    root.makedirs("/var/lib/python")
    marker = f"/var/lib/python/python{version}_installed"
    if not root.lexists(marker):
        root.write_bytes(marker, b"")
    root.makedirs(f"/usr/local/lib/python{version}/dist-packages")
    _byte_code(root, version, f"libpython{version}-minimal")


def _python(root: Root, package: str) -> None:
    version = package.removeprefix("python")
    _byte_code(root, version, f"libpython{version}-stdlib")


# effects that read what other packages' effects make: apt-install --root does them last
CACHES = {"fontconfig", "libglib2.0-0t64"}

FONT_CONF = "/etc/fonts/conf.d"
FONT_AVAIL = "/usr/share/fontconfig/conf.avail"
# fontconfig-config's settings as its postinst links them: (the links of one setting, the one
# that debconf's default chooses where the root has none of them yet)
FONT_SETTINGS = (
    (
        ("10-hinting-none.conf", "10-hinting-slight.conf", "10-hinting-medium.conf", "10-hinting-full.conf"),
        "10-hinting-slight.conf",
    ),
    (
        ("70-yes-bitmaps.conf", "70-no-bitmaps-except-emoji.conf", "70-no-bitmaps.conf"),
        "70-no-bitmaps-except-emoji.conf",
    ),
)


def _font_settings(root: Root, package: str) -> None:
    """What the postinst of a first install links, debconf's config script having read back the
    settings from the links already there (the package ships the sub-pixel one): a setting
    with no link gets its default's."""
    for links, default in FONT_SETTINGS:
        if not any(root.islink(f"{FONT_CONF}/{name}") for name in links):
            root.makedirs(FONT_CONF)
            root.symlink(f"{FONT_AVAIL}/{default}", f"{FONT_CONF}/{default}")
    root.makedirs("/usr/local/share/fonts")


def _font_cache(root: Root, package: str) -> None:
    root.makedirs("/var/cache/fontconfig")
    _run(["chroot", root.path, "/usr/bin/fc-cache", "-s", "-f"], what="the font cache (fc-cache)")


def _glib_caches(root: Root, package: str) -> None:
    """glib-compile-schemas and gio-querymodules, which the postinst runs ignoring their failure,
    where the package ships them."""
    listed = _listed(root, package)
    tools = {os.path.basename(p): p for p in listed if p.endswith(("/glib-compile-schemas", "/gio-querymodules"))}
    modules = [p for p in listed if p.endswith("/gio/modules")]
    runs = [(tools.get("glib-compile-schemas"), "/usr/share/glib-2.0/schemas")]
    runs += [(tools.get("gio-querymodules"), m) for m in modules]
    for tool, directory in runs:
        if tool and root.isdir(directory):
            subprocess.run(["chroot", root.path, tool, directory], capture_output=True)


EFFECTS: dict[str, Callable[[Root, str], None]] = {
    "base-passwd": _accounts,
    "tzdata": _time_zone,
    "ca-certificates": _certificates,
    "libc-bin": _nsswitch,
    "netbase": _network,
    "readline-common": _inputrc,
    "libreadline8t64": _readline_diversions,
    "python3.X-minimal": _python_minimal,
    "python3.X": _python,
    "fontconfig-config": _font_settings,
    "fontconfig": _font_cache,
    "libglib2.0-0t64": _glib_caches,
}
