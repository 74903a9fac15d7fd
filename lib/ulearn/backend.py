"""The GEMM / convolution / Q15 dot provider of ulearn, chosen once at import.

Order: `native` (C module `ulearn_native`) -> `ulab` -> `viper` -> `python` (the reference here).
`ULEARN_BACKEND=<name>` in the environment (unix port, CPython) or `backend.select(name)` forces one.
Every backend returns exactly the integers of the pure-Python reference in this module. Call the
functions through the module (`backend.gemm_s8(...)`) so a later `select()` takes effect.

Typecodes: int8 'b', int16 'h', int32 'i'; matrices row-major, flat arrays.

The layer kernels `conv_s8(x, act, w, q, g, p)` and `gemm_s8(x, act, w, q, g, p)` take whole buffers
and read their integer arguments from a "layer program": words g[p:] of an int16 ('h') or int32 ('i')
array (layouts below). x: int8 input (read at word X0), act: int8 activations (output at OUT0, conv
scratch at COL0), w: int8 weights and per-channel shifts, q: int32 biases and multipliers. No
memoryview is needed per layer: a model keeps its arena, one int8, one int32 and one program array.
The primitives gemm_s32, im2col_s8, dot_q15, matvec_q15 take plain buffers.
Every offset and length is checked (ValueError naming the word or buffer), without allocating.
Accumulators wrap like 32-bit hardware (int32); see ulearn.fixedpoint for the requantization.
"""


try:
    from micropython import const
except ImportError:  # CPython
    def const(x):
        return x

NAMES = ("native", "ulab", "viper", "python")
NAME = "python"
gemm_s8 = gemm_s32 = im2col_s8 = conv_s8 = dot_q15 = matvec_q15 = None   # bound by _choose / select
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


# ---- layer programs (words at g[p:], g an array('h') or array('i'); checked by
# ulearn._bk_common.check_*_prog) ----
# conv_s8 (26 words): 0 X0 (input at x[X0]), 1 OUT0 (output out_h x out_w x out_c at act[OUT0]), 2 COL0,
# 3 COL_N (im2col scratch act[COL0:COL0+COL_N]), 4 W0 (weights OHWI at w[W0]), 5 BIAS0 (bias at
# q[BIAS0], -1: none), 6 MULT0 (multipliers at q[MULT0]), 7 SHIFT0 (shifts at w[SHIFT0]), then in_h,
# in_w, in_c, out_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left, out_h, out_w,
# in_off, out_off, act_min, act_max (words 8 .. 25).
# gemm_s8 (14 words): 0 A0 (a, m x k, at x[A0]), 1 OUT0 (out, m x n, at act[OUT0]), 2 B0 (b, n x k,
# at w[B0]), 3 BIAS0 (-1: none), 4 MULT0, 5 SHIFT0 (as for conv), then m, n, k, a_off, b_off, out_off,
# act_min, act_max (words 6 .. 13).


def check_gemm(a, b, bias, out, m, n, k, a_off, b_off):
    """Check the buffers of gemm_s32 (plain buffers); raise ValueError naming the bad argument."""
    _nonneg(m, "m")
    _nonneg(n, "n")
    _nonneg(k, "k")
    _need(a, m * k, "a")
    _need(b, n * k, "b")
    _need(out, m * n, "out")
    if bias is not None:
        _need(bias, n, "bias")
    check_offsets(a_off, b_off)


def check_offsets(a_off, b_off):
    """Check the GEMM input offsets ([-255, 255])."""
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


def _functions(name):
    """The six functions of backend `name` (ImportError/ValueError when it cannot run here)."""
    if name == "python":
        from ulearn import _bk_python as provider
    elif name == "viper":
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
    global NAME, gemm_s8, gemm_s32, im2col_s8, conv_s8, dot_q15, matvec_q15, _pending
    gemm_s8, gemm_s32, im2col_s8, conv_s8, dot_q15, matvec_q15 = funcs
    NAME = name
    _pending = None


# ---- lazy loading: the choice is made at import, but a Python-level provider (python, viper, ulab)
# is loaded on first use, so `import ulearn` stays small on a board that never runs a model ----

_pending = None


def _load():
    if _pending is not None:
        _use(_pending, _functions(_pending))


def _lazy_gemm_s8(x, act, w, q, g, p):
    _load()
    return gemm_s8(x, act, w, q, g, p)


def _lazy_gemm_s32(a, b, bias, out, m, n, k, a_off, b_off):
    _load()
    return gemm_s32(a, b, bias, out, m, n, k, a_off, b_off)


def _lazy_im2col_s8(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left,
                    out_h, out_w, pad_value):
    _load()
    return im2col_s8(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left,
                     out_h, out_w, pad_value)


def _lazy_conv_s8(x, act, w, q, g, p):
    _load()
    return conv_s8(x, act, w, q, g, p)


def _lazy_dot_q15(a, b, n):
    _load()
    return dot_q15(a, b, n)


def _lazy_matvec_q15(w, x, bias, out, rows, cols, shift):
    _load()
    return matvec_q15(w, x, bias, out, rows, cols, shift)


_LAZY = (_lazy_gemm_s8, _lazy_gemm_s32, _lazy_im2col_s8, _lazy_conv_s8, _lazy_dot_q15, _lazy_matvec_q15)


def _probe(name):
    """Cheap check that backend `name` can run (ImportError: absent; ValueError: present but unusable)."""
    if name == "ulab":
        import ulab  # noqa: F401
    elif name == "viper":
        import sys
        if sys.implementation.name != "micropython":
            raise ImportError("the viper emitter needs MicroPython")
        exec("import micropython\n@micropython.viper\ndef _probe(x: int) -> int:\n    return x + 1\n", {})


def _choose():
    global NAME, _pending
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
            if name != "native":
                _probe(name)
                _use(name, _LAZY)
                _pending = name
            else:
                _use(name, _functions(name))
            return
        except (ImportError, SyntaxError):
            pass                      # not on this board (or no viper emitter): the next one, silently
        except ValueError as e:       # installed but unusable (wrong arch/ABI): say so once
            print("ulearn: backend %s unusable (%s); using the next one" % (name, e))


_choose()
