"""Install paths for the device package besides `ulearn push`.

* MicroPython: `package.json` files for `mpremote mip install` — the root one installs the device
  package (sources; `.mpy` for one board is what `ulearn push` is for), and one per built native
  module in `device/native/dist/<arch>_<abi>/` installs `ulearn_native.mpy` for that arch.
* CircuitPython: a bundle folder and zip with `lib/ulearn/...` sources, the layout `circup` and a
  plain copy to `CIRCUITPY/lib` understand (no native modules on CircuitPython; ulab is built in).

`python -m ulearn_host.packaging` (or `make package`) regenerates them; a test checks that the
committed root `package.json` matches the device package.
"""

from __future__ import annotations

import argparse
import json
import shutil
import zipfile
from pathlib import Path

from . import REPO_ROOT, __version__

LIB = REPO_ROOT / "lib"
NATIVE_DIST = REPO_ROOT / "device" / "native" / "dist"


def device_sources() -> list[Path]:
    """Every file of the device package that goes on a board, sorted."""
    root = LIB / "ulearn"
    return sorted(p for p in root.rglob("*.py") if "__pycache__" not in p.parts)


def mip_package() -> dict:
    """The root package.json: every device source, installed under the target (default /lib)."""
    urls = [[p.relative_to(LIB).as_posix(), p.relative_to(REPO_ROOT).as_posix()] for p in device_sources()]
    return {"version": __version__, "urls": urls, "deps": []}


def native_packages() -> dict[Path, dict]:
    """package.json contents for each built native module folder in device/native/dist/."""
    out = {}
    for module in sorted(NATIVE_DIST.glob("*/ulearn_native.mpy")) if NATIVE_DIST.exists() else []:
        out[module.parent / "package.json"] = {"version": __version__,
                                               "urls": [["ulearn_native.mpy", "ulearn_native.mpy"]]}
    return out


def write_mip_packages() -> list[Path]:
    """Write the root package.json and one per built native module; returns the files written."""
    written = []
    for path, data in {REPO_ROOT / "package.json": mip_package(), **native_packages()}.items():
        path.write_text(json.dumps(data, indent=2) + "\n")
        written.append(path)
    return written


def circuitpython_bundle(out_dir: Path) -> Path:
    """Build `<out_dir>/ulearn-circuitpython-<version>/lib/ulearn` (+ a .zip of it); returns the zip."""
    name = f"ulearn-circuitpython-{__version__}"
    root = out_dir / name
    shutil.rmtree(root, ignore_errors=True)
    for src in device_sources():
        dest = root / "lib" / src.relative_to(LIB)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest)
    (root / "README.txt").write_text(
        "ulearn for CircuitPython: copy lib/ulearn to CIRCUITPY/lib (or use circup with this bundle).\n"
        "CircuitPython loads no native modules; ulearn uses ulab (built in) or pure Python there.\n")
    archive = out_dir / f"{name}.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(out_dir).as_posix())
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ulearn_host.packaging", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle-dir", type=Path, default=REPO_ROOT / "build" / "bundles")
    args = parser.parse_args(argv)
    for path in write_mip_packages():
        print(f"wrote {path.relative_to(REPO_ROOT)}")
    print(f"wrote {circuitpython_bundle(args.bundle_dir).relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
