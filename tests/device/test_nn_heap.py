"""The fan-shaped int8 CNN (10.5 K params) loads and runs inside a 64 KB MicroPython heap; a model
that does not fit says how many bytes it needs and leaves the loaded model working."""

import struct
from array import array

from devtest import micropython_only, on_micropython, raises

HEAP = "64k"
# a 64 KB board runs precompiled code (.mpy or frozen); compiling the sources needs more heap
MODES = ("mpy",)


def _path(name):
    folder = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    return folder + "/nn_data/" + name


def _cases(name):
    with open(_path(name), "rb") as f:
        io = f.read()
    n, ni, no = struct.unpack_from("<HHH", io, 0)
    p = 6
    for _ in range(n):
        yield array("b", io[p:p + ni]), io[p + ni:p + ni + no]
        p += ni + no


def _used():
    import gc
    gc.collect()
    return gc.mem_alloc()


def test_fan_load_and_inference_fit_in_64k():
    import ulearn.nn
    micro = on_micropython
    base = _used() if micro else 0
    m = ulearn.nn.load_raw(_path("fan.ulb"))
    loaded = _used() - base if micro else 0
    out = array("b", bytes(4))
    for x, y in _cases("fan.io"):
        m.predict(x, out)
        assert bytes(out) == y
    info = m.info()
    assert not info["weights_copied"]
    if micro:
        after = _used() - base
        print("fan heap: loaded %d B (blob %d + arena %d), after inference %d B" % (
            loaded, 12016, info["arena_bytes"], after))
        assert loaded < 12016 + info["arena_bytes"] + 4096


def test_fan_from_bytes_copies_weights_once():
    import ulearn
    with open(_path("fan.ulb"), "rb") as f:
        data = f.read()
    m = ulearn.load(data)
    out = array("b", bytes(4))
    for x, y in _cases("fan.io"):
        m.predict(x, out)
        assert bytes(out) == y


def test_fan_predict_allocates_nothing():
    micropython_only("gc.mem_alloc() is MicroPython's")
    import ulearn.nn
    from test_nn_runtime import check_predict_allocates_nothing
    m = ulearn.nn.load_raw(_path("fan.ulb"))
    x, _ = next(_cases("fan.io"))
    check_predict_allocates_nothing(m, x, 4)


def test_too_big_model_says_bytes_needed():
    micropython_only("the heap limit is MicroPython's (-X heapsize=64k)")
    import ulearn
    import ulearn.nn
    from ulearn.blob import BlobError
    m = ulearn.nn.load_raw(_path("fan.ulb"))
    with raises(BlobError, match="needs") as e:
        ulearn.load(_path("big.ulb"))
    assert "bytes of heap" in str(e.value)
    out = array("b", bytes(4))
    for x, y in _cases("fan.io"):
        m.predict(x, out)
        assert bytes(out) == y
