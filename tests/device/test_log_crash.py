"""The crash-safe log (ulearn.log): round trip, rotation, restart, torn tail, corrupt record, flash full.

Runs under CPython and inside MicroPython (source and .mpy). The flash-full test mounts a small
littlefs volume on a RAM block device, so it runs only in MicroPython.
"""

from devtest import allocated, micropython_only, on_micropython, raises

_n = [0]


def _folder():
    _n[0] += 1
    if on_micropython:
        return f"logs{_n[0]}"        # the harness runs each test in a fresh temporary folder
    import tempfile
    return tempfile.mkdtemp(prefix="ulearn-log-") + "/logs"


def _raw(n, start=0, channels=3):
    b = bytearray(2 * n * channels)
    for i in range(n * channels):
        v = (start * channels + i) % 30000
        b[2 * i] = v & 0xFF
        b[2 * i + 1] = v >> 8
    return b


def _write(folder, samples, **kw):
    from ulearn import log
    w = log.Writer(folder, 200, 3, 1 / 16000, "g", samples_per_record=8, records_per_block=2, **kw)
    done = 0
    while done < samples:
        n = min(5, samples - done)
        w.append(_raw(n, done), n)
        done += n
    return w


def _values(records):
    out = []
    for _, vals in records:
        out.extend(vals)
    return out


def test_round_trip_and_header():
    from ulearn import log
    folder = _folder()
    w = _write(folder, 100)
    w.close()
    header, records, reports = log.read_all(folder)
    assert header.rate_hz == 200 and header.channels == 3 and header.unit == "g"
    assert abs(header.scale - 1 / 16000) < 1e-9 and header.samples_per_record == 8
    assert [s for s, _ in records] == list(range(13))      # 12 full records + 1 partial
    assert _values(records) == [i % 30000 for i in range(300)]
    assert reports[0]["corrupt"] == 0 and reports[0]["torn_bytes"] == 0


def test_unflushed_block_is_all_that_is_lost():
    from ulearn import log
    folder = _folder()
    w = _write(folder, 53)              # 6 records sealed = 3 blocks written; 5 samples in RAM
    assert w.records == 6
    # no close(): the power goes
    _header, records, _reports = log.read_all(folder)
    assert len(records) == 6 and _values(records) == [i % 30000 for i in range(48 * 3)]


def test_rotation_keeps_the_sequence():
    from ulearn import log
    folder = _folder()
    w = _write(folder, 400, max_file_bytes=log.HEADER_SIZE + 4 * 60)   # 2 blocks (4 records) per file
    w.close()
    files = log.list_files(folder)
    assert len(files) == 13, files
    _header, records, reports = log.read_all(folder)
    assert [s for s, _ in records] == list(range(50))
    assert all(r["gaps"] == 0 for r in reports)


def test_restart_continues_in_a_new_file():
    from ulearn import log
    folder = _folder()
    _write(folder, 40).close()
    w = _write(folder, 16)
    w.close()
    files = log.list_files(folder)
    assert [n for n, _ in files] == [1, 2]
    _header, records, _reports = log.read_all(folder)
    assert [s for s, _ in records] == list(range(7))


def _rewrite(path, fn):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data = fn(data)
    with open(path, "wb") as f:
        f.write(data)


def test_torn_tail_is_skipped_and_reported():
    from ulearn import log
    folder = _folder()
    _write(folder, 64).close()
    path = log.list_files(folder)[0][1]
    _rewrite(path, lambda d: d[:-25])    # the last write was cut short
    reader = log.Reader(path)
    got = list(reader.records())
    assert len(got) == 7 and reader.report["torn_bytes"] == 60 - 25
    assert reader.report["corrupt"] == 0


def test_corrupt_record_is_skipped_and_the_rest_read():
    from ulearn import log
    folder = _folder()
    _write(folder, 64).close()
    path = log.list_files(folder)[0][1]

    def flip(d):
        d[log.HEADER_SIZE + 3 * 60 + 20] ^= 0x55     # a bit error inside record 3
        return d
    _rewrite(path, flip)
    reader = log.Reader(path)
    seqs = [s for s, _ in reader.records()]
    assert seqs == [0, 1, 2, 4, 5, 6, 7]
    assert reader.report["corrupt"] == 1 and reader.report["gaps"] == 0


def test_damaged_header_and_not_a_log():
    from ulearn import log
    folder = _folder()
    _write(folder, 16).close()
    path = log.list_files(folder)[0][1]
    _rewrite(path, lambda d: d[:8] + bytearray([d[8] ^ 1]) + d[9:])
    with raises(log.LogError, "header CRC"):
        log.Reader(path)
    _rewrite(path, lambda d: bytearray(b"NOPE") + d[4:])
    with raises(log.LogError, "not a ulearn log"):
        log.Reader(path)


class _RamDisk:
    def __init__(self, blocks, size=512):
        self.data = bytearray(blocks * size)
        self.size = size
        self.blocks = blocks

    def readblocks(self, block, buf, off=0):
        at = block * self.size + off
        for i in range(len(buf)):
            buf[i] = self.data[at + i]

    def writeblocks(self, block, buf, off=None):
        if off is None:
            off = 0
        at = block * self.size + off
        for i in range(len(buf)):
            self.data[at + i] = buf[i]

    def ioctl(self, op, arg):
        if op == 4:
            return self.blocks
        if op == 5:
            return self.size
        if op == 6:  # erase
            return 0
        return 0


def test_flash_full_stops_with_a_clear_message_and_keeps_the_data():
    micropython_only("needs MicroPython's vfs (a littlefs volume on a RAM block device)")
    import vfs
    from ulearn import log
    disk = _RamDisk(48)
    vfs.VfsLfs2.mkfs(disk)
    vfs.mount(vfs.VfsLfs2(disk), "/ramflash")
    try:
        w = log.Writer("/ramflash/logs", 200, 3, 1 / 16000, "g", samples_per_record=32,
                       records_per_block=2, max_file_bytes=4096)
        raw = _raw(32)
        with raises(log.LogFull, "flash full"):
            for _ in range(10000):
                w.append(raw, 32)
        assert w.full and w.records > 20
        with raises(log.LogFull, "ulearn pull-logs"):
            w.append(raw, 1)                  # stays stopped
        _header, records, _reports = log.read_all("/ramflash/logs")
        assert len(records) >= w.records and [s for s, _ in records] == list(range(len(records)))
    finally:
        vfs.umount("/ramflash")


def test_append_does_not_allocate_within_a_record():
    micropython_only()
    from ulearn import log
    w = log.Writer(_folder(), 200, 3, 1.0, "g", samples_per_record=64)
    raw = _raw(1)
    assert allocated(lambda: w.append(raw, 1), 40) == 0
