"""ulearn: machine learning on the microcontroller.

    import ulearn
    m = ulearn.load("fan.mpy")      # or a raw blob file, e.g. "fan.ulb"
    m.predict(x, out)               # fills `out`, returns the class (or score)
    m.info()
    ulearn.backend()                # which GEMM/dot provider runs: native, ulab, viper or python
"""

__version__ = "0.1.0"

# blob kind -> module that provides from_blob(blob, source); imported only when needed, so a
# board that carries only the SVM does not need the int8 runtime (and the other way round).
_LOADERS = {
    1: "ulearn.nn.model",
    2: "ulearn.svm.model",
    3: "ulearn.svm.model",
    4: "ulearn.svm.model",
    5: "ulearn.features.spec",
}


def backend_name():
    """Name of the GEMM/dot provider chosen at import: 'native', 'ulab', 'viper' or 'python'."""
    return _backend_module.NAME


def int8_array(n, zero=True):
    """An array('b') of n items made with one allocation (no temporary bytes object on MicroPython),
    zero-filled unless `zero` is False."""
    from array import array
    try:
        a = array("b", range(n))  # MicroPython: sized from len(range), values wrap
    except OverflowError:  # CPython checks the values
        return array("b", bytes(n))
    if zero:
        for i in range(n):
            a[i] = 0
    return a


def read_blob(path):
    """The blob bytes stored at `path`: a compiled model module (`.mpy`, or `.py`) or a raw blob file.

    A model module defines `BLOB = b"..."`, so the weights can stay in flash (ROMFS) on boards that
    map modules there; a raw blob file comes back as one array('b') (int8 weights used in place).
    Raises ulearn.blob.BlobError with what to do when the file cannot be used.
    """
    from ulearn.blob import BlobError
    if path.endswith(".mpy") or path.endswith(".py"):
        import sys
        cut = path.rfind("/")
        folder = path[:cut] if cut > 0 else ("/" if cut == 0 else "")
        name = path[cut + 1:].rsplit(".", 1)[0]
        sys.path.insert(0, folder)
        try:
            module = __import__(name)
        except ValueError as e:  # "incompatible .mpy file" / "incompatible .mpy arch"
            raise BlobError("%s: %s; export the model again for this board (ulearn push does "
                            "this from its .ulb)" % (path, e))
        except ImportError:
            raise BlobError("%s: no such model module; check the path (ulearn push copies it)" % path)
        finally:
            sys.path.pop(0)
        sys.modules.pop(name, None)
        data = getattr(module, "BLOB", None)
        if data is None:
            raise BlobError("%s holds no BLOB constant: it is not a ulearn model module" % path)
        return data
    # A raw blob is read straight into one int8 array: int8 weights are then used in place (no copy).
    import os
    try:
        size = os.stat(path)[6]
    except OSError as e:
        raise BlobError("%s: cannot read the model file (%s)" % (path, e))
    try:
        buf = int8_array(size, zero=False)
    except MemoryError:
        raise BlobError("%s: the model file has %d bytes, more than the free heap; free memory or use a "
                        "smaller model" % (path, size))
    with open(path, "rb") as f:
        f.readinto(buf)
    return buf


def load(path_or_bytes, **options):
    """Load a model from a path (`.mpy`, `.py` or raw blob) or from bytes; returns the model object.

    The blob is validated completely (magic, version, sizes, CRC32) before the model allocates.
    """
    from ulearn.blob import KIND_CNN, Blob, BlobError, file_kind
    source = path_or_bytes if isinstance(path_or_bytes, str) else "<bytes>"
    is_raw = isinstance(path_or_bytes, str) and not path_or_bytes.endswith((".mpy", ".py"))
    if not options and is_raw and file_kind(path_or_bytes) == KIND_CNN:  # int8 CNN: read in place
        from ulearn.nn import load_raw
        return load_raw(path_or_bytes)
    data = read_blob(path_or_bytes) if isinstance(path_or_bytes, str) else path_or_bytes
    blob = Blob(data)
    module_name = _LOADERS.get(blob.kind)
    try:
        module = __import__(module_name, None, None, ["from_blob"])
    except ImportError as e:
        raise BlobError("%s is a %s model but its runtime (%s) is not installed on this board: "
                        "ulearn push it (%s)" % (source, blob.kind_name, module_name, e))
    return module.from_blob(blob, source, **options)


# The backend is chosen once, here. `ulearn.backend()` names it; `ulearn.backend.gemm_s8(...)` (and
# every other name of the module ulearn/backend.py) still works, because the package attribute is a
# small callable that forwards to the module (a plain function could not share the module's name).
from ulearn import backend as _backend_module  # noqa: E402


class _Backend:
    """`ulearn.backend()` -> provider name; `ulearn.backend.X` -> `X` of the module ulearn/backend.py."""

    def __call__(self):
        return _backend_module.NAME

    def __getattr__(self, name):
        return getattr(_backend_module, name)

    def __repr__(self):
        return "<ulearn backend %r>" % _backend_module.NAME


backend = _Backend()
