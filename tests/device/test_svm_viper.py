"""The whole-decision viper SVMs (svm/_sviper.py v_kernel, v_linear) give the reference integers.

Each model is compared with the same model on the 'python' path (norm, backend.matvec_q15 and the
exp-table kernel stage in Python: exact integers) on random and extreme inputs: realistic models
(kernel values inside the table), saturated normalizations, int32-saturated dot products, negative
or huge |sv|^2, every out_shift regime (0, < 15, >= 15, 31) and int32 intercepts at the limits.
Runs inside MicroPython (source and .mpy; CPython has no viper and skips) and, via
tests/test_svm_viper32.py, in a 32-bit MicroPython. Models are generated here, no data files.
"""

from array import array

from devtest import allocated, micropython_only, raises, skip

_I32 = (-2147483648, 2147483647, 0, -1, 1)


class _Rng:
    def __init__(self, seed):
        self.s = seed

    def next(self, n):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return (self.s >> 4) % n

    def i16(self, amp=32768):
        return self.next(2 * amp) - amp if amp < 32768 else self.next(65536) - 32768

    def i32(self, wild):
        if wild and self.next(3) == 0:
            return _I32[self.next(len(_I32))]
        if wild:
            return ((self.next(65536) << 16) | self.next(65536)) - 2147483648
        return self.next(2000001) - 1000000


def _arr(tc, vals):
    return array(tc, vals)


def _models(meta, arrays, source):
    from ulearn.svm import model as M
    cls = M.LinearSVM if meta["form"] == "linear" else M.KernelSVM
    py = cls(dict(meta), source, "python", arrays=arrays)
    try:
        vp = cls(dict(meta), source, "viper", arrays=arrays)
    except ImportError as e:
        skip("viper not available here: %s" % e)
    if vp._fused is None:
        skip("the native backend is active: kernel SVMs use its C matvec, not the one-call viper decision")
    return py, vp


def _norm(rng, d, wild):
    from ulearn.svm import model as M
    if wild:
        return {M.TAG_NRMM: _arr("h", [rng.i16() for _ in range(d)]),
                M.TAG_NRMK: _arr("h", [rng.i16() for _ in range(d)]),
                M.TAG_NRMS: _arr("b", [1 + rng.next(30) for _ in range(d)])}
    return {M.TAG_NRMM: _arr("h", [rng.i16(300) for _ in range(d)]),
            M.TAG_NRMK: _arr("h", [3000 + rng.next(3000) for _ in range(d)]),
            M.TAG_NRMS: _arr("b", [12] * d)}


def _kernel(rng, d, n, k, zq, osh, wild, one_class=False, big_intercepts=False, zlim=None):
    from ulearn.svm import model as M
    pairs = 1 if one_class else k * (k - 1) // 2
    a = _norm(rng, d, wild)
    sv = []
    for _ in range(n):       # SVs near and far from the inputs: kernel values over the whole table
        amp = 32768 if wild else (300, 3000, 7000, 12000)[rng.next(4)]
        sv.extend([rng.i16(amp) for _ in range(d)])
    a[M.TAG_SVEC] = _arr("h", sv)
    svn = []
    for s in range(n):
        if wild and rng.next(2):
            svn.append(rng.i32(True))
        else:
            acc = 0
            for i in range(d):
                v = a[M.TAG_SVEC][s * d + i]
                acc += v * v
            svn.append(min(2147483647, (acc + (1 << (zq - 1))) >> zq))
    a[M.TAG_SVNM] = _arr("i", svn)
    a[M.TAG_PCOE] = _arr("h", [rng.i16() if rng.next(4) else 0 for _ in range(pairs * n)])
    a[M.TAG_PINT] = _arr("i", [rng.i32(wild or big_intercepts) for _ in range(pairs)])
    meta = {"form": "kernel", "n_features": d, "classes": [] if one_class else ["c%d" % i for i in range(k)],
            "zq": zq, "out_shift": osh, "n_sv": n, "one_class": one_class}
    if zlim is not None:
        meta["zlim"] = zlim
    return _models(meta, a, "kernel d%d n%d k%d zq%d osh%d%s zlim%s" % (d, n, k, zq, osh, " wild" if wild else "",
                                                                        zlim))


def _linear(rng, d, k, osh, wild, zlim=None):
    from ulearn.svm import model as M
    rows = 1 if k == 2 else k
    a = _norm(rng, d, wild)
    a[M.TAG_LINW] = _arr("h", [rng.i16() for _ in range(rows * d)])
    a[M.TAG_LINB] = _arr("i", [rng.i32(wild) for _ in range(rows)])
    meta = {"form": "linear", "n_features": d, "classes": ["c%d" % i for i in range(k)], "zq": 12, "out_shift": osh}
    if zlim is not None:
        meta["zlim"] = zlim
    return _models(meta, a, "linear d%d k%d osh%d%s zlim%s" % (d, k, osh, " wild" if wild else "", zlim))


def _inputs(rng, m, count, wild):
    d = m.n_features
    xs = []
    for j in range(count):
        if wild and j % 4 == 0:
            x = _arr("h", [(32767, -32768, 0)[rng.next(3)] for _ in range(d)])
        else:
            x = _arr("h", [rng.i16() if wild else m._mu[i] + rng.i16(2500) for i in range(d)])
        xs.append(x)
    return xs


def _same(py, vp, xs, what):
    rows = len(py._dec)
    oa = array("i", bytes(4 * rows))
    ob = array("i", bytes(4 * rows))
    for j in range(len(xs)):
        x = xs[j]
        a = py.predict(x, oa)
        b = vp.predict(x, ob)
        assert list(py._z) == list(vp._z), (what, j, "normalized features")
        if hasattr(py, "_k"):
            assert list(py._k) == list(vp._k), (what, j, "kernel values")
        assert a == b and list(oa) == list(ob), (what, j, a, b, list(oa), list(ob))
        assert vp.predict(x) == a, (what, j)          # without `out` as well


def test_kernel_svc_viper_equals_reference():
    rng = _Rng(11)
    for zq, osh, wild in ((12, 16, False), (6, 0, False), (15, 31, False), (9, 7, True), (12, 15, True),
                          (15, 0, True), (6, 31, True)):
        py, vp = _kernel(rng, 13, 9, 4, zq, osh, wild)
        _same(py, vp, _inputs(rng, py, 16, wild), py.source)
    for zq, osh in ((12, 0), (10, 3), (13, 14)):   # realistic kernel values, int32-saturating decisions
        py, vp = _kernel(rng, 11, 12, 3, zq, osh, False, big_intercepts=True)
        _same(py, vp, _inputs(rng, py, 16, False), py.source)
    py, vp = _kernel(rng, 5, 3, 2, 12, 14, False)
    _same(py, vp, _inputs(rng, py, 16, False), py.source)
    for zq, zlim, wild in ((12, 1, True), (13, 2991, False), (9, 700, True), (15, 32766, True)):  # clamped z
        py, vp = _kernel(rng, 13, 9, 4, zq, 16, wild, zlim=zlim)
        _same(py, vp, _inputs(rng, py, 16, wild), py.source)
        assert max(abs(v) for v in py._z) <= zlim, py.source


def test_oneclass_kernel_viper_equals_reference():
    rng = _Rng(12)
    for zq, osh, wild in ((12, 10, False), (8, 20, True), (14, 0, True)):
        py, vp = _kernel(rng, 17, 6, 0, zq, osh, wild, one_class=True)
        _same(py, vp, _inputs(rng, py, 16, wild), py.source)
    for zq, osh, zlim, wild in ((13, 6, 2991, False), (12, 10, 400, True)):   # as exported: META zlim
        py, vp = _kernel(rng, 17, 6, 0, zq, osh, wild, one_class=True, zlim=zlim)
        _same(py, vp, _inputs(rng, py, 16, wild), py.source)


def test_linear_viper_equals_reference():
    rng = _Rng(13)
    for k, osh, wild in ((2, 12, False), (5, 12, False), (3, 0, True), (2, 31, True), (4, 15, True), (6, 5, True)):
        py, vp = _linear(rng, 21, k, osh, wild)
        _same(py, vp, _inputs(rng, py, 16, wild), py.source)
    for zlim in (1, 1000, 32767):
        py, vp = _linear(rng, 21, 3, 12, True, zlim=zlim)
        _same(py, vp, _inputs(rng, py, 16, True), py.source)


def test_viper_decisions_check_inputs_like_the_reference():
    rng = _Rng(14)
    py, vp = _kernel(rng, 7, 4, 3, 12, 16, False)
    for m in (py, vp):
        with raises(ValueError, "expected 7"):
            m.predict(array("h", bytes(2 * 6)))
        with raises(IndexError):
            m.predict(_inputs(rng, m, 1, False)[0], array("i", bytes(4 * 2)))   # 3 pairs, room for 2
    py, vp = _linear(rng, 7, 3, 12, False)
    for m in (py, vp):
        with raises(ValueError, "expected 7"):
            m.predict(array("h", bytes(2 * 8)))


def test_viper_decisions_allocate_nothing():
    micropython_only("gc.mem_alloc counts heap bytes only in MicroPython")
    rng = _Rng(15)
    for _py, vp in (_kernel(rng, 13, 9, 4, 12, 16, False), _kernel(rng, 9, 5, 0, 12, 12, False, one_class=True),
                    _linear(rng, 13, 4, 12, False)):
        x = _inputs(rng, vp, 1, False)[0]
        out = array("i", bytes(4 * len(vp._dec)))
        assert allocated(lambda vp=vp, x=x, out=out: vp.predict(x, out), 10) == 0, vp.source
        assert allocated(lambda vp=vp, x=x: vp.predict(x), 10) == 0, vp.source
