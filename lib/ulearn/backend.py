"""The GEMM / convolution / Q15 dot provider of ulearn, chosen once at import.

Order: `native` (C module `ulearn_native`) -> `ulab` -> `viper` -> `python` (the reference here).
`ULEARN_BACKEND=<name>` in the environment (unix port, CPython) or `backend.select(name)` forces one.
Every backend returns exactly the integers of the pure-Python reference in this module. Call the
functions through the module (`backend.gemm_s8(...)`) so a later `select()` takes effect.

Typecodes: int8 'b', int16 'h', int32 'i'; matrices row-major, flat arrays (or memoryviews).
Buffers may be longer than needed; too short raises ValueError naming the argument. Typecodes are
checked by the native backend (the Python-level ones cannot inspect them without allocating).
Accumulators wrap like 32-bit hardware (int32); see ulearn.fixedpoint for the requantization.
"""

from ulearn.fixedpoint import SHIFT_MAX, SHIFT_MIN, rdbpot, sat32, srdhm, wrap32

try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

NAMES = ("native", "ulab", "viper", "python")
NAME = "python"
_CONV_ROWS = const(32)      # im2col rows per block in conv_s8 (see conv_col_size; = UL_CONV_ROWS in C)
_OFF_LIMIT = const(255)     # |a_off|, |b_off| (a zero point at either int8 limit)
_INT32_MAX = const(2147483647)


# ---- argument checks shared by the Python-level backends (lengths, ranges; no allocation) ----

def _need(buf, count, name):
    if buf is None or len(buf) < count:
        raise ValueError("%s: needs at least %d elements, has %s" % (
            name, count, "None" if buf is None else len(buf)))


def _positive(value, name):
    if value < 1:
        raise ValueError("%s must be >= 1, got %d" % (name, value))


def _nonneg(value, name):
    if value < 0:
        raise ValueError("%s must be >= 0, got %d" % (name, value))


def check_requant(bias, mult, shift, n, out_off, act_min, act_max):
    """Check per-channel requantization arguments for `n` channels; raise ValueError naming the bad one."""
    if bias is not None:
        _need(bias, n, "bias")
    _need(mult, n, "mult")
    _need(shift, n, "shift")
    for j in range(n):
        s = shift[j]
        if s < SHIFT_MIN or s > SHIFT_MAX:
            raise ValueError("shift[%d] = %d outside [-31, 30]" % (j, s))
        if mult[j] < 0:
            raise ValueError("mult[%d] = %d is negative (Q31 multipliers are in [0, 2^31))" % (j, mult[j]))
    if not -128 <= out_off <= 127:
        raise ValueError("out_off = %d outside [-128, 127] (it is the output zero point)" % out_off)
    if not -128 <= act_min <= act_max <= 127:
        raise ValueError("act_min/act_max = %d/%d: need -128 <= act_min <= act_max <= 127" % (act_min, act_max))


def check_gemm(a, b, bias, out, m, n, k, a_off, b_off):
    """Check GEMM shapes and offsets (see gemm_s8); raise ValueError naming the bad argument."""
    _nonneg(m, "m")
    _nonneg(n, "n")
    _nonneg(k, "k")
    _need(a, m * k, "a")
    _need(b, n * k, "b")
    _need(out, m * n, "out")
    if bias is not None:
        _need(bias, n, "bias")
    if not -_OFF_LIMIT <= a_off <= _OFF_LIMIT:
        raise ValueError("a_off = %d outside [-255, 255]" % a_off)
    if not -_OFF_LIMIT <= b_off <= _OFF_LIMIT:
        raise ValueError("b_off = %d outside [-255, 255]" % b_off)


def check_im2col(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, out_h, out_w, rows):
    """Check im2col geometry; `rows` is how many im2col rows `col` must hold."""
    _nonneg(in_h, "in_h")
    _nonneg(in_w, "in_w")
    _nonneg(in_c, "in_c")
    _nonneg(out_h, "out_h")
    _nonneg(out_w, "out_w")
    _positive(k_h, "k_h")
    _positive(k_w, "k_w")
    _positive(stride_h, "stride_h")
    _positive(stride_w, "stride_w")
    _positive(dil_h, "dil_h")
    _positive(dil_w, "dil_w")
    _need(x, in_h * in_w * in_c, "x")
    _need(col, rows * k_h * k_w * in_c, "col")


def exact_block(a_off, b_off, bits=24):
    """Longest K block whose float sums of (a+a_off)(b+b_off) stay exact (every partial |sum| <= 2^bits).

    float32 holds every integer up to 2^24 exactly, so a dot product of a block this long is exact in
    any summation order; blocks are then added as integers (used by the ulab backend).
    """
    ma = max(abs(a_off - 128), abs(a_off + 127))
    mb = max(abs(b_off - 128), abs(b_off + 127))
    block = (1 << bits) // (ma * mb) if ma * mb else (1 << bits)
    return block if block > 0 else 1


def conv_col_size(in_c, k_h, k_w, out_h, out_w):
    """Bytes of int8 scratch `col` that conv_s8 wants for a layer (one block of im2col rows).

    conv_s8 works with any `col` holding at least one row (k_h*k_w*in_c bytes); this size gives
    blocks of up to 32 output pixels, rounded up to a multiple of 4 bytes.
    """
    rows = out_h * out_w
    if rows > _CONV_ROWS:
        rows = _CONV_ROWS
    if rows < 1:
        rows = 1
    return (rows * k_h * k_w * in_c + 3) & ~3


# ---- the pure-Python reference ----

def _py_gemm(a, b, bias, mult, shift, out, m, n, k, a_off, b_off, out_off, act_min, act_max, out0):
    # out[out0 + i*n + j]; mult None -> int32 output without requantization
    for i in range(m):
        ai = i * k
        oi = out0 + i * n
        for j in range(n):
            bj = j * k
            acc = 0
            for t in range(k):
                acc += (a[ai + t] + a_off) * (b[bj + t] + b_off)
            if bias is not None:
                acc += bias[j]
            acc = wrap32(acc)
            if mult is None:
                out[oi + j] = acc
                continue
            s = shift[j]
            if s > 0:
                v = srdhm(sat32(acc << s), mult[j])
            else:
                v = rdbpot(srdhm(acc, mult[j]), -s)
            v += out_off
            out[oi + j] = act_min if v < act_min else (act_max if v > act_max else v)


def _py_gemm_s8(a, b, bias, mult, shift, out, m, n, k, a_off, b_off, out_off, act_min, act_max):
    """int8 GEMM with fused per-channel requantization: out = clamp(requantize(a.(b)^T) + out_off).

    a 'b' m x k, b 'b' n x k (one row per output channel), bias 'i' n or None, mult 'i' n (Q31),
    shift 'b' n (in [-31, 30]), out 'b' m x n. acc = sum_k (a+a_off)(b+b_off) + bias (int32 wrap);
    out = clamp(requantize(acc, mult[j], shift[j]) + out_off, act_min, act_max).
    """
    check_gemm(a, b, bias, out, m, n, k, a_off, b_off)
    check_requant(bias, mult, shift, n, out_off, act_min, act_max)
    _py_gemm(a, b, bias, mult, shift, out, m, n, k, a_off, b_off, out_off, act_min, act_max, 0)


def _py_gemm_s32(a, b, bias, out, m, n, k, a_off, b_off):
    """int8 GEMM to int32: out 'i' m x n = sum_k (a+a_off)(b+b_off) + bias (wrapped to int32)."""
    check_gemm(a, b, bias, out, m, n, k, a_off, b_off)
    _py_gemm(a, b, bias, None, None, out, m, n, k, a_off, b_off, 0, 0, 0, 0)


def im2col_rows(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                pad_top, pad_left, out_w, row0, rows, pad_value):
    """im2col of output pixels row0 .. row0+rows-1 (raster order) into col[0 ..] (no checks)."""
    p = 0
    for r in range(row0, row0 + rows):
        oy = r // out_w
        ox = r - oy * out_w
        iy0 = oy * stride_h - pad_top
        ix0 = ox * stride_w - pad_left
        for ky in range(k_h):
            iy = iy0 + ky * dil_h
            for kx in range(k_w):
                ix = ix0 + kx * dil_w
                if 0 <= iy < in_h and 0 <= ix < in_w:
                    src = (iy * in_w + ix) * in_c
                    for c in range(in_c):
                        col[p + c] = x[src + c]
                else:
                    for c in range(in_c):
                        col[p + c] = pad_value
                p += in_c


def _py_im2col_s8(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                  pad_top, pad_left, out_h, out_w, pad_value):
    """im2col of x 'b' HxWxC into col 'b' (out_h*out_w) x (k_h*k_w*in_c), rows in (ky, kx, c) order.

    Taps outside the input take pad_value (the input zero point). conv1d: in_h = k_h = 1.
    """
    check_im2col(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                 out_h, out_w, out_h * out_w)
    if not -128 <= pad_value <= 127:
        raise ValueError("pad_value = %d outside [-128, 127]" % pad_value)
    im2col_rows(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                pad_top, pad_left, out_w, 0, out_h * out_w, pad_value)


def make_conv(gemm_at, im2col):
    """A conv_s8 built from a GEMM with output offset and an im2col of row blocks (Python-level backends)."""
    def conv_s8(x, w, bias, mult, shift, out, col, in_h, in_w, in_c, out_c, k_h, k_w, stride_h, stride_w,
                dil_h, dil_w, pad_top, pad_left, out_h, out_w, in_off, out_off, act_min, act_max):
        """Whole conv layer: x 'b' HxWxC, w 'b' OHWI, bias 'i' or None, out 'b' out_h x out_w x out_c."""
        row = k_h * k_w * in_c
        check_im2col(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, out_h, out_w,
                     1 if out_h * out_w else 0)
        if not -127 <= in_off <= 128:
            raise ValueError("in_off = %d outside [-127, 128] (it is -input zero point)" % in_off)
        _nonneg(out_c, "out_c")
        _need(w, out_c * row, "w")
        _need(out, out_h * out_w * out_c, "out")
        check_requant(bias, mult, shift, out_c, out_off, act_min, act_max)
        rows = out_h * out_w
        block = len(col) // row if row else rows
        r0 = 0
        while r0 < rows:
            nb = rows - r0
            if nb > block:
                nb = block
            im2col(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w,
                   pad_top, pad_left, out_w, r0, nb, -in_off)
            gemm_at(col, w, bias, mult, shift, out, nb, out_c, row, in_off, 0, out_off, act_min, act_max,
                    r0 * out_c)
            r0 += nb
    return conv_s8


def _py_dot_q15(a, b, n):
    """Exact sum of a[i]*b[i] for i < n over 'h' arrays, as an int."""
    _need(a, n, "a")
    _need(b, n, "b")
    acc = 0
    for i in range(n):
        acc += a[i] * b[i]
    return acc


def check_matvec(w, x, bias, out, rows, cols, shift):
    """Check matvec_q15 arguments; raise ValueError naming the bad one."""
    _nonneg(rows, "rows")
    _nonneg(cols, "cols")
    _need(w, rows * cols, "w")
    _need(x, cols, "x")
    _need(out, rows, "out")
    if bias is not None:
        _need(bias, rows, "bias")
    if not 0 <= shift <= 31:
        raise ValueError("shift = %d outside [0, 31]" % shift)


def _py_matvec_q15(w, x, bias, out, rows, cols, shift):
    """out 'i'[r] = sat32((sum_c w[r,c]*x[c] + bias[r] + round) >> shift); w 'h' rows x cols, x 'h'.

    bias 'i' rows or None; shift in [0, 31]; round = 1 << (shift-1) when shift > 0; exact sums.
    """
    check_matvec(w, x, bias, out, rows, cols, shift)
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    for r in range(rows):
        acc = 0
        base = r * cols
        for c in range(cols):
            acc += w[base + c] * x[c]
        if bias is not None:
            acc += bias[r]
        out[r] = sat32((acc + rnd) >> shift)


_py_conv_s8 = make_conv(_py_gemm, im2col_rows)

# ---- the public functions (rebound by select) ----

gemm_s8 = _py_gemm_s8
gemm_s32 = _py_gemm_s32
im2col_s8 = _py_im2col_s8
conv_s8 = _py_conv_s8
dot_q15 = _py_dot_q15
matvec_q15 = _py_matvec_q15

_PY = (_py_gemm_s8, _py_gemm_s32, _py_im2col_s8, _py_conv_s8, _py_dot_q15, _py_matvec_q15)


def _functions(name):
    """The six functions of backend `name` (ImportError/ValueError when it cannot run here)."""
    if name == "python":
        return _PY
    if name == "viper":
        from ulearn import _bk_viper as provider
    elif name == "ulab":
        from ulearn import _bk_ulab as provider
    elif name == "native":
        from ulearn import _bk_native as provider
    else:
        raise ValueError("unknown backend %r: choose one of native, ulab, viper, python" % (name,))
    return provider.functions()


def select(name):
    """Use backend `name` ('native', 'ulab', 'viper' or 'python') from now on; returns NAME.

    Raises ValueError when that backend cannot run on this interpreter (saying why).
    """
    try:
        funcs = _functions(name)
    except (ImportError, SyntaxError) as e:   # SyntaxError: a port built without viper
        raise ValueError("backend %r is not available here: %s" % (name, e))
    _use(name, funcs)
    return NAME


def _use(name, funcs):
    global NAME, gemm_s8, gemm_s32, im2col_s8, conv_s8, dot_q15, matvec_q15
    gemm_s8, gemm_s32, im2col_s8, conv_s8, dot_q15, matvec_q15 = funcs
    NAME = name


def _choose():
    forced = None
    try:
        import os
        forced = os.getenv("ULEARN_BACKEND")
    except (ImportError, AttributeError):
        pass
    if forced:
        select(forced)
        return
    for name in NAMES:
        try:
            _use(name, _functions(name))
            return
        except (ImportError, SyntaxError):
            pass                      # not on this board (or no viper emitter): the next one, silently
        except ValueError as e:       # installed but unusable (wrong arch/ABI): say so once
            print("ulearn: backend %s unusable (%s); using the next one" % (name, e))


_choose()
