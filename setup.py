"""Declares the C extension; all other metadata lives in pyproject.toml."""

import glob
import os
import sys
import tempfile

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

# The header of each library, something it declares, and the Debian package that has them.
HEADERS = [
    ("gelf.h", "elf_version(EV_CURRENT) == EV_NONE", "libelf", "libelf-dev"),
    ("openssl/ssl.h", "OPENSSL_VERSION_NUMBER == 0", "OpenSSL", "libssl-dev"),
]


class BuildExt(build_ext):
    """Stops with one clear line when a library's headers are missing."""

    def build_extensions(self):
        with tempfile.TemporaryDirectory() as tmp:
            for header, expression, library, package in HEADERS:
                probe = os.path.join(tmp, "probe.c")
                with open(probe, "w") as f:
                    f.write(f"#include <{header}>\nint main(void) {{ return {expression}; }}\n")
                try:
                    self.compiler.compile([probe], output_dir=tmp)
                except Exception:
                    sys.exit(f"snakepack: {library} headers ({header}) not found: install the Debian package {package}")
        super().build_extensions()


core = Extension(
    "snakepack._core",
    sources=sorted(glob.glob("ext/**/*.c", recursive=True)),
    depends=sorted(glob.glob("ext/**/*.h", recursive=True)),
    include_dirs=["ext"],
    libraries=["elf", "ssl", "crypto"],
    extra_compile_args=["-std=c11", "-Wall", "-Wextra", "-fvisibility=hidden", "-pthread"],
    extra_link_args=["-pthread"],
)

setup(ext_modules=[core], cmdclass={"build_ext": BuildExt})
