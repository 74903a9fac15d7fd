"""Host side of ulearn (CPython): data, training, quantization, export, board tools and the CLI."""

import sys
from pathlib import Path

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parents[2]
_CHECKOUT_LIB = REPO_ROOT / "lib"


def device_lib_dir() -> Path:
    """Folder that holds the device package `ulearn` (its sources are pushed to boards)."""
    import ulearn
    return Path(ulearn.__file__).resolve().parent.parent


def _ensure_device_package() -> None:
    """Make the device package importable on the host (it doubles as the reference implementation)."""
    if (_CHECKOUT_LIB / "ulearn").is_dir() and str(_CHECKOUT_LIB) not in sys.path:
        sys.path.insert(0, str(_CHECKOUT_LIB))


_ensure_device_package()
