"""The fan-shaped int8 CNN (10.5 K params) in a small MicroPython heap: the model's own heap (weights
and quantization sections read in place, arena, one int32 array, the layer program) stays within
blob + arena on this 64-bit port (tests/test_nn_heap32.py measures both word sizes); a model that
does not fit says how many bytes it needs and leaves the loaded model working.

The heap is 128 KB: on this 64-bit unix port the library's bytecode takes ~27-38 KB of heap (plus
~11 KB of load-time code while loading) and the test harness some more; `ulearn bench nn` prints
the smallest heap in which a fresh process loads and runs the fan network (72-76 KB from a raw
blob)."""

import struct
from array import array

from devtest import micropython_only, on_micropython, raises

HEAP = "128k"
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


def test_fan_load_and_inference_heap():
    import ulearn.nn
    import ulearn.nn.model  # noqa: F401 - code is not the model's heap
    micro = on_micropython
    base = _used() if micro else 0
    m = ulearn.nn.load_raw(_path("fan.ulb"))
    first = _used() - base if micro else 0
    out = array("b", bytes(4))
    for x, y in _cases("fan.io"):
        m.predict(x, out)
        assert bytes(out) == y
    info = m.info()
    assert not info["weights_copied"]
    if micro:
        base = _used()
        m2 = ulearn.nn.load_raw(_path("fan.ulb"))  # a second model: no one-time costs (interned names)
        second = _used() - base
        m2.predict(x, out)
        assert bytes(out) == y
        print("fan heap: first load %d B, another model %d B (blob %d + arena %d = %d)" % (
            first, second, 12016, info["arena_bytes"], 12016 + info["arena_bytes"]))
        assert second <= 12016 + info["arena_bytes"]  # the target (both word sizes: tests/test_nn_heap32.py)


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
    micropython_only("the heap limit is MicroPython's (-X heapsize=128k)")
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
