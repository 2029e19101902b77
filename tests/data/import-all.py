"""The packing proof, run with the python of the packed virtualenv: every ELF file in it loads
(dlopen with RTLD_NOW: the loader resolves every dependency), and every extension module
imports. An extension whose only failure is a missing Python module that Debian ships apart
from the interpreter (tkinter is python3-tk) is reported, not failed: that is no library. On a
free-threaded Python, an extension module that turns the GIL back on (it does not declare that
it runs without) still counts as imported, and is reported: "gil enabled importing NAME: ..."."""

import ctypes
import importlib
import pathlib
import sys
import sysconfig
import warnings

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
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RuntimeWarning)
            importlib.import_module(name)
        print(f"imported {name}")
        for w in caught:
            if "GIL" in str(w.message):  # it names the module that needs it
                print(f"gil enabled importing {name}: {w.message}")
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
