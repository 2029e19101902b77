"""Benchmark find-libdeps against the original pipeline and the I/O floor, in one run.

    scripts/bench-libdeps [TREE] [--no-install] [--runs N] [--find-libdeps PATH] [--wide N]

TREE defaults to Debian's dist-packages, filled (unless --no-install) with Debian's numpy,
scipy, lxml, pillow, h5py, grpcio, pandas and matplotlib. Prints the time of the original
pipeline (find -iname '*.so' | ldd | dpkg-query -S), of the I/O floor (find over the tree plus
reading every dpkg .list once) and of find-libdeps, the ratios, find-libdeps' peak RSS, and the
packages on which the two outputs differ, and the cost of --dlopen suggested (every FDO dlopen
note followed, every Python source read for library names) beside the floor of reading those
sources, and the cost of --versions (the minimum package versions) beside the plain scan, with
dpkg-shlibdeps' time on the same ELF files next to it. Times are the best of N warm-cache runs
(the original pipeline and dpkg-shlibdeps run once: they take half a minute).

Then the worst case for the search: one library with N (default 2,000) DT_NEEDED names and an
N-entry DT_RPATH of existing directories, none of which holds any of the names, built with the
C compiler. Prints the time and peak RSS of find-libdeps and of the real loader (ldd) on it.
"""

import os
import shutil
import subprocess
import sys
import time

from . import REPO, arguments, elf_files

PROG = "bench-libdeps"

PACKAGES = [
    "python3-numpy",
    "python3-scipy",
    "python3-lxml",
    "python3-pil",
    "python3-h5py",
    "python3-grpcio",
    "python3-pandas",
    "python3-matplotlib",
]

# The original find-libdeps script, verbatim in behaviour.
SEED = (
    "find {tree} -iname '*.so' | xargs ldd 2>/dev/null | grep '=>' | awk '{{print $1}}' | sort -u"
    " | xargs dpkg-query -S 2>/dev/null | cut -d':' -f 1 | sort -u"
)
FLOOR = "find {tree} >/dev/null; cat /var/lib/dpkg/info/*.list >/dev/null"


def run(cmd: str | list[str], shell: bool = False, ok: tuple[int, ...] = (0, 123)) -> tuple[float, str, int]:
    """Runs CMD once; returns (seconds, stdout, peak RSS in KiB of the process tree's largest)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, shell=shell, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in ok:  # xargs exits 123 when dpkg-query misses a name
        sys.exit(f"bench-libdeps: {cmd} exited {proc.returncode}")
    return elapsed, out, usage.ru_maxrss


def best(cmd: str | list[str], runs: int, shell: bool = False) -> tuple[float, str, int]:
    results = [run(cmd, shell) for _ in range(runs)]
    return min(r[0] for r in results), results[0][1], max(r[2] for r in results)


def wide_library(work: str, n: int) -> str:
    """Builds WORK/x.so with N DT_NEEDED names and an N-entry DT_RPATH; returns its path."""
    stubs = os.path.join(work, "stubs")
    os.makedirs(stubs)
    src = os.path.join(work, "x.c")
    with open(src, "w") as f:
        f.write("int x(void) { return 0; }\n")
    first = os.path.join(stubs, "libn0000.so")
    subprocess.run(["cc", "-shared", "-nostdlib", "-Wl,-soname,libn0000.so", "-o", first, src], check=True)
    with open(first, "rb") as f:
        data = f.read()
    for i in range(1, n):
        with open(os.path.join(stubs, f"libn{i:04d}.so"), "wb") as f:
            f.write(data.replace(b"libn0000.so", f"libn{i:04d}.so".encode()))
    dirs = [os.path.join(work, "rpath", f"{i:04d}") for i in range(n)]
    for d in dirs:
        os.makedirs(d)
    lib = os.path.join(work, "tree", "x.so")
    os.makedirs(os.path.dirname(lib))
    stub_files = sorted(os.path.join(stubs, s) for s in os.listdir(stubs))
    subprocess.run(
        [
            "cc",
            "-shared",
            "-nostdlib",
            "-Wl,--no-as-needed",
            "-Wl,--disable-new-dtags",
            f"-Wl,-rpath,{':'.join(dirs)}",
            "-o",
            lib,
            src,
            *stub_files,
        ],
        check=True,
    )
    return lib


def bench_wide(find_libdeps: str, n: int) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as work:
        lib = wide_library(work, n)
        ours, _, rss = run([find_libdeps, "--missing", "ignore", os.path.dirname(lib)], ok=(0,))
        loader, _, loader_rss = run(["ldd", lib], ok=(0, 1))
    print(f"\nwide library: {n} DT_NEEDED names, {n}-entry DT_RPATH")
    print(f"find-libdeps:      {ours:8.3f} s  peak RSS {rss / 1024:.1f} MiB")
    print(f"ldd (the loader):  {loader:8.3f} s  peak RSS {loader_rss / 1024:.1f} MiB")
    print(f"find-libdeps / ldd:          {ours / loader:.2f}")


def main(argv: list[str]) -> int:
    parser = arguments(PROG, __doc__)
    parser.add_argument("tree", nargs="?", default="/usr/lib/python3/dist-packages")
    parser.add_argument("--no-install", action="store_true", help="do not apt-get install the tree's packages")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument(
        "--wide",
        type=int,
        default=2000,
        metavar="N",
        help="DT_NEEDED names and RPATH entries of the worst case (0: skip it)",
    )
    default = os.path.join(REPO, ".venv", "bin", "find-libdeps")
    parser.add_argument("--find-libdeps", default=default if os.path.exists(default) else shutil.which("find-libdeps"))
    args = parser.parse_args(argv)
    if not args.find_libdeps:
        sys.exit("bench-libdeps: no find-libdeps found; run scripts/test once or pass --find-libdeps")
    if not args.no_install:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True, env=env, stdout=subprocess.DEVNULL)

    tree = args.tree
    print(f"tree: {tree} ({len(elf_files(tree))} ELF files, {sum(len(f) for _, _, f in os.walk(tree))} files)")
    ours_cmd = [args.find_libdeps, tree]
    run(ours_cmd)  # warm the page cache for everybody
    floor, _, _ = best(FLOOR.format(tree=tree), args.runs, shell=True)
    ours, out, rss = best(ours_cmd, args.runs)
    seed, seed_out, _ = run(SEED.format(tree=tree), shell=True)

    mine, theirs = set(out.split()), set(seed_out.split())
    print(f"original pipeline: {seed:8.3f} s  {len(theirs)} packages")
    print(f"I/O floor:         {floor:8.3f} s")
    print(f"find-libdeps:      {ours:8.3f} s  {len(mine)} packages, peak RSS {rss / 1024:.1f} MiB")
    print(f"speed-up over the original: {seed / ours:.0f}x")
    print(f"find-libdeps / I/O floor:   {ours / floor:.2f}")
    print(f"only in the original: {' '.join(sorted(theirs - mine)) or '-'}")
    print(f"only in find-libdeps: {' '.join(sorted(mine - theirs)) or '-'}")
    # the same with every FDO dlopen note followed and every Python source read for library
    # names: its cost, what it adds, and the floor of reading those sources at all
    noted, noted_out, noted_rss = best([args.find_libdeps, "--dlopen", "suggested", tree], args.runs)
    added = set(noted_out.split()) - mine
    sources = [os.path.join(d, n) for d, _, names in os.walk(tree) for n in names if n.endswith(".py")]
    read_floor, _, _ = best(
        f"find {tree} -name '*.py' -type f -print0 | xargs -0 cat >/dev/null", args.runs, shell=True
    )
    print(
        f"with --dlopen suggested: {noted:8.3f} s  (+{(noted / ours - 1) * 100:.0f} %), peak RSS {noted_rss / 1024:.1f} MiB, adds: {' '.join(sorted(added)) or '-'}"
    )
    print(
        f"  its Python sources: {len(sources)} files, {sum(os.path.getsize(p) for p in sources) / 1e6:.0f} MB; reading them (find | xargs cat): {read_floor:.3f} s"
    )
    bench_versions(args.find_libdeps, tree, ours, args.runs)
    if args.wide:
        bench_wide(args.find_libdeps, args.wide)
    return 0


def bench_versions(find_libdeps: str, tree: str, plain: float, runs: int) -> None:
    """--versions beside the plain scan, and dpkg-shlibdeps (the minimum versions of the files
    the tree's ELF files need directly) on the same files, once."""
    import tempfile

    versions, out, rss = best([find_libdeps, "--versions", tree], runs)
    print(
        f"with --versions:   {versions:8.3f} s  ({versions / plain:.2f}x the plain scan), "
        f"{len(out.splitlines())} relations, peak RSS {rss / 1024:.1f} MiB"
    )
    if shutil.which("dpkg-shlibdeps") is None:
        print("  dpkg-shlibdeps: not installed (dpkg-dev)")
        return
    files = elf_files(tree)
    with tempfile.TemporaryDirectory() as work:
        os.mkdir(os.path.join(work, "debian"))
        with open(os.path.join(work, "debian", "control"), "w") as f:
            f.write("Source: bench\n\nPackage: bench\nArchitecture: any\n")
        cmd = ["dpkg-shlibdeps", "-O", "--ignore-missing-info", "--warnings=0", *[f"-e{p}" for p in files]]
        start = time.perf_counter()
        r = subprocess.run(cmd, cwd=work, capture_output=True, text=True)
        took = time.perf_counter() - start
    status = "" if r.returncode == 0 else f" (exit {r.returncode})"
    print(
        f"  dpkg-shlibdeps on the same {len(files)} files: {took:8.3f} s{status}  ({took / versions:.0f}x --versions)"
    )
