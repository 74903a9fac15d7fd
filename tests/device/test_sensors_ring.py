"""Ring buffer and overlapping windows (CPython and MicroPython)."""

from array import array

from devtest import allocated, micropython_only, raises


def _fill(ring, start, n):
    vals = array("h", [0] * (n * ring.channels))
    for i in range(n):
        for c in range(ring.channels):
            vals[i * ring.channels + c] = (start + i) * 10 + c
    ring.write(vals, n)


def test_windows_overlap_by_half():
    from ulearn.sensors.ring import Ring, Windows
    ring = Ring(300, 3)
    w = Windows(ring, 128)
    out = array("h", [0] * (128 * 3))
    _fill(ring, 0, 127)
    assert not w.ready() and w.take(out) == -1
    _fill(ring, 127, 60)
    assert w.take(out) == 0 and out[0] == 0 and out[3 * 127 + 2] == 1272
    assert w.take(out) == -1                     # the next window needs samples 64..191
    _fill(ring, 187, 5)
    assert w.take(out) == 64 and out[0] == 640


def test_wraparound_and_missed_windows():
    from ulearn.sensors.ring import Ring, Windows
    ring = Ring(200, 2)
    w = Windows(ring, 100, 50)
    out = array("h", [0] * 200)
    _fill(ring, 0, 1000)                         # consumer far behind: old windows overwritten
    start = w.take(out)
    assert start >= 800 and w.missed > 0
    assert out[0] == start * 10 and out[199] == (start + 99) * 10 + 1


def test_le16_decode_and_errors():
    from ulearn.sensors.ring import Ring, Windows
    ring = Ring(4, 3)
    ring.write_le16(bytes([0x00, 0x80, 0xFF, 0x7F, 0xFE, 0xFF]), 1)
    assert list(ring.buf[:3]) == [-32768, 32767, -2]
    with raises(ValueError, "not held"):
        ring.copy(array("h", [0] * 3), 5, 1)
    with raises(ValueError, "must fit"):
        Windows(ring, 8)


def test_write_does_not_allocate():
    micropython_only()
    from ulearn.sensors.ring import Ring
    ring = Ring(64, 3)
    raw = bytearray(6 * 8)
    out = array("h", [0] * 48)
    assert allocated(lambda: ring.write_le16(raw, 8), 20) == 0
    assert allocated(lambda: ring.copy(out, ring.count - 16, 16), 20) == 0
