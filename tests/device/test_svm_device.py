"""SVMs on the device: in-situ training (Pegasos, RFF one-class), atomic save, bounded memory.

Runs under CPython and inside MicroPython (source and .mpy). Feature vectors are generated here:
Gaussian clusters from a deterministic generator (no data files).
"""

from array import array

from devtest import allocated, micropython_only, on_micropython, raises

D = 12


class _Rng:
    def __init__(self, seed):
        self.s = seed

    def uniform(self):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.s >> 8) / 8388608.0

    def gauss(self):
        import math
        u = self.uniform() or 1e-9
        return math.sqrt(-2.0 * math.log(u)) * math.cos(6.283185307 * self.uniform())


def _file(name):
    """A path for a file this test writes: MicroPython runs in a scratch folder, CPython does not."""
    if on_micropython:
        return name
    import tempfile
    return tempfile.mkdtemp(prefix="ulearn-svm-") + "/" + name


def _cluster(rng, center, spread=300.0, d=D):
    x = array("h", bytes(2 * d))
    for i in range(d):
        x[i] = int(center[i] + spread * rng.gauss())
    return x


def _centers(k, d=D):
    return [[(1000.0 if (i + c) % k == 0 else -500.0) + 100 * c for i in range(d)] for c in range(k)]


def test_pegasos_learns_three_classes():
    from ulearn.svm.train import LinearTrainer
    rng = _Rng(7)
    cs = _centers(3)
    t = LinearTrainer(D, ["a", "b", "c"], lam=0.01)
    data = [(_cluster(rng, cs[i % 3]), i % 3) for i in range(60)]
    for x, _ in data:
        t.observe(x)
    t.freeze()
    for _ in range(3):
        for x, y in data:
            t.partial_fit(x, y)
    m = t.model()
    right = 0
    for i in range(60):
        y = i % 3
        right += m.predict(_cluster(rng, cs[y])) == y
    assert right >= 57, right


def test_too_few_windows_is_a_clear_error():
    from ulearn.svm.train import LinearTrainer, OneClassTrainer
    rng = _Rng(3)
    t = OneClassTrainer(D)
    for _ in range(3):
        t.observe(_cluster(rng, _centers(1)[0]))
    with raises(ValueError, "too few windows"):
        t.freeze()
    with raises(ValueError, "too few windows"):
        t.model()
    lt = LinearTrainer(D, ["a", "b"])
    with raises(ValueError, "class index"):
        lt.partial_fit(_cluster(rng, _centers(1)[0]), 5)
    with raises(ValueError, "expected 12"):
        t.observe(array("h", bytes(2 * 5)))


def _oneclass(n=40, seed=5, n_rff=32):
    from ulearn.svm.train import OneClassTrainer
    rng = _Rng(seed)
    c = _centers(1)[0]
    t = OneClassTrainer(D, n_rff=n_rff, nu=0.1, gamma=0.1 / D, seed=seed)
    xs = [_cluster(rng, c) for _ in range(n)]
    for x in xs:
        t.observe(x)
    t.freeze()
    for _ in range(5):
        for x in xs:
            t.partial_fit(x)
    return t, rng, c


def test_oneclass_flags_far_windows():
    t, rng, c = _oneclass()
    m = t.model()
    normal = [m.predict(_cluster(rng, c)) for _ in range(20)]
    far = [m.predict(_cluster(rng, [v + 2500.0 for v in c])) for _ in range(20)]
    m.set_threshold(min(normal) - 1)
    assert sum(1 for s in far if m.is_anomaly(s)) >= 19, (normal, far)


def test_saved_model_reloads_with_same_decisions():
    import ulearn
    t, rng, c = _oneclass()
    m = t.model()
    m.set_threshold(-123)
    path = _file("oc.ulb")
    m.save(path)
    m2 = ulearn.load(path)
    assert m2.threshold == -123
    for _ in range(10):
        x = _cluster(rng, c, spread=900.0)
        assert m.predict(x) == m2.predict(x)
    lt_m = _linear_model()
    path = _file("lin.ulb")
    lt_m.save(path)
    l2 = ulearn.load(path)
    for _ in range(10):
        x = _cluster(rng, c, spread=900.0)
        assert lt_m.predict(x) == l2.predict(x)


def _linear_model():
    from ulearn.svm.train import LinearTrainer
    rng = _Rng(11)
    cs = _centers(2)
    t = LinearTrainer(D, ["x", "y"])
    for i in range(30):
        t.partial_fit(_cluster(rng, cs[i % 2]), i % 2)      # warm-up freezes the scaler by itself
    return t.model()


def test_predict_checks_length_and_allocates_nothing():
    t, rng, c = _oneclass()
    m = t.model()
    lm = _linear_model()
    with raises(ValueError, "expected 12"):
        m.predict(array("h", bytes(2 * 11)))
    if on_micropython:
        x = _cluster(rng, c)
        out = array("i", bytes(8))
        assert allocated(lambda: m.predict(x, out), 10) == 0
        assert allocated(lambda: lm.predict(x, out), 10) == 0


class _RamDisk:
    """A block device in RAM, for a small littlefs 'flash' inside the interpreter."""

    def __init__(self, blocks, size=512):
        self.size = size
        self.data = bytearray(blocks * size)

    def readblocks(self, n, buf, off=0):
        a = n * self.size + off
        buf[:] = self.data[a:a + len(buf)]

    def writeblocks(self, n, buf, off=None):
        a = n * self.size + (off or 0)
        self.data[a:a + len(buf)] = buf

    def ioctl(self, op, arg):
        if op == 4:
            return len(self.data) // self.size
        if op == 5:
            return self.size
        if op == 6:
            return 0
        return None


def test_flash_full_keeps_the_previous_model():
    micropython_only("needs MicroPython's littlefs VFS to emulate a small flash")
    import os
    import vfs
    import ulearn
    from ulearn.svm.store import SaveError
    disk = _RamDisk(48)
    vfs.VfsLfs2.mkfs(disk)
    vfs.mount(vfs.VfsLfs2(disk), "/flash")
    try:
        t, rng, c = _oneclass(n_rff=48)
        m = t.model()
        m.set_threshold(7)
        m.save("/flash/oc.ulb")
        x = _cluster(rng, c)
        before = m.predict(x)
        i = 0
        for size in (2048, 512, 64, 8):             # fill the flash with files that do get written
            while True:
                try:
                    with open("/flash/junk%d" % i, "wb") as f:
                        f.write(bytes(size))
                    i += 1
                except OSError:
                    break
        st = os.statvfs("/flash")
        assert st[0] * st[3] < 1024, st
        m.set_threshold(99)
        with raises(SaveError, "unchanged"):
            m.save("/flash/oc.ulb")
        assert "oc.ulb.tmp" not in os.listdir("/flash")
        old = ulearn.load("/flash/oc.ulb")
        assert old.threshold == 7 and old.predict(x) == before
    finally:
        vfs.umount("/flash")


def _train_peak(n):
    import gc
    from ulearn.svm.train import OneClassTrainer
    rng = _Rng(1)
    c = _centers(1)[0]
    gc.collect()
    base = gc.mem_alloc()
    peak = 0
    t = OneClassTrainer(60, n_rff=64, seed=2)
    x = array("h", bytes(120))
    for phase in range(3):
        for _i in range(n):
            for j in range(60):
                x[j] = int(c[j % D] + 300 * rng.gauss())
            if phase == 0:
                t.observe(x)
            else:
                t.partial_fit(x)
            used = gc.mem_alloc() - base
            if used > peak:
                peak = used
        if phase == 0:
            t.freeze()
    t.model()
    return peak


def test_in_situ_training_fits_32k_and_does_not_grow():
    micropython_only("heap figures need gc.mem_alloc")
    import gc
    from ulearn.svm import model, qmath, train  # noqa: F401  (code is loaded before the heap is capped)
    from ulearn import backend  # noqa: F401
    try:
        from ulearn.svm import _sviper  # noqa: F401
    except ImportError:
        pass
    gc.collect()
    ballast = []                               # leave ~40 KB free: training must fit in it
    capped = train.__file__.endswith(".mpy")   # from source, compiling fragments the heap first
    while capped and gc.mem_free() > 44 * 1024:
        try:
            ballast.append(bytearray(1024))
        except MemoryError:                    # only fragments left
            break
    gc.threshold(2048)                          # collect often so garbage does not count as use
    small = _train_peak(20)
    big = _train_peak(120)
    del ballast
    assert small <= 32 * 1024 and big <= 32 * 1024, (small, big)
    assert big - small <= 2048, (small, big)


def test_loaded_models_continue_training():
    import ulearn
    t, rng, c = _oneclass()
    m = t.model()
    m.set_threshold(5)
    path = _file("oc.ulb")
    m.save(path)
    m2 = ulearn.load(path)
    far = _cluster(rng, [v + 2500.0 for v in c])
    before = m2.predict(far)
    for _ in range(20):
        m2.partial_fit(_cluster(rng, c))
    assert m2.threshold == 5 and m2.meta["t"] == t.t + 20
    normal = [m2.predict(_cluster(rng, c)) for _ in range(10)]
    assert m2.predict(far) < min(normal), (before, normal)
    lm = _linear_model()
    path = _file("lin.ulb")
    lm.save(path)
    l2 = ulearn.load(path)
    cs = _centers(2)
    for i in range(20):
        l2.partial_fit(_cluster(rng, cs[i % 2]), i % 2)
    right = sum(1 for i in range(20) if l2.predict(_cluster(rng, cs[i % 2])) == i % 2)
    assert right >= 19
