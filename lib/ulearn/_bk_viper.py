# ruff: noqa: F821 - ptr8/ptr16/ptr32 are viper built-ins
"""The `viper` backend: the reference arithmetic as @micropython.viper loops (ptr8/ptr16/ptr32).

Written to be exact both where viper integers are 64-bit (x64 unix port) and where they are 32-bit
(Cortex-M, ESP32): sums are wrapped to int32 explicitly, and the requantization's 31x31-bit product is
done in 16-bit limbs so no intermediate leaves int32. ptr8/ptr16/ptr32 loads are unsigned, so every
signed load is sign-extended with (v ^ S) - S.
"""

import sys

if sys.implementation.name != "micropython":   # CPython's `micropython` stub cannot run viper
    raise ImportError("the viper emitter needs MicroPython")

import micropython  # noqa: E402
from array import array  # noqa: E402

from ulearn import _bk_common as _common  # noqa: E402
from ulearn import backend as _ref  # noqa: E402

_NO_BIAS = array("i", [0])


_ACC4 = array("i", [0, 0, 0, 0])   # sums of one block of up to 4 output channels
_SB = [array("i", [0] * 16)]        # per-channel weight sums; grows (once) for wider layers


@micropython.viper
def _gemm(a, a0: int, b, b0: int, q, bias0: int, mult0: int, shift, shift0: int, out, out0: int, m: int,
          n: int, k: int, a_off: int, b_off: int, out_off: int, act_min: int, act_max: int, flags: int, sb):
    # a (m x k) at a[a0], b (n x k) at b[b0], bias q[bias0], multipliers q[mult0], shifts shift[shift0],
    # out[out0 + i*n + j]. flags: 1 = has bias, 2 = int32 output (no requantization). Blocks of 4 output
    # channels share each activation load; the sums go through _ACC4 to one requantization loop.
    pa = ptr8(a)
    pb = ptr8(b)
    pbias = ptr32(q)
    pmult = ptr32(q)
    pshift = ptr8(shift)
    po8 = ptr8(out)
    po32 = ptr32(out)
    acc4 = ptr32(_ACC4)
    n31 = 31                      # not a literal: mpy-cross would fold 1 << 31 into a big-int object
    s31 = 1 << n31                # 2^31 (INT32_MIN's bit pattern on 32-bit machines)
    m32 = (s31 << 1) - 1          # 0xFFFFFFFF on 64-bit, all ones on 32-bit
    imax = s31 - 1
    imin = -imax - 1
    # With A = a + 128 and B = b + 128 (= the unsigned byte ^ 128, in [0, 255]):
    # sum (a + a_off)(b + b_off) = sum A*B + bo*sum A + ao*sum B + k*ao*bo, ao = a_off - 128, bo = b_off - 128
    # (exact modulo 2^32, which is all that int32 wrapping keeps).
    ao = a_off - 128
    bo = b_off - 128
    kab = k * ao * bo
    psb = ptr32(sb)
    j = 0
    while j < n:                  # sum B of every output channel, once per call
        q0 = b0 + j * k
        end = q0 + k
        acc = 0
        while q0 < end:
            acc += pb[q0] ^ 128
            q0 += 1
        psb[j] = acc
        j += 1
    has_bias = flags & 1
    wide = flags & 2
    i = 0
    while i < m:
        ia = a0 + i * k
        end = ia + k
        oi = out0 + i * n
        t = ia
        sa = 0
        while t < end:
            sa += pa[t] ^ 128
            t += 1
        rowc = bo * sa + kab
        j = 0
        while j < n:
            nc = n - j
            if nc >= 4:
                nc = 4
                q0 = b0 + j * k
                q1 = q0 + k
                q2 = q1 + k
                q3 = q2 + k
                s0 = 0
                s1 = 0
                s2 = 0
                s3 = 0
                t = ia
                while t < end:
                    x = pa[t] ^ 128
                    s0 += x * (pb[q0] ^ 128)
                    s1 += x * (pb[q1] ^ 128)
                    s2 += x * (pb[q2] ^ 128)
                    s3 += x * (pb[q3] ^ 128)
                    q0 += 1
                    q1 += 1
                    q2 += 1
                    q3 += 1
                    t += 1
                acc4[0] = s0 + rowc + ao * psb[j]
                acc4[1] = s1 + rowc + ao * psb[j + 1]
                acc4[2] = s2 + rowc + ao * psb[j + 2]
                acc4[3] = s3 + rowc + ao * psb[j + 3]
            else:
                nc = 1
                q0 = b0 + j * k
                s0 = 0
                t = ia
                while t < end:
                    s0 += (pa[t] ^ 128) * (pb[q0] ^ 128)
                    q0 += 1
                    t += 1
                acc4[0] = s0 + rowc + ao * psb[j]
            c = 0
            while c < nc:
                jj = j + c
                acc = (acc4[c] ^ s31) - s31              # int32 sum, wrapped by the store
                if has_bias:
                    acc += (pbias[bias0 + jj] ^ s31) - s31
                    acc = ((acc + s31) & m32) - s31      # wrap to int32
                c += 1
                if wide:
                    po32[oi + jj] = acc
                    continue
                x = acc
                sh = (pshift[shift0 + jj] ^ 128) - 128
                right = 0
                if sh > 0:                               # saturating x << sh
                    if x > (imax >> sh):
                        x = imax
                    elif x < (imin >> sh):
                        x = imin
                    else:
                        x = x << sh
                else:
                    right = -sh
                mu = pmult[mult0 + jj]                   # in [0, 2^31)
                # floor((x*mu + 2^30) / 2^31) in 16-bit limbs (all partial values fit int32)
                xh = x >> 16
                xl = x & 0xFFFF
                mh = mu >> 16
                ml = mu & 0xFFFF
                pA = xh * mh
                pB = xh * ml
                pC = xl * mh
                d1 = xl * (ml >> 8)
                d0 = xl * (ml & 0xFF)
                low = ((d1 & 0xFF) << 8) + d0
                mid = (pB & 0xFFFF) + (pC & 0xFFFF) + (d1 >> 8) + (low >> 16) + 0x4000
                hi = pA + (pB >> 16) + (pC >> 16) + (mid >> 16)
                h = (hi << 1) + ((mid & 0xFFFF) >> 15)
                if right > 0:                            # rounding divide by 2^right
                    mask = (1 << right) - 1
                    rem = h & mask
                    thr = mask >> 1
                    if h < 0:
                        thr += 1
                    h = h >> right
                    if rem > thr:
                        h += 1
                if h > 255:
                    h = 255
                elif h < -256:
                    h = -256
                h += out_off
                if h < act_min:
                    h = act_min
                elif h > act_max:
                    h = act_max
                po8[oi + jj] = h
            j += nc
        i += 1


@micropython.viper
def _bad_requant(q, mult0: int, w, shift0: int, n: int) -> int:
    # first channel j < n with w[shift0 + j] outside [-31, 30] or a negative q[mult0 + j], else -1. Reads
    # the multipliers as machine words: in Python, values >= 2^30 are heap objects on 32-bit ports.
    pm = ptr32(q)
    ps = ptr8(w)
    n31 = 31
    j = 0
    while j < n:
        s = (ps[shift0 + j] ^ 128) - 128
        if s < -31 or s > 30 or (int(pm[mult0 + j]) >> n31) & 1:
            return j
        j += 1
    return -1


def check_requant(q, mult0, w, shift0, n, out_off, act_min, act_max):
    """ulearn._bk_common.check_requant without reading the multipliers into Python integers."""
    if _bad_requant(q, mult0, w, shift0, n) >= 0:
        _common.check_requant(q, mult0, w, shift0, n, out_off, act_min, act_max)   # raises, naming it
    _common.check_out(out_off, act_min, act_max)


def _gemm_at(a, a0, b, b0, q, bias0, mult0, sb, shift0, out, out0, m, n, k, a_off, b_off, out_off, act_min,
             act_max):
    # the signature of ulearn._bk_python._py_gemm (mult0 -1: int32 output)
    flags = (2 if mult0 < 0 else 0) | (0 if bias0 < 0 else 1)
    if len(_SB[0]) < n:
        _SB[0] = array("i", [0] * n)
    _gemm(a, a0, b, b0, _NO_BIAS if q is None else q, bias0, mult0, _NO_BIAS if sb is None else sb, shift0,
          out, out0, m, n, k, a_off, b_off, out_off, act_min, act_max, flags, _SB[0])


def gemm_s8(x, act, w, q, g, p):
    """See ulearn.backend: int8 GEMM with per-channel requantization from the program at g[p:] (viper)."""
    _common.check_gemm_prog(x, act, w, q, g, p)
    n = g[p + 7]
    check_requant(q, g[p + 4], w, g[p + 5], n, g[p + 11], g[p + 12], g[p + 13])
    _gemm_at(x, g[p], w, g[p + 2], q, g[p + 3], g[p + 4], w, g[p + 5], act, g[p + 1], g[p + 6], n, g[p + 8],
             g[p + 9], g[p + 10], g[p + 11], g[p + 12], g[p + 13])


def gemm_s32(a, b, bias, out, m, n, k, a_off, b_off):
    """See ulearn.backend: int8 GEMM to int32 (viper)."""
    _ref.check_gemm(a, b, bias, out, m, n, k, a_off, b_off)
    _gemm_at(a, 0, b, 0, bias, -1 if bias is None else 0, -1, None, 0, out, 0, m, n, k, a_off, b_off, 0, 0, 0)


@micropython.viper
def _im2col(x, x0: int, col, col0: int, in_h: int, in_w: int, in_c: int, k_h: int, k_w: int, stride_h: int,
            stride_w: int, dil_h: int, dil_w: int, pad_top: int, pad_left: int, out_w: int, row0: int, rows: int,
            pad_value: int):
    px = ptr8(x)
    pc = ptr8(col)
    p = col0
    r = row0
    while r < row0 + rows:
        oy = r // out_w
        ox = r - oy * out_w
        iy0 = oy * stride_h - pad_top
        ix0 = ox * stride_w - pad_left
        ky = 0
        while ky < k_h:
            iy = iy0 + ky * dil_h
            kx = 0
            while kx < k_w:
                ix = ix0 + kx * dil_w
                c = 0
                if iy >= 0 and iy < in_h and ix >= 0 and ix < in_w:
                    src = x0 + (iy * in_w + ix) * in_c
                    while c < in_c:
                        pc[p + c] = px[src + c]
                        c += 1
                else:
                    while c < in_c:
                        pc[p + c] = pad_value
                        c += 1
                p += in_c
                kx += 1
            ky += 1
        r += 1


def im2col_s8(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left,
              out_h, out_w, pad_value):
    """See ulearn.backend: im2col into col (viper)."""
    _ref.check_im2col(x, col, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, out_h, out_w,
                      out_h * out_w)
    if not -128 <= pad_value <= 127:
        raise ValueError("pad_value = %d outside [-128, 127]" % pad_value)
    _im2col(x, 0, col, 0, in_h, in_w, in_c, k_h, k_w, stride_h, stride_w, dil_h, dil_w, pad_top, pad_left,
            out_w, 0, out_h * out_w, pad_value)


_PARTS = array("i", [0, 0])
_CHUNK = 32768   # products >> 15 summed over this many stay inside int32


@micropython.viper
def _dot_parts(a, b, a0: int, b0: int, n: int, parts):
    # parts[0] = sum(p >> 15), parts[1] = sum(p & 0x7FFF) for p = a[a0+i] * b[b0+i]; exact with 32-bit ints
    pa = ptr16(a)
    pb = ptr16(b)
    pp = ptr32(parts)
    hi = 0
    lo = 0
    i = 0
    while i < n:
        p = ((pa[a0 + i] ^ 0x8000) - 0x8000) * ((pb[b0 + i] ^ 0x8000) - 0x8000)
        hi += p >> 15
        lo += p & 0x7FFF
        i += 1
    pp[0] = hi
    pp[1] = lo


def _dot(a, b, a0, b0, n):
    total = 0
    done = 0
    while done < n:
        step = n - done
        if step > _CHUNK:
            step = _CHUNK
        _dot_parts(a, b, a0 + done, b0 + done, step, _PARTS)
        total += (_PARTS[0] << 15) + _PARTS[1]
        done += step
    return total


def dot_q15(a, b, n):
    """See ulearn.backend: exact int16 dot product (viper)."""
    _ref._need(a, n, "a")
    _ref._need(b, n, "b")
    return _dot(a, b, 0, 0, n)


def matvec_q15(w, x, bias, out, rows, cols, shift):
    """See ulearn.backend: Q15 matrix-vector product with rounding shift (viper dots)."""
    _ref.check_matvec(w, x, bias, out, rows, cols, shift)
    rnd = (1 << (shift - 1)) if shift > 0 else 0
    for r in range(rows):
        s = _dot(w, x, r * cols, 0, cols)
        if bias is not None:
            s += bias[r]
        s = (s + rnd) >> shift
        out[r] = 2147483647 if s > 2147483647 else (-2147483648 if s < -2147483648 else s)


def functions():
    """The six backend functions (viper)."""
    return (gemm_s8, gemm_s32, im2col_s8, _common.make_conv(_gemm_at, _im2col, check_requant), dot_q15, matvec_q15)
