"""The one way Python code touches a root filesystem: every path inside a root is resolved
inside it, as the kernel resolves it after chroot(2), and every operation is made relative to
a directory descriptor of the root. An absolute symlink in the root restarts at the root, ".."
never climbs above it: nothing the root holds leads to the host. ext/libdeps/rootfs.c does the
same for the C core (openat2 RESOLVE_IN_ROOT where the kernel has it); this is its twin for
the parts that run without the C extension (apt-install --root, before libelf is installed),
judged against it by tests/test_confined.py.

The walk holds a descriptor for every directory it went through, so ".." is the descriptor it
came from, never the kernel's "..": a directory moved away while the walk is under way cannot
take it out of the root. Each component is opened with O_NOFOLLOW, so a component swapped for
a symlink fails instead of being followed. Only the standard library's os and stat are used:
apt-install imports little (cli.py).
"""

from __future__ import annotations

import errno
import os
import stat

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (cli.py)
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from typing import Any, TypeVar

    T = TypeVar("T")

__all__ = ["Root"]

# the kernel's limit on symlinks followed in one lookup (fs/namei.c MAXSYMLINKS)
MAX_SYMLINKS = 40
_DIR_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _error(code: int | None, path: str) -> OSError:
    code = code or errno.EIO
    return OSError(code, os.strerror(code), path)


class Root:
    """A directory used as a root filesystem. Paths given to its methods are as seen inside it
    (absolute, or relative to its "/"); errors are OSError naming that path."""

    def __init__(self, path: str):
        self.path = path
        self.fd = os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Root:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ---- resolution -------------------------------------------------------------------------

    def _walk(self, path: str, follow: bool) -> tuple[int, str, list[str]]:
        """Resolves PATH: returns a descriptor of the directory that holds its last component
        (the caller closes it), that component's name ("." for the root itself) and the
        canonical path's components. FOLLOW resolves a symlink in the last component too; a
        trailing slash does, as in the kernel. The last component need not exist; every
        other must be a directory (after symlinks)."""
        follow = follow or path.endswith("/")
        todo = [c for c in path.split("/") if c not in ("", ".")]
        todo.reverse()  # a stack: the next component last
        fds = [os.dup(self.fd)]
        names: list[str] = []
        links = 0
        try:
            while todo:
                name = todo.pop()
                if name == "..":
                    if names:
                        os.close(fds.pop())
                        names.pop()
                    continue
                last = not todo
                if last and not follow:
                    return self._done(fds, name, names)
                try:
                    st = os.stat(name, dir_fd=fds[-1], follow_symlinks=False)
                except FileNotFoundError:
                    if last:
                        return self._done(fds, name, names)
                    raise _error(errno.ENOENT, path) from None
                if stat.S_ISLNK(st.st_mode):
                    links += 1
                    if links > MAX_SYMLINKS:
                        raise _error(errno.ELOOP, path)
                    target = os.readlink(name, dir_fd=fds[-1])
                    if target.startswith("/"):
                        while names:
                            os.close(fds.pop())
                            names.pop()
                    if not target:
                        raise _error(errno.ENOENT, path)
                    more = [c for c in target.split("/") if c not in ("", ".")]
                    if last and target.endswith("/"):
                        follow = True
                    todo.extend(reversed(more))
                    continue
                if last:
                    return self._done(fds, name, names)
                if not stat.S_ISDIR(st.st_mode):
                    raise _error(errno.ENOTDIR, path)
                fds.append(os.open(name, _DIR_FLAGS, dir_fd=fds[-1]))
                names.append(name)
            # the path was the root, or ended in ".." or ".": the directory itself
            return self._done(fds, ".", names)
        except BaseException:
            for fd in fds:
                os.close(fd)
            raise

    @staticmethod
    def _done(fds: list[int], leaf: str, names: list[str]) -> tuple[int, str, list[str]]:
        """The last descriptor kept, the others closed; the canonical components."""
        for fd in fds[:-1]:
            os.close(fd)
        return fds[-1], leaf, names + ([leaf] if leaf != "." else [])

    def resolve(self, path: str, follow: bool = True) -> str:
        """The canonical path of PATH inside the root (its last component need not exist)."""
        fd, _, names = self._walk(path, follow)
        os.close(fd)
        return "/" + "/".join(names)

    def _at(self, path: str, follow: bool, call: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """CALL(LEAF, *ARGS, dir_fd=PARENT, **KWARGS) on PATH resolved; OSError names PATH."""
        fd, leaf, _ = self._walk(path, follow)
        try:
            return call(leaf, *args, dir_fd=fd, **kwargs)
        except OSError as err:
            raise _error(err.errno, path) from None
        finally:
            os.close(fd)

    # ---- looking ----------------------------------------------------------------------------

    def lstat(self, path: str) -> os.stat_result:
        return self._at(path, False, os.stat, follow_symlinks=False)

    def stat(self, path: str) -> os.stat_result:
        return self._at(path, True, os.stat, follow_symlinks=False)

    def _mode(self, path: str, follow: bool) -> int | None:
        try:
            return (self.stat(path) if follow else self.lstat(path)).st_mode
        except OSError:
            return None

    def exists(self, path: str) -> bool:
        return self._mode(path, True) is not None

    def lexists(self, path: str) -> bool:
        return self._mode(path, False) is not None

    def isdir(self, path: str) -> bool:
        mode = self._mode(path, True)
        return mode is not None and stat.S_ISDIR(mode)

    def isfile(self, path: str) -> bool:
        mode = self._mode(path, True)
        return mode is not None and stat.S_ISREG(mode)

    def islink(self, path: str) -> bool:
        mode = self._mode(path, False)
        return mode is not None and stat.S_ISLNK(mode)

    def readlink(self, path: str) -> str:
        return str(self._at(path, False, os.readlink))

    def listdir(self, path: str) -> list[str]:
        fd = self.open(path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            return os.listdir(fd)
        finally:
            os.close(fd)

    def walk(self, top: str) -> Iterator[tuple[str, list[str], list[str]]]:
        """os.walk inside the root: (directory, subdirectories, other names) from TOP down, the
        directories as canonical paths of the root; TOP's symlinks are followed, none below
        it (os.fwalk relative to descriptors). DIRS may be pruned in place. Nothing when TOP
        is no directory."""
        try:
            canon = self.resolve(top)
            fd = self.open(canon, os.O_RDONLY | os.O_DIRECTORY)
        except OSError:
            return
        try:
            for d, dirs, files, _ in os.fwalk(".", dir_fd=fd):
                yield os.path.normpath(os.path.join(canon, d)), dirs, files
        finally:
            os.close(fd)

    # ---- reading and writing ----------------------------------------------------------------

    def open(self, path: str, flags: int = os.O_RDONLY, mode: int = 0o666, follow: bool = True) -> int:
        """A descriptor of PATH opened with FLAGS; the last component is never followed
        unless FOLLOW (then inside the root, like every other)."""
        return self._at(path, follow, os.open, flags | os.O_NOFOLLOW | os.O_CLOEXEC, mode)

    def read_bytes(self, path: str) -> bytes:
        """The content of the regular file PATH; a FIFO, socket or device is never opened
        blocking, never read (EINVAL)."""
        fd = self.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY)
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise OSError(errno.EINVAL, "not a regular file", path)
            with os.fdopen(os.dup(fd), "rb") as f:
                return f.read()
        finally:
            os.close(fd)

    def read_text(self, path: str) -> str:
        return self.read_bytes(path).decode("utf-8", errors="replace")

    def write_bytes(self, path: str, data: bytes, mode: int = 0o644) -> None:
        """PATH (followed inside the root) made a new file holding DATA, with MODE: written
        beside it and renamed over it, as dpkg writes its files, so an existing file's inode,
        which a hard link may share with a file outside the root, is never written to."""
        target = self.resolve(path)
        new = target + ".snakepack-new"
        if self.lexists(new):
            self.unlink(new)
        fd = self.open(new, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600, follow=False)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fchmod(fd, mode)
        finally:
            os.close(fd)
        self.rename(new, target)

    def write_text(self, path: str, text: str, mode: int = 0o644) -> None:
        self.write_bytes(path, text.encode(), mode)

    def copy(self, source: str, target: str, mode: int | None = None) -> None:
        """TARGET made a copy of SOURCE's content (both in the root), with MODE or SOURCE's."""
        data = self.read_bytes(source)
        self.write_bytes(target, data, stat.S_IMODE(self.stat(source).st_mode) if mode is None else mode)

    # ---- changing names ---------------------------------------------------------------------

    def mkdir(self, path: str, mode: int = 0o755) -> None:
        self._at(path, False, os.mkdir, mode)

    def makedirs(self, path: str, mode: int = 0o755) -> None:
        """PATH and every missing directory above it (inside the root), as os.makedirs with
        exist_ok: an existing directory, or a symlink to one, is fine."""
        done = ""
        for part in [c for c in path.split("/") if c]:
            done += "/" + part
            if not self.isdir(done):
                try:
                    self.mkdir(done, mode)
                except FileExistsError:
                    if not self.isdir(done):
                        raise _error(errno.ENOTDIR, done) from None

    def mknod(self, path: str, mode: int, device: int = 0) -> None:
        self._at(path, False, os.mknod, mode, device)

    def symlink(self, target: str, path: str) -> None:
        fd, leaf, _ = self._walk(path, False)
        try:
            os.symlink(target, leaf, dir_fd=fd)
        except OSError as err:
            raise _error(err.errno, path) from None
        finally:
            os.close(fd)

    def unlink(self, path: str) -> None:
        self._at(path, False, os.unlink)

    def rmdir(self, path: str) -> None:
        self._at(path, False, os.rmdir)

    def rename(self, source: str, target: str) -> None:
        """Renames SOURCE over TARGET, neither's last component followed."""
        self._pair(source, target, os.rename)

    def link(self, existing: str, new: str) -> None:
        """A hard link NEW to EXISTING (not followed if a symlink)."""
        self._pair(existing, new, os.link, follow_symlinks=False)

    def _pair(self, a: str, b: str, call: Callable[..., None], **kwargs: Any) -> None:
        fa, la, _ = self._walk(a, False)
        try:
            fb, lb, _ = self._walk(b, False)
            try:
                call(la, lb, src_dir_fd=fa, dst_dir_fd=fb, **kwargs)
            except OSError as err:
                raise OSError(err.errno, err.strerror, a, None, b) from None
            finally:
                os.close(fb)
        finally:
            os.close(fa)

    # ---- changing attributes ----------------------------------------------------------------

    def chmod(self, path: str, mode: int) -> None:
        """PATH's mode (a symlink has none of its own: Linux keeps 0777, and it is left)."""
        if not self.islink(path):
            self._at(path, False, os.chmod, mode)

    def chown(self, path: str, uid: int, gid: int) -> None:
        """PATH's owner (a symlink's own)."""
        self._at(path, False, os.chown, uid, gid, follow_symlinks=False)

    def utime(self, path: str, ns: tuple[int, int]) -> None:
        """PATH's access and modification times (a symlink's own)."""
        self._at(path, False, os.utime, ns=ns, follow_symlinks=False)

    def same_file(self, path: str, host_path: str) -> bool:
        """Whether PATH, resolved inside the root, is the host's HOST_PATH (device and inode):
        the host's own directory reached through a bind mount, or the root being the host."""
        try:
            a, b = self.stat(path), os.stat(host_path)
        except OSError:
            return False
        return (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino)
