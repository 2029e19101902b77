"""Builds snakepack's images, as images/versions.json describes them (through scripts/snakepack_tools/matrix.py),
each after the images it is built on, on one host without a daemon:

    scripts/build-images [--all | --ci] [--offline] [--only NAME,...] [--platform PLATFORM]
    scripts/build-images --one NAME DOCKERFILE [BUILD ARGS...]   (one more image, same settings)
    scripts/build-images --diff OLD NEW   (what moved between two builds of an image, from the
                                           inventories they carry: packages, old -> new)

--all (the default) builds the whole family, --ci one representative per build path (the
matrix's "ci" selection). --platform linux/arm64 on another machine builds under emulation
(qemu-user-static registered with binfmt_misc: scripts/setup-binfmt): those images are tagged
NAME-arm64 beside the host's, and --manifest then joins each NAME and NAME-arm64 into a local
manifest list NAME-multi. It uses docker (buildx) when a daemon answers, otherwise podman or
buildah with --isolation chroot, which works where containers cannot be run. The Debian slim
base images are pulled; with --offline, or when no registry answers, they are made with
debootstrap from Debian's mirror (cached under $SNAKEPACK_CACHE, default /var/cache/snakepack)
and imported under the names the Dockerfiles use, so the family builds from the package mirror
alone. A Python built from an upstream tarball that cannot be fetched here is skipped, with the
images built on it, and said so; the list of what was skipped goes to
$SNAKEPACK_CACHE/skipped.json. pip's index settings (PIP_INDEX_URL, PIP_EXTRA_INDEX_URL,
PIP_TRUSTED_HOST) pass in as build args, its CA bundle as a build secret.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from . import REPO, arguments
from .matrix import Image, Matrix

PROG = "build-images"

CACHE = Path(os.environ.get("SNAKEPACK_CACHE", "/var/cache/snakepack"))
MIRROR = "http://deb.debian.org/debian"
SLIM_DPKG_CFG = """path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
"""


def say(message: str) -> None:
    print(f"build-images: {message}", file=sys.stderr, flush=True)


def sh(*argv: object, check: bool = True, **kwargs: Any) -> subprocess.CompletedProcess[Any]:
    return subprocess.run([str(a) for a in argv], check=check, **kwargs)


def host_arch() -> str:
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


class Engine:
    """docker (buildx), podman or buildah: building, tagging and inspecting images."""

    def __init__(self, platform: str | None):
        self.arch = (platform or f"linux/{host_arch()}").split("/")[1]
        # a foreign platform's images get names of their own: one local name holds one image
        self.suffix = "" if self.arch == host_arch() else f"-{self.arch}"
        if shutil.which("docker") and sh("docker", "info", check=False, capture_output=True).returncode == 0:
            # BuildKit takes the timestamps from the SOURCE_DATE_EPOCH build argument; the files'
            # modification times are rewritten to it on export
            self.name = "docker"
            self.build_cmd = ["docker", "buildx", "build", "--output", "type=docker,rewrite-timestamp=true"]
        elif shutil.which("podman"):
            self.name, self.build_cmd = "podman", ["podman", "build", "--isolation", "chroot"]
        elif shutil.which("buildah"):
            self.name, self.build_cmd = "buildah", ["buildah", "bud", "--isolation", "chroot"]
        else:
            sys.exit("build-images: needs a docker daemon, podman or buildah")
        self.platform = platform
        if platform:
            self.build_cmd += ["--platform", platform]
        self.cli = "docker" if self.name == "docker" else "podman"

    def exists(self, ref: str) -> bool:
        if self.name == "buildah":
            return sh("buildah", "inspect", "--type", "image", ref, check=False, capture_output=True).returncode == 0
        return sh(self.cli, "image", "inspect", ref, check=False, capture_output=True).returncode == 0

    def tag(self, ref: str, new: str) -> None:
        sh("buildah" if self.name == "buildah" else self.cli, "tag", ref, new)


def source_date_epoch() -> str:
    """$SOURCE_DATE_EPOCH, or else the time of the checkout's last commit: every build of a commit
    gets that moment as its timestamps, so that two builds of it can be the same bit for bit."""
    given = os.environ.get("SOURCE_DATE_EPOCH", "")
    if given:
        if not given.isdigit():
            sys.exit(f"build-images: SOURCE_DATE_EPOCH is not a number of seconds: {given!r}")
        return given
    r = subprocess.run(["git", "-C", str(REPO), "log", "-1", "--format=%ct"], capture_output=True, text=True)
    if r.returncode != 0 or not r.stdout.strip().isdigit():
        sys.exit("build-images: no commit to take the images' timestamp from: set SOURCE_DATE_EPOCH")
    return r.stdout.strip()


def timestamps(engine: Engine) -> list[str]:
    """Build options that give every timestamp of a build (the image's, its history's, each
    file's modification time in the layers it writes) the moment source_date_epoch() says, and
    pass that moment on to the RUN steps as SOURCE_DATE_EPOCH (the Dockerfiles declare it)."""
    epoch = source_date_epoch()
    fixed = [] if engine.name == "docker" else ["--timestamp", epoch]
    return [*fixed, "--build-arg", f"SOURCE_DATE_EPOCH={epoch}"]


def pip_settings(secret: Path) -> list[str]:
    """Build arguments and the CA-bundle secret that let pip inside builds reach the index."""
    args = []
    for var in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_TRUSTED_HOST"):
        if os.environ.get(var):
            args += ["--build-arg", f"{var}={os.environ[var]}"]
    cert = (
        os.environ.get("PIP_CERT")
        or subprocess.run(
            [sys.executable, "-m", "pip", "config", "get", "global.cert"], capture_output=True, text=True
        ).stdout.strip()
    )
    secret.write_bytes(Path(cert).read_bytes() if cert and Path(cert).is_file() else b"")
    return args + ["--secret", f"id=pip-cert,src={secret}"]


def debootstrap(release: str, arch: str) -> Path:
    """A Debian minbase root slimmed like Debian's slim images, cached."""
    root = CACHE / (f"debootstrap-{release}" if arch == "amd64" else f"debootstrap-{release}-{arch}")
    if (root / ".complete").exists():
        return root
    if not shutil.which("debootstrap"):
        sys.exit("build-images: needs debootstrap (apt-get install debootstrap)")
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    script = Path("/usr/share/debootstrap/scripts") / release
    extra = [] if script.exists() else ["/usr/share/debootstrap/scripts/sid"]  # newer than this debootstrap
    sh("debootstrap", "--variant=minbase", f"--arch={arch}", release, root, MIRROR, *extra)
    (root / "etc/dpkg/dpkg.cfg.d/docker-slim").write_text(SLIM_DPKG_CFG)
    sh("find", root / "usr/share/doc", "-mindepth", "2", "!", "-name", "copyright", "!", "-type", "d", "-delete")
    for pattern in (
        "usr/share/man/*",
        "usr/share/info/*",
        "var/lib/apt/lists/*",
        "var/cache/apt/*.bin",
        "var/cache/apt/archives/*.deb",
        "var/log/*.log",
        "var/log/apt/*",
    ):
        for p in root.glob(pattern):
            shutil.rmtree(p) if p.is_dir() and not p.is_symlink() else p.unlink()
    for p in (root / "usr/share/locale").iterdir():
        if p.name != "locale.alias":
            shutil.rmtree(p) if p.is_dir() else p.unlink()
    # the updates and security suites too, as in Debian's own images (testing has neither
    # updates nor, usefully, security)
    (root / "etc/apt/sources.list").unlink(missing_ok=True)
    suites = release if release in ("forky", "sid") else f"{release} {release}-updates"
    sources = f"Types: deb\nURIs: {MIRROR}\nSuites: {suites}\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    if release not in ("forky", "sid"):
        sources += f"\nTypes: deb\nURIs: http://deb.debian.org/debian-security\nSuites: {release}-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n"
    (root / "etc/apt/sources.list.d/debian.sources").write_text(sources)
    (root / ".complete").touch()
    return root


def debian_ref(engine: Engine, release: str) -> str:
    return f"docker.io/library/debian:{release}-slim{engine.suffix}"


def debian_base(engine: Engine, release: str, offline: bool) -> None:
    ref = debian_ref(engine, release)
    arch = engine.arch
    if engine.exists(ref):
        return
    if not offline and not engine.suffix:
        pull = [engine.cli, "pull", "-q", ref]
        if sh(*pull, check=False, timeout=300).returncode == 0:
            return
        say(f"cannot pull {ref}; making it with debootstrap")
    import_root(engine, debootstrap(release, arch), ref)


def import_root(engine: Engine, root: Path, ref: str) -> None:
    """The root filesystem ROOT as image REF (one layer, CMD bash). Without docker, through
    buildah, with the timestamp of every build (podman import would stamp the current time, and
    every image built on it would differ from one import to the next)."""
    with tempfile.TemporaryDirectory(prefix="build-images-") as tmp:
        # a tar archive keeps the owners that buildah add would make root's
        tar = Path(tmp, "root.tar")
        sh("tar", "-C", root, "--exclude=./.complete", "--exclude=./debootstrap", "-cf", tar, ".")
        if engine.name == "docker":
            sh("docker", "import", "--change", 'CMD ["bash"]', tar, ref, stdout=subprocess.DEVNULL)
            return
        if not shutil.which("buildah"):
            sys.exit("build-images: importing a debootstrapped base needs buildah (apt-get install buildah)")
        ctr = sh("buildah", "from", "--arch", engine.arch, "scratch", capture_output=True, text=True).stdout.strip()
        try:
            sh("buildah", "add", "--quiet", ctr, tar, "/")
            sh("buildah", "config", "--cmd", '["bash"]', "--arch", engine.arch, ctr)
            sh("buildah", "commit", "--quiet", "--timestamp", source_date_epoch(), ctr, ref, stdout=subprocess.DEVNULL)
        finally:
            sh("buildah", "rm", ctr, stdout=subprocess.DEVNULL)


def build(engine: Engine, m: Matrix, image: Image, common: list[str], ref: str | None = None) -> None:
    """Builds IMAGE, tagged with its name or REF."""
    ref = ref or f"{m.registry}:{image.name}{engine.suffix}"
    say(ref)
    argv = [*engine.build_cmd, *common, "-f", image.dockerfile, "-t", ref]
    for key, value in image.args.items():
        argv += ["--build-arg", f"{key}={value}"]
    for ctx, name in image.needs.items():
        argv += ["--build-arg", f"{ctx.upper()}={m.registry}:{name}{engine.suffix}"]
    if image.role == "base":
        argv += ["--build-arg", f"DEBIAN={debian_ref(engine, image.release)}"]
    if image.target:
        argv += ["--target", image.target]
    argv.append(".")
    for attempt in (1, 2):
        status, output = run_shown(argv)
        if status == 0:
            return
        if attempt == 1 and engine_hiccup(output):
            say(f"{ref}: the engine failed before the step ran ({engine_hiccup(output)}): once more")
            continue
        raise subprocess.CalledProcessError(status, argv)


# What buildah says when a RUN step fails before the step's command ran, for a reason of its
# own that a second try does not meet: it copies itself into a sealed memfd to run the step,
# and the seal fails (EBUSY) while another of its threads or builds forks.
ENGINE_HICCUPS = ("sealing memfd copy: Device or resource busy",)


def engine_hiccup(output: str) -> str | None:
    """The line of OUTPUT that says the engine, not the build, failed; None when none does."""
    for line in output.splitlines():
        if any(h in line for h in ENGINE_HICCUPS):
            return line.strip()
    return None


def run_shown(argv: list[str]) -> tuple[int, str]:
    """Runs ARGV in the checkout, its output going to ours as it comes; returns its exit status
    and the last 200 lines of that output."""
    tail: collections.deque[str] = collections.deque(maxlen=200)
    with subprocess.Popen(
        argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            sys.stdout.write(line)
            tail.append(line)
    sys.stdout.flush()
    return proc.returncode, "".join(tail)


def manifest(engine: Engine, ref: str, images: list[str]) -> None:
    """A local manifest list REF-multi of IMAGES (one per platform)."""
    if engine.name == "docker":
        say("manifest lists of local images need a registry with docker: skipped")
        return
    multi = f"{ref}-multi"
    sh("podman", "manifest", "rm", multi, check=False, capture_output=True)
    sh("podman", "manifest", "create", multi)
    for image in images:
        # by ID: a short name would be looked up on docker.io, not in local storage
        iid = sh(
            "podman", "image", "inspect", "--format", "{{.Id}}", image, capture_output=True, text=True
        ).stdout.strip()
        sh("podman", "manifest", "add", multi, f"containers-storage:{iid}")


def main(argv: list[str]) -> int:
    parser = arguments(PROG, __doc__)
    parser.add_argument("--all", action="store_true", help="the whole family (the default)")
    parser.add_argument("--ci", action="store_true", help="one image per build path, as CI builds them")
    parser.add_argument("--offline", action="store_true", help="never pull: debootstrap the Debian bases")
    parser.add_argument("--only", help="these images (comma separated) and nothing else")
    parser.add_argument("--platform", help="e.g. linux/arm64 (built under emulation on another host)")
    parser.add_argument(
        "--manifest",
        action="store_true",
        help="join the host's and the foreign platform's images into NAME-multi manifest lists",
    )
    parser.add_argument(
        "--diff",
        nargs=2,
        metavar=("OLD", "NEW"),
        help="what moved between two builds of an image (their inventories): packages old -> new",
    )
    parser.add_argument(
        "--one",
        nargs=argparse.REMAINDER,
        metavar="NAME DOCKERFILE ARGS",
        help="build one more image with the same settings",
    )
    args = parser.parse_args(argv)

    if args.diff:
        from . import image_diff

        return image_diff.main(*args.diff)
    m = Matrix()
    engine = Engine(args.platform)
    with tempfile.NamedTemporaryFile() as secret:
        common = pip_settings(Path(secret.name)) + timestamps(engine)
        if args.one:
            if len(args.one) < 2:
                parser.error("--one NAME DOCKERFILE [BUILD ARGS...]")
            name, dockerfile, *extra = args.one
            return sh(
                *engine.build_cmd,
                *common,
                "-f",
                dockerfile,
                "-t",
                f"{m.registry}:{name}",
                *extra,
                ".",
                cwd=REPO,
                check=False,
            ).returncode

        images = m.images(ci=args.ci, foreign=bool(engine.suffix))
        if args.only:
            wanted = set(args.only.split(","))
            images = [i for i in images if i.name in wanted]
        skipped: dict[str, str] = {}
        for p in {i.python for i in images if i.python and i.python.from_source}:
            if not m.reachable(p):
                skipped[p.name] = f"{p.url} cannot be fetched here"
        start = time.monotonic()
        for image in images:
            if image.python and image.python.name in skipped or any(n in skipped for n in image.needs.values()):
                skipped.setdefault(
                    image.name, f"built on {image.python.name if image.python else image.needs}, which is skipped"
                )
                say(f"{m.registry}:{image.name}: skipped: {skipped[image.name]}")
                continue
            if image.role == "base":
                debian_base(engine, image.release, args.offline)
            build(engine, m, image, common)
        built = {i.name for i in images} - set(skipped)
        for alias, target in m.aliases().items():
            if target in built:
                engine.tag(f"{m.registry}:{target}{engine.suffix}", f"{m.registry}:{alias}{engine.suffix}")
        if args.manifest and engine.suffix:
            for name in sorted(built):
                manifest(
                    engine, f"{m.registry}:{name}", [f"{m.registry}:{name}", f"{m.registry}:{name}{engine.suffix}"]
                )
        CACHE.mkdir(parents=True, exist_ok=True)
        (CACHE / f"skipped{engine.suffix}.json").write_text(json.dumps(skipped, indent=2) + "\n")
        say(
            f"done with {engine.name} in {time.monotonic() - start:.0f} s; skipped: {', '.join(sorted(skipped)) or 'nothing'}"
        )
    return 0
