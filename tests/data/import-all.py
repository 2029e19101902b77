"""The packing proof, run with the python of the packed virtualenv: every ELF file in it loads
(dlopen with RTLD_NOW: the loader resolves every dependency), and every extension module
imports. An extension whose only failure is a missing Python module that Debian ships apart
from the interpreter (tkinter is python3-tk) is reported, not failed: that is no library."""

import ctypes
import importlib
import pathlib
import sys
import sysconfig

site = pathlib.Path(sysconfig.get_paths()["platlib"])
failed = 0
for path in sorted(site.rglob("*.so*")):
    with open(path, "rb") as f:
        if f.read(4) != b"\x7fELF":
            continue
    try:
        ctypes.CDLL(str(path))
        print(f"loaded {path.relative_to(site)}")
    except OSError as err:
        failed += 1
        print(f"FAILED to load {path}: {err}")

for path in sorted(site.rglob("*.so")):
    parts = path.relative_to(site).parts
    if any(p.endswith(".libs") or "-" in p for p in parts[:-1]):
        continue  # vendored libraries and dist-info directories are not modules
    name = ".".join([*parts[:-1], parts[-1].split(".", 1)[0]])
    try:
        importlib.import_module(name)
        print(f"imported {name}")
    except ModuleNotFoundError as err:
        if err.name and err.name.split(".")[0] in sys.stdlib_module_names:
            print(f"not imported {name}: needs the Python module {err.name}, shipped apart from the interpreter")
        else:
            failed += 1
            print(f"FAILED {name}: {err}")
    except Exception as err:
        failed += 1
        print(f"FAILED {name}: {err}")
sys.exit(1 if failed else 0)
