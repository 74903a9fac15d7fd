"""Host side of ulearn (CPython): data, training, quantization, export, board tools and the CLI."""

import sys
from pathlib import Path

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parents[2]
_CHECKOUT_LIB = REPO_ROOT / "lib"
# Running from a checkout (make setup, editable install) or from an installed wheel?
IN_CHECKOUT = (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "device").is_dir()


def resource_dir(*parts: str) -> Path:
    """A folder shipped with ulearn (lib, device/apps, device/sim, boards): from the checkout, or
    from `<prefix>/share/ulearn` where `pip install` puts it."""
    base = REPO_ROOT if IN_CHECKOUT else Path(sys.prefix) / "share" / "ulearn"
    return base.joinpath(*parts)


def cache_dir() -> Path:
    """Where built and downloaded things go: $ULEARN_CACHE, else <checkout>/.cache, else ~/.cache/ulearn."""
    import os
    if os.environ.get("ULEARN_CACHE"):
        return Path(os.environ["ULEARN_CACHE"])
    if IN_CHECKOUT:
        return REPO_ROOT / ".cache"
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ulearn"


def device_lib_dir() -> Path:
    """Folder that holds the device package `ulearn` (its sources are pushed to boards)."""
    import ulearn
    return Path(ulearn.__file__).resolve().parent.parent


def _ensure_device_package() -> None:
    """Make the device package importable on the host (it doubles as the reference implementation)."""
    if (_CHECKOUT_LIB / "ulearn").is_dir() and str(_CHECKOUT_LIB) not in sys.path:
        sys.path.insert(0, str(_CHECKOUT_LIB))


_ensure_device_package()
