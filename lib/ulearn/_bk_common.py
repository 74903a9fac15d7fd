"""What the Python-level backends (python, viper, ulab) share: the checks of the layer programs of
conv_s8 / gemm_s8 (ulearn.backend) and conv_s8 built from a GEMM and an im2col of row blocks. The viper
backend loads this without the pure-Python kernels (ulearn._bk_python)."""

from ulearn import backend as _b

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

_SHIFT_MIN = const(-31)
_SHIFT_MAX = const(30)


# ---- argument checks of the layer kernels (shared by the Python-level backends; no allocation) ----

def check_requant(q, mult0, w, shift0, n, out_off, act_min, act_max, g=None, h=-1):
    """Check per-channel requantization arguments (multipliers q[mult0:mult0+n], shifts
    w[shift0:shift0+n]; with `h` >= 0 the multipliers' halves g[h:h+2n] instead of q, see LIMBS) for `n`
    channels; raise ValueError naming the bad one."""
    if h >= 0:
        _region(g, h, 2 * n, "program (multiplier halves)")
    for j in range(n):
        s = w[shift0 + j]
        if s > 127:  # weights and shifts used in place: unsigned bytes
            s -= 256
        if s < _SHIFT_MIN or s > _SHIFT_MAX:
            raise ValueError("shift[%d] = %d outside [-31, 30]" % (j, s))
        if h >= 0:
            if not 0 <= g[h + 2 * j] <= 32767 or not -32768 <= g[h + 2 * j + 1] <= 32767:
                raise ValueError("mult[%d]: halves outside int16 (see ulearn._limbs.halves)" % j)
        elif q[mult0 + j] < 0:
            raise ValueError("mult[%d] = %d is negative (Q31 multipliers are in [0, 2^31))" % (j, q[mult0 + j]))
    check_out(out_off, act_min, act_max)


def check_out(out_off, act_min, act_max):
    """Check the output zero point and activation range; ValueError naming the bad one."""
    if not -128 <= out_off <= 127:
        raise ValueError("out_off = %d outside [-128, 127] (it is the output zero point)" % out_off)
    if not -128 <= act_min <= act_max <= 127:
        raise ValueError("act_min/act_max = %d/%d: need -128 <= act_min <= act_max <= 127" % (act_min, act_max))


def _region(buf, off, count, name):
    # buf[off:off+count] must exist (off >= 0)
    if off < 0:
        raise ValueError("%s: offset %d is negative" % (name, off))
    _b._need(buf, off + count, name)


def check_channels(w, q, bias0, mult0, shift0, n):
    """Check that bias (q[bias0:], bias0 = -1: none), multipliers (q[mult0:]) and shifts (w[shift0:])
    of `n` channels lie inside their buffers."""
    if bias0 != -1:
        _region(q, bias0, n, "q (bias)")
    _region(q, mult0, n, "q (mult)")
    _region(w, shift0, n, "w (shifts)")


def check_gemm_prog(x, act, w, q, g, p):
    """Check the gemm_s8 program at g[p:] against the buffers (without the per-channel values);
    returns nothing, raises ValueError naming the bad word or buffer."""
    _region(g, p, 14, "program")
    m = g[p + 6]
    n = g[p + 7]
    k = g[p + 8]
    _b._nonneg(m, "m")
    _b._nonneg(n, "n")
    _b._nonneg(k, "k")
    _region(x, g[p], m * k, "x (a)")
    _region(act, g[p + 1], m * n, "act (out)")
    _region(w, g[p + 2], n * k, "w (b)")
    check_channels(w, q, g[p + 3], g[p + 4], g[p + 5], n)
    _b.check_offsets(g[p + 9], g[p + 10])


def check_conv_prog(x, act, w, q, g, p):
    """Check the conv_s8 program at g[p:] against the buffers (without the per-channel values);
    raise ValueError naming the bad word or buffer."""
    _region(g, p, 26, "program")
    for i in range(8, 22):
        if g[p + i] < (1 if 12 <= i < 18 else 0):
            raise ValueError("conv program word %d = %d: sizes must be >= 0, kernel/stride/dilation >= 1" %
                             (i, g[p + i]))
    in_c = g[p + 10]
    out_c = g[p + 11]
    row = g[p + 12] * g[p + 13] * in_c
    rows = g[p + 20] * g[p + 21]
    _region(x, g[p], g[p + 8] * g[p + 9] * in_c, "x")
    _region(act, g[p + 1], rows * out_c, "act (out)")
    _region(act, g[p + 2], g[p + 3], "act (col)")
    if rows and g[p + 3] < row:
        raise ValueError("col: %d bytes of scratch, one im2col row needs %d (see conv_col_size)" % (g[p + 3], row))
    _region(w, g[p + 4], out_c * row, "w")
    check_channels(w, q, g[p + 5], g[p + 6], g[p + 7], out_c)
    if not -127 <= g[p + 22] <= 128:
        raise ValueError("in_off = %d outside [-127, 128] (it is -input zero point)" % g[p + 22])


def make_conv(gemm_at, im2col, check_requant=check_requant, limbs=False):
    """A conv_s8 built from a GEMM with offsets (signature of _py_gemm) and an im2col of row blocks
    (signature of im2col_rows), for the Python-level backends. `limbs`: the GEMM takes the multipliers'
    halves after the program words (LIMBS).

    `check_requant` replaces check_requant here (same arguments and errors), e.g. one that
    reads the Q31 multipliers without making Python integers of them (viper on 32-bit ports)."""

    def conv_s8(x, act, w, q, g, p):
        """Whole conv layer from the program words g[p:] (ulearn.backend, conv_s8): x 'b' HxWxC at X0,
        weights 'b' OHWI at w[W0], output 'b' out_h x out_w x out_c at act[OUT0], scratch act[COL0..]."""
        check_conv_prog(x, act, w, q, g, p)
        out_c = g[p + 11]
        out_off = g[p + 23]
        act_min = g[p + 24]
        act_max = g[p + 25]
        h = p + 26 if limbs else -1
        if limbs:
            check_requant(q, g[p + 6], w, g[p + 7], out_c, out_off, act_min, act_max, g, h)
        else:
            check_requant(q, g[p + 6], w, g[p + 7], out_c, out_off, act_min, act_max)
        in_c = g[p + 10]
        row = g[p + 12] * g[p + 13] * in_c
        rows = g[p + 20] * g[p + 21]
        block = g[p + 3] // row if row else rows
        in_off = g[p + 22]
        col0 = g[p + 2]
        r0 = 0
        while r0 < rows:
            nb = rows - r0
            if nb > block:
                nb = block
            im2col(x, g[p], act, col0, g[p + 8], g[p + 9], in_c, g[p + 12], g[p + 13], g[p + 14], g[p + 15],
                   g[p + 16], g[p + 17], g[p + 18], g[p + 19], g[p + 21], r0, nb, -in_off)
            if limbs:
                gemm_at(act, col0, w, g[p + 4], q, g[p + 5], g[p + 6], w, g[p + 7], act, g[p + 1] + r0 * out_c, nb,
                        out_c, row, in_off, 0, out_off, act_min, act_max, g, h)
            else:
                gemm_at(act, col0, w, g[p + 4], q, g[p + 5], g[p + 6], w, g[p + 7], act, g[p + 1] + r0 * out_c, nb,
                        out_c, row, in_off, 0, out_off, act_min, act_max)
            r0 += nb
    return conv_s8
