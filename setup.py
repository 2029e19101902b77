"""Declares the C extension; all other metadata lives in pyproject.toml."""

import glob
import os
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

LIBELF_MISSING = "snakepack: libelf headers (gelf.h) not found: install the Debian package libelf-dev"


class BuildExt(build_ext):
    """Stops with one clear line when libelf's headers are missing."""

    def build_extensions(self):
        with tempfile.TemporaryDirectory() as tmp:
            probe = os.path.join(tmp, "probe.c")
            with open(probe, "w") as f:
                f.write("#include <gelf.h>\nint main(void) { return elf_version(EV_CURRENT) == EV_NONE; }\n")
            try:
                self.compiler.compile([probe], output_dir=tmp)
            except Exception:
                sys.exit(LIBELF_MISSING)
        super().build_extensions()


core = Extension(
    "snakepack._core",
    sources=sorted(glob.glob("ext/*.c")),
    depends=sorted(glob.glob("ext/*.h")),
    libraries=["elf"],
    extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-fvisibility=hidden", "-pthread"],
    extra_link_args=["-pthread"],
)

setup(ext_modules=[core], cmdclass={"build_ext": BuildExt})
