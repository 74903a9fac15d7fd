"""int8 CNN runtime on generated vectors (tests/device/nn_data, written by ulearn_host.nn.cases):
bit-exact outputs, no allocation in predict, input checks, bad blobs refused with clear messages."""

import struct
from array import array

from devtest import allocated, micropython_only, raises

try:
    from binascii import crc32
except ImportError:  # pragma: no cover
    crc32 = None


def _data(name):
    folder = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    with open(folder + "/nn_data/" + name, "rb") as f:
        return f.read()


def _cases(name):
    io = _data(name)
    n, ni, no = struct.unpack_from("<HHH", io, 0)
    p = 6
    for _ in range(n):
        yield array("b", io[p:p + ni]), io[p + ni:p + ni + no]
        p += ni + no


def _load(name="small.ulb"):
    import ulearn
    return ulearn.load(_data(name))


def _patched(blob, offset, value_bytes):
    """blob with bytes replaced at offset (from the payload start) and the CRC32 fixed up."""
    b = bytearray(blob)
    b[24 + offset:24 + offset + len(value_bytes)] = value_bytes
    b[16:20] = struct.pack("<I", crc32(bytes(b[24:])) & 0xFFFFFFFF)
    return bytes(b)


def _section_offset(blob, tag):
    nsec = struct.unpack_from("<H", blob, 8)[0]
    for i in range(nsec):
        t, off, _ = struct.unpack_from("<4sII", blob, 24 + 12 * i)
        if t == tag:
            return off
    raise AssertionError("no section %r" % tag)


def test_small_model_bit_exact():
    m = _load()
    out = array("b", bytes(4))
    count = 0
    for x, y in _cases("small.io"):
        cls = m.predict(x, out)
        assert bytes(out) == y, (bytes(out), y)
        best = 0
        for i in range(4):
            if out[i] > out[best]:
                best = i
        assert cls == best
        count += 1
    assert count == 4


def backend_allocation(m, x, repeat=100):
    """Heap bytes the backend's own conv_s8/gemm_s8 calls of one predict allocate over `repeat` runs
    (the model's layers called directly with the same arguments)."""
    import sys
    backend = sys.modules["ulearn.backend"]

    def calls():
        src = x
        w = m._arena if m._w is None else m._w  # the weights follow the arena unless used in place
        for op, p in m.records():  # the layer program: see ulearn.nn.model (run_layer)
            if op == 1:
                backend.conv_s8(src, m._arena, w, m._q, m._g, p + 1)
            elif op == 2 and m._g[p + 1] >= 0 and backend.NAME != "python":  # depthwise through conv_s8
                backend.conv_s8(src, m._arena, m._extra[m._g[p + 1]], m._q, m._g, p + 29)
            elif op == 3:
                backend.gemm_s8(src, m._arena, w, m._q, m._g, p + 1)
            if op != 6:
                src = m._arena
    return allocated(calls, repeat)


def check_predict_allocates_nothing(m, x, n_out):
    """predict allocates nothing after the first call; when the backend itself allocates, that part
    must be all there is, and the test is skipped naming it."""
    from devtest import skip
    out = array("b", bytes(n_out))
    total = allocated(lambda: m.predict(x, out), 100)
    if total:
        own = backend_allocation(m, x, 100)
        assert total <= own, "predict allocates %d bytes per 100 calls beyond the backend's %d" % (total, own)
        skip("backend %r allocates %d bytes per 100 predicts in its own argument checks" % (
            m.info()["backend"], own))
    assert allocated(lambda: m.predict(x), 100) == 0


def test_predict_allocates_nothing():
    micropython_only("gc.mem_alloc() is MicroPython's")
    m = _load()
    x, _ = next(_cases("small.io"))
    check_predict_allocates_nothing(m, x, 4)


def test_float_input_is_quantized_at_the_edge():
    m = _load()
    info = m.info()
    s, zp = info["input_scale"], info["input_zero_point"]
    for x, y in _cases("small.io"):
        xf = array("f", [(v - zp) * s for v in x])
        out = array("b", bytes(4))
        m.predict(xf, out)
        assert bytes(out) == y
    probs = array("f", [0.0] * 4)
    cls = m.predict(xf, probs)
    total = 0.0
    for p in probs:
        total += p
    assert 0.9 < total < 1.1
    assert abs(m.confidence() - probs[cls]) < 1e-6
    assert m.label() == "abcd"[cls]


def test_wrong_input_shape_or_dtype_raises():
    m = _load()
    n = 16 * 3
    with raises(ValueError, match="x: expected 48 values"):
        m.predict(array("b", bytes(n - 1)))
    with raises(ValueError, match="x:"):
        m.predict(array("h", [0] * n))
    with raises(ValueError, match="x:"):
        m.predict(bytearray([200] * n))
    with raises(ValueError, match="out:"):
        m.predict(array("b", bytes(n)), array("b", bytes(3)))
    with raises(ValueError, match="out:"):
        m.predict(array("b", bytes(n)), array("i", [0] * 4))
    x, y = next(_cases("small.io"))
    out = array("b", bytes(4))
    m.predict(x, out)  # still works after the refusals
    assert bytes(out) == y


def test_truncated_blob_refused():
    import ulearn
    from ulearn.blob import BlobError
    blob = _data("small.ulb")
    with raises(BlobError, match="truncated"):
        ulearn.load(blob[:-7])
    with raises(BlobError, match="truncated"):
        ulearn.load(blob[:10])


def test_flipped_byte_fails_crc():
    import ulearn
    from ulearn.blob import BlobError
    blob = bytearray(_data("small.ulb"))
    blob[len(blob) // 2] ^= 0x10
    with raises(BlobError, match="CRC"):
        ulearn.load(bytes(blob))


def test_newer_versions_refused():
    import ulearn
    from ulearn.blob import BlobError
    blob = _data("small.ulb")
    newer = bytearray(blob)
    newer[4:6] = struct.pack("<H", 99)
    with raises(BlobError, match="newer"):
        ulearn.load(bytes(newer))
    if crc32 is None:
        return
    layr = _section_offset(blob, b"LAYR")
    with raises(BlobError, match="newer"):
        ulearn.load(_patched(blob, layr, struct.pack("<H", 99)))


def test_inconsistent_layer_table_refused():
    import ulearn
    from ulearn.blob import BlobError
    blob = _data("small.ulb")
    layr = _section_offset(blob, b"LAYR")
    # first record: in_c (offset 8 + 4 + 4) claims 5 channels -> shapes no longer match the plan
    with raises(BlobError, match="corrupt"):
        ulearn.load(_patched(blob, layr + 8 + 8, struct.pack("<H", 5)))
    # first record: stride_w (byte 22 of the record) 100 -> windows beyond the input
    with raises(BlobError, match="outside the input"):
        ulearn.load(_patched(blob, layr + 8 + 22, struct.pack("<H", 100)))
    # first record: op code 200
    with raises(BlobError, match="unknown"):
        ulearn.load(_patched(blob, layr + 8, b"\xc8"))


def test_previous_model_keeps_working():
    import ulearn
    from ulearn.blob import BlobError
    m = _load()
    blob = _data("small.ulb")
    for bad in (blob[:-3], blob[:5] + b"\x00" + blob[6:]):
        try:
            ulearn.load(bad)
        except BlobError:
            pass
    out = array("b", bytes(4))
    for x, y in _cases("small.io"):
        m.predict(x, out)
        assert bytes(out) == y


def test_info_and_repr():
    m = _load()
    info = m.info()
    assert info["kind"] == "cnn" and info["name"] == "small"
    assert len(info["layers"]) == 9 and info["layers"][0][0] == "conv"
    assert info["params"] > 0 and info["macs"] > 0 and info["arena_bytes"] > 0
    assert info["backend"] in ("native", "ulab", "viper", "python")
    assert "small" in repr(m) and "MACs" in repr(m)


def _write(name, data):
    with open(name, "wb") as f:
        f.write(data)
    return name


def test_raw_file_path_bit_exact_and_refuses_bad_files():
    """A raw blob file is read section by section into the model's arrays (ulearn.nn.model.from_file):
    same outputs as from bytes, and every bad file refused with the same clear messages."""
    import ulearn
    import ulearn.nn
    from ulearn.blob import BlobError
    blob = _data("small.ulb")
    m = ulearn.load(_write("small.ulb", blob))
    assert not m.info()["weights_copied"]
    out = array("b", bytes(4))
    for x, y in _cases("small.io"):
        m.predict(x, out)
        assert bytes(out) == y
    flipped = bytearray(blob)
    flipped[len(blob) // 2] ^= 0x10
    newer = bytearray(blob)
    newer[4:6] = struct.pack("<H", 99)
    bad = [(blob[:-7], "truncated"), (blob[:10], "truncated"), (bytes(newer), "newer")]
    if crc32 is not None:
        bad.append((bytes(flipped), "CRC"))
        layr = _section_offset(blob, b"LAYR")
        bad.append((_patched(blob, layr, struct.pack("<H", 99)), "newer"))
        bad.append((_patched(blob, layr + 8 + 22, struct.pack("<H", 100)), "outside the input"))
        bad.append((_patched(blob, _section_offset(blob, b"QSFT"), b"\x7f"), "shift"))
    for data, match in bad:
        with raises(BlobError, match=match):
            ulearn.nn.load_raw(_write("bad.ulb", data))
        with raises(BlobError, match=match):
            ulearn.load("bad.ulb")
    with raises(BlobError, match="cannot read"):
        ulearn.nn.load_raw("no-such-model.ulb")
    for x, y in _cases("small.io"):  # the loaded model still works
        m.predict(x, out)
        assert bytes(out) == y
