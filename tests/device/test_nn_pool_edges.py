"""Max/average pooling at the edges: every pooling kernel against a plain reference written here.

Covers max and average, 1-D and 2-D, VALID and SAME (TFLite's padding: the taps that fall in the padding
are skipped, the average divides by the taps inside the input, rounding half away from zero), odd and
even widths and heights, kernel > stride, kernel == stride and kernel < stride. The input sits inside a
larger buffer whose other bytes are a sentinel no input value takes, and the output inside a larger
buffer too, so a read or a write outside the layer's own bytes changes the result.

Kernels: ulearn.nn.layers.pool (python), ulearn.nn._vpool.pool (viper, MicroPython only) and
ulearn_native.pool_s8 (C, when the interpreter has the native module). Runs under CPython and inside
MicroPython (source and .mpy).
"""

import sys
from array import array

from devtest import allocated, micropython_only, skip
from ulearn.nn import layers

_SENTINEL = 127   # inputs are drawn from [-128, 126]: a sentinel read wins every max and moves every mean
_OUT_GUARD = -77  # the bytes around the output; the kernels must leave them alone
_LEAD = 11        # sentinel bytes before the input (and guard bytes before the output)
_TAIL = 13        # ... and after it


class Rng:
    """Small deterministic LCG so CPython and MicroPython see the same inputs."""

    def __init__(self, seed):
        self.s = seed & 0x7FFFFFFF

    def int(self, lo, hi):
        self.s = (self.s * 1103515245 + 12345) & 0x7FFFFFFF
        return lo + (self.s >> 8) % (hi - lo + 1)


def axis(n, k, s, same):
    """(out, pad_before) of one axis, TFLite's VALID / SAME rules; out 0 when VALID leaves no window."""
    if same:
        out = (n + s - 1) // s
        total = (out - 1) * s + k - n
        return out, (total // 2 if total > 0 else 0)
    return ((n - k) // s + 1 if n >= k else 0), 0


def round_half_away(num, den):
    """num / den (den > 0) to nearest, ties away from zero."""
    q, r = divmod(abs(num), den)
    if 2 * r >= den:
        q += 1
    return q if num >= 0 else -q


def reference(is_max, x, in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left, lo, hi):
    """The pooled int8 values (a list, HWC), straight from the definition: per output, the taps inside
    the input only."""
    out = []
    for oy in range(out_h):
        for ox in range(out_w):
            for ch in range(c):
                taps = []
                for ky in range(k_h):
                    for kx in range(k_w):
                        iy = oy * s_h - pad_top + ky
                        ix = ox * s_w - pad_left + kx
                        if 0 <= iy < in_h and 0 <= ix < in_w:
                            taps.append(x[(iy * in_w + ix) * c + ch])
                assert taps, "a window with no input tap: not a TFLite pooling"
                v = max(taps) if is_max else round_half_away(sum(taps), len(taps))
                out.append(min(max(v, lo), hi))
    return out


def kernels():
    """[(name, fn(x, act, prog, p, wide))]: every pooling kernel this interpreter has."""
    found = [("python", lambda x, act, g, p, wide: layers.pool(x, act, g, p))]
    try:
        from ulearn.nn import _vpool
        found.append(("viper", _vpool.pool))
    except (ImportError, SyntaxError, ValueError, AttributeError):  # CPython, or a port without viper
        pass
    try:
        import ulearn_native
        if hasattr(ulearn_native, "pool_s8"):
            found.append(("native", lambda x, act, g, p, wide: ulearn_native.pool_s8(x, act, g, p)))
    except ImportError:
        pass
    return found


# (k, s) pairs: kernel == stride, kernel > stride, kernel < stride, 1-tap windows
_KS = ((2, 2), (3, 3), (3, 2), (2, 1), (3, 1), (2, 3), (1, 2), (4, 3))


def cases():
    """(is_max, in_h, in_w, c, k_h, k_w, s_h, s_w, same, act_min, act_max) of every case."""
    out = []
    i = 0
    for is_max in (1, 0):
        for same in (0, 1):
            for in_h in (1, 4, 5):
                for in_w in (1, 4, 5, 6, 7):
                    for k_w, s_w in _KS:
                        i += 1
                        if in_h == 1:
                            k_h, s_h = 1, 1
                        else:
                            k_h, s_h = _KS[(i * 3) % len(_KS)]
                        c = (1, 3, 2)[i % 3]
                        lo, hi = (-128, 127) if i % 5 else (-40, 60)  # a few clamp the activation
                        out.append((is_max, in_h, in_w, c, k_h, k_w, s_h, s_w, same, lo, hi))
    return out


def program(case, x0, o, wide, lead):
    """(prog, p): the 16 pooling words ulearn.nn builds at load, after `lead` unrelated words."""
    is_max, in_h, in_w, c, k_h, k_w, s_h, s_w, same, lo, hi = case
    out_h, pad_top = axis(in_h, k_h, s_h, same)
    out_w, pad_left = axis(in_w, k_w, s_w, same)
    words = [5] * lead + [x0, o, is_max, in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left,
                          lo + 128, hi + 128]
    return array("i" if wide else "h", words), lead


def run_case(case, name, fn, rng, wide):
    """Pool one case with one kernel; an AssertionError names the case and the first wrong output."""
    is_max, in_h, in_w, c, k_h, k_w, s_h, s_w, same, lo, hi = case
    out_h, pad_top = axis(in_h, k_h, s_h, same)
    out_w, pad_left = axis(in_w, k_w, s_w, same)
    if out_h == 0 or out_w == 0:
        return 0
    n = in_h * in_w * c
    vals = [rng.int(-128, _SENTINEL - 1) for _ in range(n)]
    x = array("b", [_SENTINEL] * (_LEAD + n + _TAIL))
    x[_LEAD:_LEAD + n] = array("b", vals)
    n_out = out_h * out_w * c
    act = array("b", [_OUT_GUARD] * (_LEAD + n_out + _TAIL))
    prog, p = program(case, _LEAD, _LEAD, wide, 3)
    want = reference(is_max, vals, in_h, in_w, c, out_h, out_w, k_h, k_w, s_h, s_w, pad_top, pad_left, lo, hi)
    fn(x, act, prog, p, wide)
    what = "%s %s: %s in %dx%dx%d, k %dx%d, s %dx%d, %s, act [%d, %d]" % (
        name, "i" if wide else "h", "max" if is_max else "avg", in_h, in_w, c, k_h, k_w, s_h, s_w,
        "SAME" if same else "VALID", lo, hi)
    got = list(act[_LEAD:_LEAD + n_out])
    for i in range(n_out):
        assert got[i] == want[i], "%s: output %d is %d, want %d" % (what, i, got[i], want[i])
    for i in list(range(_LEAD)) + list(range(_LEAD + n_out, len(act))):
        assert act[i] == _OUT_GUARD, "%s: wrote outside the output (byte %d)" % (what, i - _LEAD)
    assert list(x[:_LEAD]) == [_SENTINEL] * _LEAD and list(x[_LEAD + n:]) == [_SENTINEL] * _TAIL, what
    return 1


def test_every_kernel_matches_the_reference_at_the_edges():
    all_cases = cases()
    for name, fn in kernels():
        rng = Rng(7)
        ran = 0
        for j, case in enumerate(all_cases):
            ran += run_case(case, name, fn, rng, j % 2)
        assert ran > 300, "%s: only %d cases ran" % (name, ran)


def test_odd_width_same_reported_case():
    # the reported case: 1-D max pool, in_w 5, kernel 2, stride 2, SAME: the last window is the last
    # input alone (the padding tap on the right is skipped)
    x = array("b", [_SENTINEL] * 4 + [3, -9, 7, 1, -5] + [_SENTINEL] * 4)
    for name, fn in kernels():
        for is_max, want in ((1, [3, 7, -5]), (0, [-3, 4, -5])):  # avg: -6/2 = -3, 8/2 = 4, -5/1
            act = array("b", [_OUT_GUARD] * 7)
            prog = array("h", [4, 2, is_max, 1, 5, 1, 1, 3, 1, 2, 1, 2, 0, 0, 0, 255])
            fn(x, act, prog, 0, 0)
            assert list(act) == [_OUT_GUARD] * 2 + want + [_OUT_GUARD] * 2, (name, is_max, list(act))


def bound(fn, x, act, prog, p, wide):
    """fn with its arguments, as a callable of none."""
    return lambda: fn(x, act, prog, p, wide)


def test_pooling_allocates_nothing():
    micropython_only()
    for case in ((1, 1, 64, 8, 1, 2, 1, 2, 0, -128, 127),   # the usual 1-D max pool (the fast path)
                 (1, 1, 63, 8, 1, 2, 1, 2, 1, -128, 127),   # odd width, SAME: off the fast path's end
                 (0, 5, 7, 3, 3, 3, 2, 2, 1, -128, 127)):   # 2-D average, SAME
        is_max, in_h, in_w, c, k_h, k_w, s_h, s_w, same, lo, hi = case
        out_h = axis(in_h, k_h, s_h, same)[0]
        out_w = axis(in_w, k_w, s_w, same)[0]
        x = array("b", [i % 200 - 100 for i in range(in_h * in_w * c)])
        act = array("b", bytes(out_h * out_w * c))
        for name, fn in kernels():
            if name == "native":
                continue  # the C module's own argument checks are tested with it (tests/test_native_*)
            for wide in (0, 1):
                prog, p = program(case, 0, 0, wide, 0)
                n = allocated(bound(fn, x, act, prog, p, wide), 20)
                assert n == 0, "%s allocates %d bytes per 20 calls on %r" % (name, n, case)


def test_kernels_found():
    names = [name for name, _ in kernels()]
    if sys.implementation.name == "micropython" and "viper" not in names:
        skip("this MicroPython has no viper emitter: the viper pooling is not tested here")
    assert names[0] == "python"
